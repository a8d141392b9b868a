"""Stories of the event stream: emit from REST, Python and the gateway; receive live and replay."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from pycrdt import Array, Doc, Map, Text

from jupyter_omniforge.auth import Identity
from jupyter_omniforge.client import connect_room
from jupyter_omniforge.events.presence import PresenceEvents

from .conftest import fetch_json, wait_for
from .nodeclient import NodeClient, ensure_node_modules, node_installed
from .realtime import SSE, Gateway
from .test_client_cli import cli_env, run_cli


async def emit(server_url, token, channel, type_, data=None, raise_error=True):
    return await fetch_json(
        server_url + "omniforge/api/events",
        method="POST",
        token=token,
        body={"channel": channel, "type": type_, "data": data or {}},
        raise_error=raise_error,
    )


async def test_an_event_emitted_over_rest_reaches_gateway_and_sse_subscribers(server_url, token):
    gateway = await Gateway.connect(server_url, token)
    await gateway.send(type="subscribe", channels=["build:*"])
    await gateway.next("subscribed")
    sse = await SSE.open(server_url, token, "build:42")
    assert sse.status == 200
    code, envelope = await emit(
        server_url, token, "build:42", "build.progress", {"percent": 40, "message": "compiling"}
    )
    assert code == 201
    assert envelope["channel"] == "build:42" and envelope["type"] == "build.progress"
    assert envelope["data"] == {"percent": 40, "message": "compiling"}
    assert envelope["source"]["username"] and envelope["id"] and envelope["time"] > 0
    await wait_for(lambda: gateway.events() == [envelope])
    await wait_for(lambda: sse.messages() == [envelope])
    assert sse.events[0]["id"] == envelope["id"]
    gateway.close()
    sse.close()


async def test_the_python_api_emits_to_subscribers(server_url, token, omniforge):
    gateway = await Gateway.connect(server_url, token)
    await gateway.send(type="subscribe", channels=["deployment:7"])
    await gateway.next("subscribed")
    envelope = await omniforge.emit("deployment:7", "deployment.started", {"environment": "prod"})
    await wait_for(lambda: gateway.events() == [envelope])
    assert envelope["source"] == {"username": "server"}


async def test_a_pattern_subscription_receives_only_its_channels(server_url, token):
    gateway = await Gateway.connect(server_url, token)
    await gateway.send(type="subscribe", channels=["build:*", "idea:1"])
    await gateway.next("subscribed")
    await emit(server_url, token, "deployment:1", "deployment.started")
    await emit(server_url, token, "idea:2", "idea.created", {"title": "not mine"})
    await emit(server_url, token, "idea:1", "idea.created", {"title": "mine"})
    await emit(server_url, token, "build:9", "build.started")
    await wait_for(lambda: len(gateway.events()) == 2)
    assert [e["channel"] for e in gateway.events()] == ["idea:1", "build:9"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"channel": "build:1", "type": "build.exploded", "data": {}}, "unknown event type"),
        ({"channel": "nope:1", "type": "build.started", "data": {}}, "invalid room name"),
        (
            {
                "channel": "build:1",
                "type": "build.progress",
                "data": {"percent": 150, "message": ""},
            },
            "150 is greater than the maximum of 100",
        ),
        (
            {"channel": "build:1", "type": "build.progress", "data": {"message": "x"}},
            "'percent' is a required property",
        ),
        ({"channel": "build:1", "type": "build.failed", "data": {}}, "'error' is a required"),
        ({"channel": "build:1", "type": "build.started", "data": [1]}, "is not of type 'object'"),
        ({"channel": "build:1", "type": "build.started", "extra": 1}, "unknown fields: extra"),
        ("not an object", "expected a JSON object"),
    ],
)
async def test_an_invalid_event_is_refused_and_nothing_is_sent_or_stored(
    server_url, token, body, message
):
    gateway = await Gateway.connect(server_url, token)
    await gateway.send(type="subscribe", channels=["*"])
    await gateway.next("subscribed")
    code, answer = await fetch_json(
        server_url + "omniforge/api/events",
        method="POST",
        token=token,
        body=body,
        raise_error=False,
    )
    assert code == 400
    assert message in answer["message"]
    # A valid event after it is the first and only one anybody sees or can replay.
    _, good = await emit(server_url, token, "build:1", "build.started")
    await wait_for(lambda: gateway.events())
    assert gateway.events() == [good]
    _, history = await fetch_json(server_url + "omniforge/api/events?channel=*", token=token)
    assert history["events"] == [good]


async def test_every_schema_error_of_an_event_is_reported_over_rest_and_by_the_cli(
    server_url, token, tmp_path
):
    # Two problems at once: percent is out of range, and message is missing.
    data = {"percent": 150}
    code, answer = await emit(server_url, token, "build:9", "build.progress", data, False)
    assert code == 400
    assert "data/percent: 150 is greater than the maximum of 100" in answer["message"]
    assert "data: 'message' is a required property" in answer["message"]

    done = await run_cli(
        "emit", "build:9", "build.progress", "--data", json.dumps(data),
        "--url", server_url, "--token", token, env=cli_env(tmp_path),
    )  # fmt: skip
    assert done.code == 2 and done.out == ""
    assert "data/percent: 150 is greater than the maximum of 100" in done.err
    assert "data: 'message' is a required property" in done.err
    _, history = await fetch_json(server_url + "omniforge/api/events?channel=build:9", token=token)
    assert history["events"] == []


async def test_a_malformed_body_is_refused(server_url, token):
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest

    request = HTTPRequest(
        server_url + "omniforge/api/events",
        method="POST",
        body=b"{nope",
        headers={"Authorization": f"token {token}"},
    )
    response = await AsyncHTTPClient().fetch(request, raise_error=False)
    assert response.code == 400 and b"not JSON" in response.body


async def test_a_reconnecting_subscriber_gets_exactly_what_it_missed(server_url, token):
    first = await Gateway.connect(server_url, token)
    await first.send(type="subscribe", channels=["build:*"])
    await first.next("subscribed")
    await emit(server_url, token, "build:1", "build.started")
    await wait_for(lambda: len(first.events()) == 1)
    last_seen = first.events()[-1]["id"]
    first.close()
    missed = []
    for i in range(100):
        _, envelope = await emit(
            server_url, token, "build:1", "build.progress", {"percent": i, "message": f"step {i}"}
        )
        missed.append(envelope)
        await emit(server_url, token, "idea:1", "idea.updated")  # another channel: not replayed
    again = await Gateway.connect(server_url, token)
    await again.send(type="subscribe", channels=["build:*"], lastEventId=last_seen)
    await wait_for(lambda: len(again.events()) == 100)
    assert again.events() == missed
    # … then the live stream continues.
    _, live = await emit(server_url, token, "build:1", "build.completed")
    await wait_for(lambda: len(again.events()) == 101)
    assert again.events()[-1] == live
    assert not again.of_type("reset")
    # The same over Server-Sent Events with Last-Event-ID.
    sse = await SSE.open(server_url, token, "build:*", last_event_id=last_seen)
    await wait_for(lambda: len(sse.messages()) == 101)
    assert sse.messages() == [*missed, live]
    sse.close()


@pytest.mark.parametrize("omniforge_config", [{"event_retention_count": 5}])
async def test_a_cursor_older_than_what_is_kept_gets_a_reset(server_url, token):
    _, first = await emit(server_url, token, "build:r", "build.started")
    for i in range(10):
        await emit(server_url, token, "build:r", "build.progress", {"percent": i, "message": ""})
    gateway = await Gateway.connect(server_url, token)
    await gateway.send(type="subscribe", channels=["build:r"], lastEventId=first["id"])
    await gateway.next("reset")
    await wait_for(lambda: len(gateway.events()) == 5)  # what is kept
    assert gateway.frames.index(gateway.of_type("reset")[0]) < gateway.frames.index(
        gateway.of_type("event")[0]
    )
    # A cursor from the future (another server, lost data) is reset too.
    sse = await SSE.open(server_url, token, "build:r", last_event_id="999999")
    await wait_for(lambda: any(e["event"] == "reset" for e in sse.events))
    sse.close()
    _, page = await fetch_json(
        server_url + f"omniforge/api/events?channel=build:r&after={first['id']}", token=token
    )
    assert page["reset"] is True and len(page["events"]) == 5


async def test_history_pages_through_a_channel(server_url, token):
    ids = []
    for i in range(7):
        _, envelope = await emit(server_url, token, "idea:h", "idea.updated", {"title": str(i)})
        ids.append(envelope["id"])
    _, page = await fetch_json(
        server_url + "omniforge/api/events?channel=idea:h&limit=3", token=token
    )
    assert [e["id"] for e in page["events"]] == ids[-3:]  # no cursor: the newest
    after, seen = ids[0], []
    while True:
        _, page = await fetch_json(
            server_url + f"omniforge/api/events?channel=idea:h&after={after}&limit=2", token=token
        )
        if not page["events"]:
            break
        seen += [e["id"] for e in page["events"]]
        after = seen[-1]
    assert seen == ids[1:]


async def test_history_survives_a_restart(server_process):
    server = await server_process().start()
    _, envelope = await emit(
        server.url,
        server.token,
        "deployment:9",
        "deployment.completed",
        {"url": "https://example.invalid"},
    )
    server.stop()
    server = await server_process(db=server.db).start()
    _, page = await fetch_json(
        server.url + "omniforge/api/events?channel=deployment:9", token=server.token
    )
    assert page["events"] == [envelope]
    gateway = await Gateway.connect(server.url, server.token)
    await gateway.send(type="subscribe", channels=["deployment:*"], lastEventId="0")
    await wait_for(lambda: gateway.events() == [envelope])
    gateway.close()


async def test_build_events_write_the_build_room_a_late_joiner_sees(server_url, token, omniforge):
    await emit(server_url, token, "build:77", "build.started", {"message": "go"})
    await emit(server_url, token, "build:77", "build.progress", {"percent": 55, "message": "tests"})
    await omniforge.room_state.idle()
    doc = Doc()
    async with connect_room(server_url, "build:77", doc, token=token):
        status = doc.get("status", type=Map)
        log = doc.get("log", type=Array)
        assert status["state"] == "running" and status["percent"] == 55
        assert status["message"] == "tests"
        assert [entry["message"] for entry in log.to_py()] == ["go", "tests"]
        await emit(server_url, token, "build:77", "build.failed", {"error": "exit 1"})
        await wait_for(lambda: status.get("state") == "failed")
        assert status["error"] == "exit 1" and "finishedAt" in status


async def test_a_batch_of_build_events_folds_into_its_room_as_one_by_one(
    server_url, token, omniforge
):
    """Events that arrive together are written in one change per room: the same status and
    log as one change per event, with only the last ``build_log_max`` entries kept."""
    omniforge.room_state.log_max = 5
    await emit(server_url, token, "build:78", "build.failed", {"error": "first try"})
    await omniforge.room_state.idle()
    batch = [{"channel": "build:78", "type": "build.started", "data": {"message": "again"}}]
    batch += [
        {"channel": "build:78", "type": "build.progress", "data": {"percent": i, "message": str(i)}}
        for i in range(1, 9)
    ]
    batch.append({"channel": "build:79", "type": "build.started", "data": {}})
    code, answer = await fetch_json(
        server_url + "omniforge/api/events", method="POST", token=token, body=batch
    )
    assert code == 200 and answer["stored"] == 10
    await omniforge.room_state.idle()
    doc = Doc()
    async with connect_room(server_url, "build:78", doc, token=token):
        status = doc.get("status", type=Map).to_py()
        log = doc.get("log", type=Array).to_py()
    assert status["state"] == "running" and status["percent"] == 8 and status["message"] == "8"
    assert "error" not in status and "finishedAt" not in status  # cleared by the restart
    assert status["lastEventId"] == answer["events"][8]["id"]
    assert [entry["message"] for entry in log] == ["4", "5", "6", "7", "8"]


async def test_user_joined_and_left_are_emitted_on_the_room_channel(server_url, token):
    gateway = await Gateway.connect(server_url, token)
    await gateway.send(type="subscribe", channels=["idea:*"])
    await gateway.next("subscribed")
    async with connect_room(server_url, "idea:who", Doc(), token=token):
        await wait_for(lambda: [e["type"] for e in gateway.events()] == ["user.joined"])
    await wait_for(lambda: [e["type"] for e in gateway.events()] == ["user.joined", "user.left"])
    joined = gateway.events()[0]
    assert joined["channel"] == "idea:who" and joined["data"]["username"]


# -- the gateway's rooms -------------------------------------------------------------------------


def b64(update: bytes) -> str:
    return base64.b64encode(update).decode()


async def test_gateway_clients_edit_a_room_with_a_pycrdt_client(server_url, token, omniforge):
    doc = Doc()
    async with connect_room(server_url, "idea:gw", doc, token=token):
        doc.get("code", type=Text).insert(0, "from pycrdt")
        await wait_for(
            lambda: (
                omniforge.room_manager.get("idea:gw")
                and str(omniforge.room_manager.get("idea:gw").doc.get("code", type=Text))
            )
        )
        gateway = await Gateway.connect(server_url, token)
        await gateway.send(type="joinRoom", roomId="idea:gw")
        sync = await gateway.next("docSync", roomId="idea:gw")
        mirror = Doc()
        mirror.apply_update(base64.b64decode(sync["update"]))
        assert str(mirror.get("code", type=Text)) == "from pycrdt"
        # The gateway writes, in base64 and in the seed's array-of-bytes form.
        before = mirror.get_state()
        mirror.get("code", type=Text).insert(0, "[gw] ")
        await gateway.send(
            type="applyUpdate", roomId="idea:gw", update=b64(mirror.get_update(before))
        )
        before = mirror.get_state()
        mirror.get("tokens", type=Map)["k"] = "v"
        await gateway.send(
            type="applyUpdate", roomId="idea:gw", update=list(mirror.get_update(before))
        )
        await wait_for(lambda: str(doc.get("code", type=Text)) == "[gw] from pycrdt")
        await wait_for(lambda: doc.get("tokens", type=Map).to_py() == {"k": "v"})
        # And receives the pycrdt client's edits as docUpdate.
        doc.get("code", type=Text).insert(0, "!")

        await wait_for(lambda: gateway.text_of(mirror, "idea:gw") == "![gw] from pycrdt")
        gateway.close()


@pytest.mark.skipif(not node_installed(), reason="node is not installed")
async def test_a_gateway_client_and_a_stock_y_websocket_client_converge(ws_base, server_url, token):
    ensure_node_modules()
    async with await NodeClient.start(ws_base, "idea:mix", token) as js:
        await js.wait_synced()
        gateway = await Gateway.connect(server_url, token)
        await gateway.send(type="joinRoom", roomId="idea:mix")
        mirror = Doc()
        mirror.apply_update(base64.b64decode((await gateway.next("docSync"))["update"]))
        mirror.get("code", type=Text).insert(0, "gateway ")
        await gateway.send(type="applyUpdate", roomId="idea:mix", update=b64(mirror.get_update()))
        await js.check({"cmd": "wait_text", "root": "code", "value": "gateway "})
        await js.check({"cmd": "insert", "root": "code", "index": 8, "text": "and js"})
        await wait_for(lambda: gateway.text_of(mirror, "idea:mix") == "gateway and js")
        # Awareness as a plain state object reaches the y-websocket client with our identity.
        await gateway.send(type="awareness", roomId="idea:mix", awareness={"cursor": {"anchor": 2}})
        await js.check({"cmd": "wait_states", "count": 2})
        gateway.close()
        await js.check({"cmd": "wait_states", "count": 1})


async def test_gateway_messages_are_relayed_to_the_room_and_errors_are_clear(
    server_url, token, omniforge
):
    alice = await Gateway.connect(server_url, token)
    bob = await Gateway.connect(server_url, token)
    for client in (alice, bob):
        await client.send(type="joinRoom", roomId="project:m")
        await client.next("docSync")
    await alice.send(type="message", roomId="project:m", data={"hello": "bob"})
    relayed = await bob.next("message")
    assert relayed["data"] == {"hello": "bob"} and relayed["source"]["username"]
    assert not alice.of_type("message")
    assert omniforge.broadcast("project:m", "deploy.hint", {"n": 1}) == 2
    await alice.next("message")
    # Refusals: each is an error frame, and the connection carries on.
    await alice.send(type="joinRoom", roomId="bad room")
    await alice.send(type="applyUpdate", roomId="idea:notjoined", update="")
    await alice.send(type="applyUpdate", roomId="project:m", update="%%%")
    await alice.send(type="applyUpdate", roomId="project:m", update=b64(b"\xff\xff\xff"))
    await alice.send(type="teleport")
    await alice.conn.write_message("{not json")
    await alice.send(type="subscribe", channels=["nope:*"])
    await wait_for(lambda: len(alice.of_type("error")) == 7)
    codes = [f["code"] for f in alice.of_type("error")]
    assert codes == [
        "invalid_room",
        "malformed",
        "malformed",
        "malformed",
        "unsupported",
        "malformed",
        "invalid_room",
    ]
    await alice.send(type="leaveRoom", roomId="project:m")
    await alice.next("left")
    assert alice.conn.close_code is None


async def test_a_gateway_flood_closes_that_connection(server_url, token, omniforge):
    omniforge.max_messages_per_second = 10
    omniforge.max_message_burst = 10
    gateway = await Gateway.connect(server_url, token)
    from tornado.websocket import WebSocketClosedError

    for _ in range(50):
        try:
            await gateway.send(type="subscribe", channels=["*"])
        except WebSocketClosedError:
            break  # the server already closed us
    await wait_for(lambda: gateway.closed.is_set())
    assert gateway.conn.close_code == 1008


async def test_subscribing_without_a_token_is_refused(server_url):
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as info:
        await Gateway.connect(server_url, None)
    assert info.value.code == 403
    code, _ = await fetch_json(
        server_url + "omniforge/api/events/stream?channels=*", raise_error=False
    )
    assert code == 403
    code, _ = await fetch_json(
        server_url + "omniforge/api/events",
        method="POST",
        body={"channel": "build:1", "type": "build.started"},
        raise_error=False,
    )
    assert code == 403


def test_the_schemas_are_registered_with_jupyter_events(jp_serverapp, omniforge):
    ids = jp_serverapp.event_logger.schemas.schema_ids
    for family in ("idea", "build", "deployment", "user", "cursor", "selection"):
        assert f"https://events.jupyter.org/jupyter_omniforge/{family}/v1" in ids
    assert json  # the module is used by helpers above


@pytest.mark.timeout(10)
async def test_presence_events_idle_returns_while_a_finished_emit_awaits_its_callback():
    """A presence emit that finished in the loop turn before ``idle()`` stays in the pending set
    until its done callback runs; idle() must yield to let it run (on Python 3.12+, gathering
    finished tasks returns without yielding: the old loop spun at 100% CPU and hung shutdown)."""
    emitted = []

    class Bus:
        async def emit(self, channel, event_type, data, **kwargs):
            emitted.append((channel, event_type))

    class Room:
        key = "idea:spin"
        peers = ()

    presence = PresenceEvents(Bus())
    user = Identity(username="ada", name="Ada", display_name="Ada", initials="A", color="#000")
    presence.user_left(Room(), user)
    await asyncio.sleep(0)  # the emit runs to its end; its done callback is only scheduled
    assert all(task.done() for task in presence._tasks) and presence._tasks
    await presence.close()
    assert emitted == [("idea:spin", "user.left")]
    presence.user_joined(Room(), user)  # after close: nothing more
    await asyncio.sleep(0)
    assert not presence._tasks and len(emitted) == 1
