"""Logging setup, run in subprocesses (structlog's configuration is process-global).

journald is stood in for by a real AF_UNIX datagram socket; the entries it receives
are parsed with the native protocol's rules, including the binary-safe form.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import pty
import select
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.daemon.logsetup import field_name
from tests.journal import parse_entry

REPO = Path(__file__).resolve().parent.parent

EVENTS = """
log.info("job.finished", job_id="job1", attempt=1, child=2, exit_code=0, duration_ms=3.2)
log.warning("job.retry", job_id="job 2", attempt=2, signal=None, timed_out=True)
log.debug("hidden", job_id="x")
"""


def run_logging(
    *bodies: str,
    stderr: int,
    args: str = "'info', 'json'",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    script = (
        "import logging, sys, structlog\n"
        "from queuectl.daemon.logsetup import configure_logging\n"
        f"configure_logging({args})\n"
        "log = structlog.get_logger('queuectl')\n" + "".join(textwrap.dedent(b) for b in bodies)
    )
    full_env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", script],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=full_env,
        text=True,
        timeout=60,
        check=True,
    )


def stream_id(path: Path) -> str:
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


class JournalStandIn:
    """A datagram socket that collects entries, sent inline or as a sealed memfd."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.raw: list[bytes] = []
        self.memfd_seals: list[int] = []

    def receive_all(self) -> None:
        while select.select([self.sock], [], [], 0.2)[0]:
            data, fds, _, _ = socket.recv_fds(self.sock, 1 << 20, 1)
            if fds:
                assert data == b""  # journald rejects payload plus fd
                self.memfd_seals.append(fcntl.fcntl(fds[0], fcntl.F_GET_SEALS))
                with os.fdopen(fds[0], "rb") as f:
                    f.seek(0)  # the sender's writes left the shared offset at the end
                    data = f.read()
            self.raw.append(data)

    @property
    def entries(self) -> list[dict[str, str]]:
        out = []
        for data in self.raw:
            fields = parse_entry(data)
            names = [n for n, _ in fields]
            assert len(names) == len(set(names)), names
            out.append({n: v.decode() for n, v in fields})
        return out


@pytest.fixture
def journal() -> Iterator[JournalStandIn]:
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        j = JournalStandIn(os.path.join(d, "journal.sock"))
        yield j
        j.sock.close()


def journal_env(journal: JournalStandIn, stream: Path) -> dict[str, str]:
    return {"JOURNAL_STREAM": stream_id(stream), "QUEUECTL_JOURNAL_SOCKET": journal.path}


def test_json_lines(tmp_path: Path) -> None:
    out = tmp_path / "stderr"
    with open(out, "w") as f:
        run_logging(
            EVENTS,
            """
            try:
                1 / 0
            except ZeroDivisionError:
                log.exception("job.crashed", job_id="job3")
            logging.getLogger("queuectl.notify").warning("sd_notify failed: %s", "ENOENT")
            """,
            stderr=f.fileno(),
        )
    lines = out.read_text().splitlines()
    assert len(lines) == 4  # the debug event is filtered out
    events = [json.loads(line) for line in lines]
    for e in events:
        assert {"event", "level", "timestamp"} <= e.keys()
        ts = datetime.datetime.fromisoformat(e["timestamp"])
        assert e["timestamp"].endswith("Z") and ts.utcoffset() == datetime.timedelta(0)
    assert events[0] == {
        "event": "job.finished",
        "level": "info",
        "job_id": "job1",
        "attempt": 1,
        "child": 2,
        "exit_code": 0,
        "duration_ms": 3.2,
        "timestamp": events[0]["timestamp"],
    }
    assert events[1]["level"] == "warning" and events[1]["signal"] is None
    assert events[2]["level"] == "error"
    assert "ZeroDivisionError" in events[2]["exception"]
    assert events[3]["event"] == "sd_notify failed: ENOENT"
    assert events[3]["logger"] == "queuectl.notify"


