"""The store: the system of record (rooms, events, audit trail, revoked tokens) behind one
interface (:class:`Store`), with SQLite as the embedded default."""

from .base import (
    AuditLog,
    EventStore,
    Page,
    Revocations,
    RoomStore,
    Store,
    StoreClosedError,
    StoreError,
    StoreSettings,
    StoreWriteError,
)
from .compaction import CorruptUpdateError, fold_updates
from .sqlite import Database, DatabaseClosedError, EventLog, SQLiteRoomStore, SQLiteStore

__all__ = [
    "AuditLog",
    "CorruptUpdateError",
    "Database",
    "DatabaseClosedError",
    "EventLog",
    "EventStore",
    "Page",
    "Revocations",
    "RoomStore",
    "SQLiteRoomStore",
    "SQLiteStore",
    "Store",
    "StoreClosedError",
    "StoreError",
    "StoreSettings",
    "StoreWriteError",
    "fold_updates",
]
