"""Redis in front of a shared store: two real servers share one store (an SQLite file, which
WAL lets two processes open) and one real redis-server. Redis carries the live updates; each
room's lease holder persists them into the store once and trims them; idle rooms leave Redis.
The faults: Redis flushed, an instance killed mid-persist, the store unavailable."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

import pytest
import redis.asyncio as aioredis
from pycrdt import Doc, Text

from jupyter_omniforge.client import connect_room
from jupyter_omniforge.client.errors import EditsNotConfirmed

from .cluster import RedisProcess
from .conftest import fetch_json, wait_for

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def redis_server(tmp_path):
    server = RedisProcess(tmp_path / "redis").start()
    yield server
    server.stop()


class SQLiteFile:
    """The shared store as one SQLite file several server processes open (WAL), read here
    straight from the file."""

    name = "sqlite-file"

    def __init__(self, path) -> None:
        self.path = path

    def options(self) -> list[str]:
        return ["--OmniForgeApp.sqlite_shared=True"]

    def query(self, sql: str, *params) -> list[tuple]:
        with contextlib.closing(sqlite3.connect(self.path, timeout=30)) as conn:
            return conn.execute(sql.replace("%s", "?"), params).fetchall()

    def script(self, sql: str) -> None:
        with contextlib.closing(sqlite3.connect(self.path, timeout=30)) as conn:
            conn.executescript(sql)

    def record_inserted_rows(self) -> None:
        self.script(
            """
            CREATE TABLE IF NOT EXISTS inserted_rows (room TEXT, data BLOB);
            CREATE TRIGGER IF NOT EXISTS record_inserted AFTER INSERT ON room_updates
            BEGIN INSERT INTO inserted_rows VALUES (new.room, new.data); END;
            """
        )


class PostgreSQL(SQLiteFile):
    """The shared store as a PostgreSQL database (tests/postgres.py starts the server)."""

    name = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url

    def options(self) -> list[str]:
        return [f"--OmniForgeApp.store_url={self.url}"]

    def query(self, sql: str, *params) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url) as conn:
            return [
                tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                for row in conn.execute(sql, params).fetchall()
            ]

    def script(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url) as conn:
            conn.execute(sql)

    def record_inserted_rows(self) -> None:
        self.script(
            """
            CREATE TABLE IF NOT EXISTS inserted_rows (room TEXT, data BYTEA);
            CREATE OR REPLACE FUNCTION record_inserted() RETURNS trigger AS $$
            BEGIN INSERT INTO inserted_rows VALUES (NEW.room, NEW.data); RETURN NEW; END
            $$ LANGUAGE plpgsql;
            CREATE TRIGGER record_inserted AFTER INSERT ON room_updates
            FOR EACH ROW EXECUTE FUNCTION record_inserted();
            """
        )


@pytest.fixture(params=["sqlite-file", "postgresql"])
def store(request, tmp_path):
    if request.param == "postgresql":
        return PostgreSQL(request.getfixturevalue("postgres_url"))
    return SQLiteFile(tmp_path / "shared" / "omniforge.sqlite")


@pytest.fixture
def sqlite_store(tmp_path):
    return SQLiteFile(tmp_path / "shared" / "omniforge.sqlite")


def cluster(server_process, redis_server, store):
    """Start ``n`` instances sharing ``redis_server`` and ``store``."""

    async def start(n: int = 2, *extra: str):
        if not any("compact_idle" in option for option in extra):
            extra = (*extra, "--OmniForgeApp.compact_idle=0.3")
        servers = [
            server_process(
                [
                    f"--OmniForgeApp.redis_url={redis_server.url}",
                    *store.options(),
                    "--OmniForgeApp.room_idle_timeout=1",
                    *extra,
                ],
                db=store.path
                if isinstance(store, SQLiteFile) and store.name == "sqlite-file"
                else None,
            )
            for _ in range(n)
        ]
        for server in servers[1:]:
            server.token = servers[0].token
        await asyncio.gather(*(s.start() for s in servers))
        return servers

    return start


@pytest.fixture
def shared(server_process, redis_server, store):
    return cluster(server_process, redis_server, store)


@pytest.fixture
def shared_sqlite(server_process, redis_server, sqlite_store):
    return cluster(server_process, redis_server, sqlite_store)


def text(doc: Doc) -> str:
    return str(doc.get("code", type=Text))


def insert(doc: Doc, value: str) -> None:
    doc.get("code", type=Text).insert(len(text(doc)), value)


def stored(store, room: str) -> tuple[str | None, list[bytes]]:
    """The room's persisted marker and its logged rows, read straight from the store."""
    marker = store.query("SELECT marker FROM room_persisted WHERE room = %s", room)
    rows = [r[0] for r in store.query("SELECT data FROM room_updates WHERE room = %s", room)]
    return (marker[0][0] if marker else None), rows


