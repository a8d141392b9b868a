"""Stories about the embedded room store: what is appended is kept, quickly and compactly."""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path

import pytest
from pycrdt import Doc, Text

from jupyter_omniforge.store import (
    Database,
    RoomStore,
    SQLiteRoomStore,
    StoreClosedError,
    StoreWriteError,
)

from .conftest import wait_for


class Author:
    """A user typing into a shared text; every keystroke produces one Yjs update."""

    def __init__(self) -> None:
        self.doc = Doc()
        self.text = self.doc.get("text", type=Text)
        self.updates: list[bytes] = []
        self.doc.observe(lambda event: self.updates.append(event.update))

    def type(self, *chunks: str) -> list[bytes]:
        start = len(self.updates)
        for chunk in chunks:
            self.text += chunk
        return self.updates[start:]


def rebuild(updates: list[bytes]) -> str:
    doc = Doc()
    for update in updates:
        doc.apply_update(update)
    return str(doc.get("text", type=Text))


@asynccontextmanager
async def open_store(path: Path, **options: object) -> AsyncIterator[SQLiteRoomStore]:
    store = SQLiteRoomStore(Database(path), **options)
    await store.start()
    try:
        yield store
    finally:
        await store.close()


def rows_on_disk(path: Path, room: str) -> int:
    """Count committed log rows through a separate, plain connection, as another process would."""
    with closing(sqlite3.connect(path)) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM room_updates WHERE room = ?", (room,)
        ).fetchone()
    return count


class Engine:
    """A room store engine for the stories every engine must tell alike: ``open()`` a store on
    the same data (again after a restart), ``rows()`` counts committed rows from outside."""

    def __init__(self, name: str, path: Path, url: str = "") -> None:
        self.name, self.path, self.url = name, path, url

    @asynccontextmanager
    async def open(self, **options: object) -> AsyncIterator[RoomStore]:
        if self.name == "sqlite":
            async with open_store(self.path, **options) as store:
                yield store
            return
        from jupyter_omniforge.store.postgres import Database as Pool
        from jupyter_omniforge.store.postgres import PostgresRoomStore
        from jupyter_omniforge.store.postgres.migrations import migrate

        pool = Pool(self.url)
        await pool.start()
        try:
            await migrate(pool)
            store = PostgresRoomStore(pool, **options)
            await store.start()
            try:
                yield store
            finally:
                await store.close()
        finally:
            await pool.close()

    def query(self, sql: str, *params: object) -> list[tuple]:
        """Rows of ``sql`` (``?`` placeholders) read through a separate plain connection."""
        if self.name == "sqlite":
            with closing(sqlite3.connect(self.path)) as conn:
                return conn.execute(sql, params).fetchall()
        import psycopg

        with psycopg.connect(self.url) as conn:
            return conn.execute(sql.replace("?", "%s"), params).fetchall()

    def rows(self, room: str) -> int:
        return self.query("SELECT count(*) FROM room_updates WHERE room = ?", room)[0][0]


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, db_path: Path) -> Engine:
    if request.param == "postgres":
        return Engine("postgres", db_path, request.getfixturevalue("postgres_url"))
    return Engine("sqlite", db_path)


async def test_appended_updates_survive_a_restart(engine: Engine) -> None:
    author = Author()
    async with engine.open() as store:
        for update in author.type("Hello", ", ", "world", "!"):
            store.append("notes.md", update)

    async with engine.open() as store:
        assert await store.stored_rooms() == ["notes.md"]
        assert rebuild(await store.load("notes.md")) == "Hello, world!"


async def test_close_commits_what_is_still_queued(engine: Engine) -> None:
    author = Author()
    async with engine.open(commit_interval=60) as store:
        for update in author.type("queued ", "but ", "kept"):
            store.append("room", update)
        assert (await store.stats("room"))["pending_updates"] == 3
        await store.close()
        await store.close()  # idempotent
        with pytest.raises(StoreClosedError):
            store.append("room", b"too late")

    async with engine.open() as store:
        assert rebuild(await store.load("room")) == "queued but kept"


