"""Stories of the rooms endpoint, against a real Jupyter server with real WebSocket clients."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import pytest
from jupyter_server.auth.identity import User
from pycrdt import Array, Doc, Map, Text
from tornado.httpclient import HTTPClientError

from jupyter_omniforge.auth import color_for, identity_from_user
from jupyter_omniforge.client import connect_room
from jupyter_omniforge.rooms import protocol as p
from jupyter_omniforge.rooms.room import Pacer

from .conftest import fetch_json, wait_for


def text_of(doc: Doc, name: str = "code") -> str:
    return str(doc.get(name, type=Text))


async def test_two_clients_edit_the_same_idea_and_converge(server_url, token):
    a, b = Doc(), Doc()
    async with (
        connect_room(server_url, "idea:42", a, token=token),
        connect_room(server_url, "idea:42", b, token=token),
    ):
        a.get("code", type=Text).insert(0, "hello ")
        b.get("tokens", type=Map)["theme"] = "dark"
        await wait_for(lambda: text_of(b) == "hello ")
        b.get("code", type=Text).insert(6, "world")
        await wait_for(lambda: text_of(a) == "hello world")
        await wait_for(lambda: a.get("tokens", type=Map).to_py() == {"theme": "dark"})


async def test_a_late_joiner_gets_the_whole_document(server_url, token):
    writer = Doc()
    async with connect_room(server_url, "project:p1", writer, token=token):
        writer.get("components", type=Array).extend(["header", "footer"])
        writer.get("code", type=Text).insert(0, "x" * 10_000)
        late = Doc()
        await asyncio.sleep(0)  # the updates are in flight; the late joiner must still see them
        async with connect_room(server_url, "project:p1", late, token=token):
            await wait_for(lambda: len(text_of(late)) == 10_000)
            await wait_for(
                lambda: late.get("components", type=Array).to_py() == ["header", "footer"]
            )


def awareness_frame(client_id: int, clock: int, state: dict | None) -> bytes:
    entry = p.AwarenessEntry(client_id, clock, json.dumps(state))
    return p.encode_awareness(p.encode_awareness_update([entry]))


def awareness_states(frames: list[bytes]) -> dict[int, dict | None]:
    """Fold every awareness frame received into client_id -> state (None = removed)."""
    states: dict[int, dict | None] = {}
    for frame in frames:
        message = p.parse_message(frame)
        if message.type == p.MESSAGE_AWARENESS:
            for entry in p.decode_awareness_update(message.payload):
                states[entry.client_id] = json.loads(entry.state)
    return states


class FrameReader:
    """Reads a raw connection in the background, keeping every binary frame."""

    def __init__(self, conn):
        self.conn = conn
        self.frames: list[bytes] = []
        self.closed = asyncio.Event()
        self._task = asyncio.ensure_future(self._run())

    async def _run(self):
        while True:
            message = await self.conn.read_message()
            if message is None:
                self.closed.set()
                return
            self.frames.append(message)

    def states(self):
        return awareness_states(self.frames)


async def test_a_client_keeps_the_colour_jupyterlab_shows_it_in(ws_connect):
    """Jupyter gives these users no colour: JupyterLab picks a collaborator variable in the
    browser, and the server keeps it; a colour that is not a safe one falls back to hex."""
    # Two tabs of Alice's: a connection may announce a few client ids only.
    tabs = [await ws_connect("idea:colours", user="alice") for _ in range(2)]
    bob = FrameReader(await ws_connect("idea:colours", user="bob"))
    claims = {
        3001: "var(--jp-collaborator-color3)",
        3002: "#12ab9f",
        3003: "red; background: url(https://evil.example/x)",
        3004: '<b onmouseover="alert(1)">',
        3005: "var(--jp-layout-color0)",
        3006: ["#000000"],
    }
    for client_id, color in claims.items():
        await tabs[client_id % 2].write_message(
            awareness_frame(client_id, 1, {"user": {"name": "x", "color": color}}), binary=True
        )
    await wait_for(lambda: all(bob.states().get(c) for c in claims))
    seen = {c: bob.states()[c]["user"] for c in claims}
    assert seen[3001]["color"] == "var(--jp-collaborator-color3)"
    assert (
        seen[3001]["colorLight"]
        == "color-mix(in srgb, var(--jp-collaborator-color3) 20%, transparent)"
    )
    assert seen[3002]["color"] == "#12ab9f" and seen[3002]["colorLight"] == "#12ab9f33"
    fallback = color_for("alice")
    for client_id in (3003, 3004, 3005, 3006):
        assert seen[client_id]["color"] == fallback, seen[client_id]
        assert seen[client_id]["colorLight"] == fallback + "33"
    # The rest is still the server's word.
    assert {u["username"] for u in seen.values()} == {"alice"}


def test_a_jupyter_identity_colour_is_kept_and_cannot_be_replaced() -> None:
    lab = identity_from_user(User(username="ann", color="var(--jp-collaborator-color5)"))
    assert lab.color == "var(--jp-collaborator-color5)"
    hexed = identity_from_user(User(username="ann", color="#336699"))
    assert hexed.color == "#336699"
    # An identity's own colour wins over whatever its client claims.
    user = hexed.awareness_user()
    assert hexed.with_claimed_color(user, {"color": "#000000"})["color"] == "#336699"
    # Without one, or with one that is not safe to paint, a stable hex colour.
    for color in (None, "", "url(javascript:alert(1))", "var(--x)", 42):
        identity = identity_from_user(User(username="ann", color=color))
        assert identity.color == color_for("ann") and identity.color.startswith("#")
        assert (
            identity.with_claimed_color(identity.awareness_user(), {"color": "#abc"})["color"]
            == "#abc"
        )


async def test_awareness_appears_with_the_server_identity_and_disappears_on_leave(ws_connect):
    alice = FrameReader(await ws_connect("idea:aw", user="alice"))
    bob = FrameReader(await ws_connect("idea:aw", user="bob"))
    # Alice claims to be someone else: the server overwrites `user` with her Jupyter identity.
    await alice.conn.write_message(
        awareness_frame(1111, 1, {"user": {"name": "Mallory"}, "cursor": {"anchor": 3}}),
        binary=True,
    )
    states = await wait_for(lambda: bob.states().get(1111))
    assert states["cursor"] == {"anchor": 3}
    assert states["user"]["name"] != "Mallory"
    assert states["user"]["username"]  # the authenticated Jupyter user
    assert states["user"]["color"].startswith("#")
    # A newcomer receives the current states when it joins.
    carol = FrameReader(await ws_connect("idea:aw", user="carol"))
    await wait_for(lambda: 1111 in carol.states())
    # Bob cannot overwrite Alice's state.
    await bob.conn.write_message(awareness_frame(1111, 5, {"cursor": {"anchor": 99}}), binary=True)
    await bob.conn.write_message(awareness_frame(2222, 1, {"cursor": None}), binary=True)
    await wait_for(lambda: 2222 in carol.states())
    assert carol.states()[1111]["cursor"] == {"anchor": 3}
    # Alice leaves without saying goodbye: her state is removed for everyone.
    alice.conn.close()
    await wait_for(lambda: 1111 in bob.states() and bob.states()[1111] is None)
    await wait_for(lambda: 1111 in carol.states() and carol.states()[1111] is None)
    assert carol.states()[2222] is not None


@pytest.mark.parametrize("omniforge_config", [{"awareness_interval": 0.05}])
async def test_a_storm_of_cursor_moves_is_batched_and_ends_in_the_last_state(ws_connect):
    """200 cursor moves from 4 clients within a few ms: peers get far fewer frames than moves,
    and end with every client's last state (the first move after a quiet spell is not held)."""
    movers = [await ws_connect("idea:storm") for _ in range(4)]
    watcher = FrameReader(await ws_connect("idea:storm"))
    await movers[0].write_message(awareness_frame(100, 1, {"cursor": {"anchor": -1}}), binary=True)
    await wait_for(lambda: 100 in watcher.states())
    before = len(watcher.frames)
    for clock in range(2, 52):
        for i, mover in enumerate(movers):
            state = {"cursor": {"anchor": clock}}
            await mover.write_message(awareness_frame(100 + i, clock, state), binary=True)
    await wait_for(
        lambda: all(
            (watcher.states().get(100 + i) or {}).get("cursor") == {"anchor": 51} for i in range(4)
        )
    )
    frames = [f for f in watcher.frames[before:] if p.parse_message(f).type == p.MESSAGE_AWARENESS]
    assert len(frames) < 50, f"{len(frames)} awareness frames for 200 moves: not batched"


