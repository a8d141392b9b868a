"""PostgreSQL as the store (``OmniForgeApp.store_url``): what the SQLite store keeps, kept in a
database that several instances share; migrated once however many start together; and while
the database restarts, the server stays up, says it is degraded, and loses nothing.

The engine-level stories the SQLite store tells run against both engines in test_store.py and
test_durability.py; these are the ones that only a server-backed database has."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg
import pytest
from pycrdt import Doc, Text

from jupyter_omniforge.client import connect_room
from jupyter_omniforge.store import StoreSettings
from jupyter_omniforge.store.crypto import Cipher, CipherError
from jupyter_omniforge.store.postgres import PostgresStore
from jupyter_omniforge.store.postgres.migrations import LATEST
from jupyter_omniforge.store.sqlite.migrations import SchemaError

from .conftest import close_after_test, fetch_json, wait_for
from .postgres import PostgresProcess
from .test_durability import room_text


def query(url: str, sql: str, *params: object) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


async def test_stores_starting_together_migrate_once(postgres_url):
    stores = [PostgresStore(StoreSettings(url=postgres_url)) for _ in range(4)]
    for s in stores:
        close_after_test(s.close)
    await asyncio.gather(*(s.start() for s in stores))
    for s in stores:
        await s.close()
    assert [v for (v,) in query(postgres_url, "SELECT version FROM schema_migrations")] == [
        *range(1, LATEST + 1)
    ]
    tables = {t for (t,) in query(postgres_url, "SELECT tablename FROM pg_tables")}
    assert {"room_updates", "events", "audit", "webhook_deliveries", "room_versions"} <= tables


async def test_a_database_from_a_newer_release_is_refused_unchanged(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
            "description TEXT NOT NULL, applied DOUBLE PRECISION NOT NULL)"
        )
        conn.execute("INSERT INTO schema_migrations VALUES (%s, 'from the future', 0)", (99,))
    store = PostgresStore(StoreSettings(url=postgres_url))
    close_after_test(store.close)  # even when the story fails
    with pytest.raises(SchemaError, match="newer than this release"):
        await store.start()
    await store.close()
    tables = {t for (t,) in query(postgres_url, "SELECT tablename FROM pg_tables")}
    assert "room_updates" not in tables


def test_the_log_line_never_shows_the_password():
    store = PostgresStore(
        StoreSettings(url="postgresql://alice:s3cret-pw@db.example:6543/rooms?sslmode=require")
    )
    assert "s3cret-pw" not in store.description
    assert store.description == "PostgreSQL database rooms on db.example:6543 as alice"
    assert store.shared


async def test_sealed_rows_are_unreadable_in_the_database_and_bound_to_their_place(
    postgres_url, tmp_path: Path
):
    cipher = Cipher(b"k" * 32)
    store = PostgresStore(StoreSettings(url=postgres_url, cipher=cipher))
    close_after_test(store.close)
    await store.start()
    doc = Doc()
    doc.observe(lambda event: store.rooms.append("idea:secret", event.update, author="ann"))
    doc.get("code", type=Text).insert(0, "TOP-SECRET-PLAN")
    await store.events.append(
        {
            "channel": "build:1",
            "type": "build.log",
            "time": time.time(),
            "source": {"username": "ann"},
            "data": {"line": "TOP-SECRET-LOG"},
        }
    )
    store.audit.record("room.deleted", user="ann", room="idea:secret", note="TOP-SECRET-NOTE")
    await store.history.add_version("idea:secret", doc.get_update(), {"code": []})
    await store.webhooks.enqueue([("hook", "1", b"TOP-SECRET-BODY")])
    await store.rooms.flush()
    await store.audit.flush()
    # Nothing readable anywhere in the database's rows.
    for table in ("room_updates", "events", "audit", "room_versions", "webhook_deliveries"):
        for row in query(postgres_url, f"SELECT * FROM {table}"):
            assert b"TOP-SECRET" not in repr(row).encode(), table
    # And all of it back through the store.
    back = Doc()
    for update in await store.rooms.load("idea:secret"):
        back.apply_update(update)
    assert str(back.get("code", type=Text)) == "TOP-SECRET-PLAN"
    page = await store.events.read(["build:*"], None)
    assert page.events[0]["data"] == {"line": "TOP-SECRET-LOG"}
    assert (await store.audit.read())[0]["details"] == {"note": "TOP-SECRET-NOTE"}
    assert (await store.webhooks.next("hook"))[0].body == b"TOP-SECRET-BODY"

    # A sealed update copied into another room does not open there: it is not served.
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO room_updates (room, data, created, kid) "
            "SELECT 'idea:other', data, created, kid FROM room_updates"
        )
    stolen = Doc()
    for update in await store.rooms.load("idea:other"):
        with pytest.raises(Exception):  # noqa: B017 (pycrdt raises its own decode errors)
            stolen.apply_update(update)
    await store.close()

    # Without the key, the store refuses to start, with the reason, and changes nothing.
    keyless = PostgresStore(StoreSettings(url=postgres_url))
    close_after_test(keyless.close)
    with pytest.raises(CipherError, match="sealed with key"):
        await keyless.start()
    await keyless.close()


async def test_events_are_numbered_across_channels_paged_and_pruned(postgres_url):
    store = PostgresStore(StoreSettings(url=postgres_url, event_retention_count=3))
    close_after_test(store.close)
    await store.start()
    await store.events.start()

    def event(channel: str, n: int) -> dict:
        return {
            "channel": channel,
            "type": "build.log",
            "time": time.time(),
            "source": {"username": "bob"},
            "data": {"n": n},
        }

    stored = await store.events.append_many(
        [event("build:a" if n % 2 else "build_b", n) for n in range(10)]
    )
    ids = [int(e["id"]) for e in stored]
    assert ids == sorted(ids) and len(set(ids)) == 10
    assert await store.events.last_id() == stored[-1]["id"]
    # "build:*" is a pattern; "_" in a channel name is a plain character, not a wildcard.
    page = await store.events.read(["build:*"], None)
    assert [e["data"]["n"] for e in page.events] == [5, 7, 9] and not page.reset
    assert [e["data"]["n"] for e in (await store.events.read(["build_b"], None)).events] == [
        4,
        6,
        8,
    ]
    # A cursor older than what retention kept says so; the newest cursor replays nothing.
    assert (await store.events.read(["build:*"], stored[0]["id"])).reset
    assert (await store.events.read(["*"], stored[-1]["id"])).events == []
    assert (await store.events.read(["*"], "not-a-cursor")).reset
    await store.events.close()
    await store.close()


async def test_history_versions_page_and_prune_like_sqlite(postgres_url):
    store = PostgresStore(StoreSettings(url=postgres_url))
    close_after_test(store.close)
    await store.start()
    doc = Doc()
    doc.get("code", type=Text).insert(0, "v")
    made = [
        await store.history.add_version("r", doc.get_update(), {"code": [[0, 1, "ann"]]}, kind=k)
        for k in ("auto", "named", "auto", "auto")
    ]
    listed = await store.history.list_versions("r")
    assert [v["id"] for v in listed] == [v["id"] for v in reversed(made)]
    assert [v["id"] for v in await store.history.list_versions("r", before=made[2]["id"])] == [
        made[1]["id"],
        made[0]["id"],
    ]
    version, _, runs = await store.history.get_version("r", made[1]["id"])
    assert version["kind"] == "named" and runs == {"code": [[0, 1, "ann"]]}
    assert await store.history.get_version("other", made[1]["id"]) is None
    assert await store.history.get_version("r", "x'; DROP TABLE room_versions") is None
    # Older automatic ones go; the named one and the newest stay.
    assert await store.history.prune("r", older_than=time.time() + 1, keep=10) == 2
    assert [v["kind"] for v in await store.history.list_versions("r")] == ["auto", "named"]
    await store.close()


async def ready_status(server) -> tuple[int, dict]:
    return await fetch_json(server.url + "omniforge/health/ready", raise_error=False)


@pytest.mark.slow
async def test_postgres_restarted_while_a_client_edits_loses_nothing(server_process):
    """PostgreSQL stops under a server whose client keeps typing: the server stays up and says
    it is degraded; the edits wait in memory and are committed once PostgreSQL is back (the
    server killed with kill -9 then, the database has every one of them)."""
    database = PostgresProcess().start()
    try:
        url = database.create_database()
        options = [f"--OmniForgeApp.store_url={url}", "--OmniForgeApp.compact_idle=3600"]
        server = await server_process(options).start()
        doc = Doc()
        async with connect_room(server.url, "idea:outage", doc, token=server.token):
            text = doc.get("code", type=Text)
            text.insert(0, "before;")
            await wait_for(lambda: room_text(server, "idea:outage"), timeout=10)

            database.stop()
            for i in range(50):
                text.insert(len(text), f"down{i};")
                await asyncio.sleep(0.01)
            # Someone joins the open room meanwhile: served from memory, and audited later.
            late = Doc()
            async with connect_room(server.url, "idea:outage", late, token=server.token):
                await wait_for(lambda: str(late.get("code", type=Text)) == str(text), timeout=10)

            async def served(expected: str) -> bool:
                return await room_text(server, "idea:outage") == expected

            await wait_for(lambda: served(str(text)), timeout=10)
            status, body = await ready_status(server)
            assert (status, body) == (503, {"status": "degraded"})
            # What needs the database meanwhile fails with an error, and nothing hangs.
            (emitted, _), (opened, _) = await asyncio.gather(
                fetch_json(
                    server.url + "omniforge/api/events",
                    method="POST",
                    token=server.token,
                    body={"channel": "build:1", "type": "build.started", "data": {}},
                    raise_error=False,
                ),
                fetch_json(
                    server.url + "omniforge/api/rooms/idea:elsewhere",
                    token=server.token,
                    raise_error=False,
                ),
            )
            assert emitted == 500 and opened == 500

            database.start()
            for i in range(20):
                text.insert(len(text), f"up{i};")
                await asyncio.sleep(0.01)
            expected = str(text)

            async def healthy() -> bool:
                return (await ready_status(server))[0] == 200

            await wait_for(healthy, timeout=20, interval=0.2)
            await wait_for(lambda: served(expected), timeout=10)
            _, audit = await fetch_json(
                server.url + "omniforge/api/audit?room=idea:outage", token=server.token
            )
            opened = [e for e in audit["entries"] if e["action"] == "connection.opened"]
            assert len(opened) == 2, audit  # the join during the outage too
        # Killed, so nothing more is written at shutdown: the database has every edit.
        server.kill9()
        assert "could not be written" not in server.log_path.read_text()
        store = PostgresStore(StoreSettings(url=url))
        close_after_test(store.close)
        await store.start()
        kept = Doc()
        for update in await store.rooms.load("idea:outage"):
            kept.apply_update(update)
        await store.close()
        assert str(kept.get("code", type=Text)) == expected
    finally:
        database.remove()


def test_store_url_picks_postgres_and_sqlite_stays_the_default():
    from jupyter_omniforge.app import OmniForgeApp
    from jupyter_omniforge.store import SQLiteStore

    assert OmniForgeApp().store_class is SQLiteStore
    assert OmniForgeApp(store_url="postgresql://db/rooms").store_class is PostgresStore
    # A class set explicitly wins over what store_url would pick.
    chosen = OmniForgeApp(store_url="postgresql://db/rooms", store_class=SQLiteStore)
    assert chosen.store_class is SQLiteStore


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path):
    """A whole store of either engine, with a cipher (so sealing is exercised too)."""
    from jupyter_omniforge.store import SQLiteStore

    cipher = Cipher(b"c" * 32)
    if request.param == "sqlite":
        return SQLiteStore(StoreSettings(path=str(tmp_path / "s.sqlite"), cipher=cipher))
    url = request.getfixturevalue("postgres_url")
    store = PostgresStore(StoreSettings(url=url, cipher=cipher))
    close_after_test(store.close)
    return store


async def test_comment_threads_behave_alike_on_both_engines(any_store):
    store = any_store
    await store.start()
    comments = store.comments
    ann = {"username": "ann", "name": "Ann", "color": "#123456"}
    bob = {"username": "bob", "name": "Bob", "color": "#654321"}
    anchor = {"root": "code", "start": b"\x01\x02", "end": b"\x03", "text": "the loop"}
    thread, first = await comments.add_thread("r", ann, "Why this loop?", anchor)
    assert thread["anchor"] == anchor and first["body"] == "Why this loop?"
    room_wide, _ = await comments.add_thread("r", bob, "General remark", None)
    reply = await comments.add_comment("r", thread["id"], bob, "@ann it is faster")
    assert await comments.add_comment("other", thread["id"], bob, "wrong room") is None
    assert await comments.add_comment("r", "no-such-id", bob, "x") is None

    await comments.react("r", reply["id"], "👍", "ann", True)
    await comments.react("r", reply["id"], "👍", "ann", True)  # idempotent
    await comments.react("r", reply["id"], "🎉", "bob", True)
    liked = await comments.react("r", reply["id"], "👍", "carl", True)
    assert liked["reactions"] == {"👍": ["ann", "carl"], "🎉": ["bob"]}
    edited = await comments.edit_comment("r", reply["id"], "@ann it is much faster")
    assert edited["body"] == "@ann it is much faster" and edited["edited"] is not None

    by_thread = await comments.comments("r", [thread["id"], room_wide["id"], "bogus"])
    assert [c["body"] for c in by_thread[thread["id"]]] == [
        "Why this loop?",
        "@ann it is much faster",
    ]
    resolved = await comments.set_resolved("r", thread["id"], True, bob)
    assert resolved["resolved"] and resolved["resolved_by"] == bob
    assert [t["id"] for t in await comments.threads("r", resolved=False)] == [room_wide["id"]]
    await comments.set_anchor_text("r", thread["id"], "", True)
    assert (await comments.thread("r", thread["id"]))["orphaned"]

    notes = await comments.notify(
        [
            {
                "user": "ann",
                "room": "r",
                "thread": thread["id"],
                "comment": reply["id"],
                "by": bob,
                "excerpt": "@ann it is faster",
            }
        ]
    )
    assert notes[0]["read"] is False and notes[0]["excerpt"] == "@ann it is faster"
    listed, unread = await comments.notifications("ann")
    assert [n["id"] for n in listed] == [notes[0]["id"]] and unread == 1
    assert await comments.mark_read("ann", ["bogus", notes[0]["id"]]) == 0

    # Deleting the last comments of a thread deletes the thread and its notifications.
    assert await comments.delete_comment("r", reply["id"]) == thread["id"]
    assert (await comments.notifications("ann"))[0] == []
    assert await comments.delete_comment("r", first["id"]) == thread["id"]
    assert await comments.thread("r", thread["id"]) is None
    await comments.delete("r")
    assert await comments.threads("r") == []
    await store.close()


async def test_an_instance_never_reads_a_room_half_folded_by_another(postgres_url):
    """Two instances on one database: one types and compacts all the time, the other reads the
    room meanwhile. Every read is a whole state (a snapshot and the log after it), never a
    snapshot from before a fold with the log from after it."""
    writer = PostgresStore(StoreSettings(url=postgres_url, compact_max_updates=15))
    close_after_test(writer.close)
    reader = PostgresStore(StoreSettings(url=postgres_url))
    close_after_test(reader.close)
    await asyncio.gather(writer.start(), reader.start())
    doc = Doc()
    text = doc.get("code", type=Text)
    doc.observe(lambda event: writer.rooms.append("idea:busy", event.update))
    seen: list[str] = []

    async def read_all_along() -> None:
        while len(seen) < 400 and (not seen or seen[-1] != "x" * 300):
            rebuilt = Doc()
            for update in await reader.rooms.load("idea:busy"):
                rebuilt.apply_update(update)
            seen.append(str(rebuilt.get("code", type=Text)))

    reading = asyncio.ensure_future(read_all_along())
    for _ in range(300):
        text.insert(len(text), "x")
        await asyncio.sleep(0.001)
    await writer.rooms.flush()
    await reading
    assert writer.rooms.compactions >= 2  # folds happened while it read
    lengths = [len(state) for state in seen]
    assert lengths == sorted(lengths), "a read went back in time: updates were missing"
    await writer.close()
    await reader.close()


async def test_the_audit_keeps_the_newest_entries_and_reads_by_user_and_room(postgres_url):
    store = PostgresStore(StoreSettings(url=postgres_url, audit_retention_count=5))
    close_after_test(store.close)
    await store.start()
    for i in range(12):
        store.audit.record("permission.denied", user=f"u{i % 3}", room=f"idea:{i}", n=i)
        if i % 4 == 3:
            await store.audit.flush()  # several commits, each trimming
    entries = await store.audit.read(limit=100)
    assert [e["details"]["n"] for e in entries] == [7, 8, 9, 10, 11]
    assert [e["room"] for e in await store.audit.read(user="u1")] == ["idea:7", "idea:10"]
    after = await store.audit.read(after=entries[2]["id"], room="idea:11")
    assert [e["details"] for e in after] == [{"n": 11}]
    await store.revocations.revoke("jti-1", time.time() + 60)
    await store.revocations.revoke("jti-old", time.time() - 1)
    assert list(await store.revocations.load()) == ["jti-1"]
    await store.close()


async def test_the_webhook_queue_delivers_in_order_once_and_keeps_failures(postgres_url):
    store = PostgresStore(StoreSettings(url=postgres_url))
    close_after_test(store.close)
    await store.start()
    queue = store.webhooks
    await queue.enqueue([("a", "1", b"one"), ("a", "2", b"two"), ("b", "1", b"uno")], cursor="2")
    await queue.enqueue([("a", "2", b"two again")], cursor="3")  # already queued: not twice
    assert await queue.cursor() == "3"
    assert await queue.queued("a", 10) == ["1", "2"]
    first, second = await queue.next("a", 2)
    await queue.attempted("a", first, 502, "bad gateway", next_at=time.time() + 1)
    (retried,) = await queue.next("a")
    assert (retried.attempts, retried.last_error) == (1, "bad gateway")
    await queue.delivered("a", retried, 200)
    await queue.give_up("a", second, None, "timed out")
    await queue.forget("b", ["1"])
    status = await queue.status("a")
    assert status["backlog"] == 0 and status["last_error"] == "timed out"
    assert [(f["event_id"], f["attempts"]) for f in status["failures"]] == [("2", 1)]
    assert await queue.positions() == {"a": "2"}
    assert (await queue.status("b"))["backlog"] == 0
    await store.close()


async def test_a_store_started_while_postgres_is_away_starts_once_it_is_back(tmp_path):
    database = PostgresProcess().start()
    try:
        url = database.create_database()
        database.stop()
        store = PostgresStore(StoreSettings(url=url))
        close_after_test(store.close)
        store.database.timeout = 1.0  # how long a start waits for the database (5 s)
        with pytest.raises(Exception, match="couldn't get a connection"):
            await store.start()  # the server then answers 503 and tries again on requests
        database.start()

        async def started() -> bool:  # as the server does: once per request, until it works
            try:
                await store.start()
            except Exception:
                return False
            return True

        await wait_for(started, timeout=20, interval=0.1)
        assert await store.health() == ""
        database.stop()
        assert "PostgreSQL does not answer" in await store.health()
        database.start()
        await wait_for(lambda: _healthy(store), timeout=20, interval=0.1)
        await store.close()
    finally:
        database.remove()


async def _healthy(store: PostgresStore) -> bool:
    return await store.health() == ""


@pytest.fixture
def omniforge_config(request: pytest.FixtureRequest) -> dict:
    """The in-process server of this module's server stories keeps everything in PostgreSQL."""
    if "server_url" not in request.fixturenames:
        return {}
    return {"store_url": request.getfixturevalue("postgres_url")}