def stored_text(store, room: str) -> str:
    """The room's document as the store holds it (snapshot and log folded)."""
    doc = Doc()
    for (data,) in store.query("SELECT data FROM room_snapshots WHERE room = %s", room):
        doc.apply_update(data)
    for (data,) in store.query("SELECT data FROM room_updates WHERE room = %s ORDER BY seq", room):
        doc.apply_update(data)
    return text(doc)


async def room_keys(redis_url: str, room: str) -> list[bytes]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        return [key async for key in client.scan_iter(match=f"*{{{room}}}*")]
    finally:
        await client.aclose()


async def stream_entries(redis_url: str, room: str) -> list[bytes]:
    """The updates of every writer's stream of ``room`` in Redis."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        found = []
        for key in await room_keys(redis_url, room):
            if await client.type(key) == b"stream":
                found += [fields[b"u"] for _, fields in await client.xrange(key)]
        return found
    finally:
        await client.aclose()


@pytest.mark.slow
async def test_the_lease_holder_persists_once_and_an_idle_room_leaves_redis(
    shared_sqlite, redis_server, sqlite_store
):
    # (With PostgreSQL: the kill -9 and restart stories below.)
    shared, store = shared_sqlite, sqlite_store
    a, b = await shared(2, "--OmniForgeApp.redis_room_ttl=2", "--OmniForgeApp.compact_idle=1.5")
    doc_a, doc_b = Doc(), Doc()
    async with (
        connect_room(a.url, "idea:p", doc_a, token=a.token),
        connect_room(b.url, "idea:p", doc_b, token=b.token),
    ):
        for i in range(10):
            insert(doc_a if i % 2 else doc_b, f"<{i}>")
            await asyncio.sleep(0.01)
        await wait_for(lambda: text(doc_a) == text(doc_b) and len(text(doc_a)) == 30)
        expected = text(doc_a)
        await asyncio.sleep(0.3)  # the last entries reach Redis

        entries = await stream_entries(redis_server.url, "idea:p")
        assert len(entries) >= 10

        # Persisted into the shared file (before the store folds its log), each stream entry
        # exactly once: one row per entry, in the order of each writer's stream.
        def persisted():
            marker, rows = stored(store, "idea:p")
            return marker and len(rows) >= len(entries) and rows

        rows = await wait_for(persisted, timeout=20, interval=0.05)
        assert sorted(rows) == sorted(entries)
        assert stored_text(store, "idea:p") == expected
        # Every key of the room carries its hash tag.
        keys = await room_keys(redis_server.url, "idea:p")
        assert keys and all(b"{idea:p}" in key for key in keys)

    # Nobody has it open, nothing new for redis_room_ttl: it leaves Redis entirely.
    left: list[bytes] = []

    async def gone():
        # Leases (the fold's, the history's) expire by themselves within seconds.
        keys = await room_keys(redis_server.url, "idea:p")
        left[:] = [key for key in keys if b":lease" not in key]
        return not left

    try:
        await wait_for(gone, timeout=30, interval=0.3)
    except AssertionError:
        raise AssertionError(f"keys of the room left in Redis: {left}") from None
    # And comes back from the store, on either instance.
    for server in (a, b):
        late = Doc()
        async with connect_room(server.url, "idea:p", late, token=server.token):
            await wait_for(lambda late=late: text(late) == expected)
    _, rows_after = stored(store, "idea:p")
    assert sorted(rows_after) == sorted(rows) or len(rows_after) <= len(rows)
    # The instances report no trouble.
    for server in (a, b):
        code, _ = await fetch_json(server.url + "omniforge/health/ready", raise_error=False)
        assert code == 200


async def flushall(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.flushall()
    finally:
        await client.aclose()


async def test_redis_flushed_rooms_come_back_from_the_store_and_clients_fill_in(
    shared_sqlite, redis_server, sqlite_store
):
    store = sqlite_store
    a, b = await shared_sqlite(2)
    # A room nobody has open any more: only the store will have it after the flush.
    closed = Doc()
    async with connect_room(a.url, "idea:closed", closed, token=a.token):
        insert(closed, "kept in the store")
        await wait_for(lambda: stored_text(store, "idea:closed") == "kept in the store")
    doc_a, doc_b = Doc(), Doc()
    async with (
        connect_room(a.url, "idea:f", doc_a, token=a.token),
        connect_room(b.url, "idea:f", doc_b, token=b.token),
    ):
        insert(doc_a, "before;")
        await wait_for(lambda: text(doc_b) == "before;")
        await wait_for(lambda: stored_text(store, "idea:f") == "before;")
        await flushall(redis_server.url)
        insert(doc_a, "A-after;")
        insert(doc_b, "B-after;")
        await wait_for(lambda: text(doc_a) == text(doc_b) and len(text(doc_a)) == 23, timeout=30)
        final = text(doc_a)
        # The instances noticed the flush, published their rooms again, and the lease holder
        # persisted what the store lacked.
        await wait_for(lambda: stored_text(store, "idea:f") == final, timeout=30)
    for server in (a, b):
        late = Doc()
        async with connect_room(server.url, "idea:closed", late, token=server.token):
            await wait_for(lambda late=late: text(late) == "kept in the store")


def inserted_rows(store, room: str) -> list[bytes]:
    """Every row inserted into the room's update log, as the trigger recorded them."""
    return [r[0] for r in store.query("SELECT data FROM inserted_rows WHERE room = %s", room)]


