"""The SQLite store's schema migrations: a database written by the previous release upgrades in
place, keeps its rooms and events, and two servers starting together migrate it once."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from pycrdt import Doc, Text

from jupyter_omniforge.store import StoreSettings
from jupyter_omniforge.store.sqlite import SQLiteStore
from jupyter_omniforge.store.sqlite.migrations import LATEST, SchemaError

from .conftest import fetch_json

# What the previous release (before migrations) created, verbatim.
PREVIOUS_RELEASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS room_updates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    room TEXT NOT NULL,
    data BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS room_updates_by_room ON room_updates (room, seq);
CREATE TABLE IF NOT EXISTS room_snapshots (
    room TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    type TEXT NOT NULL,
    time REAL NOT NULL,
    source TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_channel ON events (channel, id);
CREATE INDEX IF NOT EXISTS events_by_time ON events (time);
CREATE TABLE IF NOT EXISTS event_channels (
    channel TEXT PRIMARY KEY,
    pruned_through INTEGER NOT NULL DEFAULT 0
);
"""


def write_previous_release_database(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = Doc()
    doc.get("code", type=Text).insert(0, "from the previous release")
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executescript(PREVIOUS_RELEASE_SCHEMA)
        conn.execute(
            "INSERT INTO room_updates (room, data, created) VALUES (?, ?, 1)",
            ("idea:old", doc.get_update()),
        )
        conn.execute(
            "INSERT INTO events (channel, type, time, source, data) VALUES (?, ?, ?, ?, ?)",
            ("build:old", "build.started", 1.0, '{"username": "alice"}', "{}"),
        )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "db" / "omniforge.sqlite"
    write_previous_release_database(path)
    return path


async def test_a_database_of_the_previous_release_is_upgraded_and_served(
    server_url, token, db_path
):
    _, room = await fetch_json(server_url + "omniforge/api/rooms/idea:old", token=token)
    assert room["content"]["code"] == "from the previous release"
    _, history = await fetch_json(
        server_url + "omniforge/api/events?channel=build:old", token=token
    )
    assert [(e["type"], e["source"]) for e in history["events"]] == [
        ("build.started", {"username": "alice"})
    ]
    with closing(sqlite3.connect(db_path)) as conn, conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_migrations")]
        columns = {row[1] for row in conn.execute("PRAGMA table_info(room_updates)")}
    assert versions == list(range(1, LATEST + 1))
    assert "kid" in columns


def test_stores_starting_together_migrate_once(db_path):
    async def start_two() -> None:
        stores = [SQLiteStore(StoreSettings(path=str(db_path))) for _ in range(4)]
        await asyncio.gather(*(s.start() for s in stores))
        for s in stores:
            await s.close()

    asyncio.run(start_two())
    with closing(sqlite3.connect(db_path)) as conn, conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_migrations")]
    assert versions == list(range(1, LATEST + 1))


def test_a_database_from_a_newer_release_is_refused_unchanged(db_path):
    with closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT, applied REAL)"
        )
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?, 'from the future', 0)", (LATEST + 1,)
        )
    before = dump(db_path)

    async def start() -> None:
        store = SQLiteStore(StoreSettings(path=str(db_path)))
        try:
            await store.start()
        finally:
            await store.close()

    with pytest.raises(SchemaError, match="newer than this release"):
        asyncio.run(start())
    assert dump(db_path) == before  # (the file's header may switch to WAL; no row or table)


def dump(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as conn, conn:
        return list(conn.iterdump())
