"""Encryption at rest: what the database holds is sealed, comes back with the key, refuses a
wrong or missing key without harm, and survives a key rotation killed half way (the SQLite
store through a server, the PostgreSQL store through the store itself)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text
from tornado.simple_httpclient import HTTPTimeoutError

from jupyter_omniforge.client import connect_room
from jupyter_omniforge.store import StoreSettings
from jupyter_omniforge.store.crypto import Cipher, read_key_file, write_key_file
from jupyter_omniforge.store.sqlite import SQLiteStore

from .conftest import fetch_json, wait_for

SECRET_TEXT = "the launch code is 0000"
SECRET_EVENT = "rotating the plutonium"


def file_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


async def write_secrets(server) -> None:
    doc = Doc()
    async with connect_room(server.url, "idea:secret", doc, token=server.token):
        doc.get("code", type=Text).insert(0, SECRET_TEXT)
    await fetch_json(
        server.url + "omniforge/api/events",
        method="POST",
        token=server.token,
        body={
            "channel": "build:s",
            "type": "build.progress",
            "data": {"percent": 5, "message": SECRET_EVENT},
        },
    )


async def read_back(server) -> tuple[str, list[str]]:
    _, room = await fetch_json(server.url + "omniforge/api/rooms/idea:secret", token=server.token)
    _, history = await fetch_json(
        server.url + "omniforge/api/events?channel=build:s", token=server.token
    )
    return room["content"]["code"], [e["data"]["message"] for e in history["events"]]


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name in ("one", "two", "wrong"):
        out[name] = tmp_path / f"{name}.key"
        write_key_file(out[name])
    return out


async def test_nothing_readable_on_disk_and_everything_back_after_a_restart(
    server_process, keys, tmp_path
):
    db = tmp_path / "enc" / "omniforge.sqlite"
    args = [f"--OmniForgeApp.encryption_key_file={keys['one']}", "--OmniForgeApp.compact_idle=0.2"]
    server = await server_process(args, db=db).start()
    await write_secrets(server)
    await asyncio.sleep(1)  # let the log fold into a snapshot: both are sealed
    server.stop()
    raw = file_bytes(db)
    assert SECRET_TEXT.encode() not in raw and SECRET_EVENT.encode() not in raw
    assert b"plutonium" not in raw and b"launch code" not in raw
    again = await server_process(args, db=db).start()
    assert await read_back(again) == (SECRET_TEXT, [SECRET_EVENT])


async def test_a_wrong_or_missing_key_stops_serving_with_the_reason_and_destroys_nothing(
    server_process, keys, tmp_path
):
    db = tmp_path / "enc" / "omniforge.sqlite"
    server = await server_process(
        [f"--OmniForgeApp.encryption_key_file={keys['one']}"], db=db
    ).start()
    await write_secrets(server)
    server.stop()
    before = file_bytes(db)
    for args in ([f"--OmniForgeApp.encryption_key_file={keys['wrong']}"], []):
        refused = server_process(args, db=db)
        with pytest.raises(AssertionError):
            await refused.start(timeout=8)  # never ready

        async def answer(refused: Any = refused) -> tuple[int, Any] | None:
            """The rooms API's answer once the start has failed (a loaded machine may take
            longer than 8 s to listen at all, or to read the store)."""
            try:
                status, body = await fetch_json(
                    refused.url + "omniforge/api/rooms", token=refused.token, raise_error=False
                )
            except (OSError, HTTPTimeoutError):
                return None
            starting = status == 503 and "sealed" not in str(body)
            return None if starting else (status, body)

        status, body = await wait_for(answer, timeout=60, interval=0.2)
        assert status == 503 and "sealed with key" in body["message"], body
        refused.stop()
    assert file_bytes(db).count(b"idea:secret") == before.count(b"idea:secret")
    good = await server_process(
        [f"--OmniForgeApp.encryption_key_file={keys['one']}"], db=db
    ).start()
    assert await read_back(good) == (SECRET_TEXT, [SECRET_EVENT])


ROTATE = """
import sys, os, signal
from jupyter_omniforge.store.crypto import Cipher, read_key_file
from jupyter_omniforge.store.sqlite import rotation
db, old, new = sys.argv[1:4]
def progress(table, done):
    if table == "room_updates" and done >= 100:
        os.kill(os.getpid(), signal.SIGKILL)  # killed half way through
