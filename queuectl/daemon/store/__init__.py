"""Storage: the interface the daemon uses (interface.py), its SQLite implementation, and
`open_store`, which picks the implementation a database names (the PostgreSQL one is
imported only then: psycopg is not loaded by a SQLite daemon)."""

from __future__ import annotations

from pathlib import Path

from queuectl.daemon.store.interface import DuplicateIdError, Runnable, Storage, UnusableDatabase
from queuectl.daemon.store.schema import SCHEMA_VERSION, damaged_message
from queuectl.daemon.store.sqlite import Store

__all__ = ["SCHEMA_VERSION", "DuplicateIdError", "Runnable", "Storage", "Store", "UnusableDatabase",
           "damaged_message", "open_store"]


def open_store(database: str | None, db_path: Path, name: str = "") -> Storage:
    """The store of `database`: a postgresql:// (or postgres://) URL, or None for the
    SQLite file `db_path`; `name`: the daemon's (one daemon per name on a shared database).
    Raises UnusableDatabase for anything else, or one it cannot use."""
    if database is None:
        return Store(db_path)
    if database.startswith(("postgresql://", "postgres://")):
        from queuectl.daemon.store.postgres import PgStore

        return PgStore(database, name=name)
    scheme = database.partition(":")[0][:20]
    raise UnusableDatabase(f"unsupported database URL (scheme {scheme!r}): queuectl uses SQLite (no URL) "
                           "or PostgreSQL (postgresql://...)")  # fmt: skip
