"""Idempotent enqueue (issue 18): a unique_key held by one job at most, enforced by the
store's unique index; released as unique_while says. Real daemon, real sockets."""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any

import pytest
from conftest import Daemon

from queuectl import Client, DuplicateId, InvalidParams
from queuectl.daemon.store import SCHEMA_VERSION, Store
from queuectl.daemon.store.schema import MIGRATIONS
from queuectl.jobs import JobSpec


def test_a_second_enqueue_with_a_held_key_returns_the_job_that_holds_it(daemon: Daemon) -> None:
    first = daemon.enqueue("sleep 30", unique_key="nightly")
    assert first["duplicate"] is False and first["unique_key"] == "nightly" and first["unique_while"] == "active"
    again = daemon.enqueue("echo other", unique_key="nightly")
    assert again["duplicate"] is True and again["id"] == first["id"] and again["command"] == "sleep 30"
    with pytest.raises(Exception) as err:
        daemon.enqueue("echo other", unique_key="nightly", on_duplicate="error")
    assert getattr(err.value, "name", None) == "duplicate_id"
    assert err.value.data | {"name": "duplicate_id"} == {"name": "duplicate_id", "id": first["id"],  # type: ignore[attr-defined]
                                                         "unique_key": "nightly", "index": 0}
    assert daemon.call("job.list", {"limit": 100})["total"] == 1
    assert "duplicate" not in daemon.enqueue("true")  # no key: the job as ever


def test_the_cli_says_so_on_stderr_and_exits_0_or_6(daemon: Daemon) -> None:
    made = daemon.cli("enqueue", "--unique-key", "k1", "--json", "--", "sleep", "30")
    assert made.returncode == 0, made.stderr
    job = json.loads(made.stdout)
    again = daemon.cli("enqueue", "--unique-key", "k1", "--", "echo", "x")
    assert again.returncode == 0 and job["id"] in again.stdout
    assert f"job {job['id']} holds unique key 'k1' already: not enqueued again" in again.stderr
    refused = daemon.cli("enqueue", "--unique-key", "k1", "--on-duplicate", "error", "--", "echo", "x")
    assert refused.returncode == 6 and "held by job" in refused.stderr
    as_json = daemon.cli("enqueue", json.dumps({"command": "echo y", "unique_key": "k1"}), "--json")
    assert json.loads(as_json.stdout)["duplicate"] is True
    assert daemon.call("job.list", {})["total"] == 1


@pytest.mark.parametrize("hold, released_when", [("pending", "processing"), ("active", "completed")])
def test_the_key_is_released_as_unique_while_says(daemon: Daemon, hold: str, released_when: str) -> None:
    gate = daemon.home / "gate"
    first = daemon.enqueue(f"while [ ! -e {gate} ]; do sleep 0.05; done", unique_key="k", unique_while=hold)
    daemon.wait_state(first["id"], "processing")
    if released_when == "completed":
        assert daemon.enqueue("true", unique_key="k")["id"] == first["id"]  # still held while it runs
        gate.touch()
        daemon.wait_state(first["id"])
    second = daemon.enqueue("true", unique_key="k")
    assert second["duplicate"] is False and second["id"] != first["id"]
    gate.touch()


def test_a_kept_key_is_held_until_the_job_is_deleted_and_a_cancelled_active_one_is_released(daemon: Daemon) -> None:
    kept = daemon.enqueue("true", unique_key="once", unique_while="kept")
    daemon.wait_state(kept["id"])
    assert daemon.enqueue("true", unique_key="once")["id"] == kept["id"]
    daemon.call("job.delete", {"id": kept["id"]})
    assert daemon.enqueue("true", unique_key="once", delay=3600)["duplicate"] is False
    later = daemon.enqueue("true", unique_key="later", delay=3600)
    daemon.call("job.cancel", {"id": later["id"]})
    assert daemon.enqueue("true", unique_key="later")["duplicate"] is False


