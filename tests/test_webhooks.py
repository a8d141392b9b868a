"""Outgoing webhooks: events POSTed to a real local HTTP endpoint that checks every Standard
Webhooks signature, fails, goes away and comes back; queued in the store across restarts; sent
by one instance of two sharing a Redis."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado import httpserver, web

from .cluster import RedisProcess
from .conftest import fetch_json, wait_for
from .identities import USER_HEADER

pytestmark = pytest.mark.timeout(120)

KEY = b"a shared secret of 32 bytes long"
SECRET = "whsec_" + base64.b64encode(KEY).decode()


class Receiver:
    """A webhook endpoint on ``127.0.0.1:port``. Every request's Standard Webhooks headers and
    signature are checked here, from the spec (not with the server's code). The first
    ``fail_first`` requests get a 500; the others a 200, and count as delivered."""

    def __init__(self, port: int, *, key: bytes = KEY, fail_first: int = 0) -> None:
        self.port = port
        self.key = key
        self.fail_first = fail_first
        self.requests: list[dict[str, Any]] = []
        #: path -> [(webhook-id, body as JSON)], in the order answered 200.
        self.delivered: dict[str, list[tuple[str, Any]]] = {}
        self._server: httpserver.HTTPServer | None = None

    def url(self, path: str = "hook") -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def start(self) -> Receiver:
        app = web.Application([(r"/(.*)", _Hook, {"receiver": self})])
        _STARTED[self.port] = self
        reserved = take_port(self.port)
        if reserved is None:  # a restart: the port was ours a moment ago
            self._server = app.listen(self.port, address="127.0.0.1")
        else:
            reserved.listen(128)
            self._server = httpserver.HTTPServer(app)
            self._server.add_sockets([reserved])
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None

    def received(self, path: str = "hook") -> list[Any]:
        return [body for _, body in self.delivered.get(path, [])]


class _Hook(web.RequestHandler):
    def initialize(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def post(self, path: str) -> None:
        receiver = self.receiver
        headers = self.request.headers
        message_id = headers.get("webhook-id", "")
        timestamp = headers.get("webhook-timestamp", "")
        signed = f"{message_id}.{timestamp}.".encode() + self.request.body
        expected = (
            "v1,"
            + base64.b64encode(hmac.new(receiver.key, signed, hashlib.sha256).digest()).decode()
        )
        receiver.requests.append(
            {
                "path": path,
                "id": message_id,
                "signed": hmac.compare_digest(headers.get("webhook-signature", ""), expected),
                "fresh": timestamp.isdigit() and abs(time.time() - int(timestamp)) < 60,
                "json": headers.get("content-type") == "application/json",
            }
        )
        if len(receiver.requests) <= receiver.fail_first:
            self.set_status(500)
            return
        receiver.delivered.setdefault(path, []).append((message_id, json.loads(self.request.body)))


def endpoint(url: str, **entry: Any) -> dict[str, Any]:
    return {"url": url, "secret": SECRET, **entry}


#: Ports the tests' endpoints will listen on, bound (not listening: a connection is refused,
#: as by an endpoint that is down) from the moment they are chosen.
_RESERVED: dict[int, socket.socket] = {}
#: The receiver started on each port, stopped when its test ends (even if it failed).
_STARTED: dict[int, Receiver] = {}


@pytest.fixture
def hook_port() -> Iterator[int]:
    """A free port kept bound until the test's endpoint listens on it: chosen, then freed and
    bound again later, it was sometimes taken meanwhile (an outgoing connection's ephemeral port
    under a loaded CI run: "Address already in use")."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    port = sock.getsockname()[1]
    _RESERVED[port] = sock
    yield port
    left = _RESERVED.pop(port, None)
    if left is not None:
        left.close()
    receiver = _STARTED.pop(port, None)
    if receiver is not None and receiver._server is not None:
        receiver._server.stop()  # its listening socket; connections end with the server


def take_port(port: int) -> socket.socket | None:
    """The bound socket of ``port`` for a server to listen on (None once taken)."""
    return _RESERVED.pop(port, None)


async def webhooks_status(server_url: str, token: str, **headers: str) -> Any:
    return await fetch_json(
        server_url + "omniforge/api/webhooks", token=token, headers=headers, raise_error=False
    )


async def progress(omniforge: Any, channel: str, n: int) -> list[str]:
    """Emit ``n`` progress events on ``channel``; their ids."""
    return [
        (
            await omniforge.emit(
                channel, "build.progress", {"percent": i % 101, "message": f"step {i}"}
            )
        )["id"]
        for i in range(n)
    ]


class TestDelivery:
    @pytest.fixture
    def omniforge_config(self, hook_port: int) -> dict:
        return {"webhooks": [endpoint(f"http://127.0.0.1:{hook_port}/hook")]}

    async def test_every_event_arrives_signed_once_and_in_order_through_failures_and_a_restart(
        self, omniforge, hook_port, server_url, token
    ):
        receiver = Receiver(hook_port, fail_first=3).start()
        ids = await progress(omniforge, "build:wh", 5)
        await wait_for(lambda: len(receiver.received()) >= 2, timeout=30)
        # The endpoint goes away mid-stream, events keep coming, then it is back on its port.
        await receiver.stop()
        ids += await progress(omniforge, "build:wh", 5)
        await asyncio.sleep(0.5)  # a few attempts fail against the closed port
        receiver.start()
        await wait_for(lambda: len(receiver.received()) >= 10, timeout=30)
        await asyncio.sleep(0.5)  # nothing more comes
        # In order, each once, but for the request the receiver answered just as it stopped:
        # the answer lost, that one is sent again, with the same webhook-id (at least once).
        delivered = receiver.delivered["hook"]
        first: dict[str, Any] = {}
        for message_id, body in delivered:
            first.setdefault(message_id, body)
        received = list(first.values())
        assert [event["id"] for event in received] == ids
        assert len(delivered) - len(received) <= 1
        assert [event["data"]["message"] for event in received[:2]] == ["step 0", "step 1"]
        assert all(e["channel"] == "build:wh" and e["type"] == "build.progress" for e in received)
        assert receiver.fail_first == 3 and len(receiver.requests) >= 13
        assert all(r["signed"] and r["fresh"] and r["json"] for r in receiver.requests)
        message_ids = [message_id for message_id, _ in delivered]
        assert len(set(message_ids)) == 10  # one webhook-id per event...
        assert {r["id"] for r in receiver.requests} == set(message_ids)  # ...on every attempt
        status, answer = await webhooks_status(server_url, token)
        assert status == 200
        (shown,) = answer["webhooks"]
        assert shown["backlog"] == 0 and shown["last_status"] == 200 and shown["failures"] == []
        assert shown["url"] == receiver.url() and shown["sending"] is True
        await receiver.stop()


class TestFilters:
    @pytest.fixture
    def omniforge_config(self, hook_port: int) -> dict:
        base = f"http://127.0.0.1:{hook_port}"
        return {
            "webhooks": [
                endpoint(f"{base}/ends", channels=["build:*"], types=["build.completed"]),
                endpoint(f"{base}/deploys", types=["deployment.*"]),
                endpoint(f"{base}/one", channels=["idea:7"]),
                {"url": f"{base}/slack", "format": "slack", "channels": ["build:*"]},
            ]
        }

    async def test_each_endpoint_gets_its_channels_and_types_and_slack_a_summary(
        self, omniforge, hook_port
    ):
        receiver = Receiver(hook_port).start()
        await omniforge.emit("build:s1", "build.started")
        await omniforge.emit("build:s1", "build.progress", {"percent": 40, "message": "compiling"})
        await omniforge.emit("build:s1", "build.completed")
        await omniforge.emit("build:s2", "build.failed", {"error": "tests <failed>"})
        await omniforge.emit("deployment:d1", "deployment.started")
        await omniforge.emit("idea:7", "idea.updated")
        await omniforge.emit("idea:8", "idea.updated")
        await wait_for(lambda: len(receiver.received("slack")) == 4)
        await wait_for(lambda: len(receiver.received("one")) == 1)
        await asyncio.sleep(0.3)
        assert [(e["channel"], e["type"]) for e in receiver.received("ends")] == [
            ("build:s1", "build.completed")
        ]
        assert [e["channel"] for e in receiver.received("deploys")] == ["deployment:d1"]
        assert [e["channel"] for e in receiver.received("one")] == ["idea:7"]
        texts = [body["text"] for body in receiver.received("slack")]
        assert list(receiver.received("slack")[0]) == ["text"]
        assert texts[0].startswith("build:s1 started")
        assert texts[1] == "build:s1 40% compiling"
        assert texts[2].startswith("build:s1 completed in ") and texts[2].endswith(" s")
        assert texts[3] == "build:s2 failed: tests &lt;failed&gt;"
        slack = [r for r in receiver.requests if r["path"] == "slack"]
        assert slack and not any(r["signed"] for r in slack)  # no secret given: not signed
        assert all(r["signed"] for r in receiver.requests if r["path"] != "slack")
        await receiver.stop()


POLICY = """
default: write
rules: []
"""


class TestGivingUp:
    @pytest.fixture
    def omniforge_config(self, hook_port: int, tmp_path: Path) -> dict:
        policy = tmp_path / "policy.yaml"
        policy.write_text(POLICY)
        return {
            "webhooks": [endpoint(f"http://127.0.0.1:{hook_port}/hook?token=in-the-url")],
            "webhook_retry_hours": 0.001,  # 3.6 s
            "room_policy_file": str(policy),
        }

    async def test_deliveries_are_given_up_after_the_retry_window_and_shown_to_admins_only(
        self, omniforge, hook_port, server_url, token
    ):
        receiver = Receiver(hook_port, fail_first=1000).start()
        ids = await progress(omniforge, "build:gone", 2)

        async def given_up() -> Any:
            _, answer = await webhooks_status(server_url, token)
            shown = answer["webhooks"][0]
            return shown if len(shown["failures"]) == 2 and shown["backlog"] == 0 else None

        shown = await wait_for(given_up, timeout=30)
        assert [f["event_id"] for f in shown["failures"]] == ids[::-1]  # newest first
        assert all(f["attempts"] >= 1 and f["error"] == "HTTP 500" for f in shown["failures"])
        assert shown["last_status"] == 500 and shown["last_error"] == "HTTP 500"
        assert time.time() - 60 < shown["last_time"] <= time.time()
        assert set(shown) == {
            "url",
            "channels",
            "types",
            "format",
            "sending",
            "backlog",
            "last_status",
            "last_time",
            "last_error",
            "failures",
        }
        assert shown["url"] == f"http://127.0.0.1:{hook_port}/hook?…"  # no query: it may be secret
        assert (shown["channels"], shown["types"], shown["format"]) == (["*"], ["*"], "json")
        _, raw = await fetch_json(server_url + "omniforge/api/webhooks", token=token)
        text = json.dumps(raw)
        assert SECRET not in text and "in-the-url" not in text
        # The first event's attempts ran over its window; the second's queue time was the same.
        first = [r for r in receiver.requests if r["id"].endswith(f"_{ids[0]}")]
        assert len(first) >= 3
        status, _ = await webhooks_status(server_url, token, **{USER_HEADER: "alice"})
        assert status == 403  # alice may write, not administer
        await receiver.stop()


class TestDeadEndpoint:
    @pytest.fixture
    def omniforge_config(self, hook_port: int) -> dict:
        return {
            "webhooks": [endpoint(f"http://127.0.0.1:{hook_port}/hook")],
            "webhook_timeout": 60.0,
        }

    @pytest.fixture
    def after_server(self) -> Iterator[list[Callable[[], None]]]:
        """What to close after the server stops (asked for before ``omniforge``, so torn down
        after it)."""
        closes: list[Callable[[], None]] = []
        yield closes
        for close in closes:
            close()

    async def test_an_endpoint_that_never_answers_does_not_slow_emits(
        self, after_server, omniforge, hook_port, server_url, token
    ):
        connections: list[asyncio.StreamWriter] = []

        async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(writer)  # accepted, read by nobody, never answered

        silent = await asyncio.start_server(hang, sock=take_port(hook_port))
        try:
            await omniforge.emit("build:slow", "build.started")
            await wait_for(lambda: connections)  # the first delivery hangs from here on
            started = time.monotonic()
            await progress(omniforge, "build:slow", 200)
            took = time.monotonic() - started
            assert took < 10, f"200 emits took {took:.1f} s"
            _, answer = await webhooks_status(server_url, token)
            assert answer["webhooks"][0]["backlog"] == 201
            assert answer["webhooks"][0]["last_status"] is None
            assert len(connections) == 1  # in order: the next waits for the hung one
        finally:
            # Closed once the server has stopped, its request still hanging on an open
            # connection: closed first, it went to retry, and the server's stop then cut that
            # connect short, leaking its socket.
            after_server.extend(writer.close for writer in connections)
            after_server.append(silent.close)


class TestConfiguration:
    @pytest.fixture
    def omniforge_config(self) -> dict:
        return {
            "webhooks": [
                endpoint("http://127.0.0.1:9/ok"),
                {"url": "ftp://example.com/x", "secret": SECRET},
            ]
        }

    async def test_a_wrong_entry_keeps_the_server_from_serving_with_the_reason(
        self, server_url, token
    ):
        status, answer = await fetch_json(
            server_url + "omniforge/api/rooms", token=token, raise_error=False
        )
        assert status == 503, answer
        assert "OmniForgeApp.webhooks[1]: url" in answer["message"]
        assert SECRET not in json.dumps(answer)


def write_webhooks_config(server: Any, webhooks: list[dict[str, Any]], **settings: Any) -> None:
    """The webhooks of the servers sharing ``server``'s Jupyter home, in its config file."""
    config = server.jupyter_home / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"OmniForgeApp": {"webhooks": webhooks, **settings}})
    )


