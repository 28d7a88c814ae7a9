"""The PostgreSQL store's unique keys (idempotent enqueue): who holds a key, and what
the unique index jobs_unique_hold refused."""

from __future__ import annotations

import psycopg

from queuectl.daemon.store.interface import KeyHeldError
from queuectl.daemon.store.postgres.base import PgBase, storable_only
from queuectl.jobs import JobSpec


class PgKeys(PgBase):
    def key_holders(self, keys: list[str]) -> dict[str, str]:
        if not keys:
            return {}
        rows = self.db.execute("SELECT unique_hold, id FROM jobs WHERE unique_hold = ANY(%s::text[])",
                               (storable_only(keys),))  # fmt: skip
        return {k: i for k, i in rows}

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
        return psycopg.IntegrityError("a job could not be inserted")
