"""Several daemons sharing one PostgreSQL database (docs/postgres.md, "Several daemons"):
three real daemons, each in its own home under its own name, on a real server that the
tests start (tests/pgserver.py).

- without faults, every job is completed exactly once, and every daemon takes part;
- a SIGKILLed daemon's jobs are rescued within lease + one renew interval;
- a daemon cut off from the database (its role may no longer log in, and its sessions
  are terminated) fences itself: its jobs are killed before its lease lapses, so no
  job's two runs overlap in time.
"""

from __future__ import annotations

import collections
import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from queuectl import jobs as J
from tests.conftest import Daemon, wait_for

LEASE, RENEW = 3.0, 0.5  # short, for the tests (defaults 10 s and 2 s)


def rows(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, args)
        return cur.fetchall() if cur.description else []


def role_url(url: str, role: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://{role}@")


@contextlib.contextmanager
def three_daemons(root: Path, pg_server: Any, cut_role: bool = True) -> Iterator[tuple[str, dict[str, Daemon]]]:
    """Three daemons (a, b, c) on one fresh database, 2 workers each, with a short lease.
    With `cut_role`, daemon b logs in as a role of its own (cut_b), so a test can cut it
    off alone (roles are the server's: only the one cluster that may be cut uses it)."""
    url = pg_server.fresh_url()
    if not rows(url, "SELECT 1 FROM pg_roles WHERE rolname = 'cut_b'"):
        rows(url, "CREATE ROLE cut_b LOGIN SUPERUSER")
    daemons: dict[str, Daemon] = {}
    try:
        first = Daemon(root / "a", workers=2, env={"QUEUECTL_DATABASE": url}).start("--name", "a")
        daemons["a"] = first
        for key, value in (("lease", LEASE), ("lease_renew", RENEW)):
            first.call("config.set", {"key": key, "value": value})
        for name in ("b", "c"):  # (started together: each waits for the other's start only)
            db = role_url(url, "cut_b") if name == "b" and cut_role else url
            daemons[name] = Daemon(root / name, workers=2, env={"QUEUECTL_DATABASE": db})
            daemons[name].start("--name", name, wait=False)
        for name in ("b", "c"):
            daemons[name].wait_ready()
        yield url, daemons
    finally:
        rows(url, "ALTER ROLE cut_b LOGIN")
        for d in daemons.values():
            stop_or_kill(d)


@pytest.fixture
def cluster(tmp_path: Path, pg_server: Any) -> Iterator[tuple[str, dict[str, Daemon]]]:
    """A cluster of its own, for a test that kills, cuts off or stalls a daemon."""
    with three_daemons(tmp_path, pg_server) as made:
        yield made


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory, pg_server: Any) -> Iterator[tuple[str, dict[str, Daemon]]]:
    """One cluster for the tests that leave every daemon running (starting three daemons
    is most of such a test's time): each test uses job ids and queues of its own, and
    starts from 2 workers everywhere."""
    with three_daemons(tmp_path_factory.mktemp("shared"), pg_server, cut_role=False) as made:
        yield made


@pytest.fixture
def shared(shared_cluster: tuple[str, dict[str, Daemon]]) -> tuple[str, dict[str, Daemon]]:
    url, daemons = shared_cluster
    for d in daemons.values():
        d.call("workers.scale", {"count": 2})
    wait_for(lambda: unfinished(url) == 0, 30, interval=0.1, what="the last test's jobs to end")
    return shared_cluster


def stop_or_kill(daemon: Daemon) -> None:
    """Stop it; a daemon that does not stop within a minute (a failed test left it stuck)
    is SIGKILLed, never left running after the test."""
    try:
        daemon.stop(timeout=60)
    except subprocess.TimeoutExpired:
        daemon.kill9()


def unfinished(url: str) -> int:
    return int(rows(url, "SELECT count(*) FROM jobs WHERE state NOT IN ('completed', 'dead', 'cancelled')")[0][0])