async def test_a_server_on_postgres_serves_rooms_events_versions_and_the_audit(
    server_url, token, omniforge, postgres_url
):
    assert isinstance(omniforge.store, PostgresStore)
    doc = Doc()
    async with connect_room(server_url, "idea:pg", doc, token=token):
        doc.get("code", type=Text).insert(0, "in postgres")
        await wait_for(
            lambda: (
                omniforge.room_manager.get("idea:pg")
                and str(omniforge.room_manager.get("idea:pg").doc.get("code", type=Text))
            )
        )
    status, version = await fetch_json(
        f"{server_url}omniforge/api/rooms/idea:pg/versions",
        method="POST",
        token=token,
        body={"label": "first draft"},
    )
    assert status == 201, version
    for step in range(3):
        await fetch_json(
            server_url + "omniforge/api/events",
            method="POST",
            token=token,
            body={
                "channel": "build:7",
                "type": "build.progress",
                "data": {"percent": step, "message": "compiling"},
            },
        )
    _, page = await fetch_json(server_url + "omniforge/api/events?channel=build:*", token=token)
    assert [e["data"]["percent"] for e in page["events"]] == [0, 1, 2]
    _, later = await fetch_json(
        server_url + f"omniforge/api/events?channel=build:7&after={page['events'][0]['id']}",
        token=token,
    )
    assert [e["data"]["percent"] for e in later["events"]] == [1, 2]
    _, audit = await fetch_json(server_url + "omniforge/api/audit?room=idea:pg", token=token)
    assert "connection.opened" in {e["action"] for e in audit["entries"]}
    # All of it is in the database, where another instance would read it.
    await omniforge.store.rooms.flush()
    assert query(postgres_url, "SELECT count(*) FROM room_versions WHERE label = 'first draft'")
    assert query(postgres_url, "SELECT count(*) FROM events")[0][0] >= 3
    stored = "SELECT room FROM room_updates UNION SELECT room FROM room_snapshots"
    assert ("idea:pg",) in query(postgres_url, stored)


