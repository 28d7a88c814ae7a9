"""The short chaos run (the long one: `python -m tests.chaos --jobs 20000 --kills 50 --daemon-kills 10`)."""

from __future__ import annotations

from pathlib import Path

from tests import chaos


def test_chaos_short_run_keeps_every_invariant(tmp_path: Path) -> None:
    report = chaos.run(jobs=2000, kills=10, daemon_kills=3, workers=4, seed=7,
                       home=tmp_path / "chaos", timeout=240)  # fmt: skip
    assert report["violations"] == []
    assert report["child_kills"] == 10 and report["daemon_kills"] == 3
    assert sum(report["states"].values()) == 2000
    assert report["integrity_check"] == "ok"