def held_by(url: str, name: str) -> list[str]:
    """The jobs daemon `name` holds now (assigned or running, their open attempt its)."""
    return [r[0] for r in rows(url, "SELECT j.id FROM jobs j JOIN attempts a ON a.job_seq = j.seq AND "
                                    "a.n = j.attempts WHERE j.state IN ('assigned', 'processing') AND "
                                    "a.finished_at IS NULL AND a.daemon = %s", name)]  # fmt: skip


def beat_job(beats: Path) -> str:
    """A job that writes "id attempt time" to `beats` every 20 ms or so, for about 4 s."""
    return f'for i in $(seq 150); do echo "$QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT $(date +%s.%N)" >> {beats}; sleep 0.02; done'


def beat_runs(beats: Path) -> dict[tuple[str, str], list[float]]:
    """(job id, attempt) -> the times its run wrote."""
    found: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for line in beats.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            found[(parts[0], parts[1])].append(float(parts[2]))
    return found


def assert_runs_do_not_overlap(beats: Path, held: set[str], since: float) -> None:
    """Each job the lost daemon had started: its run's last line came before the rescued
    run's first one, and before the lost daemon's lease could lapse (counted from `since`)."""
    wait_for(lambda: all((j, "2") in beat_runs(beats) for j in held), 30,
             what="the rescued jobs to run again (after the others' jobs)")  # fmt: skip
    seen = beat_runs(beats)
    ran_first = [j for j in held if seen[(j, "1")]]  # (not those handed out ahead, never started)
    assert ran_first, sorted(seen)
    for job_id in ran_first:
        first, second = seen[(job_id, "1")], seen[(job_id, "2")]
        assert max(first) < min(second), (job_id, max(first), min(second))
        assert max(first) < since + LEASE, (job_id, max(first) - since)


def test_three_daemons_complete_5000_jobs_each_exactly_once(shared: Any, tmp_path: Path) -> None:
    url, daemons = shared
    runs = tmp_path / "runs.txt"
    jobs = [{"id": f"j{i}", "command": f'echo "$QUEUECTL_JOB_ID" >> {runs}'} for i in range(5000)]
    for i, d in enumerate(daemons.values()):  # (enqueued on every daemon: each wakes the others)
        d.call("job.enqueue_many", {"jobs": jobs[i::3]})
    wait_for(lambda: unfinished(url) == 0, 180, interval=0.2, what="the 5,000 jobs to finish")
    ran = collections.Counter(runs.read_text().split())
    assert len(ran) == 5000 and set(ran.values()) == {1}, [j for j, n in ran.items() if n > 1][:10]
    assert rows(url, "SELECT state, count(*), max(attempts) FROM jobs WHERE id LIKE 'j%%' GROUP BY state") == [
        ("completed", 5000, 1)]  # fmt: skip
    per_daemon = dict(rows(url, "SELECT a.daemon, count(*) FROM attempts a JOIN jobs j ON j.seq = a.job_seq "
                                "WHERE j.id LIKE 'j%%' GROUP BY a.daemon"))  # fmt: skip
    assert set(per_daemon) == {"a", "b", "c"} and sum(per_daemon.values()) == 5000, per_daemon
    # Every daemon's status shows the whole queue (within the poll interval) and the others.
    completed = rows(url, "SELECT count(*) FROM jobs WHERE state = 'completed'")[0][0]
    for d in daemons.values():
        wait_for(lambda d=d: d.call("daemon.status")["counts"]["completed"] == completed, 5, what="counts")
        cluster_view = d.call("daemon.status")["daemon"]["cluster"]
        assert [x["name"] for x in cluster_view["daemons"] if x["live"]] == ["a", "b", "c"]
        assert cluster_view["fenced"] is None
    shown = daemons["b"].cli("worker", "status")
    assert shown.returncode == 0 and shown.stdout.startswith("daemon b: workers: 2 running"), shown.stdout
    table = shown.stdout.split("daemons sharing the database:")[1].split("\n")
    assert [line.split()[0] for line in table[2:] if line.strip()] == ["a", "b", "c"], shown.stdout
    assert all(" live " in line for line in table[2:] if line.strip())


