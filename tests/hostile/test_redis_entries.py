"""Hostile Redis entries: anything that can reach the Redis can write our keys.

Each story writes one malformed entry straight into a real redis-server shared by two real
Jupyter servers (``alpha`` and ``beta``), then checks that it was skipped, counted in
``omniforge/api/cluster`` and logged, and that afterwards both servers still answer, clients on
both still edit and converge, history still replays and rooms still fold. At the end, a
Hypothesis fuzzer writes random and mutated entries of each kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text
from redis.exceptions import ResponseError

from jupyter_omniforge.client import connect_room
from jupyter_omniforge.client.rooms import open_connection, room_url
from jupyter_omniforge.rooms import protocol as p

from ..cluster import RedisProcess, awareness_frame, read_awareness
from ..conftest import ServerProcess, fetch_json, wait_for
from ..realtime import Gateway
from .test_fuzz import EXAMPLES, awareness_states, json_text, json_values, mutated, updates
from .test_split_character_panic import FIRST, SECOND

pytestmark = pytest.mark.timeout(120)

A, B = "alpha", "beta"


class Deployment:
    """Two instances sharing one redis-server; folds happen 0.5 s after a room's last update."""

    def __init__(self, redis: RedisProcess, a: ServerProcess, b: ServerProcess) -> None:
        self.redis, self.a, self.b = redis, a, b
        self.servers = (a, b)
        self.token = a.token


