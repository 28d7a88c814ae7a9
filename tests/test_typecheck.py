"""The type checker passes: mypy over queuectl/, strict for the daemon, jobs.py and
protocol.py, and for the client library and the CLI built on it (pyproject.toml,
[tool.mypy])."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The client library's modules: every one under the strict flags.
CLIENT = ["queuectl", "queuectl.errors", "queuectl.client.rpc", "queuectl.client.models",
          "queuectl.client.library", "queuectl.client.location", "queuectl.client.params",
          "queuectl.client.plans", "queuectl.client.aio", "queuectl.client.aio_transport",
          "queuectl.client.records", "queuectl.client.queue_calls", "queuectl.client.schedule_calls",
          "queuectl.client.events", "queuectl.client.autostart", "queuectl.client.cli",
          "queuectl.client.commands.job", "queuectl.client.commands.enqueue",
          "queuectl.client.commands.enqueue_args", "queuectl.client.commands.enqueue_file",
          "queuectl.client.commands.logs", "queuectl.client.commands.wait",
          "queuectl.client.commands.schedule"]  # fmt: skip


def test_mypy_finds_nothing() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def _covers(pattern: str, module: str) -> bool:
    return module == pattern or (pattern.endswith(".*") and module.startswith(pattern[:-1]))


def test_the_client_library_is_checked_strictly() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["files"] == ["queuectl"]
    strict = [o for o in config.get("overrides", []) if o.get("disallow_untyped_defs") and o.get("warn_return_any")
              and o.get("no_implicit_reexport") and o.get("disallow_any_generics")]  # fmt: skip
    for module in CLIENT:
        assert any(_covers(p, module) for o in strict for p in o["module"]), module
        assert not any(_covers(p, module) for o in config.get("overrides", []) if o.get("ignore_errors")
                       for p in o["module"]), module  # fmt: skip