async def test_load_includes_appends_not_yet_committed(engine: Engine) -> None:
    author = Author()
    async with engine.open(commit_interval=60) as store:
        for update in author.type("just ", "typed"):
            store.append("fresh", update)
        assert rebuild(await store.load("fresh")) == "just typed"


async def test_a_burst_of_appends_is_group_committed(engine: Engine) -> None:
    author = Author()
    updates = author.type(*(f"{i % 10}" for i in range(1000)))

    async with engine.open() as store:
        for update in updates:
            store.append("burst", update)
        last_append = time.perf_counter()
        # Nobody calls flush(): the background group commit alone must get it on disk.
        await wait_for(lambda: engine.rows("burst") == 1000, timeout=1.0, interval=0.002)
        on_disk_after = time.perf_counter() - last_append
        print(
            f"1000 appends on disk {on_disk_after * 1000:.1f} ms after the last one, "
            f"in {store.commits} commit(s)"
        )
        assert on_disk_after < 1.0
        assert store.commits <= 10
        assert rebuild(await store.load("burst")) == str(author.text)


async def test_relaxed_appends_wait_for_company_and_plain_ones_ship_them(engine: Engine) -> None:
    """Updates already durable elsewhere (from another instance) are committed in batches."""
    author = Author()
    remote = author.type("a", "b", "c")
    local = author.type("d")

    async with engine.open(relaxed_commit_interval=0.5) as store:
        for update in remote:
            store.append("room", update, relaxed=True)
            await asyncio.sleep(0.02)
        assert engine.rows("room") == 0, "relaxed appends were committed at once"
        assert store.commits == 0
        store.append("room", local[0])  # a plain append: everything ships within its window
        # (the counter moves once the commit returns, a moment after the rows are visible)
        await wait_for(
            lambda: engine.rows("room") == 4 and store.commits >= 1,
            timeout=2,
            interval=0.002,
        )
        assert store.commits == 1
        store.append("room", author.type("e")[0], relaxed=True)
        await wait_for(lambda: engine.rows("room") == 5, timeout=2, interval=0.01)
        assert rebuild(await store.load("room")) == str(author.text)


KILLED_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pycrdt import Doc, Text
    from jupyter_omniforge.store import Database, SQLiteRoomStore

    async def main(path, count):
        store = SQLiteRoomStore(Database(path), compact_idle=3600)
        await store.start()
        doc = Doc()
        text = doc.get("text", type=Text)
        doc.observe(lambda event: store.append("doc", event.update))
        for i in range(count):
            text += f"{i},"
        # No flush(): wait for the background group commit, as a server would.
        while (await store.stats("doc"))["pending_updates"]:
            await asyncio.sleep(0.001)
        print("ready", flush=True)
        await asyncio.sleep(60)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def test_committed_updates_survive_kill_9(db_path: Path) -> None:
    count = 500
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KILLED_WRITER, str(db_path), str(count), stdout=subprocess.PIPE
    )
    try:
        assert await asyncio.wait_for(writer.stdout.readline(), timeout=20) == b"ready\n"
    finally:
        writer.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(writer.wait(), timeout=10) == -signal.SIGKILL

    async with open_store(db_path) as store:
        updates = await store.load("doc")
        assert len(updates) == count
        assert rebuild(updates) == "".join(f"{i}," for i in range(count))