@pytest.mark.slow
async def test_an_instance_killed_mid_persist_loses_nothing_and_persists_nothing_twice(
    shared, redis_server, store
):
    # Persist after every 2 updates an instance appends: a's lease holder is busy persisting
    # when it dies.
    a, b = await shared(2, "--OmniForgeApp.compact_max_updates=2")
    store.record_inserted_rows()
    doc_a, doc_b = Doc(), Doc()
    async with connect_room(b.url, "idea:k", doc_b, token=b.token):
        # Its last edits may die with it: the client says so when it leaves.
        with contextlib.suppress(EditsNotConfirmed):
            async with connect_room(a.url, "idea:k", doc_a, token=a.token):
                for i in range(60):
                    insert(doc_a, f"a{i};")
                    await asyncio.sleep(0.01)
                a.kill9()
        # What reached a's stream reached b; b's lease holder persists the rest, and b's own.
        for i in range(20):
            insert(doc_b, f"b{i};")
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
        final = text(doc_b)
        assert final.count("a") >= 1 and final.count("b") == 20
        await wait_for(lambda: stored_text(store, "idea:k") == final, timeout=30)
        entries = await stream_entries(redis_server.url, "idea:k")  # trim_grace keeps them

        # Every entry of every stream was inserted into the store exactly once.
        await wait_for(lambda: len(inserted_rows(store, "idea:k")) >= len(entries))
        assert sorted(inserted_rows(store, "idea:k")) == sorted(entries)


@pytest.mark.slow
async def test_the_store_unavailable_loses_nothing_and_ready_says_degraded(
    shared_sqlite, sqlite_store
):
    store = sqlite_store
    a, b = await shared_sqlite(2)
    doc_a, doc_b = Doc(), Doc()

    async def ready(server) -> int:
        code, _ = await fetch_json(server.url + "omniforge/health/ready", raise_error=False)
        return code

    async with (
        connect_room(a.url, "idea:u", doc_a, token=a.token),
        connect_room(b.url, "idea:u", doc_b, token=b.token),
    ):
        insert(doc_a, "before;")
        await wait_for(lambda: stored_text(store, "idea:u") == "before;")
        # Someone holds the store's write lock: no instance can commit.
        with contextlib.closing(sqlite3.connect(store.path, timeout=30)) as lock:
            lock.execute("BEGIN EXCLUSIVE")
            insert(doc_a, "A-during;")
            insert(doc_b, "B-during;")
            # Redis still carries the edits between the instances.
            await wait_for(lambda: text(doc_a) == text(doc_b) and len(text(doc_a)) == 25)

            async def degraded():
                return await ready(a) == 503 or await ready(b) == 503

            await wait_for(degraded, timeout=30)
            lock.execute("ROLLBACK")
        final = text(doc_a)
        await wait_for(lambda: stored_text(store, "idea:u") == final, timeout=30)

        async def recovered():
            return await ready(a) == 200 and await ready(b) == 200

        await wait_for(recovered, timeout=30)