def _typed(text: str) -> bytes:
    doc = Doc()
    doc.get("code", type=Text).insert(0, text)
    return doc.get_update()


def _text_of(updates: list[bytes]) -> str:
    doc = Doc()
    for update in updates:
        doc.apply_update(update)
    return str(doc.get("code", type=Text))


async def test_rooms_persisted_together_each_commit_only_over_their_own_marker(any_store):
    """An instance persists the rooms falling due together in one go. Each room still commits
    only if its marker is the one it read: the room another instance persisted meanwhile is
    left out, untouched, while the others commit, as if each had been persisted alone."""
    from jupyter_omniforge.store.base import Persist

    store = any_store
    await store.start()
    close_after_test(store.close)
    rooms = store.rooms
    a1, a2, a3, b0, b1 = (_typed(t) for t in ("a1", "a2", "a3", "b0", "b1"))
    # Another instance persisted room b first.
    assert await rooms.persist("b", [(b0, "ann")], "b:1", expected=None)

    results = await rooms.persist_many(
        [
            Persist("a", [(a1, "ann"), (a2, "bob")], "a:2", None),
            Persist("b", [(b1, "bob")], "b:2", None),  # read before b was persisted: stale
            Persist("c", [], "c:0", None),  # nothing new: only the marker moves
            Persist("a", [(a3, "")], "a:3", "a:2"),  # a again, after its first persist
        ]
    )

    assert results == [True, False, True, True]
    assert await rooms.persisted_markers(["a", "b", "c", "d"]) == {
        "a": "a:3",
        "b": "b:1",
        "c": "c:0",
        "d": None,
    }
    assert await rooms.load_authored("a") == [(a1, "ann"), (a2, "bob"), (a3, "")]
    assert await rooms.load_authored("b") == [(b0, "ann")]
    assert await rooms.load("c") == []


