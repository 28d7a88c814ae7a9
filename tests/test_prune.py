"""Retention end to end: `queuectl prune` and its filters, bad input, the background
pruner with a short retention, log segments reclaimed whole, and a short soak."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from queuectl import AsyncClient, Client
from tests.conftest import Daemon, wait_for


def counts(daemon: Daemon) -> dict[str, int]:
    return daemon.call("daemon.status")["counts"]


def logs_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir())


def test_prune_filters_dry_run_and_bad_input(daemon: Daemon) -> None:
    daemon.call("queue.add", {"name": "other"})
    ids = [daemon.enqueue("echo done")["id"], daemon.enqueue("exit 1", max_retries=0)["id"],
           daemon.enqueue("echo other", queue="other")["id"], daemon.enqueue("true", delay=3600)["id"]]  # fmt: skip
    daemon.call("job.cancel", {"id": daemon.enqueue("true", delay=3600)["id"]})
    for job_id in ids[:3]:
        daemon.wait_state(job_id)
    before = counts(daemon)
    assert (before["completed"], before["dead"], before["cancelled"], before["scheduled"]) == (2, 1, 1, 1)

    # Young jobs and the default retention (days): nothing to do, said plainly.
    r = daemon.cli("prune")
    assert r.returncode == 0 and r.stdout.startswith("nothing to prune"), r
    dry = json.loads(daemon.cli("prune", "--older-than", "0", "--dry-run", "--json").stdout)
    assert dry["dry_run"] and dry["jobs"] == {"completed": 2, "dead": 1, "cancelled": 1} and dry["total"] == 4
    assert counts(daemon) == before

    # Bad input: one line, exit 2, nothing removed.
    for args, says in ((("--state", "pending"), "only finished jobs"), (("--state", "bogus"), "only finished"),
                       (("--older-than", "5x"), "invalid duration"), (("--older-than", "-1"), "0 seconds"),
                       (("--older-than", "200000d"), "100 years"), (("--queue", "nope"), "no queue")):  # fmt: skip
        r = daemon.cli("prune", *args)
        assert r.returncode == 2 and says in r.stderr and r.stderr.count("\n") == 1, (args, r)
    err = daemon.client.call  # the RPC refuses it too, naming the field
    with pytest.raises(Exception, match="only finished jobs"):
        err("job.prune", {"states": ["running"]})
    assert counts(daemon) == before

    done = json.loads(daemon.cli("prune", "--older-than", "0", "--state", "dead", "--json").stdout)
    assert done["jobs"] == {"completed": 0, "dead": 1, "cancelled": 0} and not done["dry_run"]
    r = daemon.cli("prune", "--older-than", "0", "--queue", "other")
    assert r.returncode == 0 and "pruned 1 job(s) (completed 1)" in r.stdout, r
    assert daemon.call("job.list", {"queue": "other"})["total"] == 0
    after = counts(daemon)
    assert (after["completed"], after["dead"], after["cancelled"], after["scheduled"]) == (1, 0, 1, 1)

    # Both Python clients, the same method.
    with Client(socket=daemon.paths.socket) as client:
        assert client.prune(older_than=0, states=["cancelled"])["jobs"]["cancelled"] == 1

    async def aprune() -> int:
        async with AsyncClient(socket=daemon.paths.socket) as aclient:
            return (await aclient.prune(older_than=0))["total"]

    assert asyncio.run(aprune()) == 1
    assert counts(daemon)["scheduled"] == 1  # never an unfinished job
    storage = daemon.call("daemon.status")["daemon"]["storage"]
    assert storage["db_bytes"] > 0 and {"wal_bytes", "logs_bytes", "db_free_bytes"} <= storage.keys()


def test_background_pruning_reclaims_whole_segments(daemon: Daemon) -> None:
    logs_dir = daemon.paths.logs_dir
    assert daemon.cli("config", "set", "retain_completed", "1s").returncode == 0
    first = [daemon.enqueue("head -c 20000 /dev/zero")["id"] for _ in range(6)]
    for job_id in first:
        daemon.wait_state(job_id)
    segments = {p.stem for p in logs_dir.iterdir()}
    assert logs_bytes(logs_dir) >= 6 * 20000
    time.sleep(1.2)  # past the segment age (a tenth of the retention, at least 1 s) ...
    later = [daemon.enqueue("echo later")["id"] for _ in range(4)]  # ... so these open new segments
    for job_id in later:
        daemon.wait_state(job_id)

    def first_gone() -> bool:
        gone = daemon.call("job.list", {"state": "completed"})["total"] == 0
        return gone and not (segments & {p.stem for p in logs_dir.iterdir()})

    wait_for(first_gone, timeout=15, what="the first jobs and their segments to go")
    pruned = daemon.call("daemon.status")["daemon"]["pruned"]
    assert pruned["jobs"] == 10 and pruned["segments"] >= 1 and pruned["bytes"] >= 6 * 20000
    assert logs_bytes(logs_dir) < 20000
    r = daemon.cli("logs", first[0])
    assert r.returncode == 4 and "no job with id" in r.stderr, r


def test_a_short_soak_stays_flat(make_daemon) -> None:
    """3,000 jobs of 1,000 bytes of output each with a retention of 1 s: the finished ones
    go while more run, the database file, its WAL and the logs directory stay under a
    bound, and a dry run afterwards changes nothing."""
    daemon = make_daemon(workers=2)
    daemon.cli("config", "set", "retain_completed", "1s")
    sizes = []
    for batch in range(6):
        daemon.call("job.enqueue_many", {"jobs": [{"command": "head -c 1000 /dev/zero"}] * 500})
        wait_for(lambda: counts(daemon)["pending"] + counts(daemon)["processing"] == 0, timeout=30,
                 what=f"batch {batch}")  # fmt: skip
        if batch in (2, 5):
            # The database file grows as the checkpointer copies the WAL into it (every
            # second, all of it once the loop is idle): compare sizes it has caught up with.
            time.sleep(2.5)
        storage = daemon.call("daemon.status")["daemon"]["storage"]
        sizes.append((storage["db_bytes"], storage["wal_bytes"], logs_bytes(daemon.paths.logs_dir)))
    wait_for(lambda: counts(daemon)["completed"] == 0, timeout=15, what="every job pruned")
    pruned = daemon.call("daemon.status")["daemon"]["pruned"]
    assert pruned["jobs"] == 3000 and pruned["segments"] >= 1, pruned
    before = counts(daemon)
    dry = json.loads(daemon.cli("prune", "--dry-run", "--json").stdout)
    assert dry["total"] == 0 and counts(daemon) == before
    db, wal, logs = (list(column) for column in zip(*sizes, strict=True))
    assert db[-1] <= 1.5 * max(db[2], 256 * 1024), sizes  # flat: free pages are reused
    assert max(wal) < 80 * 1024 * 1024, sizes  # the checkpointer restarts it past 32 MiB
    # Of 3 MB written, what is held is the last seconds' jobs (retention 1 s, segments cut
    # after 1 s, the pruner's steps): a few batches' worth at most, however the run is timed.
    assert max(logs) < 2_000_000 and logs[-1] < 3_000_000 - 1_000_000, sizes
