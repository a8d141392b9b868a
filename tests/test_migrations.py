"""The stores' schema migrations: a database written by the previous release (SQLite) or at the
first PostgreSQL schema upgrades in place, keeps its rows, and ends with the schema a new
database gets; two servers starting together migrate it once."""

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


def sqlite_schema(path: Path) -> dict[str, list[tuple]]:
    """Each table's columns (name, type, not null, default, primary key) and indexes."""
    with closing(sqlite3.connect(path)) as conn:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        schema = {
            table: sorted(row[1:] for row in conn.execute(f"PRAGMA table_info({table})"))
            for table in tables
            if table != "sqlite_sequence"
        }
        schema["indexes"] = sorted(
            (table, [row[2] for row in conn.execute(f"PRAGMA index_info({name})")])
            for name, table in conn.execute(
                "SELECT name, tbl_name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL"
            )
        )
    return schema


def test_a_database_of_the_previous_release_ends_with_the_schema_of_a_new_one(db_path, tmp_path):
    async def start(path: Path) -> None:
        store = SQLiteStore(StoreSettings(path=str(path)))
        await store.start()
        await store.close()

    fresh = tmp_path / "fresh" / "omniforge.sqlite"
    fresh.parent.mkdir()
    asyncio.run(start(db_path))
    asyncio.run(start(fresh))
    assert sqlite_schema(db_path) == sqlite_schema(fresh)


# -- PostgreSQL ---------------------------------------------------------------------------------


def pg_schema(url: str) -> dict[str, list[tuple]]:
    """Each table's columns (name, type, nullable, default) and indexes, as PostgreSQL says."""
    import psycopg

    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default, "
            "is_identity FROM information_schema.columns WHERE table_schema = 'public' "
            "ORDER BY table_name, column_name"
        ).fetchall()
        indexes = conn.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "ORDER BY tablename, indexname"
        ).fetchall()
    schema: dict[str, list[tuple]] = {"indexes": indexes}
    for table, *column in columns:
        schema.setdefault(table, []).append(tuple(column))
    return schema


async def test_a_postgresql_database_of_the_first_schema_is_upgraded_and_served(
    postgres_server, postgres_url
):
    """PostgreSQL has no release before its store: its oldest database is one at schema 1 (as
    the first migration made it, with rows an instance of then wrote). Started, it is upgraded
    to the latest schema with its rows, serves them, takes what the newer tables hold, and ends
    with the schema a new database gets."""
    import psycopg

    from jupyter_omniforge.store.postgres import PostgresStore
    from jupyter_omniforge.store.postgres.migrations import LATEST as PG_LATEST
    from jupyter_omniforge.store.postgres.migrations import MIGRATIONS

    from .conftest import close_after_test

    doc = Doc()
    doc.get("code", type=Text).insert(0, "from schema 1")
    first = [m for m in MIGRATIONS if m[0] == 1]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
            "description TEXT NOT NULL, applied DOUBLE PRECISION NOT NULL)"
        )
        for version, description, statements in first:
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (%s, %s, 0)", (version, description))
        conn.execute(
            "INSERT INTO room_updates (room, data, created, author) VALUES (%s, %s, 1, 'ann')",
            ("idea:old", doc.get_update()),
        )
        conn.execute(
            "INSERT INTO events (channel, type, time, source, data) VALUES (%s, %s, %s, %s, %s)",
            ("build:old", "build.started", 1.0, '{"username": "ann"}', "{}"),
        )

    store = PostgresStore(StoreSettings(url=postgres_url))
    close_after_test(store.close)
    await store.start()
    assert await store.rooms.load_authored("idea:old") == [(doc.get_update(), "ann")]
    page = await store.events.read(["build:*"], None)
    assert [(e["type"], e["source"]) for e in page.events] == [
        ("build.started", {"username": "ann"})
    ]
    # What the later migrations added works on it.
    ann = {"username": "ann", "name": "Ann", "color": "#123456"}
    thread, _ = await store.comments.add_thread("idea:old", ann, "kept?", None)
    assert [t["id"] for t in await store.comments.threads("idea:old")] == [thread["id"]]
    more = Doc()
    more.get("code", type=Text).insert(0, "persisted later")
    assert await store.rooms.persist("idea:old", [(more.get_update(), "bob")], "m1", expected=None)
    assert await store.rooms.persisted_marker("idea:old") == "m1"
    assert [a for _, a in await store.rooms.load_authored("idea:old")] == ["ann", "bob"]
    await store.close()

    with psycopg.connect(postgres_url) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_migrations")]
    assert versions == list(range(1, PG_LATEST + 1))
    fresh_url = postgres_server.create_database()
    fresh = PostgresStore(StoreSettings(url=fresh_url))
    close_after_test(fresh.close)
    await fresh.start()
    await fresh.close()
    assert pg_schema(postgres_url) == pg_schema(fresh_url)
