"""Secrets that guard what listens (the dashboard, `queuectl metrics --listen`): made,
read from a file only its owner can read, compared in constant time. Pure standard
library, so the metrics server needs no dashboard extra.

Secrets are compared as bytes in constant time: hmac.compare_digest raises on a
non-ASCII str, and whatever a client sends must end in 401/403, never in a 500.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import stat

MIN_TOKEN_LENGTH = 16


class TokenError(ValueError):
    """A token that cannot be used; the message is one line for the user."""


def same(presented: str, expected: str) -> bool:
    """Constant-time comparison of two secrets, whatever characters the client sent."""
    return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def check_token(token: str, source: str) -> str:
    # Printable ASCII without spaces: it goes into a URL, a header and a cookie unchanged.
    if len(token) < MIN_TOKEN_LENGTH:
        raise TokenError(f"the token in {source} is shorter than {MIN_TOKEN_LENGTH} characters")
    if not all("!" <= c <= "~" for c in token):
        raise TokenError(f"the token in {source} must be printable ASCII without spaces")
    return token


def read_token_file(path: str) -> str:
    """The first line of FILE, which only its owner (us or root) may read or change."""
    try:
        # O_NONBLOCK: a FIFO in its place must not hang us; it is refused below.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        raise TokenError(f"cannot read the token file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())  # of what was opened, not of what the name points to now
        if not stat.S_ISREG(st.st_mode):
            raise TokenError(f"the token file {path} is not a regular file")
        if st.st_uid not in (os.geteuid(), 0):
            raise TokenError(f"the token file {path} belongs to uid {st.st_uid}, not to you or root")
        if st.st_mode & 0o077:
            mode = stat.S_IMODE(st.st_mode)
            raise TokenError(f"the token file {path} is readable or writable by others (mode {mode:04o}); chmod 600 it")
        raw = f.read(4096)
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise TokenError(f"the token in {path} must be printable ASCII without spaces") from None
    return check_token(lines[0].strip() if lines else "", path)
