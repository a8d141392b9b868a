"""Durable storage of collaboration rooms: the `RoomStore` interface, SQLite implementation."""

from .base import RoomStore, StoreClosedError, StoreError, StoreWriteError
from .compaction import CorruptUpdateError, fold_updates
from .database import Database, DatabaseClosedError
from .sqlite import SQLiteRoomStore

__all__ = [
    "CorruptUpdateError",
    "Database",
    "DatabaseClosedError",
    "RoomStore",
    "SQLiteRoomStore",
    "StoreClosedError",
    "StoreError",
    "StoreWriteError",
    "fold_updates",
]
