"""Sizes as people write them (pure), and the capture of a job's output up to its limit
(real pipes into a real file, no daemon)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from queuectl import settings
from queuectl.daemon.capture import Capture
from queuectl.daemon.segments import LogSegments
from queuectl.jobs import ValidationError, validate_max_output
from queuectl.sizes import SizeError, format_size, parse_size


def test_parse_size() -> None:
    assert parse_size("1048576") == 1 << 20
    assert parse_size("10M") == 10 << 20 and parse_size("64MiB") == 64 << 20 and parse_size("1G") == 1 << 30
    assert parse_size("1.5k") == 1536 and parse_size("2 GB") == 2_000_000_000 and parse_size("500kb") == 500_000
    assert parse_size("7B") == 7 and parse_size("-5") == -5
    for bad in ("", "M", "10x", "1.2.3M", "nan", "inf", "1e3M"):
        with pytest.raises(SizeError):
            parse_size(bad)


def test_format_size() -> None:
    assert format_size(1) == "1 byte" and format_size(512) == "512 bytes"
    assert format_size(64 << 20) == "64 MiB" and format_size(1.9 * (1 << 30)) == "1.9 GiB"
    assert format_size(3_951_424) == "3.8 MiB" and format_size(1 << 50) == "1 PiB"


def test_validate_max_output_and_the_setting() -> None:
    assert validate_max_output("1M") == 1 << 20 and validate_max_output(0) == 0
    for bad in (-1, True, 1.5, "x", 2 << 50):
        with pytest.raises(ValidationError):
            validate_max_output(bad)
    assert settings.parse("max_output_bytes", "64MiB") == 64 << 20
    with pytest.raises(ValidationError):
        settings.parse("max_output_bytes", "-1K")


def _capture(tmp_path: Path, limit: int) -> tuple[Capture, int, int]:
    out = os.open(tmp_path / "seg.out", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    err = os.open(tmp_path / "seg.err", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    return Capture(out, err, limit), out, err


def test_capture_keeps_up_to_the_limit_across_both_streams(tmp_path: Path) -> None:
    cap, out, err = _capture(tmp_path, 1000)
    os.write(cap.stdout_w, b"a" * 600)
    os.write(cap.stderr_w, b"b" * 600)
    for r in cap.readers():
        cap.drain(r)
    os.write(cap.stdout_w, b"c" * 100)
    cap.spawned()  # (no job here: closing our write ends gives EOF)
    cap.finish()
    assert (tmp_path / "seg.out").read_bytes() == b"a" * 600
    assert (tmp_path / "seg.err").read_bytes() == b"b" * 400
    assert (cap.kept, cap.dropped) == (1000, 300)
    assert (cap.out_len, cap.err_len) == (600, 400)  # (what the child counts its segments' sizes by)
    assert cap.readers() == []
    for fd in (out, err):
        os.close(fd)


def test_capture_drains_more_than_a_pipe_holds_and_sees_eof(tmp_path: Path) -> None:
    cap, out, err = _capture(tmp_path, 10)
    total = 0
    pid = os.fork()
    if pid == 0:  # a writer that would block forever on a pipe nobody drains
        os.close(cap.stderr_w)
        os.write(cap.stdout_w, b"z" * (4 << 20))
        os._exit(0)
    cap.spawned()
    r = cap.readers()[0]
    while cap.drain(r):
        total += 1
    os.waitpid(pid, 0)
    cap.finish()
    assert (cap.kept, cap.dropped) == (10, (4 << 20) - 10)
    assert (tmp_path / "seg.out").read_bytes() == b"z" * 10
    for fd in (out, err):
        os.close(fd)


def test_log_segments_count_their_sizes_and_rotate_on_them(tmp_path: Path) -> None:
    logs = LogSegments(str(tmp_path), 1, 2, limit=1000)

    def job(out: bytes, err: bytes) -> None:
        cap = Capture(logs.out_fd, logs.err_fd, 1 << 20)
        os.write(cap.stdout_w, out)
        os.write(cap.stderr_w, err)
        cap.spawned()
        cap.finish()
        logs.grew(cap.out_len, cap.err_len)

    job(b"x" * 700, b"y" * 5)
    assert logs.rotate_if_full(3600.0) == (700, 5)
    assert (os.fstat(logs.out_fd).st_size, os.fstat(logs.err_fd).st_size) == (700, 5)
    job(b"x" * 400, b"")
    assert logs.rotate_if_full(3600.0) == (0, 0) and logs.name == "1-2-2"  # (1,100 bytes: full)
    assert (tmp_path / "1-2-1.out").stat().st_size == 1100
    logs.close()