async def emit(server: Any, channel: str, i: int) -> str:
    _, envelope = await fetch_json(
        server.url + "omniforge/api/events",
        method="POST",
        token=server.token,
        body={"channel": channel, "type": "build.progress", "data": {"percent": i, "message": ""}},
    )
    return envelope["id"]


async def test_the_queue_survives_a_server_restart(server_process, hook_port, tmp_path):
    receiver = Receiver(hook_port).start()
    first = server_process()
    write_webhooks_config(first, [endpoint(receiver.url())])
    await first.start()
    ids = [await emit(first, "build:r", 0)]
    await wait_for(lambda: len(receiver.received()) == 1)
    await receiver.stop()
    ids += [await emit(first, "build:r", i) for i in range(1, 6)]  # the endpoint is down
    _, answer = await webhooks_status(first.url, first.token)
    assert answer["webhooks"][0]["backlog"] == 5
    first.stop()
    again = server_process(db=first.db)
    again.token = first.token
    await again.start()
    receiver.start()
    await wait_for(lambda: len(receiver.received()) == 6, timeout=30)
    await asyncio.sleep(0.5)
    assert [e["id"] for e in receiver.received()] == ids
    await receiver.stop()


async def test_two_instances_over_redis_send_each_event_once(server_process, hook_port, tmp_path):
    redis = RedisProcess(tmp_path / "redis").start()
    receiver = Receiver(hook_port).start()
    try:
        servers = [
            server_process(
                [f"--OmniForgeApp.redis_url={redis.url}"], db=tmp_path / f"i{i}" / "db.sqlite"
            )
            for i in range(2)
        ]
        servers[1].token = servers[0].token
        write_webhooks_config(servers[0], [endpoint(receiver.url(), channels=["build:*"])])
        await asyncio.gather(*(s.start() for s in servers))
        ids = [await emit(servers[i % 2], "build:x", i) for i in range(20)]
        await wait_for(lambda: len(receiver.received()) >= 20, timeout=30)
        assert [e["id"] for e in receiver.received()] == ids
        sending = []
        for server in servers:
            _, answer = await webhooks_status(server.url, server.token)
            sending.append(answer["webhooks"][0]["sending"])
        assert sorted(sending) == [False, True]
        # The sender stops (once it has taken each answer: one cut short may be sent again);
        # the other instance takes over where it stopped.
        holder, other = (servers[0], servers[1]) if sending[0] else (servers[1], servers[0])
        await wait_for(lambda: _backlog(holder, 0), timeout=30)
        holder.stop()
        ids += [await emit(other, "build:x", i) for i in range(20, 30)]
        await wait_for(lambda: len(receiver.received()) >= 30, timeout=30)
        await asyncio.sleep(1)
        assert [e["id"] for e in receiver.received()] == ids  # once each, in the log's order
        assert all(r["signed"] for r in receiver.requests)
    finally:
        await receiver.stop()
        redis.stop()


