"""Storage: the interface the daemon uses (interface.py), its SQLite implementation, and
the PostgreSQL one (store/postgres/, imported only when used: psycopg costs start-up time)."""

from pathlib import Path

from queuectl.daemon.store.interface import DuplicateIdError, Runnable, Storage, UnusableDatabase
from queuectl.daemon.store.schema import SCHEMA_VERSION, damaged_message
from queuectl.daemon.store.sqlite import Store

__all__ = ["SCHEMA_VERSION", "DuplicateIdError", "Runnable", "Storage", "Store", "UnusableDatabase",
           "damaged_message", "open_store"]


def open_store(database: str | None, db_path: Path) -> Storage:
    """The store for a database setting (queuectl/database.py): a postgresql:// URL, or
    None for the SQLite file at db_path."""
    if database is None:
        return Store(db_path)
    if database.split("://", 1)[0].lower() not in ("postgresql", "postgres"):
        raise UnusableDatabase("unsupported database URL: give a postgresql:// URL")
    from queuectl.daemon.store.postgres import PgStore

    return PgStore(database)
