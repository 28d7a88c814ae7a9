"""The short chaos run (the long one: `python -m tests.chaos --jobs 20000 --kills 50 --daemon-kills 10`)."""

from __future__ import annotations

from pathlib import Path

from tests import chaos


def test_chaos_short_run_keeps_every_invariant(tmp_path: Path) -> None:
    report = chaos.run(jobs=5000, kills=15, daemon_kills=4, workers=4, seed=7,
                       home=tmp_path / "chaos", timeout=300)  # fmt: skip
    assert report["violations"] == []
    assert report["child_kills"] == 15 and report["daemon_kills"] == 4
    runs = sum(s["runs"] for s in report["schedules"].values())  # schedules firing every second
    assert runs > 0 and sum(report["states"].values()) == 5000 + runs
    assert report["integrity_check"] == "ok"
