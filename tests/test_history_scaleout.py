"""Version history with Redis: two real servers, each with its own SQLite journal, share one
history kept in a real redis-server; it survives a Redis restart and a killed instance, the
authors are those who typed on either instance, and what Redis hands back is checked."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import pytest
import redis.asyncio as aioredis
from pycrdt import Doc, Text

from jupyter_omniforge.backplane.redis.connection import RedisConnection
from jupyter_omniforge.backplane.redis.entries import MalformedCounts
from jupyter_omniforge.backplane.redis.history import RedisClientAuthors, RedisHistoryStore
from jupyter_omniforge.client import connect_room
from jupyter_omniforge.store.crypto import Cipher, read_key_file, write_key_file

from .cluster import RedisProcess
from .conftest import fetch_json, wait_for
from .test_history import api, mint, name, text_of, versions

pytestmark = pytest.mark.timeout(180)

IDLE = 0.5


@pytest.fixture
def redis_server(tmp_path):
    server = RedisProcess(tmp_path / "redis").start()
    yield server
    server.stop()


async def two_instances(server_process, redis_server, tmp_path):
    servers = [
        server_process(
            [
                f"--OmniForgeApp.redis_url={redis_server.url}",
                f"--OmniForgeApp.history_checkpoint_idle={IDLE}",
                "--OmniForgeApp.room_idle_timeout=60",
            ],
            db=tmp_path / f"instance{i}" / "omniforge.sqlite",
        )
        for i in range(2)
    ]
    servers[1].token = servers[0].token
    await asyncio.gather(*(s.start() for s in servers))
    return servers


def text(doc: Doc) -> str:
    return str(doc.get("code", type=Text))


async def ids(server, room: str) -> list[str]:
    return [v["id"] for v in await versions(server.url, server.token, room)]


async def test_both_instances_see_one_history_through_a_redis_restart_and_a_kill(
    server_process, redis_server, tmp_path
):
    one, two = await two_instances(server_process, redis_server, tmp_path)
    alice = await mint(one.url, one.token, "alice", ["read", "write"])
    bob = await mint(one.url, one.token, "bob", ["read", "write"])
    doc_a, doc_b = Doc(), Doc()
    async with (
        connect_room(one.url, "idea:shared", doc_a, token=alice),
        connect_room(two.url, "idea:shared", doc_b, token=bob),
    ):
        doc_a.get("code", type=Text).insert(0, "Alice on one. ")
        await wait_for(lambda: text(doc_b) == "Alice on one. ")
        doc_b.get("code", type=Text).insert(14, "Bob on two.")
        await wait_for(lambda: text(doc_a) == "Alice on one. Bob on two.")

        # Automatic versions, each taken once (by the lease holder), the same on both. (A
        # loaded machine may take one between Alice's and Bob's edits: then two.)
        autos = await wait_for(lambda: _holding(one, "idea:shared", "Bob on two."), timeout=20)
        await asyncio.sleep(IDLE * 3)
        assert await ids(one, "idea:shared") == await ids(two, "idea:shared")
        assert await ids(one, "idea:shared") == [v["id"] for v in autos]
        assert len(autos) <= 2 and all(v["kind"] == "auto" for v in autos)
        # Each credited, whichever instance they typed on; nobody unknown.
        assert sorted({a["username"] for v in autos for a in v["authors"]}) == ["alice", "bob"]
        for server in (one, two):
            _, blame = await fetch_json(
                api(server.url, "idea:shared", "/blame?root=code"), token=server.token
            )
            assert [(r["start"], r["end"], r["author"]) for r in blame["ranges"]] == [
                (0, 14, "alice"),
                (14, 25, "bob"),
            ]

        # Named on one, read and restored on two; both clients converge.
        named = await name(one.url, alice, "idea:shared", "before refactor")
        assert named["id"] in await ids(two, "idea:shared")
        assert await text_of(two.url, bob, "idea:shared", named["id"]) == (
            "Alice on one. Bob on two."
        )
        doc_a.get("code", type=Text).insert(0, "Oops. ")
        await wait_for(lambda: text(doc_b).startswith("Oops. "))
        status, restored = await fetch_json(
            api(two.url, "idea:shared", f"/versions/{named['id']}/restore"),
            method="POST",
            token=bob,
        )
        assert status == 200
        await wait_for(lambda: text(doc_a) == text(doc_b) == "Alice on one. Bob on two.")
        listed = await versions(one.url, one.token, "idea:shared")
        assert listed[0]["id"] == restored["version"]["id"]
        assert listed[0]["kind"] == "restored"
        assert [a["username"] for a in listed[0]["authors"]] == ["bob"]  # who restored
        # Alice's "Oops. " (typed on one) after the named version is in a version of its own
        # before the restore: the one the restore kept first, or the lease holder's.
        oops = listed[1]
        assert oops["id"] != named["id"] and oops["kind"] == "auto"
        assert [a["username"] for a in oops["authors"]] == ["alice"]
        assert (await text_of(two.url, bob, "idea:shared", oops["id"])).startswith("Oops. ")

    # Redis restarts (its AOF kept): the history is all there, on both.
    before = await ids(one, "idea:shared")
    redis_server.stop()
    redis_server.start()
    for server in (one, two):
        listed = await wait_for(lambda s=server: _listed(s, "idea:shared"), timeout=30)
        assert [v["id"] for v in listed] == before
    assert await text_of(one.url, one.token, "idea:shared", named["id"]) == (
        "Alice on one. Bob on two."
    )

    # Instance one is killed: two still has every version, and takes new ones.
    one.kill9()
    assert await ids(two, "idea:shared") == before
    renamed = await name(two.url, two.token, "idea:shared", "after the kill")
    assert await ids(two, "idea:shared") == [renamed["id"], *before]


async def _holding(server, room: str, text: str) -> list[dict] | None:
    """The versions of ``room`` once the newest holds ``text``."""
    listed = await versions(server.url, server.token, room)
    if listed and text in await text_of(server.url, server.token, room, listed[0]["id"]):
        return listed
    return None


async def _listed(server, room: str) -> list[dict] | None:
    code, page = await fetch_json(
        api(server.url, room, "/versions"), token=server.token, raise_error=False
    )
    return page["versions"] if code == 200 else None


# -- what Redis hands back is untrusted --------------------------------------------------------


@contextlib.asynccontextmanager
async def redis_history(redis_server, cipher=None):
    """The store and the record of clients over ``redis_server``, as an instance has them."""
    log = logging.getLogger("test")
    malformed = MalformedCounts(log)
    connection = RedisConnection(
        redis_server.url, prefix="t", connect_timeout=5, malformed=malformed, log=log, cipher=cipher
    )
    await connection.start()
    try:
        yield RedisHistoryStore(connection, malformed), RedisClientAuthors(connection, malformed)
    finally:
        await connection.close()


def _state(content: str) -> bytes:
    doc = Doc(client_id=1)
    doc.get("code", type=Text).insert(0, content)
    return doc.get_update()


async def test_the_store_pages_prunes_and_keeps_one_room_in_one_cluster_slot(redis_server):
    async with redis_history(redis_server) as (store, _):
        await _pages_and_prunes(store)


async def _pages_and_prunes(store):
    made = [
        await store.add_version("idea:p", _state(f"v{i}"), {"code": [[2, "ann"]]}, kind=kind)
        for i, kind in enumerate(["auto", "named", "auto", "auto", "restored", "auto"])
    ]
    assert [int(v["id"]) for v in made] == sorted(int(v["id"]) for v in made)
    listed = await store.list_versions("idea:p", limit=3)
    assert [v["id"] for v in listed] == [v["id"] for v in made[::-1][:3]]
    assert [v["id"] for v in await store.list_versions("idea:p", before=made[2]["id"])] == [
        made[1]["id"],
        made[0]["id"],
    ]
    newest, state, runs = await store.latest("idea:p")
    assert newest == made[-1] and state == _state("v5") and runs == {"code": [[2, "ann"]]}
    assert (await store.get_version("idea:p", made[1]["id"]))[1] == _state("v1")
    assert await store.get_version("idea:p", "12") is None
    assert await store.get_version("idea:other", made[1]["id"]) is None

    # Keep 3: the oldest automatic ones go; named, restored and the newest stay.
    assert await store.prune("idea:p", older_than=0, keep=3) == 3
    kept = [v["kind"] for v in await store.list_versions("idea:p")]
    assert kept == ["auto", "restored", "named"]

    redis = aioredis.Redis.from_url(store._connection.url)
    keys = sorted(k.decode() for k in await redis.keys("t:room:*"))
    await redis.aclose()
    assert keys == ["t:room:{idea:p}:version", "t:room:{idea:p}:versions"]
    await store.delete("idea:p")
    assert await store.list_versions("idea:p") == [] and await store.latest("idea:p") is None


@pytest.mark.parametrize(
    "meta",
    [
        b"not json",
        b"[1, 2]",
        b'{"time": NaN, "kind": "auto", "authors": [], "size": 1}',
        b'{"time": 1, "kind": "evil", "authors": [], "size": 1}',
        b'{"time": 1, "kind": "auto", "authors": "x", "size": 1}',
        b'{"time": 1, "kind": "auto", "authors": [{"username": 3}], "size": 1}',
        b'{"time": 1, "kind": "auto", "authors": [], "size": -1}',
        b'{"time": 1, "kind": "auto", "label": "' + b"x" * 2000 + b'", "authors": [], "size": 1}',
        b"[" * 10_000 + b"]" * 10_000,
    ],
    ids=["garbage", "array", "nan", "kind", "authors", "author", "size", "label", "deep"],
)
async def test_a_version_written_by_someone_else_is_skipped_and_counted(redis_server, meta):
    async with redis_history(redis_server) as (store, _):
        await _skipped(store, meta)


async def _skipped(store, meta):
    good = await store.add_version("idea:h", _state("fine"), {"code": []})
    redis = store._connection.redis
    await redis.zadd("t:room:{idea:h}:versions", {"999": 999})
    await redis.hset("t:room:{idea:h}:version", mapping={"999": meta, "999:s": b"", "999:r": b""})
    assert [v["id"] for v in await store.list_versions("idea:h")] == [good["id"]]
    assert await store.get_version("idea:h", "999") is None
    assert store._malformed.counts["versions"] == 1


async def test_bad_states_runs_and_keys_of_another_type_are_refused(redis_server):
    async with redis_history(redis_server) as (store, clients):
        await _refused(store, clients)


async def _refused(store, clients):
    redis = store._connection.redis
    meta = json.dumps({"time": 1, "kind": "auto", "label": None, "authors": [], "size": 1})
    await redis.zadd("t:room:{idea:s}:versions", {"5": 5, "6": 6, "7": 7})
    await redis.hset(
        "t:room:{idea:s}:version",
        mapping={
            "5": meta,
            "5:s": b"\xff\xff\xff",  # not a Yjs update
            "5:r": b"{}",
            "6": meta,
            "6:s": _state("ok"),
            "6:r": b'["not", "an object"]',
            "7": meta,
            "7:s": _state("fine"),
            "7:r": b'{"code": [[4, "ann"]]}',
        },
    )
    assert await store.get_version("idea:s", "5") is None
    assert await store.get_version("idea:s", "6") is None
    assert (await store.latest("idea:s"))[0]["id"] == "7"
    assert store._malformed.counts["versions"] == 2

    # Keys someone overwrote with another type: read as empty, replaced on the next write.
    await redis.set("t:room:{idea:w}:versions", "junk")
    await redis.set("t:room:{idea:w}:version", "junk")
    assert await store.list_versions("idea:w") == [] and await store.latest("idea:w") is None
    made = await store.add_version("idea:w", _state("again"), {})
    assert [v["id"] for v in await store.list_versions("idea:w")] == [made["id"]]

    # The record of who sent each client: the first user stays; bad values are skipped.
    await clients.note("idea:w", {7: ("alice", "Alice")})
    await clients.note("idea:w", {7: ("mallory", "Mallory"), 8: ("bob", "Bob")})
    await redis.hset("t:room:{idea:w}:clients", "9", b'{"x": 1}')
    assert await clients.lookup("idea:w", [7, 8, 9, 10]) == {
        7: ("alice", "Alice"),
        8: ("bob", "Bob"),
    }
    await redis.set("t:room:{idea:z}:clients", "junk")
    assert await clients.lookup("idea:z", [1]) == {}
    await clients.note("idea:z", {1: ("carol", "Carol")})  # replaces it (counted once)
    assert await clients.lookup("idea:z", [1]) == {1: ("carol", "Carol")}
    assert store._malformed.counts["versions"] == 4


async def test_with_a_key_versions_are_sealed_and_bound_to_their_room_and_id(
    redis_server, tmp_path
):
    write_key_file(tmp_path / "key")
    cipher = Cipher(read_key_file(tmp_path / "key"))
    async with redis_history(redis_server, cipher) as (store, _):
        made = await store.add_version("idea:k", _state("secret words"), {"code": [[12, "ann"]]})
        redis = store._connection.redis
        raw = await redis.hgetall("t:room:{idea:k}:version")
        assert not any(b"secret" in value or b"ann" in value for value in raw.values())
        _, state, runs = await store.get_version("idea:k", made["id"])
        assert state == _state("secret words") and runs == {"code": [[12, "ann"]]}
        # Copied under another room, or another id: it does not open, and is skipped.
        meta, sealed, sealed_runs = (
            raw[f"{made['id']}{part}".encode()] for part in ("", ":s", ":r")
        )
        await redis.zadd("t:room:{idea:other}:versions", {made["id"]: int(made["id"])})
        fields = {made["id"]: meta, f"{made['id']}:s": sealed, f"{made['id']}:r": sealed_runs}
        await redis.hset("t:room:{idea:other}:version", mapping=fields)
        assert await store.get_version("idea:other", made["id"]) is None
        assert store._malformed.counts["versions"] == 1
