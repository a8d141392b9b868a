"""The embedded store: rooms, events, the audit trail, revoked tokens and the outgoing webhook
queue in one SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..base import Store, StoreSettings
from ..crypto import Cipher, CipherError
from .comments import SQLiteCommentStore
from .database import Database, DatabaseClosedError
from .events import EventLog
from .history import SQLiteHistoryStore
from .migrations import migrate
from .records import SQLiteAuditLog, SQLiteRevocations
from .rooms import SQLiteRoomStore
from .webhooks import SQLiteWebhookQueue

__all__ = [
    "Database",
    "DatabaseClosedError",
    "EventLog",
    "SQLiteAuditLog",
    "SQLiteCommentStore",
    "SQLiteHistoryStore",
    "SQLiteRevocations",
    "SQLiteRoomStore",
    "SQLiteStore",
    "SQLiteWebhookQueue",
]

#: Tables whose rows carry the id of the key that sealed them, and are read (quarantined rows
#: are kept for investigation, not read: a rotation leaves them as they are).
_SEALED_TABLES = (
    "room_updates",
    "room_snapshots",
    "events",
    "audit",
    "webhook_deliveries",
    "room_versions",
    "comment_threads",
    "comments",
    "notifications",
)


class SQLiteStore(Store):
    """Everything in one SQLite database file (WAL), one connection on one thread."""

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        log = settings.log
        self.database = Database(settings.path, synchronous=settings.synchronous, log=log)
        self.rooms = SQLiteRoomStore(
            self.database,
            commit_interval=settings.commit_interval,
            compact_idle=settings.compact_idle,
            compact_max_updates=settings.compact_max_updates,
            close_database=False,
            max_depth=settings.max_depth,
            cipher=settings.cipher,
            log=log,
        )
        self.events = EventLog(
            self.database,
            max_per_channel=settings.event_retention_count,
            max_age=settings.event_retention_seconds,
            cipher=settings.cipher,
            log=log,
        )
        self.audit = SQLiteAuditLog(
            self.database,
            max_age=settings.audit_retention_seconds,
            max_entries=settings.audit_retention_count,
            cipher=settings.cipher,
            log=log,
        )
        self.revocations = SQLiteRevocations(self.database)
        self.webhooks = SQLiteWebhookQueue(self.database, cipher=settings.cipher)
        self.history = SQLiteHistoryStore(self.database, cipher=settings.cipher)
        self.comments = SQLiteCommentStore(self.database, cipher=settings.cipher)

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> SQLiteStore:
        return cls(settings)

    @property
    def description(self) -> str:
        return str(self.settings.path)

    @property
    def shared(self) -> bool:
        """True when several servers open this file (``StoreSettings.shared``): with Redis,
        it is then their system of record rather than each one's journal."""
        return self.settings.shared

    async def start(self) -> None:
        await self.database.start()
        await migrate(self.database)
        await self.database.run(lambda conn: _check_keys(conn, self.settings.cipher))
        await self.rooms.start()
        await self.audit.start()
        await self.revocations.start()
        # The event log starts with the backplane that serves it (LocalBackplane).

    async def close(self) -> None:
        await self.audit.close()
        await self.rooms.close()
        await self.database.close()


def _check_keys(conn: sqlite3.Connection, cipher: Cipher | None) -> None:
    """Refuse to serve a database holding rows no key we have opens: better a clear error at
    start than rooms that look empty. Reads only: nothing is changed."""
    found: set[str] = set()
    for table in _SEALED_TABLES:
        found.update(
            kid
            for (kid,) in conn.execute(f"SELECT DISTINCT kid FROM {table} WHERE kid IS NOT NULL")
        )
    if not found:
        return
    if cipher is None:
        raise CipherError(
            f"the database holds rows sealed with key(s) {', '.join(sorted(found))}: set "
            "OmniForgeApp.encryption_key_file to the key they were sealed with"
        )
    missing = found - set(cipher.key_ids)
    if missing:
        raise CipherError(
            f"the database holds rows sealed with key(s) {', '.join(sorted(missing))}, and "
            f"encryption_key_file holds {cipher.current}: set the key they were sealed with "
            "(or add it to encryption_previous_key_files while a rotation finishes)"
        )


def default_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / "omniforge" / "omniforge.sqlite"
