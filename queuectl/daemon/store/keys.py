"""The SQLite store's unique keys (idempotent enqueue, queuectl/uniquekeys.py): who holds
a key, and what the unique index refused. sqlite.Store releases the holds."""

from __future__ import annotations

import sqlite3

from queuectl.daemon.store.interface import KeyHeldError
from queuectl.jobs import JobSpec

# A job's unique key is released (unique_hold set to NULL) as its unique_while says: a
# "pending" hold when the job starts or is final, an "active" one when it is final, a
# "kept" one never (the row's deletion ends it). Never taken again (a retried job holds
# no key).
RELEASED_AT_START = "CASE WHEN unique_while = 'pending' THEN NULL ELSE unique_hold END"
RELEASED_WHEN_FINAL = "CASE WHEN unique_while = 'kept' THEN unique_hold ELSE NULL END"


class KeyRows:
    db: sqlite3.Connection

    def key_holders(self, keys: list[str]) -> dict[str, str]:
        held: dict[str, str] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            held.update(self.db.execute(f"SELECT unique_hold, id FROM jobs WHERE unique_hold IN ({marks})", chunk))
        return held

    def _key_held(self, specs: list[JobSpec]) -> Exception:
        """What the unique index refused: the first key held already or given twice."""
        keys = [s.unique_key for s in specs if s.unique_key is not None]
        holders = self.key_holders(keys)
        seen: dict[str, str] = {}
        for index, spec in enumerate(specs):
            key = spec.unique_key
            if key is not None:
                holder = holders.get(key) or seen.get(key)
                if holder is not None:
                    return KeyHeldError(key, holder, index)
                seen[key] = spec.id or ""
        return sqlite3.IntegrityError("a job could not be inserted")
