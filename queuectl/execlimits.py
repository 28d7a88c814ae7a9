"""What the kernel lets a job's `sh -c COMMAND` take (execve()'s limits), for
queuectl.jobs' validation (which re-exports these names)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ExecLimits:
    """execve() limits for a job, in bytes.

    max_string: one argv or environment string without its NUL (the kernel's
    MAX_ARG_STRLEN, 32 pages, counts the NUL). max_total: what a job's command and env
    together may take, each string counted as the kernel counts it (bytes + NUL + a
    pointer); half of what the kernel allows for argv + envp, the other half is left
    for the daemon's own environment, which every job inherits.
    """

    max_string: int
    max_total: int


KERNEL_ARG_CAP = 6 * 1024 * 1024  # 3/4 of _STK_LIM: the most the kernel takes, whatever the rlimit
LEGACY_ARG_MAX = 128 * 1024  # the least it takes, whatever the rlimit


@functools.cache
def exec_limits() -> ExecLimits:
    """The limits of this process (the daemon's, which its worker children inherit).

    SC_ARG_MAX is a quarter of the stack rlimit (glibc); Linux caps it at 6 MiB and
    grants at least 128 KiB.
    """
    page = os.sysconf("SC_PAGE_SIZE")
    try:
        arg_max = os.sysconf("SC_ARG_MAX")
    except (ValueError, OSError):
        arg_max = LEGACY_ARG_MAX
    if arg_max <= 0:
        arg_max = LEGACY_ARG_MAX
    kernel = max(min(arg_max, KERNEL_ARG_CAP), LEGACY_ARG_MAX)
    return ExecLimits(max_string=32 * page - 1, max_total=kernel // 2)


def exec_bytes(text: str) -> int:
    """What one argv/envp string costs the kernel: its bytes, the NUL and a pointer."""
    return len(text.encode()) + 1 + 8