async def sending(server: Any) -> Any:
    """``server``'s one endpoint as ``GET omniforge/api/webhooks`` shows it."""
    _, answer = await webhooks_status(server.url, server.token)
    return answer["webhooks"][0]


async def test_deliveries_queued_by_an_instance_that_died_are_sent_by_the_next_one(
    server_process, hook_port, tmp_path
):
    """A holds the lease and queues while the endpoint is down, then is killed for good: B
    takes over and sends everything A had queued, in order. A comes back and, once it holds
    the lease again, sends nothing twice."""
    redis = RedisProcess(tmp_path / "redis").start()
    receiver = Receiver(hook_port)
    try:
        a, b = (
            server_process(
                [f"--OmniForgeApp.redis_url={redis.url}"], db=tmp_path / name / "db.sqlite"
            )
            for name in ("a", "b")
        )
        b.token = a.token
        write_webhooks_config(a, [endpoint(receiver.url(), channels=["build:*"])])
        await a.start()
        await wait_for(lambda: _is_sending(a), timeout=30)
        await b.start()
        ids = [await emit((a, b)[i % 2], "build:k", i) for i in range(20)]
        await wait_for(lambda: _backlog(a, 20), timeout=30)  # A queued them; none got through
        assert (await sending(b))["sending"] is False
        a.kill9()  # for good: its queue is stranded in its SQLite file
        await wait_for(lambda: _is_sending(b), timeout=30)  # after the lease's 10 s
        receiver.start()
        ids += [await emit(b, "build:k", i) for i in range(20, 25)]
        await wait_for(lambda: len(receiver.received()) >= 25, timeout=30)
        await asyncio.sleep(0.5)
        delivered = receiver.delivered["hook"]
        first_seen: dict[str, str] = {}
        for message_id, body in delivered:  # a repeat, if any, has the webhook-id of the first
            assert first_seen.setdefault(body["id"], message_id) == message_id
            assert message_id.endswith("_" + body["id"])
        assert list(first_seen) == ids  # every event, in order
        assert len(delivered) == len(ids)  # and here, with no crash mid-delivery, once each
        assert all(r["signed"] for r in receiver.requests)

        # A comes back with its stale queue while B holds the lease: it sends none of it.
        again = server_process([f"--OmniForgeApp.redis_url={redis.url}"], db=a.db)
        again.token = a.token
        await again.start()
        stale = await sending(again)
        assert stale["sending"] is False and stale["backlog"] == 20
        ids += [await emit(again, "build:k", i) for i in range(25, 30)]
        await wait_for(lambda: len(receiver.received()) >= 30, timeout=30)
        # B stops (once it has taken each answer: one cut short may be sent again): A takes
        # the lease back, drops what B sent, and goes on from there.
        await wait_for(lambda: _backlog(b, 0), timeout=30)
        b.stop()
        await wait_for(lambda: _is_sending(again), timeout=30)
        ids += [await emit(again, "build:k", i) for i in range(30, 35)]
        await wait_for(lambda: len(receiver.received()) >= 35, timeout=30)
        await asyncio.sleep(1)
        assert [body["id"] for _, body in receiver.delivered["hook"]] == ids  # once each
        assert (await sending(again))["backlog"] == 0
    finally:
        await receiver.stop()
        redis.stop()


async def _is_sending(server: Any) -> bool:
    return (await sending(server))["sending"] is True


async def _backlog(server: Any, n: int) -> bool:
    return (await sending(server))["backlog"] == n
