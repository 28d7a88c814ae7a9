"""Every ```python example in docs/python.md runs, as written, against a real daemon (found
through $QUEUECTL_HOME, as a user's script would find theirs)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Daemon

DOC = Path(__file__).resolve().parent.parent / "docs" / "python.md"
EXAMPLES = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


def test_the_page_has_examples_of_every_part() -> None:
    text = "\n".join(EXAMPLES)
    assert len(EXAMPLES) >= 12
    for used in ("enqueue(", "enqueue_many(", "wait(", "logs(", "follow_logs(", "list(", "list_page(", "cancel(",
                 "delete(", "dlq.", "workers.", "config.", "status(", "events(", "AsyncClient", "os.fork()",
                 "threading", "call(", "except DuplicateId"):  # fmt: skip
        assert used in text, used


def test_every_example_runs(make_daemon, tmp_path: Path) -> None:
    daemon: Daemon = make_daemon(workers=2)
    env = {**daemon.env, "QUEUECTL_HOME": str(daemon.home)}
    for n, code in enumerate(EXAMPLES, 1):
        script = tmp_path / f"example{n}.py"
        script.write_text(code)
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=120)  # fmt: skip
        if proc.returncode != 0:
            pytest.fail(f"example {n} of docs/python.md failed:\n{code}\n--- stderr:\n{proc.stderr}")
    assert daemon.proc is not None and daemon.proc.poll() is None