def test_default_is_json_off_a_terminal(tmp_path: Path) -> None:
    out = tmp_path / "stderr"
    with open(out, "w") as f:
        run_logging(EVENTS, stderr=f.fileno(), args="'info'")
    assert json.loads(out.read_text().splitlines()[0])["event"] == "job.finished"


def test_default_is_console_on_a_terminal() -> None:
    primary, secondary = pty.openpty()
    try:
        run_logging(EVENTS, stderr=secondary, args="'info'")
        os.close(secondary)
        secondary = -1
        text = b""
        while select.select([primary], [], [], 0.5)[0]:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            text += chunk
    finally:
        os.close(primary)
        if secondary >= 0:
            os.close(secondary)
    first = text.decode().splitlines()[0]
    assert "job.finished" in first and "job1" in first
    assert not first.lstrip().startswith("{")


def test_console_lines(tmp_path: Path) -> None:
    out = tmp_path / "stderr"
    with open(out, "w") as f:
        run_logging(EVENTS, stderr=f.fileno(), args="'debug', 'console'")
    lines = out.read_text().splitlines()
    assert len(lines) == 3  # debug level: nothing filtered
    assert "job.finished" in lines[0] and "job_id=job1" in lines[0]
    assert "exit_code=0" in lines[0]
    assert "\x1b[" not in out.read_text()  # no colours off a terminal


def test_journald_native_entries(tmp_path: Path, journal: JournalStandIn) -> None:
    out = tmp_path / "stderr"
    out.touch()
    with open(out, "w") as f:
        run_logging(
            EVENTS,
            """
            log.error("job.output", job_id="job4", tail="last line\\nreally last", **{
                "job-kind": "shell", "_private": 1, "9lives": 9, "message": "m"})
            try:
                raise RuntimeError("kaput")
            except RuntimeError:
                log.exception("job.crashed", job_id="job5")
            """,
            stderr=f.fileno(),
            env=journal_env(journal, out),
        )
    journal.receive_all()
    # Native sending worked, so nothing was duplicated on the stream.
    assert out.read_text() == ""
    finished, retry, output, crashed = journal.entries

    assert finished["MESSAGE"] == ("job.finished job_id=job1 attempt=1 child=2 exit_code=0 duration_ms=3.2")
    assert finished["PRIORITY"] == "6"
    assert finished["SYSLOG_IDENTIFIER"] == "queuectl"
    assert finished["EVENT"] == "job.finished"
    assert finished["JOB_ID"] == "job1"
    assert finished["ATTEMPT"] == "1"
    assert finished["CHILD"] == "2"
    assert finished["EXIT_CODE"] == "0"
    assert finished["DURATION_MS"] == "3.2"
    assert "TIMESTAMP" not in finished and "LEVEL" not in finished

    assert retry["PRIORITY"] == "4"
    assert retry["MESSAGE"] == 'job.retry job_id="job 2" attempt=2 signal=null timed_out=true'
    assert retry["SIGNAL"] == "null" and retry["TIMED_OUT"] == "true"

    assert output["PRIORITY"] == "3"
    assert output["TAIL"] == "last line\nreally last"  # a multi-line field value
    assert output["JOB_KIND"] == "shell"
    assert output["PRIVATE"] == "1"
    assert output["F_9LIVES"] == "9"
    assert output["QUEUECTL_MESSAGE"] == "m"

    message = crashed["MESSAGE"].splitlines()
    assert message[0] == "job.crashed job_id=job5"
    assert message[1].startswith("Traceback (most recent call last):")
    assert message[-1] == "RuntimeError: kaput"
    assert crashed["PRIORITY"] == "3"


def test_multiline_message_uses_binary_form(tmp_path: Path, journal: JournalStandIn) -> None:
    out = tmp_path / "stderr"
    out.touch()
    with open(out, "w") as f:
        run_logging(
            'log.info("first line\\nsecond = line", job_id="j")\n',
            stderr=f.fileno(),
            env=journal_env(journal, out),
        )
    journal.receive_all()
    (raw,) = journal.raw
    message = b"first line\nsecond = line job_id=j"
    assert raw.startswith(b"MESSAGE\n" + struct.pack("<Q", len(message)) + message + b"\n")
    assert journal.entries[0]["EVENT"] == "first line\nsecond = line"