def test_a_killed_daemons_jobs_are_rescued_within_lease_and_renew(cluster: Any, tmp_path: Path) -> None:
    url, daemons = cluster
    for name in ("a", "c"):  # (b takes the jobs first)
        daemons[name].call("workers.scale", {"count": 0})
    for i in range(8):
        daemons["a"].enqueue("sleep 2", id=f"s{i}")
    wait_for(lambda: len(held_by(url, "b")) >= 2, 20, what="daemon b to run jobs")
    taken = set(held_by(url, "b"))
    for name in ("a", "c"):
        daemons[name].call("workers.scale", {"count": 2})
    daemons["b"].kill9()
    killed_at = time.monotonic()

    def rescued() -> bool:
        return not held_by(url, "b")

    wait_for(rescued, LEASE + RENEW + 5, interval=0.05, what="b's jobs to be rescued")
    took = time.monotonic() - killed_at
    assert took <= LEASE + RENEW + 0.5, f"rescued after {took:.2f} s"
    firsts = rows(url, "SELECT j.id, a.error, a.charged FROM attempts a JOIN jobs j ON j.seq = a.job_seq "
                       "WHERE a.daemon = 'b' AND a.n = 1")  # fmt: skip
    assert {r[0] for r in firsts} >= taken
    assert all(r[1] in (J.INTERRUPTED, J.INTERRUPTED_UNCONFIRMED) and r[2] == 0
               for r in firsts if r[0] in taken), firsts  # fmt: skip
    # Nothing lost: every job completes, on a and c.
    wait_for(lambda: unfinished(url) == 0, 60, interval=0.2, what="every job to finish")
    assert rows(url, "SELECT count(*) FROM jobs WHERE state = 'completed'") == [(8,)]
    lines = [e for e in daemons["a"].log_events() + daemons["c"].log_events() if e.get("event") == "daemon.rescued"]
    assert [(e["daemon"], e["jobs"]) for e in lines] == [("b", len(firsts))]