async def test_query_awareness_returns_current_states(ws_connect):
    alice = FrameReader(await ws_connect("presence"))
    await alice.conn.write_message(awareness_frame(7, 1, {"room": "idea:1"}), binary=True)
    bob = FrameReader(await ws_connect("presence"))
    await wait_for(lambda: 7 in bob.states())
    count = len(bob.frames)
    await bob.conn.write_message(bytes([p.MESSAGE_QUERY_AWARENESS]), binary=True)
    await wait_for(lambda: len(bob.frames) > count and 7 in awareness_states(bob.frames[count:]))


async def test_user_joined_and_left_are_logged_through_jupyter_events(
    jp_serverapp, server_url, token
):
    from jupyter_omniforge.events.types import EventTypes

    seen: list[dict] = []

    async def listener(logger, schema_id, data):
        seen.append(dict(data))

    jp_serverapp.event_logger.add_listener(
        schema_id=EventTypes().schema_id("user.joined"), listener=listener
    )
    async with connect_room(server_url, "build:7", Doc(), token=token):
        await wait_for(lambda: any(e["type"] == "user.joined" for e in seen))
    await wait_for(lambda: any(e["type"] == "user.left" for e in seen))
    assert {e["channel"] for e in seen} == {"build:7"}


# -- REST ------------------------------------------------------------------------------------------


