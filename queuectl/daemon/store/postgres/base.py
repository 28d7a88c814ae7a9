"""What every part of the PostgreSQL store shares: the connection and the counts per
state kept in memory (the daemon is the only writer, so its own writes keep them
current; they are read from the table at open, after a rollback and after a reconnect)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import psycopg

from queuectl.daemon.store.counts import Counts

COUNTS_QUERY = "SELECT queue, state, sum(n)::bigint FROM job_counts GROUP BY queue, state HAVING sum(n) <> 0"


def storable(text: str) -> bool:
    """PostgreSQL's text cannot hold a NUL character (SQLite's can): a name or id asked for
    that has one is in no row, and is not sent (the server would refuse it as an error)."""
    return "\x00" not in text


def storable_only(texts: list[str]) -> list[str]:
    return [t for t in texts if "\x00" not in t]


class PgBase(Counts):
    db: psycopg.Connection[Any]
    counts: dict[str, int]
    queue_counts: dict[str, dict[str, int]]
    daemon_name: str  # set by the daemon: recorded on the attempts it claims
    # Starts reported this turn, written with their attempt's finish when that came in the
    # same turn (one write instead of two), else by write_starts(): (t, pid, segment,
    # out_off, err_off, seq, attempt) by seq.
    _starts: dict[int, tuple[Any, ...]]

    def reload_counts(self) -> None:
        """From job_counts (schema.py, version 4): every daemon's additions, summed."""
        self.set_counts(self.db.execute(COUNTS_QUERY))

    def transaction(self) -> AbstractContextManager[None]:  # (the store's own: store.py)
        raise NotImplementedError

    def write_starts(self) -> None:  # (writes.py)
        raise NotImplementedError

    def share(self, kind: str, item: Any) -> None:  # (wake.py)
        raise NotImplementedError

    def copy_output(self, seq: int, attempt: int, start: tuple[str | None, int | None, int | None] | None,
                    out_len: int | None, err_len: int | None) -> None:  # (output.py)  # fmt: skip
        raise NotImplementedError