@pytest.mark.slow
async def test_postgresql_restarted_under_redis_loses_nothing_and_ready_says_degraded(
    server_process, redis_server, postgres_server, postgres_url
):
    store = PostgreSQL(postgres_url)
    a, b = await cluster(server_process, redis_server, store)(2)
    doc_a, doc_b = Doc(), Doc()

    async def ready(server) -> int:
        code, _ = await fetch_json(server.url + "omniforge/health/ready", raise_error=False)
        return code

    async with (
        connect_room(a.url, "idea:pg", doc_a, token=a.token),
        connect_room(b.url, "idea:pg", doc_b, token=b.token),
    ):
        insert(doc_a, "before;")
        await wait_for(lambda: stored_text(store, "idea:pg") == "before;")
        postgres_server.stop("immediate")
        try:
            insert(doc_a, "A-during;")
            insert(doc_b, "B-during;")
            # Redis still carries the edits between the instances.
            await wait_for(lambda: text(doc_a) == text(doc_b) and len(text(doc_a)) == 25)

            async def degraded():
                return await ready(a) == 503 or await ready(b) == 503

            await wait_for(degraded, timeout=30)
        finally:
            postgres_server.start()
        final = text(doc_a)
        await wait_for(lambda: stored_text(store, "idea:pg") == final, timeout=30)

        async def recovered():
            return await ready(a) == 200 and await ready(b) == 200

        await wait_for(recovered, timeout=30)


def authors_stored(store, room: str) -> list[str]:
    return [a for (a,) in store.query("SELECT author FROM room_updates WHERE room = %s", room)]


@pytest.mark.slow
async def test_rows_persisted_from_redis_keep_their_authors_and_blame_names_both_after_a_kill(
    server_process, redis_server, postgres_url
):
    """Alice types on one instance, Bob on the other; the lease holder persists both instances'
    streams into PostgreSQL with who sent each update. Both instances are killed before any
    version was taken: the instance started afterwards credits each of them from the rows."""
    from .test_history import api, mint, name

    store = PostgreSQL(postgres_url)
    start = cluster(server_process, redis_server, store)
    never = "--OmniForgeApp.history_checkpoint_idle=3600"  # no automatic version meanwhile
    a, b = await start(2, never)
    alice = await mint(a.url, a.token, "alice", ["read", "write"])
    bob = await mint(a.url, a.token, "bob", ["read", "write"])
    doc_a, doc_b = Doc(), Doc()
    with contextlib.suppress(EditsNotConfirmed):
        async with (
            connect_room(a.url, "idea:who", doc_a, token=alice),
            connect_room(b.url, "idea:who", doc_b, token=bob),
        ):
            insert(doc_a, "Alice on a. ")
            await wait_for(lambda: text(doc_b) == "Alice on a. ")
            insert(doc_b, "Bob on b.")
            await wait_for(lambda: text(doc_a) == "Alice on a. Bob on b.")
            await wait_for(lambda: stored_text(store, "idea:who") == text(doc_a), timeout=20)
            await wait_for(lambda: {"alice", "bob"} <= set(authors_stored(store, "idea:who")))
            assert not store.query("SELECT id FROM room_versions WHERE room = %s", "idea:who")
            a.kill9()
            b.kill9()
    (c,) = await start(1, never)
    doc_c = Doc()
    async with connect_room(c.url, "idea:who", doc_c, token=c.token):
        await wait_for(lambda: text(doc_c) == "Alice on a. Bob on b.")
        _, blame = await fetch_json(api(c.url, "idea:who", "/blame?root=code"), token=c.token)
        assert [(r["start"], r["end"], r["author"]) for r in blame["ranges"]] == [
            (0, 12, "alice"),
            (12, 21, "bob"),
        ]
        version = await name(c.url, c.token, "idea:who", "after the kill")
        assert {"alice", "bob"} <= {author["username"] for author in version["authors"]}


