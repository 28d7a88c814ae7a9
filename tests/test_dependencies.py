"""Dependencies through the real daemon and the CLI: --after, blocked in list and status,
show, wait for several, cancel --with-dependents, retry of a dead parent, NDJSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import STORES, Daemon, database_for


@pytest.fixture(params=STORES)
def database(request: pytest.FixtureRequest) -> str | None:
    """Every test here runs on SQLite and on PostgreSQL (docs/postgres.md)."""
    return database_for(request)


def test_after_runs_in_order_through_the_cli(daemon: Daemon, tmp_path: Path) -> None:
    out = tmp_path / "order"
    r = daemon.cli("enqueue", "--id", "first", "--", f"sleep 2; echo first >> {out}")
    assert r.returncode == 0, r.stderr
    r = daemon.cli("enqueue", "--id", "second", "--after", "first", "--", f"echo second >> {out}")
    assert r.returncode == 0, r.stderr
    listed = json.loads(daemon.cli("list", "--state", "blocked", "--json").stdout)
    assert [j["id"] for j in listed] == ["second"]
    status = json.loads(daemon.cli("status", "--json").stdout)
    assert status["counts"]["blocked"] == 1
    r = daemon.cli("wait", "first", "second", "--timeout", "20")
    assert r.returncode == 0, r.stdout + r.stderr
    assert out.read_text().split() == ["first", "second"]
    shown = daemon.cli("show", "second").stdout
    assert "after" in shown and "first" in shown and "completed" in shown
    shown = daemon.cli("show", "first").stdout
    assert "dependents" in shown and "second" in shown


def test_a_dead_parent_cancels_and_retry_brings_back(daemon: Daemon) -> None:
    daemon.enqueue("exit 3", id="p", max_retries=0)
    r = daemon.cli("enqueue", "--id", "c", "--after", "p", "--", "true")
    assert r.returncode == 0, r.stderr
    daemon.wait_state("p", "dead")
    c = daemon.wait_state("c", "cancelled")
    assert "parent p is dead" in c["last_error"]
    r = daemon.cli("wait", "c")
    assert r.returncode == 126
    daemon.call("job.retry", {"id": "p"})
    assert daemon.job("c")["state"] in ("blocked", "cancelled")  # p fails again: c again cancelled
    daemon.wait_state("c", "cancelled")


def test_after_condition_failure_and_always(daemon: Daemon) -> None:
    daemon.enqueue("exit 1", id="bad", max_retries=0)
    assert daemon.cli("enqueue", "--id", "onfail", "--after", "bad", "--after-condition", "failure",
                      "--", "true").returncode == 0
    assert daemon.cli("enqueue", "--id", "cleanup", "--after", "bad", "--after-condition", "always",
                      "--", "true").returncode == 0
    assert daemon.wait_state("onfail")["state"] == "completed"
    assert daemon.wait_state("cleanup")["state"] == "completed"


def test_cancel_with_dependents(daemon: Daemon) -> None:
    daemon.enqueue("sleep 30", id="long")
    daemon.cli("enqueue", "--id", "next", "--after", "long", "--after-condition", "always", "--", "true")
    r = daemon.cli("cancel", "long", "--with-dependents")
    assert r.returncode == 0, r.stderr
    assert daemon.job("next")["state"] == "cancelled"
    assert daemon.wait_state("long")["state"] == "cancelled"


def test_bad_after_names_the_field(daemon: Daemon) -> None:
    r = daemon.cli("enqueue", "--after", "nope", "--", "true")
    assert r.returncode == 2 and "after" in r.stderr and "nope" in r.stderr
    assert json.loads(daemon.cli("list", "--json").stdout) == []


def test_ndjson_dag_in_one_file(daemon: Daemon, tmp_path: Path) -> None:
    lines = [{"id": "a", "command": "true"}, {"id": "b", "command": "true", "after": ["a"]},
             {"id": "c", "command": "true", "after": ["a"]}, {"id": "d", "command": "true", "after": ["b", "c"]}]
    path = tmp_path / "dag.ndjson"
    path.write_text("\n".join(json.dumps(j) for j in lines) + "\n")
    r = daemon.cli("enqueue", "--file", str(path))
    assert r.returncode == 0, r.stderr
    assert daemon.wait_state("d")["state"] == "completed"
    d = daemon.job("d")
    assert sorted(p["id"] for p in d["parents"]) == ["b", "c"]


def test_ndjson_file_longer_than_a_chunk_may_wait_for_earlier_chunks(daemon: Daemon, tmp_path: Path) -> None:
    lines = [{"id": f"n{i}", "command": "true", **({"after": [f"n{i - 1}"]} if i else {})} for i in range(1500)]
    path = tmp_path / "chain.ndjson"
    path.write_text("\n".join(json.dumps(j) for j in lines) + "\n")
    r = daemon.cli("enqueue", "--file", str(path))
    assert r.returncode == 0, r.stderr
    assert [p["id"] for p in daemon.job("n1200")["parents"]] == ["n1199"]
    assert daemon.wait_state("n1499", timeout=60)["state"] == "completed"
    bad = tmp_path / "forward.ndjson"
    bad.write_text(json.dumps({"id": "x1", "command": "true", "after": ["nowhere"]}) + "\n")
    r = daemon.cli("enqueue", "--file", str(bad))
    assert r.returncode == 2 and "nowhere" in r.stderr and "line 1" in r.stderr


def test_dependencies_in_a_named_queue_keep_its_counts(daemon: Daemon) -> None:
    """Blocked, released and cancelled jobs move the counts of their own queue."""
    daemon.call("queue.add", {"name": "builds"})
    daemon.call("job.enqueue_many", {"jobs": [
        {"id": "compile", "command": "sleep 1", "queue": "builds"},
        {"id": "link", "command": "true", "queue": "builds", "after": ["compile"]},
        # (not at once: its end would cancel `ship` before the first count is read)
        {"id": "broken", "command": "sleep 0.5; exit 1", "queue": "builds", "max_retries": 0},
        {"id": "ship", "command": "true", "queue": "builds", "after": ["broken"]},
    ]})  # fmt: skip
    assert daemon.call("queue.get", {"name": "builds"})["counts"]["blocked"] == 2
    daemon.wait_state("link", "completed", timeout=20)
    daemon.wait_state("ship", "cancelled", timeout=20)
    counts = daemon.call("queue.get", {"name": "builds"})["counts"]
    assert (counts["blocked"], counts["completed"], counts["dead"], counts["cancelled"]) == (0, 2, 1, 1)
    default = daemon.call("queue.get", {"name": "default"})["counts"]
    assert all(n == 0 for n in default.values()), default
