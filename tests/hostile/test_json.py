"""Class 2 (and the JSON part of class 8): NaN, Infinity and deep nesting on every JSON path.

Browsers and Node refuse ``NaN``/``Infinity`` in JSON, so relaying them breaks every other
client; deep nesting breaks Python's recursive parser. Each path refuses them with a reason.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

from jupyter_omniforge.rooms import protocol as p

from ..conftest import fetch_json, wait_for
from ..realtime import Gateway
from ..test_rooms import FrameReader
from .lib0 import awareness_frame


def events_url(server_url: str) -> str:
    return server_url + "omniforge/api/events"


async def post_raw(server_url: str, token: str, body: str) -> tuple[int, object]:
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest

    response = await AsyncHTTPClient().fetch(
        HTTPRequest(
            events_url(server_url),
            method="POST",
            headers={"Authorization": f"token {token}"},
            body=body,
        ),
        raise_error=False,
    )
    return response.code, json.loads(response.body)


async def test_nan_in_an_awareness_state_closes_the_sender_and_reaches_nobody(ws_connect, witness):
    await witness.write()
    bystander = FrameReader(await ws_connect("idea:aware", user="bob"))
    attacker = FrameReader(await ws_connect("idea:aware", user="mallory"))
    await attacker.conn.write_message(awareness_frame([(7, 1, '{"cursor": NaN}')]), binary=True)
    await wait_for(lambda: attacker.closed.is_set())
    assert attacker.conn.close_code == 1002 and "NaN is not JSON" in attacker.conn.close_reason
    assert 7 not in bystander.states()
    await witness.check()


async def test_deeply_nested_awareness_state_closes_the_sender_with_1002(ws_connect, witness):
    """A state far under the size cap (6 KB), nested 3,000 levels: refused as JSON nested too
    deep (a protocol error, 1002), not a crash of the parser (1011)."""
    await witness.write()
    bystander = FrameReader(await ws_connect("idea:aware", user="bob"))
    attacker = FrameReader(await ws_connect("idea:aware", user="mallory"))
    state = '{"cursor": ' + "[" * 3000 + "]" * 3000 + "}"
    assert len(state) < 8192
    await attacker.conn.write_message(awareness_frame([(8, 1, state)]), binary=True)
    await wait_for(lambda: attacker.closed.is_set())
    assert attacker.conn.close_code == 1002
    assert "nested deeper than 64" in attacker.conn.close_reason
    assert 8 not in bystander.states() and not bystander.closed.is_set()
    await witness.check()


async def test_nan_and_infinity_in_events_get_400_and_nothing_is_stored(
    server_url, token, omniforge, witness
):
    await witness.write()
    for value in ("NaN", "Infinity", "-Infinity", "1e999"):
        body = (
            '{"channel": "build:1", "type": "build.progress",'
            f' "data": {{"percent": {value}, "message": "x"}}}}'
        )
        status, answer = await post_raw(server_url, token, body)
        assert status == 400, value
        assert answer["error"] == "malformed" and answer["message"], value
    _, history = await fetch_json(events_url(server_url) + "?channel=build:1", token=token)
    assert history["events"] == [] and history["reset"] is False
    await witness.check()


async def test_nan_from_server_side_python_is_refused_too(omniforge):
    import pytest

    from jupyter_omniforge.errors import ValidationError

    with pytest.raises(ValidationError, match="not representable as JSON"):
        await omniforge.emit("build:1", "build.progress", {"percent": float("nan"), "message": ""})


async def test_deep_json_bodies_get_400_not_500(server_url, token, witness):
    await witness.write()
    deep = "[" * 20_000 + "]" * 20_000  # far past Python's recursion limit, under the size cap
    status, answer = await post_raw(server_url, token, deep)
    assert status == 400 and "nested deeper than 64" in answer["message"]
    body = json.dumps({"channel": "build:1", "type": "build.started", "data": {}})
    body = body.replace("{}", '{"x": ' + "[" * 70 + "]" * 70 + "}")
    status, answer = await post_raw(server_url, token, body)
    assert status == 400
    await witness.check()


async def test_nan_and_deep_json_on_the_gateway_get_error_frames(server_url, token, witness):
    await witness.write()
    alice = await Gateway.connect(server_url, token + "&user=alice")
    bob = await Gateway.connect(server_url, token + "&user=bob")
    for client in (alice, bob):
        await client.send(type="joinRoom", roomId="idea:chat")
        await client.next("docSync")
    await alice.conn.write_message('{"type": "message", "roomId": "idea:chat", "data": NaN}')
    await alice.conn.write_message("[" * 50_000 + "]" * 50_000)
    await alice.conn.write_message(
        '{"type": "awareness", "roomId": "idea:chat", "awareness": {"x": Infinity}}'
    )
    await wait_for(lambda: len(alice.of_type("error")) == 3)
    assert [e["code"] for e in alice.of_type("error")] == ["malformed"] * 3
    # Nothing of it reached Bob, and the connection carries on.
    await alice.send(type="message", roomId="idea:chat", data={"ok": 1})
    message = await bob.next("message")
    assert message["data"] == {"ok": 1} and len(bob.of_type("message")) == 1
    assert not [f for f in bob.of_type("awareness") if f["states"]]
    alice.close()
    bob.close()
    await witness.check()


async def test_a_stored_event_row_with_nan_is_skipped_and_history_stays_json(
    server_url, token, omniforge, db_path, witness
):
    await witness.write()
    first = await omniforge.emit("build:7", "build.started", {})
    with closing(sqlite3.connect(db_path)) as conn, conn:
        for source, data in (
            ('{"username": "x"}', '{"percent": NaN}'),
            ('{"username": "x"}', "[" * 5000 + "]" * 5000),
            ("not json", "{}"),
        ):
            conn.execute(
                "INSERT INTO events (channel, type, time, source, data) VALUES (?, ?, 1, ?, ?)",
                ("build:7", "build.progress", source, data),
            )
    last = await omniforge.emit("build:7", "build.completed", {})
    status, history = await fetch_json(events_url(server_url) + "?channel=build:7", token=token)
    assert status == 200
    assert [e["id"] for e in history["events"]] == [first["id"], last["id"]]
    assert omniforge.bus.log.malformed == 3
    await witness.check()


async def test_awareness_states_relayed_are_standard_json(ws_connect):
    """What the server relays parses with a strict parser (as browsers' JSON.parse is)."""
    watcher = FrameReader(await ws_connect("idea:std", user="bob"))
    sender = await ws_connect("idea:std", user="alice")
    await sender.write_message(awareness_frame([(9, 1, {"cursor": {"anchor": 1.5}})]), binary=True)
    await wait_for(lambda: 9 in watcher.states())

    def strict(constant):
        raise ValueError(constant)

    for frame in watcher.frames:
        message = p.parse_message(frame)
        if message.type == p.MESSAGE_AWARENESS:
            for entry in p.decode_awareness_update(message.payload):
                json.loads(entry.state, parse_constant=strict)