async def test_hostile_authors_in_redis_are_counted_and_the_rows_persist_without_them(
    tmp_path, postgres_url
):
    """An entry's author is untrusted: one that is not UTF-8, holds a NUL (which PostgreSQL's
    text refuses) or a control character, or is too long, is counted; its update is persisted
    with no author, the sound author beside it is kept, and the store keeps taking updates."""
    from jupyter_omniforge.backplane.redis import RedisBackplane
    from jupyter_omniforge.store.base import StoreSettings
    from jupyter_omniforge.store.postgres import PostgresStore

    redis = RedisProcess(tmp_path / "redis").start()
    pg = PostgresStore(StoreSettings(url=postgres_url))
    await pg.start()
    backplane = RedisBackplane(redis.url, instance_id="solo", compact_idle=0.2, trim_grace=0)
    backplane.use_shared_store(pg.rooms, ttl=0.5)
    backplane.attach(NoRoomsOpen())
    client = aioredis.Redis.from_url(redis.url)
    hostile = [b"\xff\xfe", b"nul\x00here", b"bell\x07", b"x" * 5000]
    try:
        await client.sadd("omniforge:room:{idea:auth}:writers", "mallory")
        for i, author in enumerate([*hostile, b"carol", "zoë".encode()]):
            doc = Doc()
            doc.get("code", type=Text).insert(0, f"<{i}>")
            await client.xadd(
                "omniforge:room:{idea:auth}:log:mallory", {"u": doc.get_update(), "a": author}
            )
        await backplane.start()
        doc = Doc()
        doc.get("code", type=Text).insert(0, "<good>")
        backplane.publish_authored_update("idea:auth", doc.get_update(), "dave")
        await backplane.outbox.drained(10)
        store = PostgreSQL(postgres_url)

        def persisted():
            return len(authors_stored(store, "idea:auth")) == 7

        await wait_for(persisted, timeout=30, interval=0.1)
        assert sorted(authors_stored(store, "idea:auth")) == [*[""] * 4, "carol", "dave", "zoë"]
        assert backplane.malformed()["room_updates"] >= 4
        assert backplane.persister.problem == ""
    finally:
        await client.aclose()
        await backplane.close()
        await pg.close()
        redis.stop()


class NoRoomsOpen:
    """The receiving end of a backplane with no room open in this process."""

    rooms: dict = {}

    def apply_remote_update(self, room, update):
        return True

    def apply_remote_awareness(self, room, instance, update):
        return True

    def forget_remote_instance(self, instance):
        pass

    def expire_remote_awareness(self, older_than):
        pass

    def remote_instances(self):
        return set()

    def local_awareness(self, room):
        return None

    def sync_remote_state(self, room, shared):
        return None


async def test_each_script_and_multi_key_command_stays_in_one_cluster_slot(tmp_path, caplog):
    """A Redis Cluster of one node refuses (CROSSSLOT) a command or script whose declared keys
    lie in different slots: rooms written, persisted, trimmed and expired there, a room opened
    and followed, leases held and saved, all pass through without one refusal."""
    import logging

    from jupyter_omniforge.backplane.redis import RedisBackplane
    from jupyter_omniforge.store.base import StoreSettings
    from jupyter_omniforge.store.sqlite import SQLiteStore

    redis = RedisProcess(tmp_path / "cluster", cluster=True).start()
    store = SQLiteStore(StoreSettings(path=str(tmp_path / "store.sqlite"), shared=True))
    await store.start()
    backplane = RedisBackplane(
        redis.url, instance_id="solo", compact_idle=0.2, trim_grace=0, heartbeat_interval=0.2
    )
    backplane.use_shared_store(store.rooms, ttl=0.5)
    backplane.attach(NoRoomsOpen())
    caplog.set_level(logging.INFO)
    await backplane.start()
    try:
        rooms = [f"idea:slot{i}" for i in range(3)]
        for room in rooms:
            doc = Doc()
            doc.get("code", type=Text).insert(0, f"in {room}")
            backplane.publish_update(room, doc.get_update())
        await backplane.outbox.drained(10)

        async def gone():
            return not [key async for key in backplane.connection.redis.scan_iter("*:room:*")]

        await wait_for(gone, timeout=30, interval=0.1)
        assert sorted(await store.rooms.stored_rooms()) == rooms
        # A room opened again: read from the store by the caller, followed here.
        assert await backplane.open_room(rooms[0]) == []
        await backplane.rooms.refresh_writers()
        lease = backplane.lease("webhooks", ttl=5)
        assert await lease.hold()
        assert await lease.save("1-0") and await lease.load() == "1-0"
        assert await lease.save_positions({"a": "1-0"})
        assert await lease.load_positions() == {"a": "1-0"}
        await backplane.delete_room(rooms[0])
    finally:
        await backplane.close()
        await store.close()
        redis.stop()
    refused = [r.getMessage() for r in caplog.records if "CROSSSLOT" in r.getMessage()]
    assert not refused, refused
    assert backplane.persister.persisted_updates == 3


