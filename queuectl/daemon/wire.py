"""Typed messages between the daemon and its worker children, and their msgpack form.

Each message is a msgpack array: its kind's tag, then its fields in the order the
dataclass declares them. `encode` and `decode` are the only places that know the
layout, so the two sides cannot disagree about it; a message of the wrong shape
raises WireError instead of being half understood.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, ClassVar

import msgpack


class WireError(ValueError):
    """Bytes that are not a well-formed message."""


@dataclass(frozen=True, slots=True)
class Run:
    """daemon -> child: run this attempt, now or as soon as the one running ends (a
    child holds at most one waiting job; see dispatch.py)."""

    TAG: ClassVar[str] = "run"
    seq: int
    attempt: int
    job_id: str
    command: str
    timeout: float | None
    cwd: str | None
    env: dict[str, str] | None
    kill_grace: float
    queue: str = "default"  # QUEUECTL_QUEUE
    slot: str = "0"  # QUEUECTL_SLOT: its slot indices within its queue, "0" or "2,3"
    stdin: bytes | None = None  # what the command reads on stdin (None: /dev/null)
    hook: str | None = None  # a hook job's kind: its own id is QUEUECTL_HOOK_ID, and
    # QUEUECTL_JOB_ID (from its env) names the job it reports on
    max_output: int = 64 << 20  # bytes of output kept (stdout and stderr together); the rest dropped
    rotate_after: float = 3600.0  # a written log segment this old is closed before it starts


FENCED = "fenced"  # an Abort's reason: the daemon lost its lease; killed at once, no grace


@dataclass(frozen=True, slots=True)
class Abort:
    """daemon -> child: kill that job ("cancel", "shutdown", "pause" or FENCED) and report
    it; a job it holds but has not started is handed back (Returned)."""

    TAG: ClassVar[str] = "abort"
    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class Revoke:
    """daemon -> child: hand this job back if you have not started it (a worker fell
    idle, or a better job arrived, while it waited behind your running one)."""

    TAG: ClassVar[str] = "revoke"
    seq: int


@dataclass(frozen=True, slots=True)
class Exit:
    """daemon -> child: finish what you run, hand back the rest, say Bye, exit."""

    TAG: ClassVar[str] = "exit"


@dataclass(frozen=True, slots=True)
class Hello:
    """child -> daemon: connected and ready; how it contains its jobs."""

    TAG: ClassVar[str] = "hello"
    child: int
    pid: int
    containment: str


@dataclass(frozen=True, slots=True)
class Started:
    """child -> daemon: the attempt's shell runs (pid) and writes at these offsets."""

    TAG: ClassVar[str] = "started"
    child: int
    seq: int
    attempt: int
    at: float
    pid: int  # 0: it could not be started (a Finished with its error follows)
    segment: str
    out_off: int
    err_off: int


@dataclass(frozen=True, slots=True)
class Finished:
    """child -> daemon: the attempt ended, and everything it started is gone."""

    TAG: ClassVar[str] = "finished"
    child: int
    seq: int
    attempt: int
    ended_at: float
    exit_code: int | None
    signal: int | None
    timed_out: bool
    aborted: str | None  # why the daemon asked to kill it ("cancel", "shutdown"), or None
    out_len: int | None  # None: unknown (its child died)
    err_len: int | None
    error: str | None  # it could not be started at all (a missing cwd, ...)
    dropped: int = 0  # bytes of output dropped past max_output (or that the disk refused)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """child -> daemon: still alive (every 2 s)."""

    TAG: ClassVar[str] = "heartbeat"
    child: int


@dataclass(frozen=True, slots=True)
class Returned:
    """child -> daemon: this attempt was never started; it is the daemon's again."""

    TAG: ClassVar[str] = "returned"
    child: int
    seq: int
    attempt: int


@dataclass(frozen=True, slots=True)
class Bye:
    """child -> daemon: exiting, as told (Exit), after handing back what it held."""

    TAG: ClassVar[str] = "bye"
    child: int


ToChild = Run | Abort | Revoke | Exit
FromChild = Hello | Started | Finished | Heartbeat | Returned | Bye
Message = ToChild | FromChild

_KINDS: dict[str, type[Any]] = {
    cls.TAG: cls for cls in (Run, Abort, Revoke, Exit, Hello, Started, Finished, Heartbeat, Returned, Bye)
}
_ARITY = {tag: len(cls.__slots__) for tag, cls in _KINDS.items()}


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if len(names) > 1:
        return attrgetter(*names)  # (one C call: a generator of getattr took twice as long)
    return lambda msg: tuple(getattr(msg, name) for name in names)


_FIELDS = {cls: _getter(cls.__slots__) for cls in _KINDS.values()}


def encode(msg: Message) -> bytes:
    packed: bytes = msgpack.packb([msg.TAG, *_FIELDS[type(msg)](msg)])
    return packed


def decode(raw: bytes) -> Message:
    try:
        items = msgpack.unpackb(raw)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise WireError(f"not msgpack: {exc}") from None
    if not isinstance(items, list) or not items or items[0] not in _KINDS:
        raise WireError(f"not a message: {str(items)[:80]}")
    tag = items[0]
    if len(items) - 1 != _ARITY[tag]:
        raise WireError(f"{tag}: {len(items) - 1} fields, expected {_ARITY[tag]}")
    msg: Message = _KINDS[tag](*items[1:])
    return msg
