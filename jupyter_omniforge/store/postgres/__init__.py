"""The PostgreSQL store: rooms, events, the audit trail, revoked tokens, the outgoing webhook
queue, the version history and the comments in one PostgreSQL database that several instances share
(``OmniForgeApp.store_url = "postgresql://…"``). Needs the ``postgres`` extra
(``psycopg[binary,pool]``)."""

from __future__ import annotations

from psycopg import AsyncConnection

from ..base import Store, StoreSettings
from ..crypto import Cipher, CipherError
from .comments import PostgresCommentStore
from .database import Database, DatabaseClosedError, describe
from .events import PostgresEventLog
from .history import PostgresHistoryStore
from .migrations import migrate
from .records import PostgresAuditLog, PostgresRevocations
from .rooms import PostgresRoomStore
from .webhooks import PostgresWebhookQueue

__all__ = [
    "Database",
    "DatabaseClosedError",
    "PostgresAuditLog",
    "PostgresCommentStore",
    "PostgresEventLog",
    "PostgresHistoryStore",
    "PostgresRevocations",
    "PostgresRoomStore",
    "PostgresStore",
    "PostgresWebhookQueue",
    "describe",
]

#: Tables whose rows carry the id of the key that sealed them, and are read.
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


class PostgresStore(Store):
    """Everything in one PostgreSQL database, through one pool of connections.

    The same semantics as :class:`~jupyter_omniforge.store.sqlite.SQLiteStore` (read its parts'
    docstrings); what differs is that the data is shared (:attr:`shared`): every instance
    using the same database sees the same rooms and rows. While the server is unreachable,
    appended room updates queue in memory and are committed once it is back
    (:meth:`health` says what is wrong meanwhile)."""

    def __init__(self, settings: StoreSettings) -> None:
        if not settings.url:
            raise ValueError("PostgresStore needs StoreSettings.url (OmniForgeApp.store_url)")
        self.settings = settings
        log = settings.log
        self.database = Database(settings.url, log=log)
        self.rooms = PostgresRoomStore(
            self.database,
            commit_interval=settings.commit_interval,
            compact_idle=settings.compact_idle,
            compact_max_updates=settings.compact_max_updates,
            max_depth=settings.max_depth,
            cipher=settings.cipher,
            log=log,
        )
        self.events = PostgresEventLog(
            self.database,
            max_per_channel=settings.event_retention_count,
            max_age=settings.event_retention_seconds,
            cipher=settings.cipher,
            log=log,
        )
        self.audit = PostgresAuditLog(
            self.database,
            max_age=settings.audit_retention_seconds,
            max_entries=settings.audit_retention_count,
            cipher=settings.cipher,
            log=log,
        )
        self.revocations = PostgresRevocations(self.database)
        self.webhooks = PostgresWebhookQueue(self.database, cipher=settings.cipher)
        self.history = PostgresHistoryStore(self.database, cipher=settings.cipher)
        self.comments = PostgresCommentStore(self.database, cipher=settings.cipher)

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> PostgresStore:
        return cls(settings)

    @property
    def description(self) -> str:
        return describe(self.settings.url)

    @property
    def shared(self) -> bool:
        return True

    async def start(self) -> None:
        await self.database.start()
        await migrate(self.database)
        await self.database.run(lambda conn: _check_keys(conn, self.settings.cipher))
        await self.rooms.start()
        await self.audit.start()
        await self.revocations.start()

    async def close(self) -> None:
        await self.audit.close()
        await self.rooms.close()
        await self.database.close()

    async def health(self) -> str:
        if not self.rooms.healthy:
            return f"room updates cannot be committed: {self.rooms.commit_error}"
        try:
            await self.database.ping()
        except Exception as e:
            return f"PostgreSQL does not answer: {e or type(e).__name__}"
        return ""


async def _check_keys(conn: AsyncConnection, cipher: Cipher | None) -> None:
    """Refuse to serve a database holding rows no key we have opens (as the SQLite store
    does). Reads only."""
    found: set[str] = set()
    for table in _SEALED_TABLES:
        cursor = await conn.execute(f"SELECT DISTINCT kid FROM {table} WHERE kid IS NOT NULL")
        found.update(kid for (kid,) in await cursor.fetchall())
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
