"""CLI commands, one module per RPC namespace (job, workers, dlq, config, daemon)."""

from __future__ import annotations

import click


def register_all(group: click.Group) -> None:
    from queuectl.client.commands import config, daemon, dashboard, dlq, job, service, workers

    for module in (job, daemon, workers, dlq, config, service, dashboard):
        for command in module.COMMANDS:
            group.add_command(command)