def test_a_daemon_cut_off_from_the_database_kills_its_jobs_before_its_lease_lapses(
    cluster: Any, tmp_path: Path
) -> None:
    url, daemons = cluster
    beats = tmp_path / "beats.txt"
    for name in ("a", "c"):  # (b takes the jobs first)
        daemons[name].call("workers.scale", {"count": 0})
    for i in range(4):
        daemons["a"].enqueue(beat_job(beats), id=f"f{i}")
    wait_for(lambda: len(held_by(url, "b")) >= 2, 20, what="daemon b to run jobs")
    held = set(held_by(url, "b"))
    for name in ("a", "c"):
        daemons[name].call("workers.scale", {"count": 2})
    # The cut: b's role may no longer log in, and its sessions end.
    rows(url, "ALTER ROLE cut_b NOLOGIN")
    rows(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'cut_b'")
    cut_at = time.time()
    wait_for(lambda: any(e.get("event") == "daemon.fenced" for e in daemons["b"].log_events()), LEASE + 2,
             interval=0.05, what="b to fence itself")  # fmt: skip
    wait_for(lambda: not set(held_by(url, "b")) & held, LEASE + RENEW + 5, interval=0.05, what="the rescue")
    assert_runs_do_not_overlap(beats, held, cut_at)
    # Let back in, b takes a new lease and runs jobs again.
    rows(url, "ALTER ROLE cut_b LOGIN")
    wait_for(lambda: any(e.get("event") == "daemon.unfenced" for e in daemons["b"].log_events()), 20,
             interval=0.1, what="b to come back")  # fmt: skip
    wait_for(lambda: unfinished(url) == 0, 60, interval=0.2, what="every job to finish")
    daemons["b"].enqueue("true", id="after-the-cut")
    assert daemons["b"].wait_state("after-the-cut")["state"] == "completed"


def test_a_daemon_that_runs_nothing_serves_the_jobs_the_others_run(shared: Any, tmp_path: Path) -> None:
    """A client talks to a, which runs nothing (0 workers); its jobs run on b and c. One
    cluster for three checks (each starts three daemons otherwise)."""
    url, daemons = shared
    daemons["a"].call("workers.scale", {"count": 0})
    waits_and_events_reach_a(url, daemons)
    a_cancels_a_job_running_elsewhere(url, daemons, tmp_path)
    a_reads_the_logs_of_jobs_run_elsewhere(url, daemons)


def waits_and_events_reach_a(url: str, daemons: dict[str, Daemon]) -> None:
    """`wait`, `enqueue --wait`, job.wait and a subscriber on a's events see them end."""
    from queuectl.client.events import EventStream

    a = daemons["a"]
    with EventStream(a.paths.socket, ("job.",), 10) as events:
        a.call("workers.status")  # (the subscription is in before anything happens)
        a.enqueue("sleep 0.5; exit 7", id="seven", max_retries=0)
        waited = a.cli("wait", "seven", "--timeout", "20")
        assert waited.returncode == 7, waited.stdout + waited.stderr
        ran_on = rows(url, "SELECT daemon FROM attempts a JOIN jobs j ON j.seq = a.job_seq WHERE j.id = 'seven'")
        assert ran_on in ([("b",)], [("c",)])
        seen: list[dict[str, Any]] = []
        wait_for(lambda: (e := events.next(0.5)) is not None and seen.append(e) is None and any(
            x["event"] == "job.dead" and x["job_id"] == "seven" for x in seen), 10, what="job.dead on a")  # fmt: skip
        dead = next(x for x in seen if x["event"] == "job.dead")
        assert dead["daemon"] == ran_on[0][0] and dead["exit_code"] == 7
        assert {"job.started", "job.dead"} <= {x["event"] for x in seen if x["job_id"] == "seven"}
    done = a.cli("enqueue", "--wait", "--id", "hello", "--", "echo", "hello")
    assert done.returncode == 0, done.stdout + done.stderr
    a.enqueue("sleep 0.3", id="later")
    answer = a.call("job.wait", {"id": "later", "timeout": 20}, timeout=25)
    assert answer["timed_out"] is False and answer["job"]["state"] == "completed"


def a_cancels_a_job_running_elsewhere(url: str, daemons: dict[str, Daemon], tmp_path: Path) -> None:
    a = daemons["a"]
    marker = tmp_path / "still-running"
    a.enqueue(f"touch {marker}; sleep 30; rm {marker}", id="long")
    wait_for(lambda: a.job("long")["state"] == "processing" and marker.exists(), 20, what="long to run elsewhere")
    started = time.monotonic()
    cancelled = a.cli("cancel", "long", "--json")
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    assert json.loads(cancelled.stdout)["state"] == "cancelled"
    assert time.monotonic() - started < 10  # (killed by the daemon that ran it: kill_grace is 5 s)
    (ran_on,) = rows(url, "SELECT a.daemon FROM attempts a JOIN jobs j ON j.seq = a.job_seq WHERE j.id = 'long'")
    assert ran_on[0] in ("b", "c")
    assert marker.exists()  # (killed, so its `rm` never ran)
    assert not [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline_has(p, str(marker))]


def _cmdline_has(proc: Path, text: str) -> bool:
    try:
        return text.encode() in (proc / "cmdline").read_bytes()
    except OSError:
        return False


def a_reads_the_logs_of_jobs_run_elsewhere(url: str, daemons: dict[str, Daemon]) -> None:
    a = daemons["a"]
    a.enqueue("echo out-line; echo err-line >&2", id="small")
    a.enqueue("head -c 2500000 /dev/zero | tr '\\0' x; printf end", id="big")  # (3 chunks of 1 MiB)
    for job_id in ("small", "big"):
        assert a.wait_state(job_id)["state"] == "completed"
    ran_on = {r[0] for r in rows(url, "SELECT daemon FROM attempts a JOIN jobs j ON j.seq = a.job_seq "
                                      "WHERE j.id IN ('small', 'big')")}  # fmt: skip
    assert ran_on <= {"b", "c"} and ran_on
    small = a.cli("logs", "small")
    assert small.returncode == 0 and small.stdout == "out-line\n", small
    err = a.cli("logs", "small", "--stderr")
    assert err.returncode == 0 and "err-line" in err.stdout + err.stderr, err
    big = a.cli("logs", "big")
    assert big.returncode == 0 and big.stdout == "x" * 2_500_000 + "end", (len(big.stdout), big.stderr)
    # read through the daemon that ran it, the same bytes (from its own segments)
    runner = daemons[rows(url, "SELECT a.daemon FROM attempts a JOIN jobs j ON j.seq = a.job_seq "
                               "WHERE j.id = 'big'")[0][0]]  # fmt: skip
    assert runner.cli("logs", "big").stdout == big.stdout


def test_a_queues_concurrency_holds_across_daemons(shared: Any, tmp_path: Path) -> None:
    """A queue made through a after b and c started: all three learn of it, and its
    concurrency of 2 counts every daemon's running jobs of it (one worker each: three
    could run at once if each daemon counted only its own)."""
    url, daemons = shared
    a = daemons["a"]
    for d in daemons.values():
        d.call("workers.scale", {"count": 1})
    made = a.cli("queue", "add", "narrow", "--concurrency", "2")
    assert made.returncode == 0, made.stderr
    spans = tmp_path / "spans.txt"
    for i in range(12):
        a.enqueue(f'echo "start $(date +%s.%N)" >> {spans}; sleep 0.4; echo "end $(date +%s.%N)" >> {spans}',
                  id=f"n{i}", queue="narrow")  # fmt: skip
    wait_for(lambda: unfinished(url) == 0, 60, interval=0.2, what="the queue's jobs to finish")
    events = sorted((float(t), 1 if kind == "start" else -1) for kind, t in
                    (line.split() for line in spans.read_text().splitlines()))  # fmt: skip
    running = most = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):  # (an end before a start at the same time)
        running += step
        most = max(most, running)
    assert most <= 2, most
    for d in daemons.values():
        assert "narrow" in [q["name"] for q in d.call("queue.list")]