rotation.rotate(db, Cipher(read_key_file(old)), Cipher(read_key_file(new)), batch=50, progress=progress)
"""


async def test_a_rotation_killed_half_way_and_run_again_loses_nothing(
    server_process, keys, tmp_path
):
    db = tmp_path / "enc" / "omniforge.sqlite"
    args = [f"--OmniForgeApp.encryption_key_file={keys['one']}", "--OmniForgeApp.update_interval=0"]
    server = await server_process(args, db=db).start()
    await write_secrets(server)
    doc = Doc()
    async with connect_room(server.url, "idea:many", doc, token=server.token):
        for i in range(300):
            doc.get("code", type=Text).insert(i, "x")
            await asyncio.sleep(0.001)
    server.stop()
    killed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", ROTATE, str(db), str(keys["one"]), str(keys["two"])],
        capture_output=True,
    )
    assert killed.returncode == -9, killed.stderr.decode()
    # Half sealed with each key: the server opens it with both, nothing is missing.
    both = [
        f"--OmniForgeApp.encryption_key_file={keys['two']}",
        f"--OmniForgeApp.encryption_previous_key_files={keys['one']}",
    ]
    half = await server_process(both, db=db).start()
    assert await read_back(half) == (SECRET_TEXT, [SECRET_EVENT])
    _, many = await fetch_json(half.url + "omniforge/api/rooms/idea:many", token=half.token)
    assert many["content"]["code"] == "x" * 300
    half.stop()
    await rotate_key(db, keys["two"], keys["one"])
    # Only the new key now.
    final = await server_process(
        [f"--OmniForgeApp.encryption_key_file={keys['two']}"], db=db
    ).start()
    assert await read_back(final) == (SECRET_TEXT, [SECRET_EVENT])
    _, many = await fetch_json(final.url + "omniforge/api/rooms/idea:many", token=final.token)
    assert many["content"]["code"] == "x" * 300
    _, audit = await fetch_json(final.url + "omniforge/api/audit?limit=1000", token=final.token)
    assert "key.rotated" in [e["action"] for e in audit["entries"]]


async def test_what_goes_to_redis_is_sealed_too(server_process, keys, tmp_path):
    import redis

    from .cluster import RedisProcess
    from .conftest import wait_for

    redis_server = RedisProcess(tmp_path / "redis").start()
    try:
        args = [
            f"--OmniForgeApp.redis_url={redis_server.url}",
            f"--OmniForgeApp.encryption_key_file={keys['one']}",
            "--OmniForgeApp.compact_idle=0.3",
        ]
        a = server_process(args, db=tmp_path / "a" / "omniforge.sqlite")
        b = server_process(args, db=tmp_path / "b" / "omniforge.sqlite")
        b.token = a.token
        await asyncio.gather(a.start(), b.start())
        doc_a, doc_b = Doc(), Doc()
        async with (
            connect_room(a.url, "idea:secret", doc_a, token=a.token),
            connect_room(b.url, "idea:secret", doc_b, token=b.token),
        ):
            doc_a.get("code", type=Text).insert(0, SECRET_TEXT)
            await wait_for(lambda: str(doc_b.get("code", type=Text)) == SECRET_TEXT)
        await fetch_json(
            b.url + "omniforge/api/events",
            method="POST",
            token=b.token,
            body={
                "channel": "build:s",
                "type": "build.progress",
                "data": {"percent": 5, "message": SECRET_EVENT},
            },
        )
        assert (await read_back(a))[1] == [SECRET_EVENT]  # it crossed instances, sealed
        await asyncio.sleep(1)  # a fold: the snapshot is sealed too
        client = redis.Redis.from_url(redis_server.url)
        dump = b""
        for key in client.scan_iter(count=1000):
            dump += key
            kind = client.type(key)
            if kind == b"stream":
                dump += repr(client.xrange(key)).encode()
            elif kind == b"hash":
                dump += repr(client.hgetall(key)).encode()
            elif kind == b"string":
                dump += client.get(key) or b""
        client.close()
        assert b"idea:secret" in dump  # room names are keys: in the clear
        for secret in (SECRET_TEXT, SECRET_EVENT, "launch code", "plutonium"):
            assert secret.encode() not in dump, secret
    finally:
        redis_server.stop()


async def rotate_key(db: Path, new: Path, old: Path) -> None:
    """``jupyter omniforge rotate-key NEW --old-key-file OLD --db DB``, which must succeed."""
    done = await asyncio.to_thread(
        subprocess.run,
        [
            *(sys.executable, "-m", "jupyter_omniforge.cli", "rotate-key", str(new)),
            *("--old-key-file", str(old), "--db", str(db)),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def move_rows(db: Path, statements: list[str]) -> None:
    with closing(sqlite3.connect(db)) as conn, conn:
        for statement in statements:
            conn.execute(statement)


async def test_a_sealed_row_moved_to_another_room_or_channel_is_never_served(
    server_process, keys, tmp_path
):
    db = tmp_path / "enc" / "omniforge.sqlite"
    args = [f"--OmniForgeApp.encryption_key_file={keys['one']}"]
    # Folded into a snapshot soon (a compaction waits for a version holding the updates)...
    folds = ["--OmniForgeApp.compact_idle=0.2", "--OmniForgeApp.history_checkpoint_idle=0.1"]
    server = await server_process([*args, *folds], db=db).start()
    await write_secrets(server)
    await asyncio.sleep(1)
    server.stop()
    # ... then one more update that stays in the log (no fold before the server stops).
    server = await server_process([*args, "--OmniForgeApp.compact_idle=3600"], db=db).start()
    doc = Doc()
    async with connect_room(server.url, "idea:secret", doc, token=server.token):
        doc.get("code", type=Text).insert(0, "! ")
    server.stop()
    with closing(sqlite3.connect(db)) as conn:
        for table in ("room_snapshots", "room_updates"):
            query = f"SELECT count(*) FROM {table} WHERE room = 'idea:secret'"
            assert conn.execute(query).fetchone()[0] >= 1, table
    # Someone with the database file (not the key) moves the rows where they may read them.
    move_rows(
        db,
        [
            "UPDATE room_snapshots SET room = 'idea:open' WHERE room = 'idea:secret'",
            "UPDATE room_updates SET room = 'idea:open' WHERE room = 'idea:secret'",
            "UPDATE events SET channel = 'build:open' WHERE channel = 'build:s'",
        ],
    )
    again = await server_process(args, db=db).start()
    _, room = await fetch_json(
        again.url + "omniforge/api/rooms/idea:open", token=again.token, raise_error=False
    )
    assert SECRET_TEXT not in str(room) and "!" not in str(room)
    _, history = await fetch_json(
        again.url + "omniforge/api/events?channel=build:open", token=again.token
    )
    assert history["events"] == []
    _, everything = await fetch_json(
        again.url + "omniforge/api/events?channel=*", token=again.token
    )
    assert SECRET_EVENT not in str(everything)
    log = again.log_path.read_text(errors="replace")
    assert "quarantined a stored update" in log and "skipped stored event" in log, log[-3000:]
    again.stop()
    with closing(sqlite3.connect(db)) as conn:
        (quarantined,) = conn.execute(
            "SELECT count(*) FROM room_quarantine WHERE room = 'idea:open'"
        ).fetchone()
    assert quarantined >= 2  # the snapshot and the logged update: set aside, never read again
    # The event log counts what it skipped.
    store = SQLiteStore(StoreSettings(path=str(db), cipher=Cipher(read_key_file(keys["one"]))))
    await store.start()
    try:
        await store.events.start()
        page = await store.events.read(["build:open"], None)
        assert page.events == [] and store.events.malformed == 1
    finally:
        await store.events.close()
        await store.close()


async def test_rows_sealed_before_the_row_names_its_place_open_and_rotate_key_binds_them(
    server_process, keys, tmp_path
):
    """A store sealed by the release before sealing.py's associated data (an event with its id
    alone) is read as it is; `rotate-key` to the same key re-seals it, and from then on it does
    not open on another channel."""
    db = tmp_path / "enc" / "omniforge.sqlite"
    key = Cipher(read_key_file(keys["one"]))
    store = SQLiteStore(StoreSettings(path=str(db)))
    await store.start()
    await store.close()
    payload = b'{"source":{"username":"alice"},"data":{"message":"%s"}}' % SECRET_EVENT.encode()
    kid, sealed = key.seal(payload, b"event\x007")
    move_rows(
        db,
        [
            "INSERT INTO events (id, channel, type, time, source, data, kid, sealed) VALUES "
            f"(7, 'build:s', 'build.progress', 1.0, '', '', '{kid}', x'{sealed.hex()}')"
        ],
    )
    args = [f"--OmniForgeApp.encryption_key_file={keys['one']}"]
    server = await server_process(args, db=db).start()
    _, history = await fetch_json(
        server.url + "omniforge/api/events?channel=build:s", token=server.token
    )
    assert [e["data"]["message"] for e in history["events"]] == [SECRET_EVENT]
    server.stop()
    await rotate_key(db, keys["one"], keys["one"])
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT ad FROM events WHERE id = 7").fetchone() == (2,)
    move_rows(db, ["UPDATE events SET channel = 'build:open' WHERE id = 7"])
    again = await server_process(args, db=db).start()
    _, history = await fetch_json(again.url + "omniforge/api/events?channel=*", token=again.token)
    assert SECRET_EVENT not in str(history)


# -- the PostgreSQL store --------------------------------------------------------------------------

PG_SEALED_TABLES = (
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


def pg_kids(url: str) -> dict[str, set[str | None]]:
    """The keys each sealed table's rows are sealed with (None: in the clear)."""
    import psycopg

    with psycopg.connect(url) as conn:
        return {
            table: {kid for (kid,) in conn.execute(f"SELECT DISTINCT kid FROM {table}")}
            for table in PG_SEALED_TABLES
        }


