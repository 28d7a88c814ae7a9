"""Storage: the interface the daemon uses (interface.py) and its SQLite implementation."""

from queuectl.daemon.store.interface import DuplicateIdError, Runnable, Storage, UnusableDatabase
from queuectl.daemon.store.schema import SCHEMA_VERSION, damaged_message
from queuectl.daemon.store.sqlite import Store

__all__ = ["SCHEMA_VERSION", "DuplicateIdError", "Runnable", "Storage", "Store", "UnusableDatabase",
           "damaged_message"]