async def test_hostile_keys_and_markers_are_skipped_and_the_sweep_goes_on(tmp_path, caplog):
    """What the sweep reads is untrusted: writers sets under names that are not rooms, a key of
    another type, an entry without an update, an unreadable marker in the store. Each is
    skipped (and counted), and the good room beside them is persisted and leaves Redis."""
    import logging

    from jupyter_omniforge.backplane.redis import RedisBackplane
    from jupyter_omniforge.store.base import StoreSettings
    from jupyter_omniforge.store.sqlite import SQLiteStore

    redis = RedisProcess(tmp_path / "redis").start()
    store = SQLiteStore(StoreSettings(path=str(tmp_path / "store.sqlite"), shared=True))
    await store.start()
    backplane = RedisBackplane(redis.url, instance_id="solo", compact_idle=0.2, trim_grace=0)
    backplane.use_shared_store(store.rooms, ttl=0.5)
    backplane.attach(NoRoomsOpen())
    caplog.set_level(logging.INFO)
    client = aioredis.Redis.from_url(redis.url)
    try:
        # An unreadable marker: treated as none (persisting again is harmless).
        assert await store.rooms.persist("idea:good", [], '{"epoch": [', expected=None)
        await client.sadd("omniforge:room:{../../etc}:writers", "x")
        await client.sadd("omniforge:room:{idea:a}{b}:writers", "x")
        await client.set("omniforge:room:{idea:str}:writers", "not a set")
        await client.sadd("omniforge:room:{idea:bad}:writers", "solo")
        await client.xadd("omniforge:room:{idea:bad}:log:solo", {"x": "no update"})
        # An entry whose id lies in the future, after a good one: the good one is persisted
        # once, the other skipped (it would move the marker past every entry to come).
        future = Doc()
        future.get("code", type=Text).insert(0, "now")
        await client.sadd("omniforge:room:{idea:future}:writers", "solo")
        await client.xadd("omniforge:room:{idea:future}:log:solo", {"u": future.get_update()})
        await client.xadd(
            "omniforge:room:{idea:future}:log:solo", {"u": b"\x00\x00"}, id="99999999999999-0"
        )
        await backplane.start()
        doc = Doc()
        doc.get("code", type=Text).insert(0, "good")
        backplane.publish_update("idea:good", doc.get_update())
        await backplane.outbox.drained(10)

        async def good_gone():
            return not await client.exists("omniforge:room:{idea:good}:writers")

        await wait_for(good_gone, timeout=30, interval=0.1)
        assert stored_text(SQLiteFile(tmp_path / "store.sqlite"), "idea:good") == "good"

        # The entry without an update was skipped (counted), and its room left Redis too.
        async def bad_gone():
            return not await client.exists("omniforge:room:{idea:bad}:writers")

        await wait_for(bad_gone, timeout=30, interval=0.1)
        malformed = backplane.malformed()
        assert malformed["writers"] >= 2 and malformed["room_updates"] >= 2
        await asyncio.sleep(1.5)  # a few more sweeps
        sqlite_file = SQLiteFile(tmp_path / "store.sqlite")
        assert stored_text(sqlite_file, "idea:future") == "now"
        assert len(stored(sqlite_file, "idea:future")[1]) == 1
        assert backplane.persister.problem == ""
    finally:
        await client.aclose()
        await backplane.close()
        await store.close()
        redis.stop()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "omniforge:room:{../../etc}:writers" in logged
    assert "its persisted marker is unreadable" in logged
    assert "its id lies in the future" in logged


async def test_a_redis_of_the_old_key_layout_is_named_at_start(tmp_path, caplog):
    """A Redis an older release wrote (an epoch, no layout key) holds rooms this release does
    not read: the first instance says so, once; a fresh Redis says nothing."""
    import logging

    from jupyter_omniforge.backplane.redis import RedisBackplane

    redis = RedisProcess(tmp_path / "redis").start()
    client = aioredis.Redis.from_url(redis.url)
    caplog.set_level(logging.WARNING)
    try:
        await client.set("omniforge:epoch", "0ld3p0ch")
        await client.sadd("omniforge:room:idea:1:writers", "old")
        for _ in range(2):
            backplane = RedisBackplane(redis.url, instance_id="solo")
            backplane.attach(NoRoomsOpen())
            await backplane.start()
            await backplane.close()
        await client.flushall()
        fresh = RedisBackplane(redis.url, instance_id="solo")
        fresh.attach(NoRoomsOpen())
        await fresh.start()
        await fresh.close()
    finally:
        await client.aclose()
        redis.stop()
    warned = [r for r in caplog.records if "older key layout" in r.getMessage()]
    assert len(warned) == 1 and "FLUSHDB" in warned[0].getMessage()
