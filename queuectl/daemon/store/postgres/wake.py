"""Telling the other daemons: one NOTIFY on the `queuectl_jobs` channel per committing
transaction that has something for them, sent at commit (never for a rollback).

Its payload is a small JSON object: {"d": sender, "w": 1 if a job became runnable or
timed (reload your windows), "e": [events, for your subscribers], "r": [seqs of jobs
that settled or were deleted: end your waits on them], "c": [seqs of jobs to cancel:
the daemon that runs one kills it], "q": [queues added, changed or removed: load the
queues again], "s": [schedules added, changed or removed: read their next slot], "k":
[settings changed by `config set`: take them]}. NOTIFY payloads are limited to
8,000 bytes, so a long one is split into several; an event too long for one on its own
goes as its name and job id only. A NOTIFY takes a lock at commit that serializes the
committing transactions that notify: one per transaction, never one per job. Every
daemon LISTENs on its store connection. A notification lost (a reconnect in between)
is covered by the poll (config `cluster_poll`) for the windows; a wait it would have
ended ends at its own timeout, or when the client asks again.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg

from queuectl import jobs as J
from queuectl.daemon.store.postgres.base import PgBase

CHANNEL = "queuectl_jobs"
PAYLOAD_MAX = 7900  # bytes (PostgreSQL's limit is 8,000)
# A job entering one of these may be for any daemon to start (now, or at its run_at).
_WAKING = frozenset({J.PENDING, J.SCHEDULED, J.FAILED})


class PgWake(PgBase):
    _wake_others: bool  # this transaction made a job runnable or timed
    _note: dict[str, list[Any]]  # this transaction's events ("e") and releases ("r")
    _woken: bool  # another daemon made a job runnable since take_wakes() last asked
    _listening: bool  # this connection LISTENs and its socket is worth waiting on
    inbox: dict[str, list[Any]]  # what the others sent: events (with "daemon"), releases, cancels

    def _move(self, old: str, new: str, queue: str, n: int = 1) -> None:
        super()._move(old, new, queue, n)
        if new in _WAKING:
            self._wake_others = True

    def _count_new(self, jobs: list) -> None:  # type: ignore[type-arg]
        super()._count_new(jobs)
        self._wake_others = True

    def share(self, kind: str, item: Any) -> None:
        self._note.setdefault(kind, []).append(item)

    def unshare(self, kind: str) -> None:
        """Undo the last share() (a request rolled back). After a failed transaction the
        note is gone already (forget_note): nothing is left to undo."""
        items = self._note.get(kind)
        if items:
            items.pop()

    def forget_note(self) -> None:
        """The transaction rolled back: nothing of it is told."""
        self._wake_others = False
        self._note = {}

    def listen(self) -> None:
        """Subscribe this connection (again after a reconnect)."""
        self._woken = True  # (what was sent while it was not listening: reload once)
        self.db.add_notify_handler(self._notified)
        self.db.execute(f"LISTEN {CHANNEL}")
        self._listening = True

    def _notified(self, note: psycopg.Notify) -> None:
        self._receive(note.payload)

    def _receive(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            sender = message["d"]
        except (ValueError, TypeError, KeyError):
            self._woken = True  # (not ours to read: look at the database anyway)
            return
        if sender == self.daemon_name:
            return
        if message.get("w"):
            self._woken = True
        for event in message.get("e", ()):
            if isinstance(event, dict):
                self.inbox["e"].append({**event, "daemon": sender})
        for kind in ("r", "c"):
            self.inbox[kind].extend(s for s in message.get(kind, ()) if isinstance(s, int))
        for kind in ("q", "s", "k"):
            self.inbox[kind].extend(q for q in message.get(kind, ()) if isinstance(q, str))

    def notify_at_commit(self) -> None:
        """Inside the transaction, just before COMMIT: delivered when (and if) it commits."""
        if not (self._wake_others or self._note):
            return
        for payload in payloads(self.daemon_name, self._wake_others, self._note):
            self.db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
        self.forget_note()

    def wake_fd(self) -> int | None:
        """The connection's socket, to wait on beside the daemon's own (None: no connection)."""
        if not self._listening or self.db.closed or self.db.broken:
            return None
        return self.db.pgconn.socket

    def take_wakes(self) -> bool:
        """Read what arrived on the socket, between transactions; True if another daemon
        made a job runnable (since the last call). A connection found lost says True."""
        if self._listening and not (self.db.closed or self.db.broken):
            pgconn = self.db.pgconn
            try:
                pgconn.consume_input()
            except psycopg.OperationalError:
                # (the server went away: stop waiting on a socket that is readable for
                # ever; the next transaction connects again, and listens again)
                self._listening = False
                self._woken = True
            else:
                while (note := pgconn.notifies()) is not None:
                    self._receive(note.extra.decode(errors="replace"))
        woken, self._woken = self._woken, False
        return woken

    def take_inbox(self) -> dict[str, list[Any]]:
        inbox, self.inbox = self.inbox, new_inbox()
        return inbox


def payloads(sender: str, wake: bool, note: dict[str, list[Any]]) -> list[str]:
    """The notifications that carry `note`, each at most PAYLOAD_MAX bytes (pure)."""
    out: list[str] = []
    current: dict[str, Any] = {"d": sender, "w": int(wake)}
    size = len(json.dumps(current))
    for kind in ("k", "s", "q", "c", "r", "e"):
        for item in note.get(kind, ()):
            text = json.dumps(item, separators=(",", ":"))
            if len(text.encode()) > PAYLOAD_MAX // 2:  # (an event with a huge error text)
                item = {k: item[k] for k in ("event", "job_id", "time") if k in item} | {"truncated": True}
                text = json.dumps(item, separators=(",", ":"))
            if size + len(text.encode()) + 8 > PAYLOAD_MAX:
                out.append(json.dumps(current, separators=(",", ":")))
                current = {"d": sender, "w": 0}
                size = len(json.dumps(current))
            current.setdefault(kind, []).append(item)
            size += len(text.encode()) + 1
    out.append(json.dumps(current, separators=(",", ":")))
    return out


def new_inbox() -> dict[str, list[Any]]:
    return {"e": [], "r": [], "c": [], "q": [], "s": [], "k": []}