async def test_a_room_whose_rows_postgresql_refuses_fails_alone_among_those_persisted_together(
    postgres_url, caplog
):
    """PostgreSQL refuses a NUL in text. A room whose row holds one (the Redis entries are
    checked before, so this is the last line of defence) fails, with the reason; the rooms
    persisted in the same batch commit all the same."""
    from jupyter_omniforge.store.base import Persist

    store = PostgresStore(StoreSettings(url=postgres_url))
    close_after_test(store.close)
    await store.start()
    update = _typed("x")

    results = await store.rooms.persist_many(
        [
            Persist("good", [(update, "ann")], "g:1", None),
            Persist("bad", [(update, "a\x00b")], "bad:1", None),
            Persist("also", [(update, "")], "also:1", None),
        ]
    )

    assert results[0] is True and results[2] is True
    assert isinstance(results[1], psycopg.DataError), results[1]
    assert await store.rooms.persisted_markers(["good", "bad", "also"]) == {
        "good": "g:1",
        "bad": None,
        "also": "also:1",
    }
    assert await store.rooms.load("bad") == []
    assert await store.rooms.load_authored("good") == [(update, "ann")]
    assert "persisting them one by one" in caplog.text


async def test_rooms_falling_due_together_reach_postgresql_in_a_few_batches_each_once(
    postgres_url, tmp_path
):
    """Forty rooms edited in the same instant fall due together: the lease holder persists
    them in a few transactions, not forty. A room whose stream holds a malformed entry beside
    its good one is persisted too (the entry skipped and counted), and holds up no other room.
    Every update is in PostgreSQL exactly once."""
    from jupyter_omniforge.backplane.redis import RedisBackplane

    from .cluster import RedisProcess
    from .test_shared_store import NoRoomsOpen

    redis = RedisProcess(tmp_path / "redis").start()
    store = PostgresStore(StoreSettings(url=postgres_url))
    close_after_test(store.close)
    await store.start()
    backplane = RedisBackplane(redis.url, instance_id="solo", compact_idle=30, trim_grace=0)
    backplane.use_shared_store(store.rooms, ttl=3600, persist_interval=0.5)
    backplane.attach(NoRoomsOpen())
    await backplane.start()
    try:
        rooms = [f"idea:batch{i}" for i in range(40)]
        # An entry without an update in one room's stream, before its good one.
        await backplane.connection.redis.sadd("omniforge:room:{idea:batch7}:writers", "solo")
        await backplane.connection.redis.xadd(
            "omniforge:room:{idea:batch7}:log:solo", {"x": "no update"}
        )
        for room in rooms:
            backplane.publish_update(room, _typed(f"in {room}"))
        await backplane.outbox.drained(10)

        async def all_persisted():
            markers = await store.rooms.persisted_markers(rooms)
            return all(marker is not None for marker in markers.values())

        await wait_for(all_persisted, timeout=30, interval=0.1)
        for room in rooms:
            assert _text_of(await store.rooms.load(room)) == f"in {room}"
        with psycopg.connect(postgres_url) as conn:
            counts = dict(
                conn.execute("SELECT room, count(*) FROM room_updates GROUP BY room").fetchall()
            )
        assert counts == dict.fromkeys(rooms, 1)
        assert backplane.persister.persisted_updates == 40
        assert backplane.persister.batches <= 10
        assert backplane.malformed()["room_updates"] >= 1
        assert backplane.persister.problem == ""
    finally:
        await backplane.close()
        redis.stop()
