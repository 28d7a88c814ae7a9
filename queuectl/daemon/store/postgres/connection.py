"""Connecting to PostgreSQL: the URL as it may be shown (never its password), the
exceptions that mean "the database could not do it", a daemon's name lock, and the
TCP limits that keep a cut network from blocking the daemon's loop."""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import psycopg
import psycopg.errors
from psycopg.types.numeric import Int8Dumper

# The database could not do it: the connection is gone or the server is shutting down
# (class 08, 57), it is out of disk, memory or connections (53), an I/O error (58), a
# deadlock or serialization failure (40): all psycopg.OperationalError, some named for
# whoever reads this; and the server is read-only (25006: a standby, after a failover).
# Programming errors (a bad statement, a constraint the code should have checked) are
# not here: they are bugs, answered as such.
STORAGE_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.errors.DiskFull,
    psycopg.errors.InsufficientResources,
    psycopg.errors.IoError,
    psycopg.errors.ReadOnlySqlTransaction,
    psycopg.errors.IdleInTransactionSessionTimeout,  # (the server ended a session cut off mid-turn)
)


def name_lock_key(name: str) -> int:
    """The session advisory lock a daemon holds for as long as it is connected: one daemon
    per name on a database (several daemons share it, each under its own name). A signed
    bigint from a hash of the name."""
    digest = hashlib.blake2b(f"queuectl daemon {name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# A lost connection is noticed by the next statement; connecting again must not stall
# the loop for long.
CONNECT_TIMEOUT_S = 5


def shown(url: str) -> str:
    """The URL without its password (in the user part or as a `password` parameter)."""
    parts = urlsplit(url)
    user, at, host = parts.netloc.rpartition("@")
    netloc = f"{user.partition(':')[0]}{at}{host}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"],
                      safe="/")  # fmt: skip
    # (not urlunsplit: it drops the empty host of postgresql:///db, a Unix socket's URL)
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def _passwords(url: str) -> list[str]:
    parts = urlsplit(url)
    found = [v for k, v in parse_qsl(parts.query) if k == "password"]
    if parts.password:
        found.append(parts.password)
    return [p for p in found if p]


def scrubbed(text: str, url: str) -> str:
    """An error message on one line, with any password of `url` taken out (libpq does not
    print it, but a message is never trusted to keep it out)."""
    for secret in _passwords(url):
        text = text.replace(secret, "***")
    return re.sub(r"\s+", " ", text).strip()


# Over TCP, a cut network must fail a statement within seconds, not the kernel's 15
# minutes: a daemon sharing the database fences itself on time only if its loop is not
# stuck in a call (docs/postgres.md). A URL's own values win.
TCP_LIMITS = {"keepalives": "1", "keepalives_idle": "2", "keepalives_interval": "1", "keepalives_count": "2",
              "tcp_user_timeout": "3000"}  # fmt: skip


def _tcp_limits(url: str) -> dict[str, Any]:
    given = {k for k, _ in parse_qsl(urlsplit(url).query)}
    return {k: v for k, v in TCP_LIMITS.items() if k not in given}


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection in autocommit mode: the store says BEGIN and COMMIT itself. psycopg
    prepares a statement on the server once it has run a few times (prepare_threshold),
    once per statement and parameter types: every int goes as a bigint (the type of every
    integer column), or `seq = %s` would be prepared again for each size psycopg picks
    (smallint, integer, bigint) and crowd its cache of prepared statements."""
    db = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                         application_name="queuectl daemon", **_tcp_limits(url))  # fmt: skip
    db.adapters.register_dumper(int, Int8Dumper)
    return db


def try_lock(db: psycopg.Connection[Any], key: int) -> bool:
    """Take the lock `key` for this session; False if another session holds it."""
    row = db.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    return bool(row and row[0])


def lock_within(db: psycopg.Connection[Any], key: int, seconds: float) -> bool:
    """Take the lock `key`, waiting at most `seconds` for the session holding it to end."""
    db.execute(f"SET lock_timeout = {max(1, int(seconds * 1000))}")
    try:
        db.execute("SELECT pg_advisory_lock(%s)", (key,))
        return True
    except psycopg.errors.LockNotAvailable:
        return False
    finally:
        db.execute("RESET lock_timeout")