def test_a_schedule_fires_each_slot_once_whichever_daemons_serve_it(shared: Any, tmp_path: Path) -> None:
    """A schedule added through a: b and c learn its next slot at once; the three take
    turns on the schedule's row, so each slot makes one run, none is skipped, and no
    daemon trips over another's run (no schedule.failed, no store.error)."""
    url, daemons = shared
    a = daemons["a"]
    logged = {name: len(d.log_events()) for name, d in daemons.items()}
    began = time.monotonic()
    added = a.cli("schedule", "add", "tick", "--every", "1s", "--overlap", "allow", "--", "true")
    assert added.returncode == 0, added.stderr
    for name in ("b", "c"):  # (started again: each reads the schedule at start too)
        daemons[name].stop()
        daemons[name].start("--name", name)
    time.sleep(3.5)
    assert a.cli("schedule", "pause", "tick").returncode == 0
    seconds = time.monotonic() - began
    time.sleep(0.5)
    ids = sorted(r[0] for r in rows(url, "SELECT id FROM jobs WHERE id LIKE 'tick@%%'"))
    # one run per second the schedule was active: none twice (ids are per slot), none skipped
    assert seconds - 2 <= len(ids) <= seconds + 1, (seconds, ids)
    firing = dict(rows(url, "SELECT daemon, count(*) FROM attempts GROUP BY daemon"))
    assert sum(firing.values()) >= 4
    for name, d in daemons.items():
        bad = [e for e in d.log_events()[logged[name]:] if e.get("event") in ("schedule.failed", "store.error")]
        assert not bad, bad