def _wait_ready(server: ServerProcess, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log_path.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(server.url + "omniforge/health/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready:\n{server.log_path.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    redis = RedisProcess(root / "redis").start()
    servers = [
        ServerProcess(
            root / "root",
            root / name / "omniforge.sqlite",
            [
                f"--OmniForgeApp.redis_url={redis.url}",
                f"--OmniForgeApp.instance_id={name}",
                "--OmniForgeApp.compact_idle=0.5",
                "--OmniForgeApp.compact_max_updates=50",
                "--OmniForgeApp.room_idle_timeout=1",
            ],
        )
        for name in (A, B)
    ]
    servers[1].token = servers[0].token
    try:
        for server in servers:
            server._spawn()
        for server in servers:
            _wait_ready(server)
        yield Deployment(redis, *servers)
    finally:
        for server in servers:
            server.stop()
        redis.stop()


@pytest.fixture(autouse=True)
def _logs_on_failure(request, deployment):
    yield
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for server in deployment.servers:
            print(f"--- log of the server on port {server.port} (tail) ---")
            print(server.log_path.read_text(errors="replace")[-6000:])


@contextlib.asynccontextmanager
async def redis_client(deployment: Deployment) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(deployment.redis.url)
    try:
        yield client
    finally:
        await client.aclose()


def unique(kind: str) -> str:
    return f"{kind}:h{uuid.uuid4().hex[:10]}"


def text(doc: Doc) -> str:
    return str(doc.get("code", type=Text))


def insert(doc: Doc, value: str) -> None:
    """Append ``value``. pycrdt indexes a Text in UTF-8 bytes (``len(text)``): a count of
    characters would land inside the text, or inside a character, once the fuzzer wrote
    non-ASCII text there (a corrupt edit that waits forever for an ID nobody wrote)."""
    code = doc.get("code", type=Text)
    code.insert(len(code), value)


async def cluster_info(deployment: Deployment, server: ServerProcess) -> dict:
    code, body = await fetch_json(server.url + "omniforge/api/cluster", token=deployment.token)
    assert code == 200
    return body


class Watch:
    """A kind's malformed count and log lines on each instance, before an attack."""

    def __init__(self, deployment: Deployment, kind: str) -> None:
        self.deployment, self.kind = deployment, kind
        self.counts: dict[int, int] = {}
        self.lines: dict[int, int] = {}

    def _lines(self, server: ServerProcess) -> int:
        return server.log_path.read_text(errors="replace").count(
            f"skipped a malformed Redis entry ({self.kind})"
        )

    async def start(self) -> Watch:
        for server in self.deployment.servers:
            info = await cluster_info(self.deployment, server)
            self.counts[server.port] = info["malformed"][self.kind]
            self.lines[server.port] = self._lines(server)
        return self

    async def counted_on(self, *servers: ServerProcess, timeout: float = 20) -> None:
        """Wait until each of ``servers`` counted and logged one more (at least)."""
        for server in servers:

            async def counted(server=server):
                info = await cluster_info(self.deployment, server)
                return info["malformed"][self.kind] > self.counts[server.port]

            await wait_for(counted, timeout=timeout, interval=0.1)
            assert self._lines(server) > self.lines[server.port]

    async def counted_somewhere(self, timeout: float = 20) -> None:
        async def counted():
            for server in self.deployment.servers:
                info = await cluster_info(self.deployment, server)
                if info["malformed"][self.kind] > self.counts[server.port]:
                    return True
            return False

        await wait_for(counted, timeout=timeout, interval=0.1)


async def emit(deployment: Deployment, server: ServerProcess, channel: str, **extra) -> dict:
    body = {"channel": channel, "type": "build.started", "data": {}, **extra}
    code, envelope = await fetch_json(
        server.url + "omniforge/api/events", method="POST", token=deployment.token, body=body
    )
    assert code == 201, envelope
    return envelope


async def history(deployment: Deployment, server: ServerProcess, channel: str, after=None):
    url = f"{server.url}omniforge/api/events?channel={channel}&limit=100"
    if after:
        url += f"&after={after}"
    code, body = await fetch_json(url, token=deployment.token)
    assert code == 200, body
    return body["events"]


async def folded_through(client: aioredis.Redis, room: str, writer: str, entry_id: bytes) -> bool:
    """True once the room's snapshot is folded through ``entry_id`` of ``writer``'s stream."""
    snap = await client.hgetall(f"omniforge:room:{{{room}}}:snap")
    try:
        cursor = json.loads(snap[b"last"])[writer]
    except (KeyError, ValueError, TypeError):
        return False
    ms, seq = (int(part) for part in cursor.split("-"))
    bad_ms, bad_seq = (int(part) for part in entry_id.decode().split("-"))
    return bool(snap.get(b"data")) and (ms, seq) >= (bad_ms, bad_seq)


async def still_works(deployment: Deployment) -> None:
    """Both instances answer, clients on both edit one room and converge, a newcomer gets it
    all, events cross and replay, the room folds, and both instances are healthy."""
    a, b = deployment.servers
    for server in deployment.servers:
        code, body = await fetch_json(server.url + "omniforge/health/live")
        assert code == 200 and body == {"status": "ok"}
    room = unique("idea")
    doc_a, doc_b = Doc(), Doc()
    async with (
        connect_room(a.url, room, doc_a, token=deployment.token),
        connect_room(b.url, room, doc_b, token=deployment.token),
    ):
        insert(doc_a, "a;")
        await wait_for(lambda: text(doc_b) == "a;")
        insert(doc_b, "b;")
        await wait_for(lambda: text(doc_a) == text(doc_b) == "a;b;")
        late = Doc()
        async with connect_room(a.url, room, late, token=deployment.token):
            await wait_for(lambda: text(late) == "a;b;")
    channel = unique("build")
    envelope = await emit(deployment, a, channel)

    async def everywhere():
        found = [await history(deployment, s, channel) for s in deployment.servers]
        return all([e["id"] for e in events] == [envelope["id"]] for events in found)

    await wait_for(everywhere)
    async with redis_client(deployment) as client:
        await wait_for(
            lambda: client.hexists(f"omniforge:room:{{{room}}}:snap", "data"), timeout=20
        )
    for server in deployment.servers:
        info = await cluster_info(deployment, server)
        assert {i["id"] for i in info["instances"]} == {A, B}
        assert all(i["healthy"] for i in info["instances"] if i["self"])


# -- events ------------------------------------------------------------------------------------


def _envelope(**fields) -> bytes:
    body = {"channel": "build:x", "type": "build.started", "time": 1.0, "source": {}, "data": {}}
    body.update(fields)
    return json.dumps(body).encode()


HOSTILE_EVENTS = {
    "without_payload_field": {"i": "mallory"},
    "payload_not_json": {"e": b"{this is not json"},
    "payload_not_utf8": {"e": b"\xff\xfe\xfd"},
    "payload_not_an_object": {"e": b"[1, 2, 3]"},
    "payload_with_nan": {"e": _envelope().replace(b'"time": 1.0', b'"time": NaN')},
    "payload_with_infinity_in_data": {"e": _envelope().replace(b'"data": {}', b'"data": 1e999')},
    "payload_nested_too_deep": {
        "e": _envelope().replace(b'"data": {}', b'"data": ' + b"[" * 5000 + b"]" * 5000)
    },
    "payload_without_channel": {"e": b'{"type": "build.started", "time": 1, "data": {}}'},
    "payload_channel_not_a_string": {"e": _envelope(channel=["build:x"])},
}


@pytest.mark.parametrize("fields", HOSTILE_EVENTS.values(), ids=list(HOSTILE_EVENTS))
async def test_a_malformed_event_entry_is_skipped_by_live_delivery_history_and_replay(
    deployment, fields
):
    a, b = deployment.servers
    channel = unique("build")
    live = await Gateway.connect(b.url, deployment.token)
    await live.send(type="subscribe", channels=[channel])
    await live.next("subscribed")
    first = await emit(deployment, a, channel)
    watch = await Watch(deployment, "events").start()
    async with redis_client(deployment) as client:
        bad = await client.xadd("omniforge:events", fields)
        second = await emit(deployment, a, channel, type="build.completed")
        second_id = second["id"]
        # Every instance's follower went past it.
        try:
            await wait_for(lambda: [e["id"] for e in live.events()] == [first["id"], second_id])
        except AssertionError:
            raise AssertionError(f"live frames: {live.frames}, wanted {first} {second}") from None
        await watch.counted_on(a, b)
        assert f"omniforge:events {bad.decode()}" in a.log_path.read_text()
        # History and replay from a cursor before it, on both instances.
        for server in deployment.servers:
            assert [e["id"] for e in await history(deployment, server, channel)] == [
                first["id"],
                second_id,
            ]
            after = await history(deployment, server, channel, after=first["id"])
            assert [e["id"] for e in after] == [second_id]
        replay = await Gateway.connect(a.url, deployment.token)
        await replay.send(type="subscribe", channels=[channel], lastEventId=first["id"])
        await wait_for(lambda: [e["id"] for e in replay.events()] == [second_id])
        assert not replay.of_type("reset") and not replay.of_type("error")
        replay.close()
        live.close()
        await client.xdel("omniforge:events", bad)
    await still_works(deployment)


async def test_an_event_payload_does_not_choose_its_own_id(deployment):
    a, _ = deployment.servers
    channel = unique("build")
    async with redis_client(deployment) as client:
        bad = await client.xadd("omniforge:events", {"e": _envelope(channel=channel, id="9-9@x")})
    (event,) = await history(deployment, a, channel)
    assert event["id"].startswith(bad.decode() + "@")


async def test_an_event_stream_of_another_type_is_replaced_by_the_next_event(deployment):
    a, b = deployment.servers
    watch = await Watch(deployment, "events").start()
    async with redis_client(deployment) as client:
        await client.delete("omniforge:events")
        await client.set("omniforge:events", "not a stream")
        assert await history(deployment, a, "build:*") == []
        await watch.counted_on(a)
        channel = unique("build")
        envelope = await emit(deployment, b, channel)
        assert await client.type("omniforge:events") == b"stream"

        async def delivered_everywhere():
            found = [await history(deployment, s, channel) for s in deployment.servers]
            return all([e["id"] for e in events] == [envelope["id"]] for events in found)

        await wait_for(delivered_everywhere)
    await still_works(deployment)


# -- room streams ------------------------------------------------------------------------------


async def test_a_room_stream_entry_without_its_update_is_skipped_following_opening_and_folding(
    deployment,
):
    a, b = deployment.servers
    room = unique("idea")
    watch = await Watch(deployment, "room_updates").start()
    doc_a, doc_b = Doc(), Doc()
    async with (
        redis_client(deployment) as client,
        connect_room(a.url, room, doc_a, token=deployment.token),
        connect_room(b.url, room, doc_b, token=deployment.token),
    ):
        insert(doc_a, "one;")
        await wait_for(lambda: text(doc_b) == "one;")
        bad = await client.xadd(f"omniforge:room:{{{room}}}:log:{A}", {"x": "no update here"})
        insert(doc_a, "two;")
        await wait_for(lambda: text(doc_b) == "one;two;")  # b's follower went past it
        await watch.counted_on(b)
        assert f"omniforge:room:{{{room}}}:log:{A} {bad.decode()}" in b.log_path.read_text()
        # The writer's fold goes past it too.
        await wait_for(lambda: folded_through(client, room, A, bad), timeout=20)
        # A new writer whose stream holds only a malformed entry: opening reads it.
        other = unique("idea")
        await client.sadd(f"omniforge:room:{{{other}}}:writers", "ghost")
        ghost = await client.xadd(f"omniforge:room:{{{other}}}:log:ghost", {"nothing": "here"})
        watch = await Watch(deployment, "room_updates").start()
        opened = Doc()
        async with connect_room(b.url, other, opened, token=deployment.token):
            await watch.counted_on(b)
            insert(opened, "fine;")
            await wait_for(lambda: folded_through(client, other, "ghost", ghost), timeout=20)
        again = Doc()
        async with connect_room(a.url, other, again, token=deployment.token):
            await wait_for(lambda: text(again) == "fine;")
    await still_works(deployment)


def _varuint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def deeply_nested_update(depth: int = 100_000) -> bytes:
    """A Yjs update of one item in root array ``x`` holding a value nested ``depth`` arrays
    deep: pycrdt decodes such values recursively and overflows the native stack."""
    value = bytes([117, 1]) * depth + bytes([126])  # [[[… null …]]]
    item = bytes([8]) + _varuint(1) + _varuint(1) + b"x" + _varuint(1) + value
    return _varuint(1) + _varuint(1) + _varuint(1) + _varuint(0) + item + _varuint(0)


HOSTILE_UPDATES = {
    "garbage_bytes": pytest.param(b"\x05\xff\xff\xff\xff", id="garbage_bytes"),
    "truncated_update": pytest.param(b"\x01\x01\x01\x00\x08", id="truncated_update"),
    "deeply_nested": pytest.param(deeply_nested_update(), id="deeply_nested"),
}


@pytest.mark.parametrize("update", HOSTILE_UPDATES.values())
async def test_a_room_stream_update_that_does_not_decode_is_refused_and_left_out_of_folds(
    deployment, update
):
    a, b = deployment.servers
    room = unique("idea")
    doc_a, doc_b = Doc(), Doc()
    async with (
        redis_client(deployment) as client,
        connect_room(a.url, room, doc_a, token=deployment.token),
        connect_room(b.url, room, doc_b, token=deployment.token),
    ):
        insert(doc_a, "one;")
        await wait_for(lambda: text(doc_b) == "one;")
        watch = await Watch(deployment, "room_updates").start()
        bad = await client.xadd(f"omniforge:room:{{{room}}}:log:{A}", {"u": update})
        insert(doc_a, "two;")
        await wait_for(lambda: text(doc_b) == "one;two;")
        await watch.counted_on(b)  # refused by b's room
        # Folded past it: a fold that tried to apply it would fail and never move on. (Which
        # instance folds depends on the lease; an instance counts an entry once, so b, which
        # counted it already, does not count it again when it is the one folding.)
        await wait_for(lambda: folded_through(client, room, A, bad), timeout=20)
        # Both open the room from that snapshot.
        for server in deployment.servers:
            late = Doc()
            async with connect_room(server.url, room, late, token=deployment.token):
                await wait_for(lambda late=late: text(late) == "one;two;")
    await still_works(deployment)


async def test_a_followed_stream_overwritten_with_another_type_is_dropped_and_rewritten(
    deployment,
):
    a, b = deployment.servers
    room = unique("idea")
    doc_a, doc_b = Doc(), Doc()
    async with (
        redis_client(deployment) as client,
        connect_room(a.url, room, doc_a, token=deployment.token),
        connect_room(b.url, room, doc_b, token=deployment.token),
    ):
        insert(doc_a, "one;")
        await wait_for(lambda: text(doc_b) == "one;")
        watch = await Watch(deployment, "room_updates").start()
        # A writer announced over pub/sub whose stream is not a stream: both follow it.
        await client.set(f"omniforge:room:{{{room}}}:log:ghost", "not a stream")
        await client.publish("omniforge:awareness", f"ghost\0{room}\0w\0".encode())
        await watch.counted_on(a, b)
        # The writer's own stream overwritten: its next update repairs it.
        stream = f"omniforge:room:{{{room}}}:log:{A}"
        await client.delete(stream)
        await client.set(stream, "not a stream either")
        insert(doc_a, "two;")
        await wait_for(lambda: text(doc_b) == "one;two;", timeout=20)
        assert await client.type(stream) == b"stream"
    await still_works(deployment)


# -- awareness ---------------------------------------------------------------------------------

HOSTILE_AWARENESS = {
    "not_splittable": b"garbage",
    "not_json_nor_splittable": b'{"instance": "mallory", "room": "presence"}',
    "sender_not_utf8": b"\xff\xfe\0presence\0u\0",
    "sender_with_spaces": b"mal lory\0presence\0u\0",
    "room_not_utf8": b"mallory\0\xff\0u\0",
    "unknown_kind": b"mallory\0presence\0z\0",
    "update_that_does_not_decode": b"mallory\0presence\0u\0\xff\xff\xff",
}


@pytest.mark.parametrize("message", HOSTILE_AWARENESS.values(), ids=list(HOSTILE_AWARENESS))
async def test_a_malformed_awareness_message_is_skipped_and_awareness_still_crosses(
    deployment, message
):
    a, b = deployment.servers
    alice = await open_connection(room_url(a.url, "presence", deployment.token))
    bob = await open_connection(room_url(b.url, "presence", deployment.token))
    seen_by_bob: dict = {}
    reader = asyncio.ensure_future(read_awareness(bob, seen_by_bob))

    async def crosses() -> None:
        client_id = uuid.uuid4().int % 2**31
        await alice.write_message(awareness_frame(client_id, 1, {"room": "idea:1"}), binary=True)
        await wait_for(lambda: seen_by_bob.get(client_id))

    try:
        # Awareness crossing once shows the room open on both instances (a room opens after
        # the upgrade's answer, and an instance without the room open ignores the message).
        await crosses()
        watch = await Watch(deployment, "awareness").start()
        async with redis_client(deployment) as client:
            await client.publish("omniforge:awareness", message)
        await watch.counted_on(a, b)
        await crosses()
    finally:
        reader.cancel()
        alice.close()
        bob.close()
    await still_works(deployment)


# -- instances ---------------------------------------------------------------------------------

HOSTILE_INSTANCES = {
    "not_json": (b"mallory", b"not json"),
    "json_array": (b"mallory", b"[]"),
    "id_not_a_string": (b"mallory", b'{"id": 5, "started": 1}'),
    "started_nan": (b"mallory", b'{"id": "mallory", "started": NaN}'),
    "rooms_not_a_list": (b"mallory", b'{"id": "mallory", "started": 1, "rooms": "x"}'),
    "another_instances_id": (b"mallory", b'{"id": "alpha", "started": 1, "rooms": []}'),
    "key_not_utf8": (b"\xff\xfe", b'{"id": "mallory", "started": 1}'),
    "nested_too_deep": (b"mallory", b'{"id": "mallory", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
}


@pytest.mark.parametrize("name, value", HOSTILE_INSTANCES.values(), ids=list(HOSTILE_INSTANCES))
async def test_a_malformed_instance_heartbeat_is_skipped_and_the_heartbeat_goes_on(
    deployment, name, value
):
    a, b = deployment.servers
    watch = await Watch(deployment, "instances").start()
    key = b"omniforge:instance:" + name
    async with redis_client(deployment) as client:
        await client.set(key, value)
        attacked = time.time()
        try:
            await watch.counted_on(a, b)  # by the heartbeats
            for server in deployment.servers:
                info = await cluster_info(deployment, server)
                assert {i["id"] for i in info["instances"]} == {A, B}

            async def heartbeats_go_on():
                info = await cluster_info(deployment, a)
                return all(i["seen"] > attacked + 0.5 for i in info["instances"])

            await wait_for(heartbeats_go_on, timeout=15)
        finally:
            await client.delete(key)
    await still_works(deployment)


# -- snapshots ---------------------------------------------------------------------------------

HOSTILE_SNAPSHOTS = {
    "cursors_not_json": {"last": b"{nope"},
    "cursors_not_an_object": {"last": b"[1]"},
    "cursor_not_a_stream_id": {"last": b'{"alpha": "abc"}'},
    "cursor_out_of_range": {"last": b'{"alpha": "99999999999999999999999-0"}'},
    "cursor_in_the_future": {"last": b'{"alpha": "99999999999999-0"}'},
    "writer_not_a_name": {"last": b'{"": "1-0", "a b": "1-0"}'},
    "data_not_an_update": {"data": b"\xff\xff\xff\xff"},
    "not_a_hash": None,
}


@pytest.mark.parametrize("fields", HOSTILE_SNAPSHOTS.values(), ids=list(HOSTILE_SNAPSHOTS))
async def test_a_malformed_snapshot_is_skipped_on_open_and_replaced_by_the_next_fold(
    deployment, fields
):
    a, b = deployment.servers
    room = unique("idea")
    snap = f"omniforge:room:{{{room}}}:snap"
    doc_a = Doc()
    async with (
        redis_client(deployment) as client,
        connect_room(a.url, room, doc_a, token=deployment.token),
    ):
        insert(doc_a, "one;")
        await wait_for(lambda: client.hexists(snap, "data"), timeout=20)  # folded once
        watch = await Watch(deployment, "snapshots").start()
        if fields is None:
            await client.delete(snap)
            await client.set(snap, "not a hash")
        else:
            await client.hset(snap, mapping=fields)
        insert(doc_a, "two;")  # a folds again
        doc_b = Doc()
        async with connect_room(b.url, room, doc_b, token=deployment.token):
            # Snapshot data that does not decode lost "one;": a, which has it, publishes again.
            await wait_for(lambda: text(doc_b) == "one;two;", timeout=20)
            # At open (b) or at the fold (a: the data does not decode), it was counted.
            await watch.counted_somewhere()

            async def well_formed_again():
                if await client.type(snap) != b"hash":
                    return False
                current = await client.hgetall(snap)
                try:
                    last = json.loads(current[b"last"])
                    cursors = [tuple(map(int, sid.split("-"))) for sid in last.values()]
                except (KeyError, ValueError, AttributeError):
                    return False
                return (
                    A in last
                    and all(re.fullmatch(r"[a-z]+", writer) for writer in last)
                    and all(ms < (time.time() + 60) * 1000 for ms, _ in cursors)
                    and current.get(b"data") != b"\xff\xff\xff\xff"
                )

            await wait_for(well_formed_again, timeout=20)
        late = Doc()
        async with connect_room(b.url, room, late, token=deployment.token):
            await wait_for(lambda: text(late) == "one;two;")
    await still_works(deployment)


# -- writers -----------------------------------------------------------------------------------

HOSTILE_WRITERS = {
    "not_utf8": b"\xff\xfe",
    "with_a_space": b"mal lory",
    "empty": b"",
    "too_long": b"x" * 300,
    "control_characters": b"mal\nlory",
}


@pytest.mark.parametrize("member", HOSTILE_WRITERS.values(), ids=list(HOSTILE_WRITERS))
async def test_an_odd_writer_name_is_skipped_when_a_room_opens(deployment, member):
    a, b = deployment.servers
    room = unique("idea")
    doc_a = Doc()
    async with (
        redis_client(deployment) as client,
        connect_room(a.url, room, doc_a, token=deployment.token),
    ):
        insert(doc_a, "one;")
        await wait_for(lambda: client.sismember(f"omniforge:room:{{{room}}}:writers", A))
        watch = await Watch(deployment, "writers").start()
        await client.sadd(f"omniforge:room:{{{room}}}:writers", member)
        doc_b = Doc()
        async with connect_room(b.url, room, doc_b, token=deployment.token):
            await wait_for(lambda: text(doc_b) == "one;")
            await watch.counted_on(b)
            insert(doc_b, "two;")
            await wait_for(lambda: text(doc_a) == "one;two;")
    await still_works(deployment)


async def test_a_writers_key_of_another_type_is_replaced_by_the_next_writer(deployment):
    a, b = deployment.servers
    room = unique("idea")
    writers = f"omniforge:room:{{{room}}}:writers"
    watch = await Watch(deployment, "writers").start()
    async with redis_client(deployment) as client:
        await client.set(writers, "not a set")
        doc_a = Doc()
        async with connect_room(a.url, room, doc_a, token=deployment.token):
            insert(doc_a, "one;")  # a enrols: the key is repaired
            await watch.counted_on(a)

            async def enrolled() -> bool:
                try:
                    return bool(await client.sismember(writers, A))
                except ResponseError:  # (WRONGTYPE) still the string: counted, not yet replaced
                    return False

            await wait_for(enrolled)
            doc_b = Doc()
            async with connect_room(b.url, room, doc_b, token=deployment.token):
                await wait_for(lambda: text(doc_b) == "one;")
    await still_works(deployment)


# -- epoch and leases --------------------------------------------------------------------------


@pytest.mark.parametrize("garbage", ["a_list", "not_a_token", "too_long"])
async def test_an_epoch_that_is_not_a_token_is_replaced_and_every_instance_follows(
    deployment, garbage
):
    watch = await Watch(deployment, "epoch").start()
    async with redis_client(deployment) as client:
        await client.delete("omniforge:epoch")
        if garbage == "a_list":
            await client.rpush("omniforge:epoch", "x", "y")
        else:
            await client.set(
                "omniforge:epoch", b"\xff not/a token" if garbage == "not_a_token" else "e" * 100
            )
        await watch.counted_somewhere()
        epoch = (await client.get("omniforge:epoch")).decode()
        assert epoch.isalnum() and len(epoch) <= 64

        async def both_follow():
            ids = [(await emit(deployment, s, unique("build")))["id"] for s in deployment.servers]
            return all(i.endswith("@" + epoch) for i in ids)

        await wait_for(both_follow, timeout=20, interval=0.5)
    await still_works(deployment)


@pytest.mark.parametrize("kind", ["string_without_expiry", "hash"])
async def test_a_lease_that_never_expires_is_given_an_expiry(deployment, kind):
    a, _ = deployment.servers
    room = unique("idea")
    lease = f"omniforge:room:{{{room}}}:lease"
    watch = await Watch(deployment, "leases").start()
    async with redis_client(deployment) as client:
        if kind == "hash":
            await client.hset(lease, "holder", "mallory")
        else:
            await client.set(lease, "mallory")
        doc = Doc()
        async with connect_room(a.url, room, doc, token=deployment.token):
            insert(doc, "one;")  # a tries to fold 0.5 s later
            await watch.counted_on(a)
            assert 0 < await client.pttl(lease) <= 30_000
            await client.delete(lease)  # as its expiry will
            insert(doc, "two;")
            await wait_for(
                lambda: client.hexists(f"omniforge:room:{{{room}}}:snap", "data"), timeout=20
            )
    await still_works(deployment)


# -- the fuzzer --------------------------------------------------------------------------------
#
# Random and mutated entries of every kind the backplane reads, written straight into the real
# redis-server (see jupyter_omniforge/backplane/redis/entries.py for what we write). After each
# example both server processes are alive and answer, `api/cluster` answers 200, two honest
# clients (one on each instance) converge in a room nothing forges, and an edit still crosses
# the room the forged entries target. The deployment is the module's: started once.

HONEST, VICTIM = "idea:fuzz-honest", "idea:fuzz-victim"
#: Examples per kind: a sixth of ``OMNIFORGE_FUZZ_EXAMPLES`` (16 by default), as each one ends
#: with checks across both instances.
REDIS_EXAMPLES = max(10, EXAMPLES // 6)
REDIS_FUZZ_SETTINGS = settings(
    max_examples=REDIS_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    # No shrinking: an example costs a round trip through two server processes, and a failing
    # one (a wait that times out) seconds; shrinking it ran past every timeout (Hypothesis
    # swallows pytest-timeout's signal). The first failing example is reported as found.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


def _json_bytes(value: object) -> bytes:
    return json.dumps(value, allow_nan=True).encode()  # NaN and Infinity on purpose


def _deep_json(depth: int, around: bytes = b"%s") -> bytes:
    return around.replace(b"%s", b"[" * depth + b"]" * depth)


_ENVELOPE = (
    b'{"channel": "build:fuzz", "type": "build.progress", "time": 1, "source": {}, "data": %s}'
)
names = st.sampled_from([A.encode(), B.encode(), b"mallory"]) | st.binary(max_size=8)
event_payloads = st.one_of(
    st.fixed_dictionaries(
        {
            "channel": st.sampled_from(["build:fuzz", "idea:1", "nosuch/x:1"]) | json_values,
            "type": st.sampled_from(["build.progress", "build.failed", "user.joined"]) | json_text,
            "time": json_values,
            "source": json_values,
            "data": json_values,
        },
        optional={"id": json_values},
    ).map(_json_bytes),
    st.builds(_json_bytes, json_values),
    st.binary(max_size=64),
    st.builds(_deep_json, st.integers(60, 5000), st.just(_ENVELOPE)),
).flatmap(lambda payload: st.just(payload) | mutated(payload))
event_entries = st.dictionaries(
    st.sampled_from([b"e", b"i", b"x"]) | st.binary(min_size=1, max_size=4),
    event_payloads,
    min_size=1,
    max_size=3,
)
room_entries = st.tuples(
    st.sampled_from([A, B, "mallory"]),
    st.one_of(
        updates.map(lambda update: {b"u": update}),
        st.dictionaries(st.binary(min_size=1, max_size=3), updates | st.binary(), min_size=1),
    ),
)
awareness_updates = st.lists(
    st.tuples(st.integers(0, 2**53), st.integers(0, 2**40), awareness_states), max_size=6
).map(lambda entries: p.encode_awareness_update([p.AwarenessEntry(*e) for e in entries]))
awareness_messages = st.one_of(
    st.binary(max_size=100),
    st.builds(
        lambda sender, room, kind, payload: b"\0".join((sender, room, kind, payload)),
        names,
        st.sampled_from([VICTIM.encode(), HONEST.encode() + b"x", b"presence"])
        | st.binary(max_size=12),
        st.sampled_from([b"u", b"w", b"q"]) | st.binary(max_size=2),
        awareness_updates | st.binary(max_size=40),
    ),
)
heartbeats = st.one_of(
    st.fixed_dictionaries(
        {"id": st.sampled_from(["mallory", A]) | json_values, "started": json_values},
        optional={"seen": json_values, "rooms": json_values, "peers": json_values},
    ).map(_json_bytes),
    st.builds(_json_bytes, json_values),
    st.binary(max_size=64),
    st.builds(_deep_json, st.integers(60, 5000), st.just(b'{"id": "mallory", "x": %s}')),
).flatmap(lambda value: st.just(value) | mutated(value))
instance_keys = st.tuples(names, heartbeats)


class RedisFuzz:
    """Honest clients on both instances, kept open across the examples, on a loop of its own
    (Hypothesis calls a plain function per example)."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.loop = asyncio.new_event_loop()
        self._stack = contextlib.AsyncExitStack()
        self.docs: dict[tuple[str, str], Doc] = {}
        self.redis: aioredis.Redis | None = None
        self.providers: dict[tuple[str, str], asyncio.Task] = {}
        self.marks = 0
        self.written: list = []  # what each example wrote, in order

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    async def start(self) -> None:
        self.redis = aioredis.Redis.from_url(self.deployment.redis.url)
        for room in (HONEST, VICTIM):
            for server in self.deployment.servers:
                doc = self.docs[room, server.url] = Doc()
                before = asyncio.all_tasks()
                await self._stack.enter_async_context(
                    connect_room(server.url, room, doc, token=self.deployment.token)
                )
                # The task running the client's pycrdt Provider: when applying what the server
                # relayed kills it (a panic), the client silently stops syncing.
                (self.providers[room, server.url],) = [
                    task
                    for task in asyncio.all_tasks() - before
                    if task.get_coro().__qualname__ == "Provider.start"
                ]

    async def stop(self) -> None:
        try:
            await self._stack.aclose()
        finally:
            await self.redis.aclose()

    async def attack(self, write) -> None:
        """Write one example's entries, then check that everything still works."""
        self.written.append(getattr(write, "entry", write))
        await write(self.redis)
        await self.check()

    def synced(self, predicate):
        """``predicate`` for :func:`wait_for`, failing at once (with the last entries written:
        the state they built matters too) when an honest client's provider died, instead of
        waiting out the timeout."""

        def check():
            for (room, url), task in self.providers.items():
                if task.done():
                    error = None if task.cancelled() else task.exception()
                    cause = error
                    while isinstance(cause, BaseExceptionGroup):  # the provider's task group
                        cause = cause.exceptions[0]
                    raise AssertionError(
                        f"the honest client of {room} on {url} stopped syncing: "
                        f"{type(cause).__name__}: {cause}; the last entries written, oldest "
                        f"first: {self.written[-5:]!r}"
                    ) from error
            return predicate()

        return check

    async def check(self) -> None:
        a, b = self.deployment.servers
        for server in self.deployment.servers:
            if server.proc.poll() is not None:
                log = server.log_path.read_text(errors="replace")[-3000:]
                raise AssertionError(f"{server.url} died ({server.proc.returncode}):\n{log}")
            code, body = await fetch_json(server.url + "omniforge/health/live")
            assert (code, body) == (200, {"status": "ok"})
            code, body = await fetch_json(
                server.url + "omniforge/api/cluster", token=self.deployment.token
            )
            assert code == 200 and all(isinstance(n, int) for n in body["malformed"].values())
        self.marks += 1
        honest_a, honest_b = self.docs[HONEST, a.url], self.docs[HONEST, b.url]
        insert(honest_a, f"a{self.marks};")
        insert(honest_b, f"b{self.marks};")
        await wait_for(
            self.synced(
                lambda: text(honest_a) == text(honest_b) and f"b{self.marks};" in text(honest_a)
            )
        )
        mark = f"<{self.marks}>"
        insert(self.docs[VICTIM, b.url], mark)
        await wait_for(self.synced(lambda: mark in text(self.docs[VICTIM, a.url])))


@pytest.fixture(scope="module")
def redis_fuzz(deployment):
    fuzz = RedisFuzz(deployment)
    fuzz.run(fuzz.start())
    yield fuzz
    try:
        fuzz.run(fuzz.stop())
    finally:
        fuzz.loop.close()


def _event_entry(fields):
    async def write(client):
        await client.xadd("omniforge:events", fields)

    write.entry = fields
    return write


def _room_entry(entry):
    writer, fields = entry

    async def write(client):
        await client.xadd(f"omniforge:room:{{{VICTIM}}}:log:{writer}", fields)
        if writer == "mallory":  # a writer of its own: both instances follow it
            await client.sadd(f"omniforge:room:{{{VICTIM}}}:writers", writer)
            await client.publish("omniforge:awareness", f"mallory\0{VICTIM}\0w\0".encode())

    write.entry = entry
    return write


def _awareness_message(message):
    async def write(client):
        await client.publish("omniforge:awareness", message)

    write.entry = message
    return write


def _instance_key(entry):
    name, value = entry

    async def write(client):
        # Read by api/cluster at once (the check) and by heartbeats until it expires; a forged
        # heartbeat of alpha or beta is replaced by their next one.
        await client.set(b"omniforge:instance:" + name, value, ex=2)

    write.entry = entry
    return write


#: Entries a run found harmful, written first, in this order (each builds on the state the ones
#: before it left): text re-sent under the same IDs, cut inside a character, which the servers
#: applied and relayed and every stock pycrdt client panicked on (test_split_character_panic.py).
FOUND_ENTRIES = {
    "room_stream_entries": [
        _room_entry(("mallory", {b"u": FIRST})),
        _room_entry(("mallory", {b"u": SECOND})),
    ],
}

#: What each target writes, and the kind of malformed entry (api/cluster) it must have made.
FUZZED_ENTRIES = {
    "event_entries": (event_entries.map(_event_entry), "events"),
    "room_stream_entries": (room_entries.map(_room_entry), "room_updates"),
    "awareness_messages": (awareness_messages.map(_awareness_message), "awareness"),
    "instance_keys": (instance_keys.map(_instance_key), "instances"),
}


async def _malformed(deployment: Deployment, kind: str) -> int:
    return sum([(await cluster_info(deployment, s))["malformed"][kind] for s in deployment.servers])


@pytest.mark.parametrize("target", list(FUZZED_ENTRIES))
def test_fuzz_redis_entries(deployment, redis_fuzz, target):
    entries, kind = FUZZED_ENTRIES[target]
    before = redis_fuzz.run(_malformed(deployment, kind))

    @REDIS_FUZZ_SETTINGS
    @given(entries)
    def attack(write) -> None:
        redis_fuzz.run(redis_fuzz.attack(write))

    for write in reversed(FOUND_ENTRIES.get(target, [])):  # Hypothesis runs the last added first
        attack = example(write)(attack)
    attack()

    async def whole_again():
        # The entries reached the parsers (the fuzzer is not writing beside the point) ...
        assert await _malformed(deployment, kind) > before

        # ... and a forged heartbeat of alpha or beta is replaced by the next real one.
        async def both_listed():
            found = [await cluster_info(deployment, s) for s in deployment.servers]
            return all({i["id"] for i in info["instances"]} == {A, B} for info in found)

        await wait_for(both_listed, timeout=15, interval=0.2)
        await still_works(deployment)

    redis_fuzz.run(whole_again())