async def test_rest_lists_rooms_and_shows_content(server_url, token):
    doc = Doc()
    async with connect_room(server_url, "idea:rest", doc, token=token):
        doc.get("ideas", type=Text).insert(0, "an idea")
        doc.get("custom", type=Map)["k"] = 1
        room_api = server_url + "omniforge/api/rooms"

        async def listed():
            _, body = await fetch_json(room_api, token=token)
            return [r for r in body["rooms"] if r["name"] == "idea:rest" and r["size"] > 0]

        (room,) = await wait_for(listed)
        assert room["peers"] == 1 and len(room["users"]) == 1

        async def detail():
            _, body = await fetch_json(room_api + "/idea:rest?roots=custom:map", token=token)
            return body if len(body["content"]) == 2 else None

        one = await wait_for(detail)
        assert one["content"]["ideas"] == "an idea"
        assert one["content"]["custom"] == {"k": 1.0}
        assert set(one["roots"]) >= {"ideas", "custom"}


async def test_rest_refuses_bad_names_and_unknown_rooms(server_url, token):
    code, body = await fetch_json(
        server_url + "omniforge/api/rooms/nope:1", token=token, raise_error=False
    )
    assert code == 400 and "invalid room name" in body["message"]
    code, _ = await fetch_json(
        server_url + "omniforge/api/rooms/idea:never", token=token, raise_error=False
    )
    assert code == 404
    code, body = await fetch_json(
        server_url + "omniforge/api/rooms/idea:x?roots=a:bogus", token=token, raise_error=False
    )
    assert code in (400, 404)


