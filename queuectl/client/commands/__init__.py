"""CLI commands, one module per RPC namespace (job, workers, dlq, config, daemon), plus the
service installer and the dashboard. job.* is split by command where one is large:
enqueue (with enqueue_args, enqueue_file), logs, wait; job has the rest.

Modules are imported only when their command runs, so `queuectl status` pays for
nothing but itself (the CLI is meant to be called from scripts in loops).
"""

from __future__ import annotations

import importlib

import click

# command name -> module under queuectl.client.commands, in the order `--help` lists them
COMMAND_MODULES: dict[str, str] = {
    "enqueue": "enqueue", "list": "job", "show": "job", "logs": "logs", "wait": "wait",
    "cancel": "job", "retry": "job", "delete": "job", "prune": "prune",
    "status": "daemon", "queue": "queue", "worker": "workers", "workers": "workers", "dlq": "dlq", "schedule": "schedule",
    "config": "config", "metrics": "metrics",
    "daemon": "daemon", "init": "daemon", "migrate": "migrate", "shutdown": "daemon", "call": "daemon", "events": "daemon",
    "install-service": "service", "dashboard": "dashboard", "web": "dashboard",
}  # fmt: skip


def load(name: str) -> click.Command | None:
    module_name = COMMAND_MODULES.get(name)
    if module_name is None:
        return None
    module = importlib.import_module(f"queuectl.client.commands.{module_name}")
    return next((c for c in module.COMMANDS if c.name == name), None)


def register_all(group: click.Group) -> None:
    """Register every command eagerly (for tools that want them all, e.g. docs checks)."""
    for name in COMMAND_MODULES:
        command = load(name)
        if command is not None:
            group.add_command(command)
