"""WAL checkpoints in a thread of their own, so they never stall the event loop."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import structlog

log = structlog.get_logger("queuectl")


class Checkpointer(threading.Thread):
    """Copies the WAL back into the database file from a second connection, so that
    work (megabytes at a time) never stalls the event loop, which only appends to
    the WAL. SQLite lets a checkpoint run beside a writer; this thread shares no
    state with the loop."""

    INTERVAL = 1.0
    MIN_WAL_BYTES = 1024 * 1024
    # A passive checkpoint never catches a writer that never pauses, and the WAL only
    # starts over from its beginning once all of it is copied: past this size, a RESTART
    # right after two passive ones copies the few frames written in between (the loop's
    # next commit waits that long) and lets the WAL start over, so it stays near this
    # size however long the daemon runs (the soak in benchmarks/ checks it).
    RESTART_WAL_BYTES = 32 * 1024 * 1024

    def __init__(self, path: Path):
        super().__init__(name="queuectl-checkpoint", daemon=True)
        self.path = path
        self.wal = Path(str(path) + "-wal")
        self.stopping = threading.Event()
        self.failures = 0  # in a row

    def run(self) -> None:
        db = sqlite3.connect(str(self.path), isolation_level=None)
        db.execute("PRAGMA busy_timeout=1000")
        try:
            while not self.stopping.wait(self.INTERVAL):
                try:
                    size = self.wal.stat().st_size if self.wal.exists() else 0
                    if size >= self.MIN_WAL_BYTES:
                        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if size >= self.RESTART_WAL_BYTES:
                        # (a second passive pass copies what came in during the first, so
                        # what RESTART copies with the writer waiting is a few frames)
                        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                        db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                except (sqlite3.Error, OSError) as exc:
                    # Disk full or busy: the next round tries again; say so once a burst.
                    self.failures += 1
                    if self.failures == 1 or self.failures % 60 == 0:
                        log.warning("store.checkpoint_failed", error=str(exc), failures=self.failures)
                else:
                    self.failures = 0
        finally:
            db.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)


