"""No data loss: what the server accepted survives a restart, a kill -9 and room eviction."""

from __future__ import annotations

import asyncio
from contextlib import closing

import pytest
from pycrdt import Doc, Text

from jupyter_omniforge.client import connect_room

from .conftest import fetch_json, wait_for


async def room_text(server, room: str, root: str = "code") -> str | None:
    code, body = await fetch_json(
        f"{server.url}omniforge/api/rooms/{room}?roots={root}:text",
        token=server.token,
        raise_error=False,
    )
    return body["content"].get(root) if code == 200 else None


@pytest.fixture(params=["sqlite", "postgres"])
def engine_args(request: pytest.FixtureRequest) -> list[str]:
    """The server's options choosing its store: SQLite (the default), or PostgreSQL."""
    if request.param == "sqlite":
        return []
    return [f"--OmniForgeApp.store_url={request.getfixturevalue('postgres_url')}"]


async def test_a_restart_keeps_the_document(server_process, engine_args):
    server = await server_process(engine_args).start()
    doc = Doc()
    async with connect_room(server.url, "idea:restart", doc, token=server.token):
        doc.get("code", type=Text).insert(0, "kept across restarts")
        await wait_for(lambda: room_text(server, "idea:restart"), timeout=10)
    server.stop()
    server = await server_process(engine_args, db=server.db).start()
    assert await room_text(server, "idea:restart") == "kept across restarts"
    # With PostgreSQL, nothing was kept in the SQLite file: it was never made.
    assert server.db.exists() == (not engine_args)
    fresh = Doc()
    async with connect_room(server.url, "idea:restart", fresh, token=server.token):
        assert str(fresh.get("code", type=Text)) == "kept across restarts"


@pytest.mark.parametrize(
    ("synchronous", "engine"), [("FULL", "sqlite"), ("NORMAL", "sqlite"), ("FULL", "postgres")]
)
async def test_kill_9_loses_no_update_older_than_the_commit_window(
    server_process, synchronous, engine, request
):
    """Every update the server had for longer than the group-commit window before a SIGKILL is
    there after a restart."""
    options = [f"--OmniForgeApp.sqlite_synchronous={synchronous}"]
    if engine == "postgres":
        options = [f"--OmniForgeApp.store_url={request.getfixturevalue('postgres_url')}"]
    server = await server_process(options).start()
    writer, watcher = Doc(), Doc()
    async with (
        connect_room(server.url, "idea:crash", writer, token=server.token),
        connect_room(server.url, "idea:crash", watcher, token=server.token),
    ):
        text = writer.get("code", type=Text)
        for i in range(300):
            text.insert(len(text), f"{i};")
            if i % 50 == 0:
                await asyncio.sleep(0)
        expected = str(text)
        # The watcher seeing everything proves the server accepted (applied) every update.
        await wait_for(lambda: str(watcher.get("code", type=Text)) == expected, timeout=20)
        await asyncio.sleep(0.05)  # ten group-commit windows (5 ms each)
        server.kill9()
    server = await server_process(options, db=server.db).start()
    assert await room_text(server, "idea:crash") == expected


@pytest.fixture
def omniforge_config():
    return {"room_idle_timeout": 0.1}


async def test_an_idle_room_is_evicted_after_its_writes_are_flushed(server_url, token, omniforge):
    doc = Doc()
    async with connect_room(server_url, "idea:evict", doc, token=token):
        doc.get("code", type=Text).insert(0, "flushed before eviction")
        await wait_for(
            lambda: (
                omniforge.room_manager.get("idea:evict")
                and str(omniforge.room_manager.get("idea:evict").doc.get("code", type=Text))
            )
        )
    await wait_for(lambda: omniforge.room_manager.get("idea:evict") is None)
    stored = Doc()
    for update in await omniforge.store.rooms.load("idea:evict"):
        stored.apply_update(update)
    assert str(stored.get("code", type=Text)) == "flushed before eviction"
    again = Doc()
    async with connect_room(server_url, "idea:evict", again, token=token):
        assert str(again.get("code", type=Text)) == "flushed before eviction"


async def test_a_corrupt_stored_update_is_skipped_and_the_rest_of_the_room_loads(
    server_url, token, omniforge, caplog
):
    import sqlite3

    doc = Doc()
    async with connect_room(server_url, "idea:disk", doc, token=token):
        doc.get("code", type=Text).insert(0, "survives")
        await wait_for(
            lambda: (
                omniforge.room_manager.get("idea:disk")
                and str(omniforge.room_manager.get("idea:disk").doc.get("code", type=Text))
            )
        )
    await wait_for(lambda: omniforge.room_manager.get("idea:disk") is None)
    await omniforge.store.rooms.flush()
    # Damage the disk behind the server's back: one more row that is not a Yjs update.
    with closing(sqlite3.connect(omniforge.db_path)) as conn, conn:
        conn.execute(
            "INSERT INTO room_updates (room, data, created) VALUES (?, ?, 0)",
            ("idea:disk", b"\xff\xff\xff"),
        )
    again = Doc()
    async with connect_room(server_url, "idea:disk", again, token=token):
        assert str(again.get("code", type=Text)) == "survives"
    assert "skipped an update" in caplog.text