async def test_delete_forgets_the_room(server_url, token, omniforge):
    doc = Doc()
    async with connect_room(server_url, "idea:del", doc, token=token) as conn:
        doc.get("code", type=Text).insert(0, "bye")
        await wait_for(
            lambda: (
                "idea:del" in omniforge.room_manager.rooms
                and str(omniforge.room_manager.rooms["idea:del"].doc.get("code", type=Text))
            )
        )
        code, _ = await fetch_json(
            server_url + "omniforge/api/rooms/idea:del", method="DELETE", token=token
        )
        assert code == 204
        await wait_for(lambda: conn.close_code is not None)
        assert conn.close_code == 1001
    assert await omniforge.store.rooms.load("idea:del") == []


async def test_health_needs_no_token_and_reveals_nothing(server_url):
    for path in ("omniforge/health/live", "omniforge/health/ready"):
        code, body = await fetch_json(server_url + path)
        assert code == 200 and body == {"status": "ok"}
    code, _ = await fetch_json(server_url + "omniforge/api/rooms", raise_error=False)
    assert code == 403


# -- bad input -------------------------------------------------------------------------------------


async def test_invalid_room_name_is_refused_before_the_upgrade(ws_connect, omniforge):
    for bad in ("idea:", "idea:" + "x" * 129, "notakind:1", "idea:a/b", "idea:%20x", "presence:1"):
        with pytest.raises(HTTPClientError) as info:
            await ws_connect(bad)
        assert info.value.code == 400, bad
    assert omniforge.room_manager.rooms == {}


async def test_missing_token_is_refused_with_403(ws_connect, omniforge):
    with pytest.raises(HTTPClientError) as info:
        await ws_connect("idea:1", token_=None)
    assert info.value.code == 403
    assert omniforge.room_manager.rooms == {}


@asynccontextmanager
async def witnessed_room(server_url, token, omniforge):
    """A room holding some text, with a well-behaved client that must be unaffected by what
    happens inside the block; checked on the way out."""
    doc = Doc()
    async with connect_room(server_url, "idea:victim", doc, token=token) as conn:
        doc.get("code", type=Text).insert(0, "precious")
        await wait_for(lambda: server_text(omniforge, "idea:victim") == "precious")
        yield
        await assert_unharmed(server_url, token, omniforge, (doc, conn))


def server_text(omniforge, room):
    """The text of the live room ``room`` on the server, or None when it is not open."""
    live = omniforge.room_manager.get(room)
    return str(live.doc.get("code", type=Text)) if live else None


async def assert_unharmed(server_url, token, omniforge, witness):
    doc, conn = witness
    assert conn.close_code is None, "the well-behaved client was disconnected"
    doc.get("code", type=Text).insert(8, "!")
    fresh = Doc()
    async with connect_room(server_url, "idea:victim", fresh, token=token):
        await wait_for(lambda: text_of(fresh) == "precious!")
    await omniforge.store.rooms.flush()
    stored = Doc()
    for update in await omniforge.store.rooms.load("idea:victim"):
        stored.apply_update(update)
    assert text_of(stored) == "precious!"


@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [
        (b"\x00\x02\x05ab", 1002, "runs past the end"),  # truncated update
        (b"\x00\x02\x03\xff\xff\xff", 1002, "invalid Yjs update"),  # not a Yjs update
        (b"\x00\x07\x00", 1002, "unknown sync message subtype"),
        (b"\x01\x02\x01", 1002, ""),  # truncated awareness
        (b"", 1002, "empty frame"),
        (b"\x09", 1003, "unknown message type 9"),
    ],
)
async def test_a_malformed_frame_closes_only_that_connection(
    ws_connect, server_url, token, omniforge, frame, code, reason
):
    async with witnessed_room(server_url, token, omniforge):
        bad = await ws_connect("idea:victim")
        await bad.write_message(frame, binary=True)
        while await bad.read_message() is not None:
            pass
        assert bad.close_code == code
        assert reason in (bad.close_reason or "")