def pg_rows_hold(url: str, secret: str) -> bool:
    import psycopg

    with psycopg.connect(url) as conn:
        return any(
            secret.encode() in repr(row).encode()
            for table in PG_SEALED_TABLES
            for row in conn.execute(f"SELECT * FROM {table}")
        )


async def pg_write_everything(store, room: str) -> None:
    """A row in each sealed table, each holding SECRET_TEXT: the room as a snapshot and a log."""
    doc = Doc()
    doc.observe(lambda event: store.rooms.append(room, event.update, author="ann"))
    doc.get("code", type=Text).insert(0, SECRET_TEXT)
    await store.rooms.compact(room)
    doc.get("code", type=Text).insert(len(SECRET_TEXT), "!")
    await store.rooms.flush()
    await store.events.append(
        {
            "channel": "build:s",
            "type": "build.progress",
            "time": 1.0,
            "source": {"username": "ann"},
            "data": {"message": SECRET_EVENT},
        }
    )
    store.audit.record("room.deleted", user="ann", room=room, note=SECRET_TEXT)
    await store.audit.flush()
    await store.history.add_version(room, doc.get_update(), {"code": [[0, 1, "ann"]]})
    await store.webhooks.enqueue([("hook", f"{room}-1", SECRET_TEXT.encode())])
    ann = {"username": "ann", "name": "Ann", "color": "#123456"}
    anchor = {"root": "code", "start": b"\x01", "end": b"\x02", "text": SECRET_TEXT}
    thread, comment = await store.comments.add_thread(room, ann, SECRET_TEXT, anchor)
    await store.comments.notify(
        [
            {
                "user": "bob",
                "room": room,
                "thread": thread["id"],
                "comment": comment["id"],
                "by": ann,
                "excerpt": SECRET_TEXT,
            }
        ]
    )


