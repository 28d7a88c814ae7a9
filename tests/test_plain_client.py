"""examples/plain_client.py (pyzmq + json, no queuectl import) works against a real daemon."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "plain_client.py"


def test_the_example_imports_nothing_of_queuectl() -> None:
    tree = ast.parse(EXAMPLE.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"itertools", "json", "sys", "zmq"}, imported


def test_the_plain_client_enqueues_waits_reads_and_sees_an_error(daemon, tmp_path: Path) -> None:
    # Isolated mode and another cwd: nothing of the source tree on sys.path (the
    # AST test above is what proves that no queuectl code is used).
    proc = subprocess.run(
        [sys.executable, "-I", str(EXAMPLE), str(daemon.paths.socket)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    steps = [json.loads(line) for line in proc.stdout.splitlines()]
    by_step: dict[str, list[dict]] = {}
    for step in steps:
        by_step.setdefault(step["step"], []).append(step)
    job_id = by_step["enqueue"][0]["id"]
    assert by_step["enqueue"][0]["state"] in ("pending", "processing")
    assert by_step["wait"] == [{"step": "wait", "state": "completed", "timed_out": False}]
    assert by_step["get"] == [{"step": "get", "exit_code": 0, "attempts": 1}]
    logs = {s["stream"]: s["data"] for s in by_step["logs"]}
    assert logs == {"stdout": "hello from plain\n", "stderr": "oops\n"}
    [error] = by_step["error"]
    assert error["code"] == -32001 and error["name"] == "job_not_found"
    # The daemon saw the same job.
    assert daemon.job(job_id)["state"] == "completed"