def test_journald_large_entry_goes_through_memfd(tmp_path: Path, journal: JournalStandIn) -> None:
    out = tmp_path / "stderr"
    out.touch()
    with open(out, "w") as f:
        run_logging(
            'log.info("big", blob="x" * 400_000)\nlog.info("small")\n',
            stderr=f.fileno(),
            env=journal_env(journal, out),
        )
    journal.receive_all()
    assert out.read_text() == ""
    big, small = journal.entries
    assert big["BLOB"] == "x" * 400_000 and small["EVENT"] == "small"
    (seals,) = journal.memfd_seals
    for seal in (fcntl.F_SEAL_SHRINK, fcntl.F_SEAL_GROW, fcntl.F_SEAL_WRITE, fcntl.F_SEAL_SEAL):
        assert seals & seal


def test_journald_socket_missing_falls_back_to_stream(tmp_path: Path) -> None:
    out = tmp_path / "stderr"
    out.touch()
    env = {"JOURNAL_STREAM": stream_id(out), "QUEUECTL_JOURNAL_SOCKET": str(tmp_path / "gone")}
    with open(out, "w") as f:
        run_logging(EVENTS, stderr=f.fileno(), env=env)
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["event"] for e in events] == ["job.finished", "job.retry"]
    assert "gone" in events[0]["journal_error"]  # said once, inside the first event
    assert "journal_error" not in events[1]


def test_journald_busy_falls_back_without_loss(tmp_path: Path, journal: JournalStandIn) -> None:
    # Nobody reads the socket: once its queue is full, sends would block (EAGAIN);
    # those events go to the stream instead, and none is lost or doubled.
    out = tmp_path / "stderr"
    out.touch()
    count = 3000
    with open(out, "w") as f:
        run_logging(
            f"for i in range({count}):\n    log.info('tick', n=i)\n",
            stderr=f.fileno(),
            env=journal_env(journal, out),
        )
    journal.receive_all()
    via_journal = {int(e["N"]) for e in journal.entries}
    via_stream = {json.loads(line)["n"] for line in out.read_text().splitlines()}
    assert via_journal and via_stream
    assert not via_journal & via_stream
    assert via_journal | via_stream == set(range(count))


def test_journal_stream_of_another_file_is_ignored(tmp_path: Path, journal: JournalStandIn) -> None:
    out = tmp_path / "stderr"
    other = tmp_path / "other"
    other.touch()
    with open(out, "w") as f:
        run_logging(EVENTS, stderr=f.fileno(), env=journal_env(journal, other))
    journal.receive_all()
    assert journal.raw == []
    assert len(out.read_text().splitlines()) == 2


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("job_id", b"JOB_ID"),
        ("exitCode", b"EXITCODE"),
        ("job-kind.x", b"JOB_KIND_X"),
        ("__dunder", b"DUNDER"),
        ("7up", b"F_7UP"),
        ("priority", b"QUEUECTL_PRIORITY"),
        ("é", None),
        ("a.é", b"A__"),
        ("___", None),
        ("k" * 80, b"K" * 64),
    ],
)
def test_field_name(key: str, name: bytes | None) -> None:
    assert field_name(key) == name


def test_logging_cost_is_small(tmp_path: Path) -> None:
    # A coarse guard against an accidental slow path (the daemon logs per job).
    out = tmp_path / "stderr"
    with open(out, "w") as f:
        result = run_logging(
            """
            import time
            n = 20000
            start = time.perf_counter()
            for i in range(n):
                log.info("job.finished", job_id="job1", attempt=1, child=2, exit_code=0,
                         duration_ms=3.2)
            print((time.perf_counter() - start) / n * 1e6)
            """,
            stderr=f.fileno(),
        )
    assert float(result.stdout) < 100  # microseconds per event; ~7 measured