async def pg_read_everything(store, room: str) -> None:
    """Everything pg_write_everything wrote, back through the store."""
    back = Doc()
    for update in await store.rooms.load(room):
        back.apply_update(update)
    assert str(back.get("code", type=Text)) == SECRET_TEXT + "!"
    page = await store.events.read(["build:*"], None)
    assert SECRET_EVENT in [e["data"]["message"] for e in page.events]
    assert {"note": SECRET_TEXT} in [e["details"] for e in await store.audit.read(room=room)]
    (version,) = await store.history.list_versions(room)
    _, state, runs = await store.history.get_version(room, version["id"])
    assert runs == {"code": [[0, 1, "ann"]]} and state
    assert SECRET_TEXT.encode() in [d.body for d in await store.webhooks.next("hook", 10)]
    (thread,) = await store.comments.threads(room)
    assert thread["anchor"]["text"] == SECRET_TEXT
    (comment,) = (await store.comments.comments(room, [thread["id"]]))[thread["id"]]
    assert comment["body"] == SECRET_TEXT
    notes, _ = await store.comments.notifications("bob")
    assert SECRET_TEXT in [n["excerpt"] for n in notes if n["room"] == room]


async def pg_rotate_key(url: str, new: Path, old: Path) -> subprocess.CompletedProcess:
    """``jupyter omniforge rotate-key NEW --old-key-file OLD --store-url URL``."""
    return await asyncio.to_thread(
        subprocess.run,
        [
            *(sys.executable, "-m", "jupyter_omniforge.cli", "rotate-key", str(new)),
            *("--old-key-file", str(old), "--store-url", url),
        ],
        capture_output=True,
        text=True,
    )