def test_a_setting_changed_through_one_daemon_is_taken_by_the_others(shared: Any) -> None:
    _, daemons = shared
    changed = daemons["a"].cli("config", "set", "max_retries", "7")
    assert changed.returncode == 0, changed.stderr
    for name in ("b", "c"):
        wait_for(lambda name=name: daemons[name].call("config.get", {"key": "max_retries"})["value"] == 7, 5,
                 what=f"{name} to take max_retries")  # fmt: skip
    job = daemons["c"].enqueue("true", id="after-the-change")
    assert job["max_retries"] == 7  # (enqueued through c, with the setting made through a)
    assert daemons["b"].cli("config", "set", "max_retries", "3").returncode == 0  # (as it was)


class FreezableProxy:
    """A TCP proxy to the test server's Unix socket that can freeze: it stops passing
    bytes either way but keeps every connection open (its kernel still acknowledges
    them), so a daemon behind it hangs inside a database call, its loop stuck, until
    the proxy thaws or drops the connections. No TCP timeout notices that."""

    def __init__(self, unix_path: str):
        import socket
        import threading

        self.unix_path = unix_path
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.frozen = threading.Event()
        self.closing = threading.Event()
        self.conns: list[Any] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while not self.closing.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX)
            server.connect(self.unix_path)
            self.conns += [client, server]
            threading.Thread(target=self._pipe, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()

    def _pipe(self, src: Any, dst: Any) -> None:
        import select

        while not self.closing.is_set():
            if self.frozen.is_set():
                time.sleep(0.01)
                continue
            try:
                if not select.select([src], [], [], 0.05)[0]:
                    continue
                data = src.recv(65536)
            except (OSError, ValueError):  # (closed: drop_all)
                return
            if not data:
                return
            while self.frozen.is_set() and not self.closing.is_set():
                time.sleep(0.01)  # (frozen with bytes in hand: they wait with the rest)
            try:
                dst.sendall(data)
            except OSError:
                return

    def drop_all(self) -> None:
        """Reset every connection (the daemon's calls fail and it connects again)."""
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.close()
        self.conns = []

    def close(self) -> None:
        self.closing.set()
        self.listener.close()
        self.drop_all()


def test_a_daemon_stuck_in_a_database_call_has_its_jobs_killed_by_the_watchdog(
    cluster: Any, tmp_path: Path, pg_server: Any
) -> None:
    """Daemon d reaches the database through a proxy that freezes: d's loop hangs inside a
    call and cannot fence itself. Its watchdog thread kills d's jobs before d's lease
    lapses; the others rescue them after it lapsed; no job's two runs overlap."""
    url, daemons = cluster
    proxy = FreezableProxy(str(pg_server.sockdir / ".s.PGSQL.5432"))
    dbname = url.split("?")[0].rsplit("/", 1)[1]
    stuck = Daemon(tmp_path / "d", workers=2,
                   env={"QUEUECTL_DATABASE": f"postgresql://postgres@127.0.0.1:{proxy.port}/{dbname}"})  # fmt: skip
    try:
        stuck.start("--name", "d")
        beats = tmp_path / "beats.txt"
        for d in daemons.values():  # (d alone takes the jobs first)
            d.call("workers.scale", {"count": 0})
        for i in range(6):
            daemons["a"].enqueue(beat_job(beats), id=f"w{i}")
        wait_for(lambda: len(held_by(url, "d")) >= 2, 20, what="daemon d to run jobs")
        for d in daemons.values():
            d.call("workers.scale", {"count": 2})
        proxy.frozen.set()
        frozen_at = time.time()
        held = set(held_by(url, "d"))
        wait_for(lambda: not set(held_by(url, "d")) & held, LEASE + RENEW + 5, interval=0.05, what="the rescue")
        assert_runs_do_not_overlap(beats, held, frozen_at)
        # Thawed (the connections reset): d fences itself, takes a new lease and runs jobs.
        proxy.drop_all()
        proxy.frozen.clear()
        wait_for(lambda: any(e.get("event") == "daemon.unfenced" for e in stuck.log_events()), 20,
                 interval=0.1, what="d to come back")  # fmt: skip
        wait_for(lambda: unfinished(url) == 0, 60, interval=0.2, what="every job to finish")
    finally:
        proxy.frozen.clear()  # (thawed and reset first: a daemon stuck in a call through it cannot stop)
        proxy.drop_all()
        stop_or_kill(stuck)
        proxy.close()


def test_a_queues_rate_limit_holds_across_daemons(shared: Any, tmp_path: Path) -> None:
    """A queue limited to 3 starts in any 2 s, served by three daemons: never more than 3
    starts in a 2 s window over all of them (each daemon alone would allow 3)."""
    url, daemons = shared
    made = daemons["a"].cli("queue", "add", "slow", "--rate", "3/2s")
    assert made.returncode == 0, made.stderr
    for d in daemons.values():
        wait_for(lambda d=d: "slow" in [q["name"] for q in d.call("queue.list")], 5, what="the queue everywhere")
    for i in range(9):
        daemons["a"].enqueue("true", id=f"r{i}", queue="slow")
    wait_for(lambda: unfinished(url) == 0, 30, interval=0.2, what="the limited jobs to finish")
    starts = sorted(r[0] for r in rows(url, "SELECT started_at FROM attempts WHERE queue = 'slow'"))
    assert len(starts) == 9
    for i, t in enumerate(starts):
        assert len([s for s in starts[i:] if s < t + 2.0]) <= 3, starts


def test_the_dashboard_shows_every_daemon_sharing_the_database(shared: Any, browser: Any) -> None:
    """The overview of a dashboard on daemon b names b and lists a, b and c with their
    leases, kept current from the pushed status (a's running job shows up there)."""
    pytest.importorskip("starlette", reason="the dashboard extra: pip install -e '.[dev]'")
    from tests.dashboard_helpers import Dashboard, expect, open_live, screenshot, stop_all

    url, daemons = shared
    dash = Dashboard(daemons["b"]).wait_ready()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        dash.login(page)
        open_live(page, dash.url + "/")
        expect(page.locator("#daemon-name")).to_have_text("b")
        expect(page.locator("#daemons-table tbody tr")).to_have_count(3)
        for name in ("a", "b", "c"):
            expect(page.locator(f'#daemons-table tr[data-daemon="{name}"]')).to_contain_text("live")
        daemons["a"].enqueue("sleep 4", id="shown-on-a", on="a")
        running_on_a = page.locator('#daemons-table tr[data-daemon="a"] td[data-label="running"]')
        expect(running_on_a).to_have_text("1")
        screenshot(page, "overview-cluster")
        expect(running_on_a).to_have_text("0", timeout=20_000)
    finally:
        context.close()
        stop_all([dash])


def test_the_global_rate_limit_holds_across_daemons(shared: Any) -> None:
    """config rate_limit 3/2s (every queue's starts together), jobs of two queues enqueued
    through all three daemons: never more than 3 starts in a 2 s window over all of them
    (each daemon alone would allow 3; without the shared count 9 started at once)."""
    url, daemons = shared
    made = daemons["b"].cli("queue", "add", "other")
    assert made.returncode == 0, made.stderr
    assert daemons["a"].cli("config", "set", "rate_limit", "3/2s").returncode == 0
    try:
        for d in daemons.values():
            wait_for(lambda d=d: d.call("config.get", {"key": "rate_limit"})["value"] == "3/2s"
                     and "other" in [q["name"] for q in d.call("queue.list")], 5, what="the limit everywhere")  # fmt: skip
        for i, name in enumerate(("a", "b", "c") * 3):
            daemons[name].enqueue("true", id=f"g{i}", queue="other" if i % 2 else "default")
        wait_for(lambda: unfinished(url) == 0, 30, interval=0.2, what="the limited jobs to finish")
    finally:
        assert daemons["a"].cli("config", "set", "rate_limit", "none").returncode == 0
    starts = sorted(r[0] for r in rows(url, "SELECT a.started_at FROM attempts a JOIN jobs j ON j.seq = a.job_seq "
                                            "WHERE j.id LIKE 'g%%'"))  # fmt: skip
    assert len(starts) == 9
    for i, t in enumerate(starts):
        assert len([s for s in starts[i:] if s < t + 2.0]) <= 3, starts
