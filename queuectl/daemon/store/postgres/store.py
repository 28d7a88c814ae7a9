"""PgStore: the PostgreSQL implementation of interface.Storage, shared by several daemons.

Its life and transactions are here; the SQL of each part is in the mixins (reads,
writes, settle, deps, schedules, queues, keys, prune), as in the SQLite store.

One connection in autocommit mode: the store says BEGIN, COMMIT, SAVEPOINT itself,
exactly where the SQLite store does. A connection that is lost (the server restarted,
the backend was terminated, the network) fails the statement that notices it with one
of `errors`; the next `transaction()` connects again (no sooner than a short back-off
after a failed try), takes this daemon's name lock again, listens again and reloads
the counts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from queuectl.daemon.store.interface import UnusableDatabase
from queuectl.daemon.store.postgres import connection as C
from queuectl.daemon.store.postgres.deps import PgDeps
from queuectl.daemon.store.postgres.lease import PgLease
from queuectl.daemon.store.postgres.output import PgOutput
from queuectl.daemon.store.postgres.prune import PgPrune
from queuectl.daemon.store.postgres.queues import PgQueues
from queuectl.daemon.store.postgres.schedules import PgSchedules
from queuectl.daemon.store.postgres.schema import migrate
from queuectl.daemon.store.postgres.settle import PgSettle
from queuectl.daemon.store.postgres.wake import PgWake, new_inbox
from queuectl.daemon.store.postgres.writes import PgWrites

_IN_TRANSACTION = (TransactionStatus.INTRANS, TransactionStatus.INERROR)
# After a failed reconnect, transactions fail at once (no stall of the loop) until this
# back-off has passed; it doubles up to the last.
RECONNECT_BACKOFF_S = (0.05, 5.0)
LOCK_TIMEOUT_MS = 2000  # a lock wait longer than this fails the statement (a storage error)
IDLE_IN_TRANSACTION_MS = 5000  # the daemon's turns are short: one idle this long was cut off


class PgStore(PgLease, PgWake, PgOutput, PgWrites, PgSettle, PgDeps, PgSchedules, PgQueues, PgPrune):
    """A PostgreSQL database shared by the daemons pointed at it, each under its own name
    (implements interface.SharedStorage)."""

    errors: tuple[type[BaseException], ...] = C.STORAGE_ERRORS
    shared = True
    reconnect_lock_wait = 0.5  # seconds a reconnect waits for this daemon's name lock

    def __init__(self, url: str, synchronous: str = "NORMAL", name: str = ""):
        """Connect, take this daemon's name lock, create or migrate the schema, read the
        counts, listen for the other daemons.

        Raises UnusableDatabase, one line naming the database (never its password), when it
        cannot be reached, a daemon of the same name uses it, or its schema is newer."""
        self.url = url
        self.where = C.shown(url)
        self.synchronous = synchronous
        self._in_tx = False
        self.daemon_name = name
        self._lock_key = C.name_lock_key(name)
        self._stale = False  # counts not reloaded after a failed rollback
        self._retry_at = 0.0
        self._backoff = RECONNECT_BACKOFF_S[0]
        self.counts = {}
        self.queue_counts = {}
        self._starts = {}
        self._wake_others = self._woken = self._listening = False
        self._note, self.inbox = {}, new_inbox()
        self.logs_dir = None
        self.reconnected = False
        try:
            self.db = C.connect(url)
        except psycopg.Error as exc:
            raise UnusableDatabase(f"cannot connect to the database {self.where}: "
                                   f"{C.scrubbed(str(exc), url)}") from None  # fmt: skip
        try:
            if not C.try_lock(self.db, self._lock_key):
                raise UnusableDatabase(f"another queuectl daemon named {name!r} is using the database "
                                       f"{self.where} (give each daemon its own --name)")  # fmt: skip
            migrate(self.db, self.where)
            self._name_session()
            self.set_synchronous(synchronous)
            self.reload_counts()
            self.listen()
        except psycopg.Error as exc:
            self.db.close()
            raise UnusableDatabase(f"cannot use the database {self.where}: {C.scrubbed(str(exc), url)}") from None
        except BaseException:
            self.db.close()
            raise

    def set_synchronous(self, mode: str) -> None:
        """`synchronous_commit = on` whatever the mode: a commit is on disk (and on a
        synchronous standby, if there is one) before the daemon says so. SQLite's NORMAL
        relaxation (a power loss may drop the last commits, and the daemon dies with them)
        is not safe here: the daemons outlive a crash of the server, and a claim, a start
        or an end they went on from but the server lost would strand a job in the name of
        a daemon that holds it no more, or let another daemon run it a second time."""
        if mode not in ("NORMAL", "FULL"):
            raise ValueError(mode)
        self.synchronous = mode  # (a session setting: set again on every new connection)
        if self._usable():
            with suppress(psycopg.OperationalError):  # (lost: the reconnect sets it)
                self.db.execute("SET synchronous_commit = on")

    def _name_session(self) -> None:
        """The counts this session's writes move go to this daemon's rows (job_counts); and
        no statement of the daemon's waits long for a lock another session holds (a daemon
        cut off in the middle of a turn keeps its row locks until the server notices):
        such a turn fails and is tried again, and a session idle in a transaction that long
        is ended by the server, its locks released."""
        self.db.execute("SELECT set_config('queuectl.daemon', %s, false)", (self.daemon_name,))
        self.db.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
        self.db.execute(f"SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_MS}")

    def start_checkpointer(self) -> None:
        """Nothing to do: the server checkpoints."""

    def close(self) -> None:
        """Close the connection (which releases this daemon's name lock)."""
        self.db.close()

    # --- transactions ------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction; nested use joins the outer one."""
        if self._in_tx:
            yield
            return
        self._ready()
        try:
            self.db.execute("BEGIN")
        except psycopg.Error:
            self._rollback()  # (it may be how the connection's loss is noticed)
            raise
        self._in_tx = True
        try:
            yield
        except BaseException:
            self._in_tx = False
            self._rollback()
            raise
        self._in_tx = False
        try:
            self.write_starts()  # (never lost: what the caller did not write yet goes in now)
            self._commit()
        except psycopg.Error:
            self._rollback()
            raise

    def _commit(self) -> None:
        # PostgreSQL answers COMMIT of a failed transaction with a ROLLBACK, not an error:
        # that must never pass for a commit.
        if self.db.info.transaction_status == TransactionStatus.INERROR:
            raise psycopg.OperationalError("the transaction failed earlier; it was rolled back")
        self.notify_at_commit()
        cur = self.db.execute("COMMIT")
        if cur.statusmessage != "COMMIT":
            raise psycopg.OperationalError(f"the transaction was not committed ({cur.statusmessage})")

    def _rollback(self) -> None:
        self._starts.clear()
        self.forget_note()
        if self._usable() and self.db.info.transaction_status in _IN_TRANSACTION:
            with suppress(psycopg.Error):
                self.db.execute("ROLLBACK")
        if not self._usable():
            # Connect again now, not at the next transaction: after a failed turn the loop
            # reads at once, outside any transaction (it reloads its windows).
            with suppress(psycopg.Error):
                self._reconnect()
        self._stale = True  # the in-memory counts followed the rolled-back writes
        with suppress(psycopg.Error):  # (if the connection is still gone: once it is back)
            self.reload_counts()
            self._stale = False

    def _usable(self) -> bool:
        return not (self.db.closed or self.db.broken)

    def _ready(self) -> None:
        """Before a transaction: connected (again, if the connection was lost), counts current."""
        if not self._usable():
            self._reconnect()
            self._stale = True
        if self._stale:
            self.reload_counts()
            self._stale = False

    def _reconnect(self) -> None:
        """Connect again and take the lock again; raises one of `errors` if it cannot (and
        then tries no sooner than after the back-off)."""
        now = time.monotonic()
        if now < self._retry_at:
            raise psycopg.OperationalError(f"the connection to the database {self.where} is lost; "
                                           f"connecting again in {self._retry_at - now:.2f} s")  # fmt: skip
        with suppress(psycopg.Error):
            self.db.close()
        try:
            db = C.connect(self.url)
            # The lost session may not have ended on the server yet (a terminated backend
            # takes a few ms; one the network lost, until the server notices), or another
            # daemon took over: waited for a moment, then no writes here, and this is
            # tried again after the back-off.
            if not C.lock_within(db, self._lock_key, self.reconnect_lock_wait):
                db.close()
                raise psycopg.OperationalError(f"the name {self.daemon_name!r} is locked by another session of "
                                               f"the database {self.where} (another daemon of that name, or "
                                               "this one's lost connection)")  # fmt: skip
        except psycopg.Error as exc:
            self._retry_at = now + self._backoff
            self._backoff = min(self._backoff * 2, RECONNECT_BACKOFF_S[1])
            raise psycopg.OperationalError(C.scrubbed(str(exc), self.url)) from None
        self.db = db
        self._retry_at, self._backoff = 0.0, RECONNECT_BACKOFF_S[0]
        self._name_session()
        self.set_synchronous(self.synchronous)
        self._listening = False
        self.listen()
        self.reconnected = True  # (the daemon checks what it holds against the database)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """One request inside the turn's transaction: undone alone if it fails. After an
        error PostgreSQL refuses every statement until ROLLBACK TO: this leaves the turn's
        transaction usable again."""
        self.db.execute("SAVEPOINT request")
        counts = dict(self.counts)
        per_queue = {q: dict(c) for q, c in self.queue_counts.items()}
        try:
            yield
        except BaseException:
            if self._usable() and self.db.info.transaction_status in _IN_TRANSACTION:
                try:
                    self.db.execute("ROLLBACK TO SAVEPOINT request")
                    self.db.execute("RELEASE SAVEPOINT request")
                except psycopg.Error:
                    pass  # the transaction is gone: the caller's transaction() fails it all
            self.counts = counts
            self.queue_counts = per_queue
            raise
        self.db.execute("RELEASE SAVEPOINT request")

    # --- meta, config, sizes ------------------------------------------------------------------

    def next_epoch(self) -> int:
        """A number that is new at every daemon start (names this run's log segments)."""
        with self.transaction():
            row = self.db.execute("INSERT INTO meta(key, value) VALUES ('epoch', 1) "
                                  "ON CONFLICT (key) DO UPDATE SET value = meta.value + 1 RETURNING value").fetchone()  # fmt: skip
        assert row is not None
        return int(row[0])

    def config_load(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM config")}

    def config_save(self, key: str, value: Any) -> None:
        with self.transaction():
            self.db.execute("INSERT INTO config(key, value) VALUES (%s, %s) "
                            "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, json.dumps(value)))  # fmt: skip
            self.share("k", key)  # (the other daemons take the setting too)

    def file_sizes(self) -> dict[str, int]:
        """The SQLite store's keys: the database's size on the server; no WAL file of its own
        and no free-page count (0)."""
        row = self.db.execute("SELECT pg_database_size(current_database())").fetchone()
        return {"db_free_bytes": 0, "db_bytes": int(row[0]) if row else 0, "wal_bytes": 0}
