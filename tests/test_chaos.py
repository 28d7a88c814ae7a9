"""The short chaos runs: one SQLite daemon (the long one: `python -m tests.chaos --jobs
20000 --kills 50 --daemon-kills 10`), and three daemons sharing PostgreSQL while it
restarts (`python -m tests.chaos_cluster --jobs 5000 --kills 30 --daemon-kills 6
--pg-restarts 3`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import chaos, chaos_cluster
from tests.pgserver import PgUnavailable


def test_chaos_short_run_keeps_every_invariant(tmp_path: Path) -> None:
    report = chaos.run(jobs=3000, kills=10, daemon_kills=3, workers=4, seed=7,
                       home=tmp_path / "chaos", timeout=300)  # fmt: skip
    assert report["violations"] == []
    assert report["child_kills"] == 10 and report["daemon_kills"] == 3
    runs = sum(s["runs"] for s in report["schedules"].values())  # schedules firing every second
    assert runs > 0 and sum(report["states"].values()) == 3000 + runs
    assert report["integrity_check"] == "ok"


def test_chaos_over_three_daemons_sharing_postgresql_keeps_every_invariant(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the PostgreSQL tests run a server as the postgres user (runuser): they need root")
    try:
        report = chaos_cluster.run(jobs=700, kills=6, daemon_kills=2, pg_restarts=3, seed=7,
                                   root=tmp_path / "chaos", timeout=300)  # fmt: skip
    except PgUnavailable as exc:
        pytest.skip(str(exc))
    assert report["violations"] == []
    assert report["child_kills"] == 6 and report["daemon_kills"] == 2 and len(report["pg_restarts"]) == 3
    assert any("away" in r for r in report["pg_restarts"])  # (one outage longer than the lease: fencing)
    assert sum(report["states"].values()) == 700 and set(report["attempts_per_daemon"]) == {"a", "b", "c"}
    # The run did what it is for: beat jobs ran, some more than once.
    assert report["beat_runs"] > 0 and report["interrupted_attempts"] > 0