async def test_rotate_key_re_seals_a_postgresql_store_even_when_interrupted(keys, postgres_url):
    """The PostgreSQL store rotates as the SQLite one does: rows in the clear and rows sealed
    with the old key all end sealed with the new one, in every table; a rotation stopped half
    way leaves a database that both keys open and that a second run finishes; afterwards the
    new key alone serves everything, the old key alone is refused, and the audit trail says
    so."""
    from jupyter_omniforge.store.crypto import CipherError
    from jupyter_omniforge.store.postgres import PostgresStore
    from jupyter_omniforge.store.postgres.rotation import rotate

    from .conftest import close_after_test

    one, two = (Cipher(read_key_file(keys[name])) for name in ("one", "two"))

    async def opened(*ciphers: Cipher) -> PostgresStore:
        cipher = ciphers[0].merged(*ciphers[1:]) if ciphers else None
        store = PostgresStore(StoreSettings(url=postgres_url, cipher=cipher))
        close_after_test(store.close)
        await store.start()
        return store

    clear = await opened()  # an existing store without encryption ...
    await pg_write_everything(clear, "idea:clear")
    await clear.close()
    sealed = await opened(one)  # ... then with key one
    await pg_write_everything(sealed, "idea:sealed")
    await sealed.close()
    assert pg_rows_hold(postgres_url, SECRET_TEXT)
    assert all(kids == {None, one.current} for kids in pg_kids(postgres_url).values())

    class Stop(Exception):
        pass

    def stop_half_way(table: str, done: int) -> None:
        if table == "events":
            raise Stop  # the tables before are done, each batch committed on its own

    with pytest.raises(Stop):
        await rotate(postgres_url, one, two, batch=1, progress=stop_half_way)
    kids = pg_kids(postgres_url)
    assert kids["room_updates"] == kids["room_snapshots"] == {two.current}
    assert kids["audit"] == {None, one.current}
    half = await opened(two, one)
    for room in ("idea:clear", "idea:sealed"):
        await pg_read_everything(half, room)
    await half.close()

    done = await pg_rotate_key(postgres_url, keys["two"], keys["one"])
    assert done.returncode == 0, done.stderr
    assert "re-sealed" in done.stdout
    assert all(kids == {two.current} for kids in pg_kids(postgres_url).values())
    assert not pg_rows_hold(postgres_url, SECRET_TEXT)
    assert not pg_rows_hold(postgres_url, SECRET_EVENT)

    new_only = await opened(two)
    for room in ("idea:clear", "idea:sealed"):
        await pg_read_everything(new_only, room)
    assert "key.rotated" in [e["action"] for e in await new_only.audit.read(limit=1000)]
    await new_only.close()
    old_only = PostgresStore(StoreSettings(url=postgres_url, cipher=one))
    close_after_test(old_only.close)
    with pytest.raises(CipherError, match="sealed with key"):
        await old_only.start()
    await old_only.close()
    # A wrong old key: refused with the reason, exit status 2, nothing changed.
    wrong = await pg_rotate_key(postgres_url, keys["one"], keys["wrong"])
    assert wrong.returncode == 2 and "cannot re-seal" in wrong.stderr
    assert all(kids == {two.current} for kids in pg_kids(postgres_url).values())