async def test_a_failed_commit_keeps_the_updates_and_is_retried(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    author = Author()
    database = Database(db_path)
    store = SQLiteRoomStore(database, commit_interval=60)
    await store.start()
    # The disk "fills up": every insert into the log fails until the trigger is dropped.
    await database.migrate(
        "CREATE TRIGGER disk_full BEFORE INSERT ON room_updates "
        "BEGIN SELECT RAISE(ABORT, 'disk full'); END;"
    )
    for update in author.type("not ", "lost"):
        store.append("room", update)
    with caplog.at_level(logging.ERROR), pytest.raises(StoreWriteError):
        await store.flush()
    assert "Could not commit 2 room updates" in caplog.text
    assert (await store.stats("room"))["pending_updates"] == 2

    await database.migrate("DROP TRIGGER disk_full;")
    await store.flush()
    assert rebuild(await store.load("room")) == "not lost"
    await store.close()


async def test_a_room_is_compacted_once_it_has_enough_updates(engine: Engine) -> None:
    author = Author()
    async with engine.open(compact_max_updates=50, compact_idle=3600) as store:
        for update in author.type(*("x" * 49)):
            store.append("busy", update)
        await store.flush()
        assert (await store.stats("busy"))["log_updates"] == 49
        assert store.compactions == 0

        for update in author.type(*("y" * 70)):
            store.append("busy", update)
        await wait_for(lambda: store.compactions >= 1, timeout=2)
        assert store.compactions == 1

        stats = await store.stats("busy")
        assert stats["log_updates"] == 0
        assert stats["snapshot_bytes"] > 0
        snapshot = await store.load("busy")
        assert len(snapshot) == 1
        assert rebuild(snapshot) == "x" * 49 + "y" * 70


async def test_a_room_is_compacted_when_nobody_edits_it(engine: Engine) -> None:
    author = Author()
    async with engine.open(compact_idle=0.1) as store:
        for update in author.type("draft", " one"):
            store.append("quiet", update)
        assert store.compactions == 0

        await wait_for(lambda: store.compactions == 1, timeout=2)
        assert (await store.stats("quiet"))["log_updates"] == 0
        snapshot = await store.load("quiet")
        assert len(snapshot) == 1
        assert rebuild(snapshot) == "draft one"


async def test_appends_racing_with_a_compaction_are_kept(db_path: Path) -> None:
    author = Author()
    database = Database(db_path)
    store = SQLiteRoomStore(database, compact_idle=3600)
    await store.start()
    for update in author.type(*("a" * 30)):
        store.append("race", update)
    await store.flush()

    # Hold the DB thread so the jobs line up behind it: the compaction, then new appends.
    gate = threading.Event()
    blocker = asyncio.ensure_future(database.run(lambda conn: gate.wait(5)))
    await wait_for(lambda: database.pending_jobs == 1, timeout=2)
    compaction = asyncio.ensure_future(store.compact("race"))
    await wait_for(lambda: database.pending_jobs == 2, timeout=2)
    for update in author.type(*("b" * 20)):
        store.append("race", update)
    flushed = asyncio.ensure_future(store.flush())
    await wait_for(lambda: database.pending_jobs == 3, timeout=2)

    gate.set()
    await asyncio.gather(blocker, compaction, flushed)

    assert store.compactions == 1
    assert (await store.stats("race"))["log_updates"] == 20
    assert rebuild(await store.load("race")) == "a" * 30 + "b" * 20
    await store.close()


async def test_a_corrupt_update_is_quarantined_and_the_rest_is_folded(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    author = Author()
    async with engine.open(compact_idle=3600) as store:
        for update in author.type("safe "):
            store.append("damaged", update)
        await store.compact("damaged")
        for update in author.type("and ", "sound"):
            store.append("damaged", update)
        store.append("damaged", b"\x07 not a yjs update")
        for update in author.type("!"):
            store.append("damaged", update)

        with caplog.at_level(logging.ERROR):
            await store.compact("damaged")

        assert store.compaction_failures == 0 and store.compactions == 2
        assert store.quarantined == 1
        assert "Quarantined 1 stored update(s) of room 'damaged'" in caplog.text
        after = await store.load("damaged")
        assert len(after) == 1  # one snapshot, without the corrupt row
        assert rebuild(after) == "safe and sound!"
    # The corrupt row is kept aside, with why, for whoever investigates.
    rows = engine.query("SELECT room, data, reason FROM room_quarantine")
    assert len(rows) == 1
    room, data, reason = rows[0]
    assert (room, bytes(data)) == ("damaged", b"\x07 not a yjs update") and reason


async def test_an_update_that_arrives_before_its_dependency_survives_compaction(
    engine: Engine,
) -> None:
    author = Author()
    first, second, third = author.type("one ", "two ", "three")
    async with engine.open() as store:
        # A relay delivered "three" before "two": a document cannot integrate it yet.
        store.append("out-of-order", first)
        store.append("out-of-order", third)
        await store.compact("out-of-order")
        assert store.compactions == 1
        store.append("out-of-order", second)
        assert rebuild(await store.load("out-of-order")) == "one two three"


async def test_deleting_a_room_forgets_it_including_queued_appends(engine: Engine) -> None:
    author = Author()
    async with engine.open(commit_interval=60) as store:
        assert await store.load("never-seen") == []
        for update in author.type("committed "):
            store.append("doomed", update)
        await store.flush()
        for update in author.type("queued"):
            store.append("doomed", update)
        store.append("kept", author.updates[0])
        assert (await store.stats("doomed"))["pending_updates"] == 1

        await store.delete("doomed")

        assert await store.load("doomed") == []
        assert await store.stored_rooms() == ["kept"]
        assert await store.stats("doomed") == {
            "log_updates": 0,
            "log_bytes": 0,
            "snapshot_bytes": 0,
            "pending_updates": 0,
        }

    async with engine.open() as store:
        assert await store.stored_rooms() == ["kept"]
        assert await store.load("doomed") == []


async def test_a_room_deleted_while_its_updates_are_being_written_stays_deleted(
    db_path: Path,
) -> None:
    author = Author()
    database = Database(db_path)
    store = SQLiteRoomStore(database, commit_interval=60)
    await store.start()

    gate = threading.Event()
    blocker = asyncio.ensure_future(database.run(lambda conn: gate.wait(5)))
    for update in author.type("going", " away"):
        store.append("doomed", update)
    store.append("kept", author.updates[0])
    flushed = asyncio.ensure_future(store.flush())
    await wait_for(lambda: database.pending_jobs == 2, timeout=2)  # the batch is in flight
    deleted = asyncio.ensure_future(store.delete("doomed"))
    await wait_for(lambda: database.pending_jobs == 3, timeout=2)

    gate.set()
    await asyncio.gather(blocker, flushed, deleted)

    assert await store.load("doomed") == []
    assert await store.stored_rooms() == ["kept"]
    await store.close()


async def test_a_failed_database_job_changes_nothing(db_path: Path) -> None:
    database = Database(db_path)
    await database.start()
    await database.migrate("CREATE TABLE IF NOT EXISTS events (name TEXT NOT NULL);")

    def insert_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO events VALUES ('half-done')")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await database.run(insert_then_fail)
    with pytest.raises(sqlite3.OperationalError):
        await database.migrate("CREATE TABLE other (x); INSERT INTO nowhere VALUES (1);")

    def contents(conn: sqlite3.Connection) -> tuple[int, list[str]]:
        (rows,) = conn.execute("SELECT count(*) FROM events").fetchone()
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return rows, [name for (name,) in tables]

    assert await database.run(contents) == (0, ["events"])
    await database.close()


async def test_each_logged_update_is_loaded_with_its_author(engine: Engine) -> None:
    author = Author()
    async with engine.open(compact_idle=3600) as store:
        for update, who in zip(author.type("ann ", "bob"), ("ann", "bob"), strict=True):
            store.append("authored", update, author=who)
        loaded = await store.load_authored("authored")
        assert [who for _, who in loaded] == ["ann", "bob"]
        assert rebuild([update for update, _ in loaded]) == "ann bob"
        await store.compact("authored")
        store.append("authored", author.type("!")[0], author="carl")
        # The snapshot folds authors away (the version history keeps who wrote what).
        assert [who for _, who in await store.load_authored("authored")] == ["", "carl"]
