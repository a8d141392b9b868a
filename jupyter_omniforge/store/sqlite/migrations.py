"""Versioned schema migrations of the SQLite store.

Each migration runs once, in order, inside the same ``BEGIN IMMEDIATE`` transaction that reads
the version: two servers starting together on one file take turns, and the second finds
nothing left to do. A database written before migrations existed (the first release created
its tables with ``CREATE TABLE IF NOT EXISTS``) is version 1 once the first migration, which
creates the same tables the same way, has been recorded. A database written by a newer release
is refused with a clear message instead of being changed.
"""

from __future__ import annotations

import sqlite3
import time

from .database import Database

#: (version, what it does, statements). Append only: never edit a released migration.
MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "rooms (update log, snapshots) and events, as the first release made them",
        (
            """CREATE TABLE IF NOT EXISTS room_updates (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                room TEXT NOT NULL,
                data BLOB NOT NULL,
                created REAL NOT NULL
            )""",
            "CREATE INDEX IF NOT EXISTS room_updates_by_room ON room_updates (room, seq)",
            """CREATE TABLE IF NOT EXISTS room_snapshots (
                room TEXT PRIMARY KEY,
                data BLOB NOT NULL,
                updated REAL NOT NULL
            )""",
            """CREATE TABLE IF NOT EXISTS events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                channel TEXT NOT NULL,
                type TEXT NOT NULL,
                time REAL NOT NULL,
                source TEXT NOT NULL,
                data TEXT NOT NULL
            )""",
            "CREATE INDEX IF NOT EXISTS events_by_channel ON events (channel, id)",
            "CREATE INDEX IF NOT EXISTS events_by_time ON events (time)",
            """CREATE TABLE IF NOT EXISTS event_channels (
                channel TEXT PRIMARY KEY,
                pruned_through INTEGER NOT NULL DEFAULT 0
            )""",
        ),
    ),
    (
        2,
        "quarantined rows, encryption key ids, the audit trail and revoked tokens",
        (
            """CREATE TABLE IF NOT EXISTS room_quarantine (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                room TEXT NOT NULL,
                data BLOB,
                reason TEXT NOT NULL,
                created REAL NOT NULL
            )""",
            # The id of the key a row is sealed with (NULL: stored in the clear).
            "ALTER TABLE room_updates ADD COLUMN kid TEXT",
            "ALTER TABLE room_snapshots ADD COLUMN kid TEXT",
            "ALTER TABLE room_quarantine ADD COLUMN kid TEXT",
            # A sealed event keeps channel, type and time in the clear (they are queried) and
            # its source and data in `sealed`.
            "ALTER TABLE events ADD COLUMN kid TEXT",
            "ALTER TABLE events ADD COLUMN sealed BLOB",
            """CREATE TABLE audit (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                time REAL NOT NULL,
                action TEXT NOT NULL,
                user TEXT NOT NULL,
                room TEXT NOT NULL,
                details BLOB NOT NULL,
                kid TEXT
            )""",
            "CREATE INDEX audit_by_time ON audit (time)",
            "CREATE INDEX audit_by_user ON audit (user, id)",
            "CREATE INDEX audit_by_room ON audit (room, id)",
            """CREATE TABLE revoked_tokens (
                jti TEXT PRIMARY KEY,
                expires REAL NOT NULL
            )""",
        ),
    ),
    (
        3,
        "outgoing webhooks: the delivery queue, given-up deliveries, endpoint status and "
        "position, cursor",
        (
            # A sealed delivery's body is sealed with the key `kid` (NULL: in the clear).
            """CREATE TABLE webhook_deliveries (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                endpoint TEXT NOT NULL,
                event_id TEXT NOT NULL,
                body BLOB NOT NULL,
                created REAL NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_at REAL NOT NULL,
                last_error TEXT NOT NULL DEFAULT '',
                kid TEXT,
                UNIQUE (endpoint, event_id)
            )""",
            "CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint, id)",
            """CREATE TABLE webhook_failures (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                endpoint TEXT NOT NULL,
                event_id TEXT NOT NULL,
                time REAL NOT NULL,
                attempts INTEGER NOT NULL,
                error TEXT NOT NULL
            )""",
            "CREATE INDEX webhook_failures_by_endpoint ON webhook_failures (endpoint, id)",
            # `position`: the last event delivered or given up here (NULL: none yet).
            """CREATE TABLE webhook_endpoints (
                endpoint TEXT PRIMARY KEY,
                last_status INTEGER,
                last_time REAL,
                last_error TEXT NOT NULL DEFAULT '',
                position TEXT
            )""",
            # How far the event log was queued (one row).
            """CREATE TABLE webhook_cursor (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                cursor TEXT NOT NULL
            )""",
        ),
    ),
    (
        4,
        "sealed rows name their room or channel and their row in their associated data",
        (
            # Which associated data a sealed row was sealed with (see sealing.py): NULL the
            # scheme of migration 2 (rows written before this one), 2 the current one.
            "ALTER TABLE room_snapshots ADD COLUMN ad INTEGER",
            "ALTER TABLE events ADD COLUMN ad INTEGER",
            "ALTER TABLE audit ADD COLUMN ad INTEGER",
            # The last log seq a snapshot folds: part of its associated data.
            "ALTER TABLE room_snapshots ADD COLUMN folded INTEGER",
            # The associated data a quarantined sealed row was sealed with, to open it later.
            "ALTER TABLE room_quarantine ADD COLUMN ad BLOB",
        ),
    ),
    (
        5,
        "version history: who sent each logged update, and the versions of each room",
        (
            # The username whose connection (or API call) sent the update; '' unknown. In the
            # clear beside the sealed data, like an event's channel: metadata, not content.
            "ALTER TABLE room_updates ADD COLUMN author TEXT NOT NULL DEFAULT ''",
            # One full document state per version (any version is one read, no replay), and
            # the authorship runs of its text roots. `state` and `runs` are sealed with `kid`
            # (NULL: in the clear); kind, label, authors, size and time are metadata.
            """CREATE TABLE room_versions (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                room TEXT NOT NULL,
                time REAL NOT NULL,
                kind TEXT NOT NULL,
                label TEXT,
                authors TEXT NOT NULL,
                size INTEGER NOT NULL,
                state BLOB NOT NULL,
                runs BLOB NOT NULL,
                kid TEXT
            )""",
            "CREATE INDEX room_versions_by_room ON room_versions (room, id)",
        ),
    ),
    (
        6,
        "comments: threads anchored to text, comments, reactions, mention notifications",
        (
            # A thread's anchor: its root and two encoded sticky indexes (relative positions:
            # ids and clocks, no content) in the clear; `text`, the text it covered last, is
            # sealed with `kid` (NULL: in the clear). Users are JSON {username, name, color}.
            """CREATE TABLE comment_threads (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                room TEXT NOT NULL,
                author TEXT NOT NULL,
                created REAL NOT NULL,
                resolved_by TEXT,
                resolved_at REAL,
                orphaned INTEGER NOT NULL DEFAULT 0,
                root TEXT,
                start BLOB,
                end_ BLOB,
                text BLOB,
                kid TEXT
            )""",
            "CREATE INDEX comment_threads_by_room ON comment_threads (room, id)",
            # `body` is sealed with `kid` (NULL: in the clear).
            """CREATE TABLE comments (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                thread INTEGER NOT NULL,
                room TEXT NOT NULL,
                author TEXT NOT NULL,
                created REAL NOT NULL,
                edited REAL,
                body BLOB NOT NULL,
                kid TEXT
            )""",
            "CREATE INDEX comments_by_thread ON comments (thread, id)",
            "CREATE INDEX comments_by_room ON comments (room)",
            """CREATE TABLE comment_reactions (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                comment INTEGER NOT NULL,
                emoji TEXT NOT NULL,
                username TEXT NOT NULL,
                UNIQUE (comment, emoji, username)
            )""",
            # Per user; `excerpt` is sealed with `kid` (NULL: in the clear).
            """CREATE TABLE notifications (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                "user" TEXT NOT NULL,
                room TEXT NOT NULL,
                thread INTEGER NOT NULL,
                comment INTEGER NOT NULL,
                by TEXT NOT NULL,
                created REAL NOT NULL,
                read INTEGER NOT NULL DEFAULT 0,
                excerpt BLOB NOT NULL,
                kid TEXT
            )""",
            'CREATE INDEX notifications_by_user ON notifications ("user", read, id)',
            "CREATE INDEX notifications_by_room ON notifications (room)",
            "CREATE INDEX notifications_by_thread ON notifications (thread)",
        ),
    ),
    (
        7,
        "how far each room's shared stream (Redis) was persisted here",
        (
            # One row per room: the marker the lease holder committed with the updates it
            # persisted (opaque text: per-writer stream ids and the Redis epoch).
            """CREATE TABLE room_persisted (
                room TEXT PRIMARY KEY,
                marker TEXT NOT NULL,
                updated REAL NOT NULL
            )""",
        ),
    ),
)

LATEST = MIGRATIONS[-1][0]


class SchemaError(RuntimeError):
    """The database cannot be used by this release; ``str(error)`` says why."""


async def migrate(database: Database) -> int:
    """Bring the database's schema to :data:`LATEST`; returns the version it was at."""
    return await database.run_without_transaction(_migrate)


def _migrate(conn: sqlite3.Connection) -> int:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied REAL NOT NULL)"
        )
        (current,) = conn.execute(
            "SELECT coalesce(max(version), 0) FROM schema_migrations"
        ).fetchone()
        if current > LATEST:
            raise SchemaError(
                f"the database has schema version {current}, newer than this release knows "
                f"({LATEST}): upgrade jupyter_omniforge"
            )
        for version, description, statements in MIGRATIONS:
            if version <= current:
                continue
            for statement in statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, description, applied) VALUES (?, ?, ?)",
                (version, description, time.time()),
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return current
