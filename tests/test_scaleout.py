"""Scale-out stories: several real Jupyter servers share rooms, awareness and events via a real
redis-server the tests start, kill and restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time

import pytest
from pycrdt import Doc, Text

from jupyter_omniforge.backplane.redis import RedisBackplane
from jupyter_omniforge.client import connect_room
from jupyter_omniforge.client.rooms import open_connection, room_url

from .cluster import LoadBalancer, RedisProcess, awareness_frame, read_awareness
from .conftest import fetch_json, wait_for
from .nodeclient import NodeClient, ensure_node_modules, node_installed
from .realtime import Gateway
from .test_metrics import scrape

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def redis_server(tmp_path):
    server = RedisProcess(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def cluster(server_process, redis_server, tmp_path):
    """Start ``n`` instances sharing ``redis_server``, each with its own SQLite journal."""

    async def start(n: int = 2, redis_url: str | None = None):
        servers = [
            server_process(
                [
                    f"--OmniForgeApp.redis_url={redis_url or redis_server.url}",
                    "--OmniForgeApp.room_idle_timeout=1",
                    # Crowds of one user (the token's): hundreds of connections.
                    "--OmniForgeApp.max_connections_per_user=1000",
                ],
                db=tmp_path / f"instance{i}" / "omniforge.sqlite",
            )
            for i in range(n)
        ]
        # The same token everywhere, as behind one load balancer.
        for server in servers[1:]:
            server.token = servers[0].token
        await asyncio.gather(*(s.start() for s in servers))
        return servers

    return start


def text(doc: Doc, root: str = "code") -> str:
    return str(doc.get(root, type=Text))


async def test_clients_on_different_instances_edit_one_room_and_converge(cluster):
    a, b, c = await cluster(3)
    docs = [Doc(), Doc(), Doc()]
    async with (
        connect_room(a.url, "idea:x", docs[0], token=a.token),
        connect_room(b.url, "idea:x", docs[1], token=b.token),
        connect_room(c.url, "idea:x", docs[2], token=c.token),
    ):
        docs[0].get("code", type=Text).insert(0, "A")
        await wait_for(lambda: all(text(d) == "A" for d in docs))
        docs[1].get("code", type=Text).insert(1, "B")
        docs[2].get("code", type=Text).insert(0, "C")
        await wait_for(lambda: len({text(d) for d in docs}) == 1 and len(text(docs[0])) == 3)
    # A newcomer on any instance gets the whole document.
    late = Doc()
    async with connect_room(b.url, "idea:x", late, token=b.token):
        assert text(late) == text(docs[0])
    _, info = await fetch_json(a.url + "omniforge/api/cluster", token=a.token)
    assert len(info["instances"]) == 3 and sum(i["self"] for i in info["instances"]) == 1
    # Each instance read the others' updates from Redis: its follow lag is measured.
    for server in (a, b, c):
        lag = await scrape(server.url, server.token)
        assert lag["omniforge_redis_follow_lag_seconds_count"] >= 1
        assert 0 <= lag["omniforge_redis_follow_lag_seconds_sum"] < 60


async def test_awareness_and_its_removal_cross_instances(cluster):
    a, b = await cluster(2)
    alice = await open_connection(room_url(a.url, "presence", a.token))
    bob = await open_connection(room_url(b.url, "presence", b.token))
    seen_by_bob: dict = {}
    reader = asyncio.ensure_future(read_awareness(bob, seen_by_bob))
    await alice.write_message(awareness_frame(4242, 1, {"room": "idea:1"}), binary=True)
    state = await wait_for(lambda: seen_by_bob.get(4242))
    assert state["room"] == "idea:1" and state["user"]["username"]
    alice.close()
    await wait_for(lambda: 4242 in seen_by_bob and seen_by_bob[4242] is None)
    # States of an instance that dies disappear too.
    carol = await open_connection(room_url(a.url, "presence", a.token))
    await carol.write_message(awareness_frame(777, 1, {"room": "idea:2"}), binary=True)
    await wait_for(lambda: seen_by_bob.get(777))
    a.kill9()
    await wait_for(lambda: 777 in seen_by_bob and seen_by_bob[777] is None, timeout=20)
    reader.cancel()
    bob.close()


class AwarenessRecorder:
    """The receiving end of a backplane: records the awareness other instances relay."""

    def __init__(self, room: str) -> None:
        self.rooms = {room: None}
        self.received: list[bytes] = []

    def apply_remote_awareness(self, room: str, instance: str, awareness_update: bytes) -> None:
        self.received.append(awareness_update)

    def local_awareness(self, room: str) -> None:
        return None

    def remote_instances(self) -> set[str]:
        return set()

    def expire_remote_awareness(self, older_than: float) -> None:
        pass


async def test_awareness_crosses_in_the_order_it_was_published(redis_server):
    """Pub/sub may lose awareness, but must not reorder it: a removal that overtakes the
    state it removes leaves a ghost cursor on the other instances."""
    sender, receiver = (RedisBackplane(redis_server.url, instance_id=i) for i in ("a", "b"))
    recorder = AwarenessRecorder("idea:1")
    receiver.attach(recorder)
    sender.attach(AwarenessRecorder("idea:1"))
    await sender.start()
    await receiver.start()
    try:
        while not recorder.received:  # until the receiver is subscribed
            sender.publish_awareness("idea:1", b"probe")
            await asyncio.sleep(0.05)
        recorder.received.clear()
        for burst in range(10):
            for n in range(100):
                sender.publish_awareness("idea:1", b"%d" % (burst * 100 + n))
            await asyncio.sleep(0)
        await wait_for(lambda: len([m for m in recorder.received if m != b"probe"]) >= 1000)
        received = [int(m) for m in recorder.received if m != b"probe"]
        assert received == list(range(1000))
    finally:
        await sender.close()
        await receiver.close()


async def test_a_data_loss_another_reader_noticed_first_is_still_recovered(redis_server):
    """Redis lost its data, and another reader of the instance (the event stream's, after an
    error) read the new epoch first. The heartbeat must still merge the open rooms back and
    enrol again: it used to act only on a change it saw itself, so an instance that followed
    no other writer's stream (nothing of its reads failed) never recovered, and the others
    never read what it published after (CI, test_a_redis_restart_loses_no_update)."""
    backplane = RedisBackplane(redis_server.url, instance_id="a", heartbeat_interval=0.5)
    backplane.attach(AwarenessRecorder("idea:1"))
    await backplane.start()
    recovered = asyncio.Event()
    real = backplane._recovered

    async def spy() -> None:
        await real()
        recovered.set()

    backplane._recovered = spy  # type: ignore[method-assign]
    try:
        await backplane.connection.redis.flushall()
        assert await backplane.connection.check_epoch()  # noticed, and the epoch read, here
        await asyncio.wait_for(recovered.wait(), 5)
        assert not backplane.connection.data_lost
    finally:
        await backplane.close()


async def test_sigterm_right_after_a_crowd_left_stops_the_server_promptly(cluster):
    """Shutting down while hundreds of departures are still being processed used to lose the
    cancellation of a Redis reader, and the server then ignored SIGTERM."""
    (a,) = await cluster(1)
    conns = [await open_connection(room_url(a.url, "idea:crowd", a.token)) for _ in range(300)]
    for conn in conns:
        conn.close()
    await asyncio.sleep(0.2)
    a.proc.terminate()
    started = time.monotonic()
    await wait_for(lambda: a.proc.poll() is not None, timeout=20)
    assert a.proc.returncode == 0
    assert time.monotonic() - started < 5


async def test_events_cross_instances_and_replay_after_switching_instance(cluster):
    a, b = await cluster(2)
    on_b = await Gateway.connect(b.url, b.token)
    await on_b.send(type="subscribe", channels=["build:*"])
    await on_b.next("subscribed")
    _, first = await fetch_json(
        a.url + "omniforge/api/events",
        method="POST",
        token=a.token,
        body={"channel": "build:1", "type": "build.started", "data": {}},
    )
    await wait_for(lambda: on_b.events() == [first])
    on_b.close()
    missed = []

    def progress(i: int) -> dict:
        return {
            "channel": "build:1",
            "type": "build.progress",
            "data": {"percent": i, "message": str(i)},
        }

    for i in range(10):
        _, envelope = await fetch_json(
            b.url + "omniforge/api/events", method="POST", token=b.token, body=progress(i)
        )
        missed.append(envelope)
    # A batch goes into the shared stream in one transaction, in order.
    _, answer = await fetch_json(
        b.url + "omniforge/api/events",
        method="POST",
        token=b.token,
        body=[progress(i) for i in range(10, 20)],
    )
    assert answer["stored"] == 10 and all("@" in e["id"] for e in answer["events"])
    missed += answer["events"]
    on_a = await Gateway.connect(a.url, a.token)  # reconnects to the other instance
    await on_a.send(type="subscribe", channels=["build:*"], lastEventId=first["id"])
    await wait_for(lambda: len(on_a.events()) == 20)
    assert on_a.events() == missed
    assert not on_a.of_type("reset")
    on_a.close()


@pytest.mark.skipif(not node_installed(), reason="node is not installed")
async def test_a_killed_instance_loses_nothing_its_clients_sent(cluster):
    ensure_node_modules()
    a, b = await cluster(2)
    balancer = await LoadBalancer([a.port, b.port]).start()
    ws = "ws" + balancer.url[len("http") :] + "omniforge/rooms"
    clients = [await NodeClient.start(ws, "idea:kill", a.token) for _ in range(4)]
    try:
        for client in clients:
            await client.wait_synced()
        for i, client in enumerate(clients):
            await client.check({"cmd": "insert", "root": "code", "index": 0, "text": f"<{i}>"})
        a.kill9()  # mid-edit: some clients were on a
        for i, client in enumerate(clients):
            await client.check({"cmd": "insert", "root": "code", "index": 0, "text": f"[{i}]"})

        # Every client reconnects (to b) and every edit, before and after the kill, converges.
        async def texts():
            return {
                (await c.check({"cmd": "get", "roots": {"code": "text"}}))["json"].get("code", "")
                for c in clients
            }

        async def converged():
            found = await texts()
            return len(found) == 1 and len(next(iter(found))) == 4 * 3 * 2

        await wait_for(converged, timeout=60, interval=0.2)
        (final,) = await texts()

        async def on_b():
            _, body = await fetch_json(
                b.url + "omniforge/api/rooms/idea:kill?roots=code:text",
                token=b.token,
                raise_error=False,
            )
            return body and body.get("content", {}).get("code") == final

        await wait_for(on_b, timeout=30)
    finally:
        for client in clients:
            await client.close()
        await balancer.close()


@contextlib.asynccontextmanager
async def explained(*docs: Doc, servers):
    """On a failed wait, print what each client and each server holds."""
    try:
        yield
    except AssertionError:
        print("DOCS", *(repr(text(doc)) for doc in docs))
        for srv in servers:
            _, body = await fetch_json(srv.url + "omniforge/api/rooms/idea:r", token=srv.token)
            print("SERVER", srv.port, body["content"])
        raise


@pytest.mark.parametrize("keep_data", [True, False], ids=["redis-keeps-data", "redis-loses-data"])
async def test_a_redis_restart_loses_no_update(cluster, redis_server, keep_data):
    a, b = await cluster(2)
    doc_a, doc_b = Doc(), Doc()
    watcher = await Gateway.connect(b.url, b.token)
    await watcher.send(type="subscribe", channels=["build:*"])
    subscribed = await watcher.next("subscribed")
    async with (
        connect_room(a.url, "idea:r", doc_a, token=a.token),
        connect_room(b.url, "idea:r", doc_b, token=b.token),
    ):
        doc_a.get("code", type=Text).insert(0, "before;")
        async with explained(doc_a, doc_b, servers=(a, b)):
            await wait_for(lambda: text(doc_b) == "before;")
        redis_server.stop(wipe=not keep_data)
        # Both keep serving their own clients while Redis is down.
        doc_a.get("code", type=Text).insert(0, "A-during;")
        doc_b.get("code", type=Text).insert(0, "B-during;")
        await asyncio.sleep(0.5)
        redis_server.start()
        doc_a.get("code", type=Text).insert(0, "after;")
        async with explained(doc_a, doc_b, servers=(a, b)):
            await wait_for(
                lambda: text(doc_a) == text(doc_b) and len(text(doc_a)) == 31, timeout=30
            )
        assert {"before;", "A-during;", "B-during;", "after;"} <= {
            part + ";" for part in text(doc_a).split(";") if part
        }

    # Events emitted after the restart still cross instances; an old cursor is reset if Redis
    # lost the stream.
    async def emitted():
        code, envelope = await fetch_json(
            a.url + "omniforge/api/events",
            method="POST",
            token=a.token,
            raise_error=False,
            body={"channel": "build:9", "type": "build.started", "data": {}},
        )
        return envelope if code == 201 else None

    envelope = await wait_for(emitted, timeout=30)
    await wait_for(lambda: envelope in watcher.events(), timeout=30)
    watcher.close()
    again = await Gateway.connect(b.url, b.token)
    await again.send(type="subscribe", channels=["build:*"], lastEventId=subscribed["lastEventId"])
    if keep_data:
        await wait_for(lambda: envelope in again.events())
        assert not again.of_type("reset")
    else:
        await again.next("reset")
        await wait_for(lambda: envelope in again.events())
    again.close()


async def test_randomised_concurrent_edits_across_instances_end_identical(cluster):
    servers = await cluster(3)
    rng = random.Random(1234)
    docs = [Doc() for _ in range(6)]
    rooms = [
        connect_room(servers[i % 3].url, "project:stress", docs[i], token=servers[0].token)
        for i in range(6)
    ]
    async with contextlib_all(rooms):
        for _ in range(300):
            doc = rng.choice(docs)
            t = doc.get("code", type=Text)
            if len(t) and rng.random() < 0.3:
                start = rng.randrange(len(t))
                del t[start : min(len(t), start + rng.randint(1, 3))]
            else:
                t.insert(rng.randint(0, len(t)), rng.choice("abcdef"))
            if rng.random() < 0.2:
                await asyncio.sleep(0.001)
        await wait_for(lambda: len({text(d) for d in docs}) == 1, timeout=30)


def contextlib_all(managers):
    import contextlib

    stack = contextlib.AsyncExitStack()

    class _All:
        async def __aenter__(self):
            await stack.__aenter__()
            for manager in managers:
                await stack.enter_async_context(manager)

        async def __aexit__(self, *exc):
            return await stack.__aexit__(*exc)

    return _All()


async def test_an_unreachable_redis_is_a_clear_error_not_a_hang(server_process, tmp_path):
    from .conftest import free_port

    port = free_port()
    server = server_process(
        [
            f"--OmniForgeApp.redis_url=redis://127.0.0.1:{port}/0",
            "--OmniForgeApp.redis_connect_timeout=1",
        ]
    )
    server._spawn()
    from tornado.httpclient import AsyncHTTPClient

    async def answered():
        try:
            r = await AsyncHTTPClient().fetch(
                server.url + "omniforge/health/ready", raise_error=False, request_timeout=5
            )
        except OSError:
            return None
        return r.code

    assert await wait_for(answered, timeout=60) == 503
    code, body = await fetch_json(
        server.url + "omniforge/api/rooms", token=server.token, raise_error=False
    )
    assert code == 503 and "unreachable" in body["message"]
    # Once Redis is there, the server becomes ready by itself.
    redis = RedisProcess(tmp_path / "late-redis")
    redis.port = port
    redis.start()
    try:
        assert await wait_for(lambda: answered(), timeout=30) and await wait_for(
            lambda: _is(answered, 200), timeout=30
        )
    finally:
        redis.stop()


async def _is(probe, value):
    return await probe() == value


async def test_one_lease_holder_folds_a_room_stream_into_a_snapshot(
    server_process, redis_server, tmp_path
):
    """The writer folds a room after compact_max_updates stream entries or, as here where
    update batching merges 60 edits into fewer entries, compact_idle seconds after the last."""
    import redis.asyncio as aioredis

    servers = [
        server_process(
            [
                f"--OmniForgeApp.redis_url={redis_server.url}",
                "--OmniForgeApp.compact_max_updates=20",
                "--OmniForgeApp.compact_idle=1",
            ],
            db=tmp_path / f"i{i}" / "omniforge.sqlite",
        )
        for i in range(2)
    ]
    servers[1].token = servers[0].token
    a, b = await asyncio.gather(*(s.start() for s in servers))
    doc = Doc()
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        async with connect_room(a.url, "idea:fold", doc, token=a.token):
            for i in range(60):
                doc.get("code", type=Text).insert(0, f"{i};")
                await asyncio.sleep(0.002)
            expected = text(doc)

            # Only instance a wrote, so the room has one writer stream.
            async def the_writer():
                writers = await client.smembers("omniforge:room:{idea:fold}:writers")
                return len(writers) == 1 and next(iter(writers)).decode()

            writer = await wait_for(the_writer)
            stream = f"omniforge:room:{{idea:fold}}:log:{writer}"

            async def folded_through_the_end():
                snap = await client.hgetall("omniforge:room:{idea:fold}:snap")
                newest = await client.xrevrange(stream, count=1)
                return (
                    snap.get(b"data")
                    and newest
                    and json.loads(snap[b"last"]) == {writer: newest[0][0].decode()}
                )

            await wait_for(folded_through_the_end, timeout=20)

            async def released():
                return not await client.exists("omniforge:room:{idea:fold}:lease")

            await wait_for(released, timeout=10)
            # An instance opening the room reads snapshot + tail and gets everything.
            late = Doc()
            async with connect_room(b.url, "idea:fold", late, token=b.token):
                await wait_for(lambda: text(late) == expected)
    finally:
        await client.aclose()


async def test_redis_url_without_redis_py_stops_the_server_saying_what_to_install(tmp_path):
    """redis-py is optional (``pip install jupyter_omniforge[redis]``): a server told to use
    Redis without it must not come up half-working."""
    import os

    from .conftest import free_port, spawn_jupyter

    # A server in which `import redis` fails, as where redis-py is not installed.
    wrapper = tmp_path / "wrapper"
    wrapper.mkdir()
    (wrapper / "server_without_redis.py").write_text(
        "import sys\n"
        "sys.modules['redis'] = None\n"
        "from jupyter_server.serverapp import main\n"
        "sys.exit(main())\n"
    )
    log = tmp_path / "server.log"
    path = os.pathsep.join(filter(None, [str(wrapper), os.environ.get("PYTHONPATH")]))
    proc = spawn_jupyter(
        "server_without_redis",
        home=tmp_path / "home",
        root=tmp_path / "root",
        port=free_port(),
        token="t",
        db=tmp_path / "omniforge.sqlite",
        log_path=log,
        extra=["--OmniForgeApp.redis_url=redis://127.0.0.1:1/0"],
        env={"PYTHONPATH": path},
    )
    try:
        await wait_for(lambda: proc.poll() is not None, timeout=60, interval=0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode != 0
    output = log.read_text()
    assert "redis-py is not installed" in output
    assert "pip install 'jupyter_omniforge[redis]'" in output
