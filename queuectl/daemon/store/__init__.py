"""Storage: the interface the daemon uses (interface.py) and its SQLite implementation."""

from queuectl.daemon.store.interface import DuplicateIdError, Runnable, Storage, UnusableDatabase
from queuectl.daemon.store.schema import SCHEMA_VERSION
from queuectl.daemon.store.sqlite import Store, damaged_message

__all__ = ["SCHEMA_VERSION", "DuplicateIdError", "Runnable", "Storage", "Store", "UnusableDatabase",
           "damaged_message"]