def test_eight_clients_enqueueing_the_same_1000_keys_at_once_make_1000_jobs(daemon: Daemon) -> None:
    keys = [f"key-{i}" for i in range(1000)]
    answers: list[dict[str, str]] = [{} for _ in range(8)]
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def run(n: int) -> None:
        try:
            with Client(socket=daemon.paths.socket, timeout=60) as client:
                start.wait()
                for key in keys if n % 2 else reversed(keys):
                    answers[n][key] = client.enqueue("true", unique_key=key, delay=3600).id
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors[:3]
    assert daemon.call("job.list", {"limit": 0})["total"] == 1000
    assert all(answer == answers[0] for answer in answers)  # every client got the same job per key


@pytest.mark.parametrize("key, why", [("k" * 201, "longer than 200"), ("a\nb", "control characters"),
                                      ("a\x7fb", "control characters"), ("", "non-empty"), (5, "type string")])
def test_a_bad_key_is_refused_and_nothing_is_enqueued(daemon: Daemon, key: Any, why: str) -> None:
    with Client(socket=daemon.paths.socket) as client:
        with pytest.raises(InvalidParams, match=why):
            client.enqueue("true", unique_key=key)
        with pytest.raises(InvalidParams, match="unique_while"):
            client.enqueue("true", unique_key="ok", unique_while="forever")  # type: ignore[arg-type]
        with pytest.raises(InvalidParams, match="on_duplicate"):
            client.enqueue("true", unique_key="ok", on_duplicate="ignore")  # type: ignore[arg-type]
    cli = daemon.cli("enqueue", "--unique-key", "k" * 201, "--", "true")
    assert cli.returncode == 2 and "longer than 200" in cli.stderr
    assert daemon.call("job.list", {"limit": 0})["total"] == 0


def test_enqueue_many_refuses_a_held_or_repeated_key_or_skips_it(daemon: Daemon) -> None:
    held = daemon.enqueue("true", unique_key="a", delay=3600)
    jobs = [{"command": "true", "unique_key": "b", "delay": 3600}, {"command": "true", "unique_key": "a"}]
    with pytest.raises(Exception) as err:
        daemon.call("job.enqueue_many", {"jobs": jobs})
    assert err.value.data == {"name": "duplicate_id", "id": held["id"], "unique_key": "a",  # type: ignore[attr-defined]
                              "index": 1}
    with pytest.raises(Exception, match="appears twice"):
        daemon.call("job.enqueue_many", {"jobs": [jobs[0], jobs[0]], "dry_run": True})
    result = daemon.call("job.enqueue_many", {"jobs": jobs + [jobs[0]], "skip_invalid": True})
    assert result["count"] == 1 and [s["index"] for s in result["skipped"]] == [1, 2]
    with Client(socket=daemon.paths.socket) as client, pytest.raises(DuplicateId):
        client.enqueue("true", unique_key="b", on_duplicate="error")


def _database_at(path: Any, version: int) -> None:
    """A database as the queuectl of that schema version made it, with one pending job."""
    db = sqlite3.connect(path)
    for step in range(1, version + 1):
        db.executescript(MIGRATIONS[step])
    db.execute(f"PRAGMA user_version = {version}")
    db.execute("INSERT INTO jobs(id, command, state, max_retries, created_at, updated_at) "
               "VALUES ('old', 'true', 'pending', 3, 1, 1)")  # fmt: skip
    db.commit()
    db.close()


# 2: before queues and unique keys; 3: queues; 4: dependencies and schedules (main's latest)
@pytest.mark.parametrize("version", [2, 3, 4])
def test_a_database_from_before_unique_keys_is_migrated(tmp_path: Any, version: int) -> None:
    path = tmp_path / "queue.db"
    _database_at(path, version)
    store = Store(path)
    try:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 5
        tables = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"job_deps", "schedules", "queues"} <= tables
        assert store.key_holders(["x"]) == {}
        old = store.get("old")
        assert old is not None and (old["queue"], old["unique_key"], old["unique_while"]) == ("default", None, None)
        assert [q.name for q in store.queues_load()] == ["default"]
        with store.transaction():
            store.insert_jobs([JobSpec("true", unique_key="x"), JobSpec("true", queue="default")], 0.0, 3, None)
        assert list(store.key_holders(["x"])) == ["x"]
    finally:
        store.close()
