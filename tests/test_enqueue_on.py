"""`enqueue --on NAME`: a job pinned to one daemon (docs/postgres.md, "Pinning a job to a
daemon"). Real daemons: two sharing a real PostgreSQL database (tests/pgserver.py), and
one on SQLite, which has no other daemon to pin a job to.

- jobs pinned to b, enqueued through a, all run on b, never on a, even while a is idle and
  b busy; unpinned jobs run anywhere; a pinned job counts as pending everywhere;
- a job pinned to a name no daemon has yet waits, pending, and runs once that daemon starts;
- a name that is not a daemon's name is refused (exit 2, invalid_params), and nothing is added;
- SQLite: only the daemon's own name is accepted.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from queuectl import jobs as J
from queuectl import protocol as P
from queuectl.client.library import Client
from queuectl.client.rpc import RemoteError
from tests.conftest import Daemon, wait_for
from tests.dashboard_helpers import Dashboard


def rows(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, args)
        return cur.fetchall() if cur.description else []


@pytest.fixture
def pair(tmp_path: Path, pg_server: Any) -> Iterator[tuple[str, dict[str, Daemon]]]:
    """Daemons a (2 workers) and b (1 worker) on one fresh database."""
    url = pg_server.fresh_url()
    daemons: dict[str, Daemon] = {}
    try:
        for name, workers in (("a", 2), ("b", 1)):
            env = {"QUEUECTL_DATABASE": url}
            daemons[name] = Daemon(tmp_path / name, workers=workers, env=env).start("--name", name)
        yield url, daemons
    finally:
        for d in daemons.values():
            d.stop(timeout=60)


def ran_on(url: str, prefix: str) -> dict[str, list[str]]:
    """Job id -> the daemons of its attempts, in order, for the jobs whose id starts so."""
    found: dict[str, list[str]] = {}
    for job_id, daemon in rows(url, "SELECT j.id, a.daemon FROM jobs j JOIN attempts a ON a.job_seq = j.seq "
                                    "WHERE j.id LIKE %s ORDER BY j.id, a.n", prefix + "%"):  # fmt: skip
        found.setdefault(job_id, []).append(daemon)
    return found


def cpu_seconds(d: Daemon) -> float:
    """The daemon process's CPU time so far (user and system)."""
    assert d.proc is not None
    fields = Path(f"/proc/{d.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_jobs_pinned_to_b_run_on_b_only_even_while_a_idles(pair: Any) -> None:
    url, daemons = pair
    a, b = daemons["a"], daemons["b"]
    a.enqueue("sleep 2", id="hold", on="b")  # b's only worker is busy with it...
    wait_for(lambda: b.job("hold")["state"] == J.PROCESSING, 10, what="b to run hold")
    # ...and a, idle, is given jobs for b (and jobs for anyone) through its own socket.
    assert a.call("job.enqueue_many", {"jobs": [{"command": "true", "id": f"pin{i}", "on": "b"}
                                                for i in range(6)]})["count"] == 6  # fmt: skip
    for i in range(4):
        a.enqueue("true", id=f"any{i}")
    wait_for(lambda: all(a.job(f"any{i}")["state"] == J.COMPLETED for i in range(4)) or
             b.job("hold")["state"] != J.PROCESSING, 10, what="the unpinned jobs to finish")  # fmt: skip
    assert b.job("hold")["state"] == J.PROCESSING  # (all this within hold's 2 s)
    assert set(ran_on(url, "any")) == {f"any{i}" for i in range(4)} and "a" in sum(ran_on(url, "any").values(), [])
    assert ran_on(url, "pin") == {} or set(sum(ran_on(url, "pin").values(), [])) == {"b"}
    assert {a.job(f"pin{i}")["state"] for i in range(6)} <= {J.PENDING, J.ASSIGNED}
    # Every daemon counts them as pending (or handed to b), and says where they are pinned.
    wait_for(lambda: a.call("daemon.status")["counts"][J.PENDING] >= 5, 3, what="a's counts")
    job = a.job("pin3")
    assert job["on"] == "b" and [x["daemon"] for x in job["attempts_detail"]] in ([], ["b"])
    shown = a.cli("show", "pin3")
    assert shown.returncode == 0 and any(line.split()[:2] == ["on", "b"] for line in shown.stdout.splitlines())
    listed = {j["id"]: j["on"] for j in json.loads(a.cli("list", "--json").stdout)}
    assert listed["pin0"] == listed["hold"] == "b" and listed["any0"] is None
    wait_for(lambda: all(a.job(f"pin{i}")["state"] == J.COMPLETED for i in range(6)), 20,
             what="the pinned jobs to finish")  # fmt: skip
    assert ran_on(url, "pin") == {f"pin{i}": ["b"] for i in range(6)}
    assert ran_on(url, "hold") == {"hold": ["b"]}
    assert a.job("any0")["on"] is None


def test_a_job_pinned_to_a_daemon_not_started_yet_waits_for_it(pair: Any, tmp_path: Path) -> None:
    url, daemons = pair
    a = daemons["a"]
    job = a.enqueue("true", id="for-c", on="c")
    assert (job["state"], job["on"]) == (J.PENDING, "c")
    with Client(home=a.home) as client:  # (the Python client's keyword)
        assert client.enqueue("true", id="for-c2", on="c").on == "c"
    # A backlog pinned elsewhere costs a and b nothing: never loaded, never claimed.
    a.call("job.enqueue_many", {"jobs": [{"command": "true", "on": "nobody"}] * 2000})
    cpu = {name: cpu_seconds(d) for name, d in daemons.items()}
    time.sleep(1.5)  # (a and b would have run them in milliseconds; and their poll is 1 s)
    used = {name: cpu_seconds(d) - cpu[name] for name, d in daemons.items()}
    assert max(used.values()) < 0.15, used  # (~0 here; loading them and losing every claim: 0.4 s)
    assert [(r[0], r[1]) for r in rows(url, "SELECT state, attempts FROM jobs WHERE id LIKE 'for-c%%'")] == \
        [(J.PENDING, 0), (J.PENDING, 0)]  # fmt: skip
    for d in daemons.values():  # (counted as pending everywhere, and by name in the cluster's view)
        status = d.call("daemon.status")
        assert status["counts"][J.PENDING] == 2002
        assert status["daemon"]["cluster"]["pinned"] == {"c": 2, "nobody": 2000}
    a.enqueue("true", id="anyone")  # (beside that backlog, an unpinned job runs at once)
    a.wait_state("anyone", J.COMPLETED, timeout=5)
    c = Daemon(tmp_path / "c", workers=1, env={"QUEUECTL_DATABASE": url}).start("--name", "c")
    try:
        wait_for(lambda: a.job("for-c2")["state"] == J.COMPLETED == a.job("for-c")["state"], 10,
                 what="c to run its jobs")  # fmt: skip
    finally:
        c.stop(timeout=60)
    assert ran_on(url, "for-c") == {"for-c": ["c"], "for-c2": ["c"]}


@pytest.mark.parametrize("bad", ["", "a b", "-a", "x" * 65, "ünï", 7])
def test_a_bad_name_is_refused_and_nothing_is_added(daemon: Daemon, bad: Any) -> None:
    with pytest.raises(RemoteError) as err:
        daemon.enqueue("true", on=bad)
    assert err.value.code == P.INVALID_PARAMS and err.value.data["field"] == "on", err.value
    with pytest.raises(RemoteError) as err:
        daemon.call("job.enqueue_many", {"jobs": [{"command": "true"}, {"command": "true", "on": bad}]})
    assert err.value.code == P.INVALID_PARAMS and err.value.data["index"] == 1
    if isinstance(bad, str):
        p = daemon.cli("enqueue", "--on", bad, "--", "true")
        assert p.returncode == 2 and "on " in p.stderr, p.stderr
    assert daemon.call("daemon.status")["counts"][J.PENDING] == 0


def test_a_bad_name_in_a_file_is_refused_before_anything_is_sent(daemon: Daemon, tmp_path: Path) -> None:
    lines = tmp_path / "jobs.ndjson"
    lines.write_text('{"command": "true", "id": "f1"}\n{"command": "true", "on": "no way"}\n')
    p = daemon.cli("enqueue", "--file", str(lines))
    assert p.returncode == 2 and "line 2" in p.stderr and "on" in p.stderr, p.stderr
    assert daemon.call("job.list")["total"] == 0
    assert daemon.cli("enqueue", "--file", str(lines), "--on", "x").returncode == 2  # (give it in the JSON)


def test_sqlite_takes_its_own_name_only(make_daemon: Any, tmp_path: Path) -> None:
    d = make_daemon(extra=("--name", "solo"))
    with pytest.raises(RemoteError) as err:
        d.enqueue("true", on="other")
    assert err.value.code == P.INVALID_PARAMS and err.value.data["field"] == "on"
    assert "'solo'" in err.value.message and "'other'" in err.value.message and "SQLite" in err.value.message
    with pytest.raises(RemoteError) as err:  # (one bad job in a batch: none is added)
        d.call("job.enqueue_many", {"jobs": [{"command": "true", "on": "solo"}, {"command": "true", "on": "b"}]})
    assert err.value.code == P.INVALID_PARAMS and err.value.data["index"] == 1
    skipped = d.call("job.enqueue_many", {"jobs": [{"command": "true", "on": "b"}], "skip_invalid": True})
    assert skipped["count"] == 0 and "'solo'" in skipped["skipped"][0]["message"]
    p = d.cli("enqueue", "--on", "other", "--", "true")
    assert p.returncode == 2 and "'solo'" in p.stderr, p.stderr
    lines = tmp_path / "jobs.ndjson"
    lines.write_text('{"command": "true", "on": "other"}\n')
    assert d.cli("enqueue", "--file", str(lines)).returncode == 2
    assert d.call("daemon.status")["counts"][J.PENDING] == 0 and d.call("job.list")["total"] == 0
    p = d.cli("enqueue", "--on", "solo", "--id", "mine", "--wait", "--", "true")
    assert p.returncode == 0, p.stderr
    job = d.job("mine")
    assert (job["state"], job["on"], job["attempts_detail"][0]["daemon"]) == (J.COMPLETED, "solo", "solo")
    assert "solo (pinned" in d.cli("show", "mine").stdout
    pytest.importorskip("starlette")
    dash = Dashboard(d).wait_ready()
    try:
        page = dash.http("/job?id=mine", headers=dash.auth())
        assert page.status == 200 and "Pinned to</dt><dd><code>solo</code>" in page.text
    finally:
        dash.stop()
