"""Steps of the wall clock: a wait given as a duration (a delay, a backoff) stays as long
as asked; a time of day given as run_at follows the wall clock.

The daemon runs with a small LD_PRELOAD library, built here with gcc, that adds an
offset read from a file to CLOCK_REALTIME (clock_gettime, gettimeofday, time), so the
test steps the daemon's wall clock while the monotonic and boot clocks run on, as a
real `date -s` does, without touching the machine's own clock.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from queuectl import jobs as J
from tests.conftest import Daemon, wait_for

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>

static const char *offset_text;

static long offset(void) {
    if (!offset_text) {
        const char *path = getenv("QTEST_CLOCK_OFFSET_FILE");
        int fd = path ? open(path, O_RDONLY) : -1;
        void *map = fd >= 0 ? mmap(NULL, 32, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
        offset_text = map == MAP_FAILED ? "0" : (const char *)map;
    }
    return atol(offset_text);
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
    static int (*real)(clockid_t, struct timespec *);
    if (!real) real = dlsym(RTLD_NEXT, "clock_gettime");
    int r = real(clock, ts);
    if (r == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE)) ts->tv_sec += offset();
    return r;
}

int gettimeofday(struct timeval *tv, void *tz) {
    static int (*real)(struct timeval *, void *);
    if (!real) real = dlsym(RTLD_NEXT, "gettimeofday");
    int r = real(tv, tz);
    if (r == 0 && tv) tv->tv_sec += offset();
    return r;
}

time_t time(time_t *t) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (t) *t = ts.tv_sec;
    return ts.tv_sec;
}
"""


@pytest.fixture
def stepped_clock(tmp_path: Path) -> tuple[Path, Path]:
    """(the shim library, the file holding the offset in seconds)."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.fail("a C compiler is needed to build the clock shim (Debian package gcc)")
    source = tmp_path / "clockshim.c"
    source.write_text(SHIM)
    library = tmp_path / "clockshim.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-O1", "-o", str(library), str(source), "-ldl"], check=True)
    offset = tmp_path / "offset"
    set_offset(offset, 0)
    return library, offset


def set_offset(path: Path, seconds: int) -> None:
    # Rewritten in place (the daemon has it mapped), padded to one length.
    with open(path, "r+" if path.exists() else "w") as f:
        f.write(f"{seconds:+020d}\n")


def fake_now(offset: int) -> float:
    return time.time() + offset


class FakedClockClient:
    """RPC through `queuectl call` run on the daemon's (faked) wall clock too: requests
    carry an expiry on the wall clock, and client and daemon share one, as on any host."""

    def __init__(self, daemon: Daemon, env: dict[str, str]):
        self.daemon = daemon
        self.env = env

    def call(self, method: str, params: dict | None = None) -> Any:
        args = ["call", method] + ([json.dumps(params)] if params is not None else [])
        p = self.daemon.cli(*args, env=self.env)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    def job(self, job_id: str) -> dict[str, Any]:
        return self.call("job.get", {"id": job_id})

    def wait_state(self, job_id: str, state: str, timeout: float) -> dict[str, Any]:
        return wait_for(lambda: (j := self.job(job_id))["state"] == state and j, timeout,
                        interval=0.1, what=f"{job_id} to be {state}")  # fmt: skip


def test_relative_waits_survive_clock_steps_and_times_of_day_follow_them(
    make_daemon, stepped_clock: tuple[Path, Path]
) -> None:
    library, offset = stepped_clock
    env = {"LD_PRELOAD": str(library), "QTEST_CLOCK_OFFSET_FILE": str(offset)}
    d: Daemon = make_daemon(workers=1, env=env)
    c = FakedClockClient(d, env)
    c.call("config.set", {"key": "backoff_base", "value": 4})
    c.call("job.enqueue", {"command": "exit 1", "id": "flaky", "max_retries": 1})
    c.wait_state("flaky", "failed", 10)
    c.call("job.enqueue", {"command": "true", "id": "delayed", "delay": 5})
    at = J.format_time(fake_now(0) + 6)
    c.call("job.enqueue", {"command": "true", "id": "teatime", "run_at": at})
    # The wall clock jumps back an hour.
    set_offset(offset, -3600)
    t0 = time.monotonic()
    dead = c.wait_state("flaky", "dead", 15)  # its 4 s backoff, not 4 s + an hour
    assert len(dead["attempts_detail"]) == 2
    c.wait_state("delayed", "completed", 15)
    assert time.monotonic() - t0 < 12
    teatime = c.job("teatime")  # a time of day: an hour away now
    assert teatime["state"] == "scheduled" and teatime["run_at"] == at
    steps = [e for e in d.log_events() if e.get("event") == "clock.stepped"]
    assert steps and -3601 < steps[0]["seconds"] < -3599
    # And forward two hours: the time of day has passed; a 30 s delay has not.
    c.call("job.enqueue", {"command": "true", "id": "later", "delay": 30})
    set_offset(offset, +3600)
    c.wait_state("teatime", "completed", 10)
    time.sleep(2)
    assert c.job("later")["state"] == "scheduled"
    wait_for(lambda: len([e for e in d.log_events() if e.get("event") == "clock.stepped"]) == 2,
             what="the second step logged")  # fmt: skip