@pytest.mark.parametrize("omniforge_config", [{"update_interval": 1.0, "update_burst": 1}])
async def test_a_malformed_update_in_a_batch_closes_only_its_sender(
    ws_connect, server_url, token, omniforge
):
    """A garbage update that arrives in the same batch as a good one: the batch no longer
    applies as one merged update, so each is applied on its own; only the sender of the
    garbage is closed, and the good update is sent and stored."""
    async with witnessed_room(server_url, token, omniforge):
        room = omniforge.room_manager.get("idea:victim")
        writer, watcher = Doc(), Doc()
        async with (
            connect_room(server_url, "idea:victim", writer, token=token),
            connect_room(server_url, "idea:victim", watcher, token=token),
        ):
            bad = await ws_connect("idea:victim")
            await asyncio.sleep(1.1)  # a quiet spell: the next update goes out at once
            writer.get("tokens", type=Map)["a"] = 1
            await wait_for(lambda: watcher.get("tokens", type=Map).to_py() == {"a": 1})
            # Within the interval that update opened: these two wait for the same batch.
            writer.get("tokens", type=Map)["b"] = 2
            await bad.write_message(b"\x00\x02\x03\xff\xff\xff", binary=True)
            await wait_for(lambda: len(room._incoming) == 2)
            while await bad.read_message() is not None:
                pass
            assert bad.close_code == 1002
            assert "invalid Yjs update" in bad.close_reason
            await wait_for(lambda: watcher.get("tokens", type=Map).to_py() == {"a": 1, "b": 2})
        await omniforge.store.rooms.flush()
        stored = Doc()
        for update in await omniforge.store.rooms.load("idea:victim"):
            stored.apply_update(update)
        assert stored.get("tokens", type=Map).to_py() == {"a": 1, "b": 2}


@pytest.mark.parametrize("omniforge_config", [{"update_interval": 1.0, "update_burst": 1}])
async def test_a_burst_waits_for_its_batch_but_a_newcomer_gets_it_at_once(server_url, token):
    """Updates that follow one another within ``update_interval`` reach the peers together,
    one interval after the first; a client joining meanwhile still syncs everything."""
    writer, watcher = Doc(), Doc()
    async with (
        connect_room(server_url, "idea:burst", writer, token=token),
        connect_room(server_url, "idea:burst", watcher, token=token),
    ):
        await asyncio.sleep(1.1)
        text = writer.get("code", type=Text)
        text += "first"
        await wait_for(lambda: text_of(watcher) == "first")
        for word in (" second", " third"):
            text += word
        newcomer = Doc()
        async with connect_room(server_url, "idea:burst", newcomer, token=token):
            await wait_for(lambda: text_of(newcomer) == "first second third", timeout=0.5)
            assert text_of(watcher) == "first", "the burst did not wait for its batch"
            await wait_for(lambda: text_of(watcher) == "first second third")


@pytest.mark.parametrize("omniforge_config", [{"update_interval": 1.0, "update_burst": 2}])
async def test_updates_a_moment_apart_go_at_once_until_the_burst_is_spent(server_url, token):
    """With ``update_burst`` 2, a second update right after the first is sent at once too (two
    users whose edits happen to coincide); the third within the interval waits for it."""
    writer, watcher = Doc(), Doc()
    async with (
        connect_room(server_url, "idea:coincide", writer, token=token),
        connect_room(server_url, "idea:coincide", watcher, token=token),
    ):
        await asyncio.sleep(2.1)  # a quiet spell: both tokens back
        text = writer.get("code", type=Text)
        text += "first"
        await wait_for(lambda: text_of(watcher) == "first", timeout=0.5)
        text += " second"
        await wait_for(lambda: text_of(watcher) == "first second", timeout=0.5)
        text += " third"
        await asyncio.sleep(0.3)
        assert text_of(watcher) == "first second", "the third update did not wait"
        await wait_for(lambda: text_of(watcher) == "first second third")


