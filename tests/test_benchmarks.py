"""The benchmark harness runs end to end (--quick) and reports every figure.

How fast queuectl is does not matter here, only that each figure is measured,
printed and written as JSON.
"""

from __future__ import annotations

import json
import math
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import cluster, install, report
from tests import pgserver

REPO = Path(__file__).resolve().parent.parent


def test_quick_run_prints_and_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        # Smaller than --quick (the suite's time): the pickup part idles 0.25-0.75 s per job.
        [sys.executable, "-m", "benchmarks", "--quick", "--pickups", "5", "--jobs", "500", "--out", str(out)],
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


def test_cluster_quick_run_prints_and_writes_every_figure(tmp_path: Path) -> None:
    """benchmarks/cluster.py --quick, smaller still (the suite's time): its own PostgreSQL
    server, seven daemons, every figure printed and written."""
    if os.geteuid() != 0:
        pytest.skip("benchmarks.cluster runs a PostgreSQL server as the postgres user (runuser): it needs root")
    try:
        pgserver.bindir()
        pwd.getpwnam(pgserver.PG_USER)
    except (pgserver.PgUnavailable, KeyError) as exc:
        pytest.skip(f"no PostgreSQL server programs: {exc}")
    out = tmp_path / "cluster.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.cluster", "--quick", "--jobs", "200", "--pickups", "5",
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    doc = json.loads(out.read_text())
    assert doc["meta"]["quick"] is True and len(doc["runs"]) == 1
    for figure in cluster.FIGURES:
        row = next((line for line in lines if line.startswith(figure.label + " ")), None)
        assert row is not None and row[len(figure.label) :].split()[0] != "-", (figure.label, proc.stdout)
        value = doc["figures"][figure.key]
        assert isinstance(value, int | float) and math.isfinite(value) and value > 0, (figure.key, value)
    assert doc["figures"]["drain.jobs"] == 200 and doc["figures"]["pickup.jobs"] == 5


def test_unknown_peer_is_refused() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--peers", "nosuchqueue"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "unknown peer" in proc.stderr


def test_compare_with_head_measures_both_installs(tmp_path: Path) -> None:
    """--compare installs HEAD into a venv of its own (cached in ~/.cache/queuectl-bench)
    and this tree into another, and reports both side by side."""
    out = tmp_path / "compare.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--compare", "HEAD", "--only", "cli", "--runs", "1",
         "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip
    header = proc.stdout.splitlines()[0].split()
    assert header[:2] == ["figure", "HEAD"] and header[2] == f"({head[:10]})" and "this/base" in header

    doc = json.loads(out.read_text())
    assert doc["meta"]["parts"] == ["cli"] and doc["compare"]["commit"] == head
    theirs, ours = doc["compare"]["queuectl"], doc["meta"]["queuectl"]
    assert f"/commit-{head}/venv/" in theirs and "/tree-" in ours and "/venv/" in ours
    assert len(doc["runs"]) == len(doc["compare"]["runs"]) == 1
    cli_figures = [f for f in report.FIGURES if f.key.startswith("cli.")]
    assert set(doc["figures"]) == {f.key for f in cli_figures}
    for figure in cli_figures:
        a, b = doc["figures"][figure.key], doc["compare"]["figures"][figure.key]
        assert isinstance(a, int | float) and isinstance(b, int | float) and a > 0 and b > 0, figure.key
        assert math.isclose(doc["compare"]["ratio"][figure.key], a / b, rel_tol=1e-3), figure.key
        row = next(line for line in proc.stdout.splitlines() if line.startswith(figure.label + " "))
        assert len(row[len(figure.label) :].split()) >= 4, row  # base, this tree, ratio, unit
    assert doc["figures"]["cli.loop_jobs"] == doc["compare"]["figures"]["cli.loop_jobs"] == 50


def test_bad_parts_and_refs_are_refused(tmp_path: Path) -> None:
    for args, message in ((["--only", "drain,nosuch"], "--only takes some of"),
                          (["--compare", "no-such-ref-anywhere", "--only", "cli"], "no-such-ref-anywhere"),
                          (["--compare", "HEAD", "--peers", "huey"], "does not go with")):  # fmt: skip
        proc = subprocess.run([sys.executable, "-m", "benchmarks", *args, "--out", str(tmp_path / "x.json")],
                              cwd=REPO, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
        assert not (tmp_path / "x.json").exists()


def test_compare_takes_a_commit_a_branch_or_head_tilde() -> None:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "HEAD")
    assert install.resolve_commit("HEAD") == head
    assert install.resolve_commit(head[:12]) == head
    parent = git("rev-parse", "--verify", "--quiet", "HEAD~1")
    if parent:  # not in a shallow clone of one commit
        assert install.resolve_commit("HEAD~1") == parent
    branch = git("symbolic-ref", "--quiet", "--short", "HEAD")
    if branch:  # not on a detached HEAD
        assert install.resolve_commit(branch) == head
    for bad in ("no-such-ref", "HEAD~100000", "-x"):
        with pytest.raises(install.InstallError, match="names no commit"):
            install.resolve_commit(bad)
