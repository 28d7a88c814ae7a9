"""Many clients at once: 8 processes enqueue 1,000 jobs each (one request per job) while
others list, show and wait. Every job exists exactly once, every wait returns, no client
sees an error, and jobs complete while the enqueueing goes on."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

CLIENT = r'''
import json, random, sys, time
from pathlib import Path
from queuectl.client.rpc import RpcClient

role, index, sock, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
client = RpcClient(sock, timeout=30)
report = {"role": role, "index": index, "errors": [], "ops": 0}

def call(method, params=None, timeout=None):
    try:
        report["ops"] += 1
        return client.call(method, params, timeout)
    except Exception as exc:  # every error is a failure of the test
        report["errors"].append(f"{method}: {type(exc).__name__}: {exc}")
        return None

if role == "enqueue":
    for n in range(1000):
        call("job.enqueue", {"id": f"c{index}-{n}", "command": "true"})
        if n == 500:
            status = call("daemon.status")
            report["completed_midway"] = status["counts"]["completed"] if status else -1
    report["done_at"] = time.time()
elif role == "list":
    states = [None, "pending", "completed", "processing"]
    while not stop.exists():
        page = call("job.list", {"state": random.choice(states), "limit": 50,
                                 "newest_first": random.random() < 0.5})
        for job in (page or {"jobs": []})["jobs"][:5]:
            call("job.get", {"id": job["id"]})
        call("daemon.status")
elif role == "wait":
    report["waits"] = 0
    while not stop.exists():
        page = call("job.list", {"state": "pending", "limit": 5, "newest_first": True})
        jobs = page["jobs"] if page else []
        if not jobs:
            time.sleep(0.05)
            continue
        for job in jobs:
            result = call("job.wait", {"id": job["id"], "timeout": 60}, timeout=90)
            if result is not None:
                if result["timed_out"] or result["job"]["state"] != "completed":
                    report["errors"].append(f"wait {job['id']}: {result}")
                report["waits"] += 1
client.close()
print(json.dumps(report))
'''


def test_eight_enqueuers_with_listers_and_waiters(make_daemon, tmp_path: Path) -> None:
    d = make_daemon(workers=3)
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    stop = tmp_path / "stop"
    sock = str(d.paths.socket)

    def spawn(role: str, i: int) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, str(script), role, str(i), sock, str(stop)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip

    t0 = time.monotonic()
    readers = [spawn("list", i) for i in range(2)] + [spawn("wait", i) for i in range(2)]
    enqueuers = [spawn("enqueue", i) for i in range(8)]

    def report(proc: subprocess.Popen[str]) -> dict:
        stdout, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 0, stderr
        return json.loads(stdout)

    enq_reports = [report(p) for p in enqueuers]
    enqueue_s = time.monotonic() - t0
    stop.touch()
    read_reports = [report(p) for p in readers]

    for r in enq_reports + read_reports:
        assert r["errors"] == [], (r["role"], r["index"], r["errors"][:5])
    assert all(r["ops"] >= 1001 for r in enq_reports)
    assert sum(r["waits"] for r in read_reports if r["role"] == "wait") > 0
    assert all(r["ops"] > 0 for r in read_reports)
    # Dispatch kept going while the clients were enqueueing.
    assert max(r["completed_midway"] for r in enq_reports) > 0

    counts = d.wait_all_final(120)
    assert counts["completed"] == 8000 and sum(counts.values()) == 8000
    listed = d.call("job.list", {"limit": 10_000})
    ids = [j["id"] for j in listed["jobs"]]
    assert listed["total"] == 8000 and len(ids) == 8000
    assert set(ids) == {f"c{i}-{n}" for i in range(8) for n in range(1000)}  # each exactly once
    print(f"8 x 1000 enqueues with 4 readers took {enqueue_s:.1f}s")