async def test_a_snapshot_an_instance_rewrites_during_a_postgresql_rotation_is_not_put_back(
    keys, postgres_url
):
    """An instance (serving with the new key, the old one to read) rewrites a room's snapshot
    while the rotation reaches it: the rotation waits for that transaction and leaves the new
    snapshot as written, instead of re-sealing the one it would have read before."""
    import psycopg

    from jupyter_omniforge.store.compaction import fold_updates
    from jupyter_omniforge.store.postgres import PostgresStore
    from jupyter_omniforge.store.postgres.rotation import rotate
    from jupyter_omniforge.store.sqlite.sealing import AD_VERSION, snapshot_ad

    from .conftest import close_after_test

    one, two = (Cipher(read_key_file(keys[name])) for name in ("one", "two"))
    room = "idea:folded"
    doc = Doc()
    store = PostgresStore(StoreSettings(url=postgres_url, cipher=one))
    close_after_test(store.close)
    await store.start()
    subscription = doc.observe(lambda event: store.rooms.append(room, event.update))
    doc.get("code", type=Text).insert(0, "old")
    await store.rooms.compact(room)
    doc.unobserve(subscription)
    await store.close()

    doc.get("code", type=Text).insert(3, " and new")
    newer = fold_updates([doc.get_update()])
    async with await psycopg.AsyncConnection.connect(postgres_url) as instance:
        # The instance's fold holds the snapshot's row ...
        await instance.execute(
            "UPDATE room_snapshots SET updated = updated WHERE room = %s", (room,)
        )
        rotation = asyncio.ensure_future(rotate(postgres_url, one, two))
        await asyncio.sleep(1.0)
        assert not rotation.done()  # waiting for the row
        # ... and writes its new snapshot, sealed with the new key.
        kid, sealed = two.seal(newer, snapshot_ad(room, 99, AD_VERSION))
        await instance.execute(
            "UPDATE room_snapshots SET data = %s, kid = %s, folded = 99, ad = %s WHERE room = %s",
            (sealed, kid, AD_VERSION, room),
        )
        await instance.commit()
    await asyncio.wait_for(rotation, 30)
    after = PostgresStore(StoreSettings(url=postgres_url, cipher=two))
    close_after_test(after.close)
    await after.start()
    back = Doc()
    for update in await after.rooms.load(room):
        back.apply_update(update)
    assert str(back.get("code", type=Text)) == "old and new"
    await after.close()
