"""sd_notify(3) without libsystemd: tell systemd about readiness, status and liveness.

The protocol is one AF_UNIX datagram of newline-separated VAR=value lines sent to
$NOTIFY_SOCKET (a path, or an abstract name written with a leading "@").
Every method is a no-op when the daemon was not started by systemd, and none of
them ever raises: a service manager that went away must not take the daemon down.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping, MutableMapping

# Variables that only make sense for the daemon's own process: the daemon
# removes them from the environment it hands to children and jobs.
SYSTEMD_ENV_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")

_log = logging.getLogger("queuectl.notify")


def scrub_environ(env: MutableMapping[str, str]) -> None:
    """Remove the notify/watchdog variables so children and jobs cannot inherit them."""
    for name in SYSTEMD_ENV_VARS:
        env.pop(name, None)


class Notifier:
    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        # Read everything now: the caller may scrub the environment afterwards.
        self._address = _address(environ.get("NOTIFY_SOCKET", ""))
        self._watchdog_usec = environ.get("WATCHDOG_USEC", "")
        self._watchdog_pid = environ.get("WATCHDOG_PID", "")
        self._sock: socket.socket | None = None
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def ready(self) -> None:
        self.send("READY=1")

    def status(self, text: str) -> None:
        # A newline would start a new assignment, so fold it.
        self.send("STATUS=" + " ".join(text.splitlines()))

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def reloading(self) -> None:
        # systemd >= 253 requires the timestamp to match RELOADING=1 to this reload;
        # older versions ignore it. Send READY=1 once the reload is done.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half the timeout), or None if not requested."""
        if self._watchdog_pid and self._watchdog_pid != str(os.getpid()):
            return None  # the watchdog is meant for another process (e.g. our parent)
        try:
            usec = int(self._watchdog_usec)
        except ValueError:
            return None
        return usec / 2_000_000 if usec > 0 else None

    def send(self, *lines: str) -> None:
        if self._address is None or not lines:
            return
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # Never let a stuck service manager block the event loop.
                self._sock.setblocking(False)
            self._sock.sendto("\n".join(lines).encode(), self._address)
        except Exception as exc:  # e.g. OSError, or text that cannot be encoded
            if not self._warned:
                self._warned = True
                _log.warning("sd_notify to %r failed: %s", self._address, exc)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _address(value: str) -> str | None:
    if value.startswith("@"):
        return "\0" + value[1:]  # Linux abstract namespace
    if value.startswith("/"):
        return value
    return None  # unset, or a transport we do not speak (e.g. vsock:)
