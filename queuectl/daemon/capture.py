"""A running job's stdio: a hook job's stdin from memory (stdin_fd); stdout and stderr
through pipes into the child's log segments, with a limit on what one attempt keeps
(max_output: both streams together).

Past the limit, output is read and dropped: the job keeps running and never blocks on a
full pipe; the attempt reports how many bytes were dropped. A segment write the disk
refuses (ENOSPC) closes that stream instead (see keep). The worker child drains the pipes in its poll loop, a bounded
amount per wake-up so that heartbeats and kills are never held up.
"""

from __future__ import annotations

import contextlib
import fcntl
import os

CHUNK = 256 * 1024
BUDGET = 16  # chunks per stream per wake-up (4 MiB), then the loop turns
F_SETPIPE_SZ = 1031  # (fcntl has it from Python 3.10 on Linux; the number is the kernel's)
PIPE_SIZE = 1024 * 1024  # fewer wake-ups for a chatty job; best effort (pipe-max-size)


class Capture:
    def __init__(self, out_fd: int, err_fd: int, limit: int):
        self.targets: dict[int, int] = {}  # read end -> segment fd
        self.limit = limit
        self.kept = 0
        self.dropped = 0
        # Bytes appended to the stdout segment (the rest of kept went to stderr's): the
        # child's count of its segments' sizes, as nothing else writes them.
        self.out_fd = out_fd
        self.out_len = 0
        self.write_ends: list[int] = []
        try:
            for target in (out_fd, err_fd):
                r, w = os.pipe2(os.O_CLOEXEC)
                self.targets[r] = target
                self.write_ends.append(w)
                os.set_blocking(r, False)
                with contextlib.suppress(OSError):
                    fcntl.fcntl(r, F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:  # out of file descriptors, say: the attempt fails to start, nothing leaks
            self.finish()
            raise

    @property
    def stdout_w(self) -> int:
        return self.write_ends[0]

    @property
    def stderr_w(self) -> int:
        return self.write_ends[1]

    def readers(self) -> list[int]:
        return list(self.targets)

    def spawned(self) -> None:
        """The job has its copies of the write ends: close ours, so EOF comes when it is done."""
        for w in self.write_ends:
            os.close(w)
        self.write_ends = []

    def drain(self, r: int, budget: int = BUDGET) -> bool:
        """Move what the pipe holds into its segment (up to budget chunks); False once the
        pipe is at EOF (and closed)."""
        target = self.targets.get(r)
        if target is None:
            return False
        for _ in range(budget):
            try:
                data = os.read(r, CHUNK)
            except BlockingIOError:
                return True
            except OSError:
                data = b""
            if not data or not self.keep(target, data):
                del self.targets[r]
                os.close(r)
                return False
        return True

    def keep(self, target: int, data: bytes) -> bool:
        """Append what the limit leaves room for; False if the segment refused it (a full
        disk): then the stream is closed, so that the job's next write to it fails (EPIPE,
        or SIGPIPE), as its write to the full disk itself would have, and it is retried
        like any failed attempt. What was not written is counted as dropped either way."""
        room = self.limit - self.kept
        part = data if room >= len(data) else data[: max(room, 0)]
        written = 0
        try:
            while written < len(part):
                written += os.write(target, part[written:])
        except OSError:
            self.count(target, written)
            self.dropped += len(data) - written
            return False
        self.count(target, written)
        self.dropped += len(data) - written
        return True

    def count(self, target: int, written: int) -> None:
        self.kept += written
        if target == self.out_fd:
            self.out_len += written

    @property
    def err_len(self) -> int:
        return self.kept - self.out_len

    def finish(self) -> None:
        """Everything of the job is gone: take what is left in the pipes and close them.
        (A process that escaped the job's group and holds a write end gets EPIPE.)"""
        for r in list(self.targets):
            # A pipe holds at most PIPE_SIZE; the bound is for an escaped writer that goes on.
            self.drain(r, budget=4 * BUDGET)
        for r in list(self.targets):
            os.close(r)
        self.targets.clear()
        for w in self.write_ends:  # (a spawn that failed)
            os.close(w)
        self.write_ends = []


def stdin_fd(data: bytes) -> int:
    """A file descriptor that reads `data` from its start (an anonymous file in memory: the
    job may read it at its own pace, or not at all, and no pipe can fill up)."""
    fd = os.memfd_create("queuectl-stdin", os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd
