"""Class 5: quotas. One user must not hold the server: connections, rooms opened, rooms in
memory, document size, event size; and a read-only user creates nothing."""

from __future__ import annotations

import asyncio
import base64

import pytest
from pycrdt import Doc, Text
from tornado.httpclient import HTTPClientError

from jupyter_omniforge.client import connect_room
from jupyter_omniforge.client.errors import EditsNotConfirmed
from jupyter_omniforge.names import parse_room_name
from jupyter_omniforge.rooms import protocol as p

from ..authorizers import READ_ONLY_HEADER
from ..conftest import fetch_json, wait_for
from ..realtime import SSE, Gateway
from ..test_rooms import FrameReader


@pytest.mark.parametrize("omniforge_config", [{"max_connections_per_user": 3}])
async def test_a_user_holds_at_most_max_connections_per_user(
    ws_connect, server_url, token, witness
):
    await witness.write()  # the owner's; its connections have closed
    held = [await ws_connect("idea:q", user="mallory") for _ in range(2)]
    held.append((await Gateway.connect(server_url, token + "&user=mallory")).conn)
    with pytest.raises(HTTPClientError) as refused:
        await ws_connect("idea:q", user="mallory")
    assert refused.value.code == 429
    await ws_connect("idea:q")  # another user (the owner) is not affected
    # A connection that closes frees its place.
    held[0].close()
    await wait_for(lambda: _can_connect(ws_connect, "mallory"), timeout=10)
    await witness.check()


async def _can_connect(ws_connect, user: str) -> bool:
    try:
        await ws_connect("idea:q", user=user)
    except HTTPClientError:
        return False
    return True


@pytest.mark.parametrize("omniforge_config", [{"max_connections_per_user": 2}])
async def test_server_sent_event_streams_count_too(server_url, token):
    streams = [await SSE.open(server_url, token, "*") for _ in range(2)]
    assert [s.status for s in streams] == [200, 200]
    third = await SSE.open(server_url, token, "*")
    assert third.status == 429
    for stream in (*streams, third):
        stream.close()


@pytest.mark.parametrize("omniforge_config", [{"rooms_per_minute": 5}])
async def test_a_user_opens_at_most_rooms_per_minute(ws_connect, omniforge, witness):
    await witness.write()  # the owner opened one; mallory has her own quota
    for i in range(5):
        await ws_connect(f"idea:r{i}", user="mallory")
    sixth = FrameReader(await ws_connect("idea:r5", user="mallory"))
    await wait_for(lambda: sixth.closed.is_set())
    assert sixth.conn.close_code == 1008 and "rooms_per_minute" in sixth.conn.close_reason
    assert omniforge.room_manager.get("idea:r5") is None
    # Joining a room that is open already costs nothing.
    again = FrameReader(await ws_connect("idea:r0", user="mallory"))
    await asyncio.sleep(0.3)
    assert not again.closed.is_set()
    await witness.check()


@pytest.mark.parametrize("omniforge_config", [{"max_rooms_in_memory": 3, "room_idle_timeout": 60}])
async def test_rooms_in_memory_are_bounded_and_idle_ones_make_room(ws_connect, omniforge, witness):
    await witness.write()  # its room, idle now, is the first dropped to make room
    busy = [FrameReader(await ws_connect(f"idea:m{i}", user=f"u{i}")) for i in range(3)]
    fourth = FrameReader(await ws_connect("idea:m3", user="u3"))
    await wait_for(lambda: fourth.closed.is_set())
    assert fourth.conn.close_code == 1013 and "max_rooms_in_memory" in fourth.conn.close_reason
    # One room goes idle (its peer leaves; it would stay in memory for a minute): it makes room.
    busy[0].conn.close()
    await wait_for(lambda: not omniforge.room_manager.get("idea:m0").peers)
    fifth = FrameReader(await ws_connect("idea:m4", user="u4"))
    await wait_for(lambda: omniforge.room_manager.get("idea:m4") is not None)
    assert not fifth.closed.is_set()
    assert omniforge.room_manager.get("idea:m0") is None
    assert len(omniforge.room_manager.rooms) == 3
    # Once the crowd leaves, its idle rooms make room for the witness's again.
    for reader in (*busy[1:], fifth):
        reader.conn.close()
    await wait_for(lambda: not any(r.peers for r in omniforge.room_manager.rooms.values()))
    await witness.check()


@pytest.mark.parametrize("omniforge_config", [{"max_document_bytes": 20_000}])
async def test_writes_past_max_document_bytes_are_refused_and_nothing_is_lost(
    server_url, token, omniforge, ws_connect, witness
):
    await witness.write()
    doc = Doc()
    # The client learns the server refused its edit: leaving the block says so, with why.
    with pytest.raises(EditsNotConfirmed, match="at its size limit"):
        async with connect_room(server_url, "idea:full", doc, token=token):
            doc.get("code", type=Text).insert(0, "x" * 15_000)
            await wait_for(
                lambda: (
                    len(str(omniforge.room_manager.get("idea:full").doc.get("code", type=Text)))
                    == 15_000
                )
            )
            doc.get("code", type=Text).insert(0, "y" * 10_000)
    stored = Doc()
    stored.apply_update(await omniforge.room_manager.read(parse_room_name("idea:full")))
    assert str(stored.get("code", type=Text)) == "x" * 15_000
    # The gateway is told the same, with an error frame.
    gateway = await Gateway.connect(server_url, token)
    await gateway.send(type="joinRoom", roomId="idea:full")
    await gateway.next("docSync")
    big = Doc()
    big.get("other", type=Text).insert(0, "z" * 10_000)
    update = base64.b64encode(big.get_update()).decode()
    await gateway.send(type="applyUpdate", roomId="idea:full", update=update)
    error = await gateway.next("error")
    assert error["code"] == "document_too_large"
    gateway.close()
    await witness.check()


async def test_events_larger_than_max_event_bytes_are_refused_and_not_stored(
    server_url, token, witness
):
    await witness.write()
    body = {
        "channel": "build:big",
        "type": "build.progress",
        "data": {"percent": 1, "message": "m", "blob": "x" * 70_000},
    }
    status, answer = await fetch_json(
        server_url + "omniforge/api/events",
        method="POST",
        token=token,
        body=body,
        raise_error=False,
    )
    assert status == 413 and "max_event_bytes" in answer["message"]
    body["data"]["blob"] = "x" * 20_000_000
    status, _ = await fetch_json(
        server_url + "omniforge/api/events",
        method="POST",
        token=token,
        body=body,
        raise_error=False,
    )
    assert status == 413
    _, history = await fetch_json(
        server_url + "omniforge/api/events?channel=build:big", token=token
    )
    assert history["events"] == []
    await witness.check()


async def test_a_gateway_message_larger_than_max_event_bytes_is_refused_and_not_relayed(
    server_url, token, witness
):
    await witness.write()
    alice = await Gateway.connect(server_url, token + "&user=alice")
    bob = await Gateway.connect(server_url, token + "&user=bob")
    for client in (alice, bob):
        await client.send(type="joinRoom", roomId="idea:chat")
        await client.next("docSync")
    await alice.send(type="message", roomId="idea:chat", data={"blob": "x" * 70_000})
    error = await alice.next("error")
    assert (
        "max_event_bytes" in error["message"] and "is larger than the limit" in (error["message"])
    )
    # Nothing of it reached Bob; a message under the limit after it does, alone.
    await alice.send(type="message", roomId="idea:chat", data={"blob": "x" * 60_000})
    message = await bob.next("message")
    assert message["data"] == {"blob": "x" * 60_000} and len(bob.of_type("message")) == 1
    assert len(alice.of_type("error")) == 1
    alice.close()
    bob.close()
    await witness.check()


@pytest.fixture
def jp_server_config(jp_server_config):
    jp_server_config["ServerApp"]["authorizer_class"] = "tests.authorizers.ReadOnlyOnRequest"
    return jp_server_config


async def test_a_read_only_user_shows_presence_but_creates_nothing(
    ws_connect, server_url, token, omniforge, witness
):
    await witness.write()
    readonly = {READ_ONLY_HEADER: "1"}
    reader = FrameReader(await ws_connect("idea:nothing", headers=readonly, user="rita"))
    watcher = FrameReader(await ws_connect("idea:nothing", headers=readonly, user="walt"))
    await reader.conn.write_message(
        p.encode_awareness(p.encode_awareness_update([p.AwarenessEntry(3, 1, '{"here":1}')])),
        binary=True,
    )
    await wait_for(lambda: 3 in watcher.states())  # presence works
    reader.conn.close()
    watcher.conn.close()
    await wait_for(lambda: omniforge.room_manager.get("idea:nothing") is None)
    assert "idea:nothing" not in await omniforge.store.rooms.stored_rooms()
    _, history = await fetch_json(
        server_url + "omniforge/api/events?channel=idea:nothing", token=token
    )
    assert history["events"] == []  # no user.joined / user.left kept for them
    gateway = await Gateway.connect(server_url, token + "&user=rita", headers=readonly)
    await gateway.send(type="joinRoom", roomId="idea:nothing")
    await gateway.next("docSync")
    await gateway.send(type="message", roomId="idea:nothing", data={"spam": 1})
    error = await gateway.next("error")
    assert error["code"] == "forbidden"
    gateway.close()
    await witness.check()
