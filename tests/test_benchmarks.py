"""The benchmark harness runs end to end (--quick) and reports every figure.

How fast queuectl is does not matter here, only that each figure is measured,
printed and written as JSON.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from benchmarks import report

REPO = Path(__file__).resolve().parent.parent


def test_quick_run_prints_and_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr

    lines = proc.stdout.splitlines()
    for figure in report.FIGURES:
        row = next((line for line in lines if line.startswith(figure.label + " ")), None)
        assert row is not None, f"no row for {figure.label!r} in:\n{proc.stdout}"
        value = row[len(figure.label) :].split()[0]
        assert value != "-", f"{figure.label!r} was not measured"

    doc = json.loads(out.read_text())
    assert set(doc) == {"meta", "figures", "units", "targets", "runs"}
    assert doc["meta"]["quick"] is True
    for figure in report.FIGURES:
        value = doc["figures"][figure.key]
        assert isinstance(value, int | float) and math.isfinite(value), (figure.key, value)
        assert doc["units"][figure.key] == figure.unit
        if figure.target is not None:
            target = doc["targets"][figure.key]
            assert target["op"] == figure.target[0] and isinstance(target["met"], bool)
    assert len(doc["runs"]) == 1
    assert set(doc["runs"][0]) >= {f.key for f in report.FIGURES}


def test_unknown_peer_is_refused() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--peers", "nosuchqueue"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "unknown peer" in proc.stderr
