"""The lazy command registry lists exactly the commands the modules define."""

from __future__ import annotations

import importlib
import subprocess
import sys

from queuectl.client.commands import COMMAND_MODULES


def test_registry_matches_the_command_modules() -> None:
    defined = {}
    for module_name in set(COMMAND_MODULES.values()):
        module = importlib.import_module(f"queuectl.client.commands.{module_name}")
        for command in module.COMMANDS:
            defined[command.name] = module_name
    assert defined == COMMAND_MODULES


def test_a_command_imports_only_what_it_uses() -> None:
    code = ("import sys; from queuectl.client.cli import cli\n"
            "try:\n    cli(['status', '--help'], prog_name='queuectl')\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith(('queuectl', 'structlog', 'msgpack', 'sqlite3')))))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = out.split("\n")[-2].split()
    assert "queuectl.client.commands.daemon" in loaded
    for heavy in ("queuectl.client.commands.job", "queuectl.daemon.loop", "structlog",
                  "msgpack", "sqlite3", "queuectl.dashboard"):  # fmt: skip
        assert heavy not in loaded, heavy
