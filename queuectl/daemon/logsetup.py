"""structlog setup for the daemon: JSON lines or console lines, plus journald's native protocol.

When stderr is connected to journald (systemd sets JOURNAL_STREAM to the stream's
"dev:ino"), each event is sent as a native journal entry instead, so every event key
becomes a field one can filter on (`journalctl JOB_ID=...`). If that send fails, the
event is written to the stream as usual: nothing is lost and nothing is logged twice.
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import json
import logging
import os
import re
import socket
import struct
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from queuectl.daemon import fastjson

DEFAULT_JOURNAL_SOCKET = "/run/systemd/journal/socket"
SYSLOG_IDENTIFIER = "queuectl"

# syslog(3) priorities, as journald's PRIORITY= expects them.
_PRIORITY = {
    "critical": b"2",
    "exception": b"3",
    "error": b"3",
    "warn": b"4",
    "warning": b"4",
    "info": b"6",
    "debug": b"7",
}
# Keys the renderer consumes or journald already records (it timestamps entries itself).
_SKIP_KEYS = frozenset({"event", "level", "timestamp", "exception", "exc_info", "stack"})
# Field names we set ourselves; an event key that maps onto one is renamed.
_RESERVED = frozenset({"MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "EVENT"})
_IDENT = b"SYSLOG_IDENTIFIER=" + SYSLOG_IDENTIFIER.encode() + b"\n"
_INVALID_FIELD_CHARS = re.compile(r"[^A-Z0-9_]")
_NEEDS_QUOTES = re.compile(r'[\s"=]|^$')
_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL


def configure_logging(
    level: str = "info",
    fmt: str | None = None,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    journal_socket: str | None = None,
    buffered: bool = False,
) -> None:
    """Configure structlog globally. fmt: "json", "console", or None (json unless a TTY).

    journal_socket overrides the journald socket path (else $QUEUECTL_JOURNAL_SOCKET,
    else /run/systemd/journal/socket); it is only used when the stream is journald's.
    """
    env = os.environ if environ is None else environ
    out = sys.stderr if stream is None else stream
    if fmt is None:
        fmt = "console" if _isatty(out) else "json"
    if fmt not in ("json", "console"):
        raise ValueError(f"unknown log format {fmt!r} (expected 'json' or 'console')")

    journald = _is_journal_stream(out, env)
    processors: list[Processor] = [structlog.processors.add_log_level]
    if fmt == "json" or journald:
        # Plain-text tracebacks: JSON needs a string, journald puts it in MESSAGE.
        processors.append(structlog.processors.format_exc_info)
    if journald:
        path = journal_socket or env.get("QUEUECTL_JOURNAL_SOCKET") or DEFAULT_JOURNAL_SOCKET
        processors.append(JournalSender(path))
    processors.append(_utc_timestamp)
    if fmt == "json":
        processors.append(structlog.processors.JSONRenderer(serializer=fastjson.log_line))
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=_isatty(out)))

    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level.lower()),
        logger_factory=structlog.WriteLoggerFactory(file=_sink(out, buffered)),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    _route_stdlib_logging(level)


_second = -1
_second_text = ""


def _utc_timestamp(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """ISO 8601 UTC with microseconds, like TimeStamper(fmt="iso", utc=True), at a fraction
    of its cost: the date and time of day are formatted once per second."""
    global _second, _second_text
    now = time.time()
    second = int(now)
    if second != _second:
        _second, _second_text = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    event_dict["timestamp"] = f"{_second_text}.{int((now - second) * 1e6):06d}Z"
    return event_dict


class _NeverRaising:
    """A stream whose write errors (a full disk under a --detach log file) are dropped:
    losing a log line is better than losing the daemon.

    Buffered, it keeps lines until `flush_logs()`: the daemon calls that once per
    loop turn, so a burst of events costs one write instead of one per line."""

    def __init__(self, stream: TextIO, buffered: bool = False) -> None:
        self.stream = stream
        self.buffered = buffered
        self.pending: list[str] = []
        self.dropped = 0

    def write(self, text: str) -> None:
        if self.buffered:
            self.pending.append(text)
            return
        try:
            self.stream.write(text)
        except (OSError, ValueError):
            self.dropped += 1

    def flush(self) -> None:
        if not self.buffered:
            self.drain()

    def drain(self) -> None:
        try:
            if self.pending:
                self.stream.write("".join(self.pending))
            self.stream.flush()
        except (OSError, ValueError):
            self.dropped += len(self.pending) or 1
        self.pending = []


_current_sink: _NeverRaising | None = None


def _sink(stream: TextIO, buffered: bool) -> _NeverRaising:
    global _current_sink
    _current_sink = _NeverRaising(stream, buffered)
    if buffered:
        atexit.register(flush_logs)
    return _current_sink


def flush_logs() -> None:
    """Write out buffered log lines (see configure_logging's `buffered`)."""
    if _current_sink is not None:
        _current_sink.drain()


class JournalSender:
    """Processor: send the event to journald natively, then drop it; on failure pass it on."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._sock: socket.socket | None = None
        self._names: dict[str, bytes | None] = {}  # event key -> field name, cached
        self._reported = False

    def __call__(self, logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
        try:
            self._send(encode_entry(event_dict, self._names))
        except Exception as exc:  # logging must never take the daemon down
            # Fall back to the stream; say why once, inside the event itself so the
            # line keeps its format.
            if not self._reported:
                self._reported = True
                event_dict["journal_error"] = f"{self.path}: {exc}"
            return event_dict
        raise structlog.DropEvent

    def _send(self, payload: bytes) -> None:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            # A busy journald must not stall the event loop: EAGAIN falls back to the
            # stream, which the kernel buffers separately.
            sock.setblocking(False)
            self._sock = sock
        try:
            self._sock.sendto(payload, self.path)
        except OSError as exc:
            if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS):
                raise
            self._send_memfd(payload)

    def _send_memfd(self, payload: bytes) -> None:
        # Entries larger than a datagram go in a sealed memfd passed with SCM_RIGHTS.
        assert self._sock is not None
        fd = os.memfd_create("queuectl-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
            # (socket.send_fds ignores its address argument, so sendmsg directly.)
            rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))]
            self._sock.sendmsg([], rights, 0, self.path)
        finally:
            os.close(fd)


def encode_entry(event_dict: EventDict, names: dict[str, bytes | None] | None = None) -> bytes:
    """One journal entry in the native protocol (MESSAGE, PRIORITY, one field per key).

    MESSAGE is readable text for `journalctl`: the event, its key=value pairs, then any
    traceback; journald adds time and priority itself, and the fields carry the structure.
    """
    names = {} if names is None else names
    event = str(event_dict.get("event", ""))
    words = [event]
    fields = [b"", b"PRIORITY=" + _PRIORITY.get(str(event_dict.get("level")), b"6") + b"\n", _IDENT]
    fields.append(_field(b"EVENT", event.encode("utf-8", "backslashreplace")))
    for key, value in event_dict.items():
        if key in _SKIP_KEYS:
            continue
        if isinstance(value, str):
            text = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            text = str(value)
        else:
            text = json.dumps(value, default=str)  # bool/None/containers as in JSON lines
        words.append(f"{key}={json.dumps(text) if _NEEDS_QUOTES.search(text) else text}")
        name = names.get(key, b"")
        if name == b"":
            name = names[key] = field_name(key)
        if name is not None:
            data = value if isinstance(value, bytes) else text.encode("utf-8", "backslashreplace")
            fields.append(_field(name, data))
    message = " ".join(words)
    if exc := event_dict.get("exception"):
        message += "\n" + str(exc).rstrip("\n")
    fields[0] = _field(b"MESSAGE", message.encode("utf-8", "backslashreplace"))
    return b"".join(fields)


def field_name(key: str) -> bytes | None:
    """A journald field name for an event key: [A-Z0-9_], no leading '_' or digit, <= 64."""
    name = _INVALID_FIELD_CHARS.sub("_", key.upper()).lstrip("_")
    if not name:
        return None
    if name[0].isdigit():
        name = "F_" + name
    if name in _RESERVED:
        name = "QUEUECTL_" + name
    return name[:64].encode()


def _field(name: bytes, value: bytes) -> bytes:
    if b"\n" in value:
        # Binary-safe form: NAME\n, little-endian u64 length, raw bytes, \n.
        return name + b"\n" + struct.pack("<Q", len(value)) + value + b"\n"
    return name + b"=" + value + b"\n"


def _is_journal_stream(stream: TextIO, environ: Mapping[str, str]) -> bool:
    dev, _, ino = environ.get("JOURNAL_STREAM", "").partition(":")
    try:
        st = os.fstat(stream.fileno())
        return (st.st_dev, st.st_ino) == (int(dev), int(ino))
    except (OSError, ValueError, AttributeError):
        return False  # no such variable, or a stream with no file descriptor


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _StdlibToStructlog(logging.Handler):
    # So warnings from stdlib loggers (e.g. queuectl.notify) share the format and sink.
    def emit(self, record: logging.LogRecord) -> None:
        try:
            log = structlog.get_logger(record.name)
            kw: dict[str, Any] = {"logger": record.name}
            if record.exc_info:
                kw["exc_info"] = record.exc_info
            log.log(record.levelno, record.getMessage(), **kw)
        except Exception:
            self.handleError(record)


def _route_stdlib_logging(level: str) -> None:
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, _StdlibToStructlog)]
    root.addHandler(_StdlibToStructlog())
    root.setLevel(level.upper())