async def test_an_update_a_client_sends_back_is_neither_stored_nor_sent_again(
    server_url, token, omniforge, ws_connect
):
    """A stock pycrdt ``Provider`` sends back every update it receives. The copy adds nothing:
    it is not stored, and the other peers get each edit once."""
    writer, echoer = Doc(), Doc()
    async with (
        connect_room(server_url, "idea:echo", writer, token=token),
        connect_room(server_url, "idea:echo", echoer, token=token),
    ):
        watcher = await ws_connect("idea:echo")
        await watcher.write_message(p.encode_sync_step1(Doc().get_state()), binary=True)
        text = writer.get("code", type=Text)
        expected = ""
        for word in ("one", " two", " three"):
            text += word
            expected += word
            await wait_for(lambda want=expected: text_of(echoer) == want)
        await asyncio.sleep(0.5)  # time for the copies to come back
        updates = []
        while True:
            try:
                frame = await asyncio.wait_for(watcher.read_message(), 0.2)
            except TimeoutError:
                break
            if frame[:2] == bytes([p.MESSAGE_SYNC, p.SYNC_UPDATE]):
                updates.append(frame)
        assert len(updates) == 3, f"the watcher got {len(updates)} updates for 3 edits"
    await omniforge.store.rooms.flush()
    stored = [u for u in await omniforge.store.rooms.load("idea:echo") if u != b"\x00\x00"]
    assert len(stored) == 3, f"{len(stored)} rows stored for 3 edits"


async def test_the_pacer_flushes_a_burst_at_once_then_once_per_interval():
    """:class:`Pacer` directly: ``burst`` flushes without waiting, the next one an interval
    after the tokens ran out, and a quiet spell gives the tokens back."""
    flushed: list[float] = []
    loop = asyncio.get_running_loop()
    interval = 0.5
    pacer = Pacer(lambda: flushed.append(loop.time()), interval=interval, burst=3)

    async def one() -> None:
        before = len(flushed)
        pacer.schedule()
        pacer.schedule()  # any number of calls before the flush: one flush
        await wait_for(lambda: len(flushed) > before, timeout=2)

    start = loop.time()
    for _ in range(3):
        await one()
    assert loop.time() - start < 0.8 * interval, "a flush within the burst waited"
    await one()
    # Three tokens spent from the first flush on, one back per interval: the fourth flush
    # comes no sooner than an interval after the first, however long the first three took.
    assert flushed[3] - flushed[0] >= interval - 0.01, "the flush after the burst did not wait"
    assert len(flushed) == 4
    await asyncio.sleep(3.2 * interval)  # three intervals: three tokens again (at most burst)
    start = loop.time()
    for _ in range(3):
        await one()
    assert loop.time() - start < 0.8 * interval
    pacer.schedule()
    pacer.cancel()
    await asyncio.sleep(1.5 * interval)
    assert len(flushed) == 7, "a cancelled flush ran"


async def test_a_text_frame_closes_the_connection(ws_connect, server_url, token, omniforge):
    async with witnessed_room(server_url, token, omniforge):
        bad = await ws_connect("idea:victim")
        await bad.write_message("hello")
        while await bad.read_message() is not None:
            pass
        assert bad.close_code == 1002


@pytest.mark.parametrize("omniforge_config", [{"max_message_size": 64 * 1024}])
async def test_an_oversized_frame_closes_that_connection(ws_connect, server_url, token, omniforge):
    async with witnessed_room(server_url, token, omniforge):
        bad = await ws_connect("idea:victim")
        other = Doc()
        other.get("code", type=Text).insert(0, "y" * 100_000)
        await bad.write_message(p.encode_update(other.get_update()), binary=True)
        while await bad.read_message() is not None:
            pass
        assert bad.close_code == 1009


@pytest.mark.parametrize(
    "omniforge_config", [{"max_messages_per_second": 20, "max_message_burst": 40}]
)
async def test_a_flood_closes_that_connection(ws_connect, server_url, token, omniforge):
    async with witnessed_room(server_url, token, omniforge):
        bad = await ws_connect("idea:victim")
        for i in range(200):
            await bad.write_message(awareness_frame(99, i + 1, {"n": i}), binary=True)
        while await bad.read_message() is not None:
            pass
        assert bad.close_code == 1008
        assert "messages/s" in bad.close_reason
