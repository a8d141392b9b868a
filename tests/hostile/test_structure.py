"""Harms that only show across updates (structure.py): shared types nested in shared types,
one level per update or all in one, and text content put into an Array, Map or XML type."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text
from tornado.websocket import WebSocketClosedError

from jupyter_omniforge.rooms import protocol as p
from jupyter_omniforge.rooms.roots import KIND_ROOTS
from jupyter_omniforge.structure import MAX_POOLED, Structure
from jupyter_omniforge.updates import UpdateRefused

from ..conftest import fetch_json, wait_for
from ..test_rooms import FrameReader
from .lib0 import ANY, STRING, item, update_of, var_string, var_uint

# A chain of nested Maps this deep in a room kills the process when its top is deleted (about
# 35,000 levels do, pycrdt 0.14.13); the structure refuses anything past 64.
DEEP_CHAIN = 40_000


def recorded(doc: Doc) -> list[bytes]:
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    return updates


def chain(levels: int, *, per_update: int | None = None) -> list[bytes]:
    """Updates nesting ``levels`` Maps under the root ``tokens``, ``per_update`` levels each."""
    doc = Doc()
    updates = recorded(doc)
    current = doc.get("tokens", type=Map)
    per_update = per_update or levels
    for start in range(0, levels, per_update):
        with doc.transaction():
            for _ in range(min(per_update, levels - start)):
                child = Map()
                current["k"] = child
                current = child
    return updates


def text_update(root: str, text: str, client_id: int | None = None) -> bytes:
    doc = Doc() if client_id is None else Doc(client_id=client_id)
    doc.get(root, type=Text).insert(0, text)
    return doc.get_update()


def refusal(structure: Structure, update: bytes) -> str | None:
    try:
        structure.check(update)
    except UpdateRefused as e:
        return str(e)
    return None


# -- the structure on its own ------------------------------------------------------------------


def test_shared_types_nested_past_the_limit_in_one_update_are_refused():
    assert refusal(Structure(), chain(64)[0]) is None
    assert "nested deeper than 64" in refusal(Structure(), chain(65)[0])


def test_nesting_one_level_per_update_is_refused_at_the_level_past_the_limit():
    structure = Structure({"tokens": "map"})
    updates = chain(70, per_update=1)
    for update in updates[:64]:
        assert refusal(structure, update) is None
    assert "nested deeper than 64" in refusal(structure, updates[64])


def test_nesting_through_overwritten_keys_is_counted_too():
    # An overwrite names no parent, only its origin (the value it replaces): the structure
    # finds the parent through it.
    doc = Doc()
    updates = recorded(doc)
    structure = Structure()
    current = doc.get("tokens", type=Map)
    refused_at = None
    for level in range(1, 70):
        current["k"] = Map()
        current["k"] = Map()
        current = current["k"]
        refused = [r for r in (refusal(structure, u) for u in updates) if r]
        updates.clear()
        if refused:
            refused_at = level
            assert "nested deeper" in refused[0]
            break
    assert refused_at == 65


def test_a_refused_update_leaves_nothing_behind():
    structure = Structure({"tokens": "map"})
    updates = chain(80, per_update=40)
    assert refusal(structure, updates[0]) is None
    types = structure.types
    assert refusal(structure, updates[1]) is not None
    assert structure.types == types and structure.pooled == 0


@pytest.mark.parametrize("text", ["plain", "astral 😀"])
@pytest.mark.parametrize("kind", ["array", "map", "xml"])
def test_text_content_in_a_root_the_server_reads_as_another_type_is_refused(kind, text):
    reason = refusal(Structure({"log": kind}), text_update("log", text))
    assert "only a text holds text" in reason
    assert refusal(Structure({"log": "text"}), text_update("log", text)) is None
    assert refusal(Structure({}), text_update("log", text)) is None  # never read with a type


@pytest.mark.parametrize("kind", ["idea", "project", "preview"])
def test_the_room_editors_meta_root_is_a_map_the_server_checks(kind):
    # The room editor keeps the room's language in ``meta``: declared, so text in it is refused.
    reason = refusal(Structure(KIND_ROOTS[kind]), text_update("meta", "python"))
    assert "only a text holds text" in reason


def test_text_content_in_a_nested_array_is_refused_wherever_it_sits():
    writer = Doc()
    updates = recorded(writer)
    writer.get("tokens", type=Map)["list"] = Array(["a"])
    structure = Structure({"tokens": "map"})
    assert refusal(structure, updates[0]) is None
    ((array_client, array_clock),) = structure._types
    astral = var_string("😀")
    # A string item naming the nested Array as its parent, then one placed after it by origin.
    named = update_of([(7, 0, [item(astral, ref=STRING, parent=(array_client, array_clock))])])
    assert "only a text holds text" in refusal(structure, named)
    after = update_of([(7, 0, [item(astral, ref=STRING, origin=(array_client, array_clock + 1))])])
    assert "only a text holds text" in refusal(structure, after)
    # The same string in a nested Text is what texts are for.
    writer.get("tokens", type=Map)["text"] = Text()
    assert refusal(structure, updates[1]) is None
    text_id = max(structure._types)
    in_text = update_of([(7, 0, [item(astral, ref=STRING, parent=text_id)])])
    assert refusal(structure, in_text) is None


def test_items_arriving_before_what_they_depend_on_wait_and_are_judged_when_it_comes():
    doc = Doc()
    updates = recorded(doc)
    text = doc.get("code", type=Text)
    text.insert(0, "hello")
    text.insert(5, " world")
    doc.get("tokens", type=Map)["x"] = Map({"y": "z"})
    structure = Structure({"code": "text", "tokens": "map"})
    for update in reversed(updates):
        assert refusal(structure, update) is None
    assert structure.pooled == 0 and structure.types == 1


def test_a_chain_sent_in_reverse_is_refused_when_it_would_join_the_document():
    # Each segment alone is shallow and waits for the one before; the first completes them all.
    structure = Structure({"tokens": "map"})
    segments = chain(150, per_update=30)
    for segment in reversed(segments[1:]):
        assert refusal(structure, segment) is None
    assert structure.pooled == 120
    assert "nested deeper than 64" in refusal(structure, segments[0])
    assert structure.pooled == 120  # still waiting: yrs keeps them pending, unjoined


def test_nothing_may_wait_for_the_servers_own_edits():
    # An item placed after an edit the server has not made yet would join the document with
    # the server's next edit, which nobody judges.
    server = Doc()
    structure = Structure({"log": "array"})
    structure.own_client = server.client_id
    server.get("log", type=Array).append(1)
    structure.check(server.get_update(), limits=False)
    astral = var_string("😀")
    known = update_of([(7, 0, [item(astral, ref=STRING, root="notes")])])
    assert refusal(structure, known) is None
    future = update_of([(7, 2, [item(astral, ref=STRING, origin=(server.client_id, 1))])])
    assert "never wrote" in refusal(structure, future)
    elsewhere = update_of([(7, 2, [item(astral, ref=STRING, origin=(99, 0))])])
    assert refusal(structure, elsewhere) is None and structure.pooled == 1


def test_the_pool_is_bounded():
    structure = Structure()
    doc = Doc(client_id=1)
    text = doc.get("code", type=Text)
    for _ in range(3):
        text.insert(0, "x")
    updates = recorded(doc)
    with doc.transaction():
        for _ in range(MAX_POOLED + 1):
            text.insert(0, "y")
    # Depends on the three items never sent: everything waits.
    assert "depend on content" in refusal(structure, updates[0])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), shuffle=st.booleans())
def test_ordinary_editing_is_never_refused(seed, shuffle):
    """Text edits (astral characters included), nested maps and arrays a few levels deep, in
    any order of arrival: all accepted, and nothing is left waiting."""
    rng = random.Random(seed)
    doc = Doc()
    updates = recorded(doc)
    text = doc.get("code", type=Text)
    tokens = doc.get("tokens", type=Map)
    components = doc.get("components", type=Array)
    containers: list[Map | Array] = [tokens, components]
    for step in range(120):
        op = rng.random()
        # pycrdt indexes text in UTF-8 bytes, and an index inside a character makes it write
        # a corrupt update (its right origin is the next ID, whatever that is): edit only the
        # ASCII start of the text at random, and add other characters at its end.
        ascii_start = len(str(text).encode("ascii", "replace").split(b"?")[0])
        if op < 0.4:
            text.insert(rng.randint(0, ascii_start), rng.choice(["a", "bc"]))
        elif op < 0.5:
            text.insert(len(text), rng.choice(["😀", "é", "x"]))
        elif op < 0.6 and ascii_start > 1:
            del text[0:1]
        else:
            parent = rng.choice(containers)
            child: Map | Array | Text | int = rng.choice([Map(), Array(), Text("t😀"), 1])
            if isinstance(parent, Map):
                parent[f"k{step}"] = child
            else:
                parent.insert(rng.randint(0, len(parent)), child)
            if isinstance(child, Map | Array) and len(containers) < 30:
                containers.append(child)
    if shuffle:
        rng.shuffle(updates)
    structure = Structure({"code": "text", "tokens": "map", "components": "array"})
    for update in updates:
        assert refusal(structure, update) is None
    assert structure.pooled == 0
    # And the document's whole state, read afresh (a restart), is accepted too.
    assert refusal(Structure({"code": "text", "tokens": "map"}), doc.get_update()) is None


# -- against a live server ---------------------------------------------------------------------


async def test_a_deep_chain_of_shared_types_closes_its_sender_and_the_server_lives(
    ws_connect, witness, server_url, token
):
    await witness.write()
    attacker = FrameReader(await ws_connect("idea:victim", user="mallory"))
    await attacker.conn.write_message(p.encode_update(chain(DEEP_CHAIN)[0]), binary=True)
    await wait_for(lambda: attacker.closed.is_set())
    assert attacker.conn.close_code == 1002
    assert "shared types nested deeper than 64" in attacker.conn.close_reason
    status, _ = await fetch_json(server_url + "omniforge/api/rooms/idea:victim", token=token)
    assert status == 200
    await witness.check()


async def test_one_level_per_update_is_refused_at_the_limit(ws_connect, witness):
    await witness.write()
    attacker = FrameReader(await ws_connect("idea:victim", user="mallory"))
    for update in chain(70, per_update=1):
        try:
            await attacker.conn.write_message(p.encode_update(update), binary=True)
        except WebSocketClosedError:
            break
    await wait_for(lambda: attacker.closed.is_set())
    assert "nested deeper than 64" in attacker.conn.close_reason
    await witness.check()


async def test_text_in_a_build_log_is_refused_and_the_room_still_reads(
    ws_connect, witness, server_url, token
):
    await witness.write()
    attacker = FrameReader(await ws_connect("build:1", user="mallory"))
    await attacker.conn.write_message(p.encode_update(text_update("log", "😀😀")), binary=True)
    await wait_for(lambda: attacker.closed.is_set())
    assert "only a text holds text" in attacker.conn.close_reason
    status, room = await asyncio.wait_for(
        fetch_json(server_url + "omniforge/api/rooms/build:1", token=token), 10
    )
    assert status == 200 and "log" not in room["content"]
    await witness.check()


async def test_reading_a_free_root_as_an_array_when_it_holds_text_is_a_clear_error(
    ws_connect, server_url, token, omniforge
):
    writer = FrameReader(await ws_connect("idea:free", user="alice"))
    await writer.conn.write_message(p.encode_update(text_update("notes", "a😀")), binary=True)
    await wait_for(lambda: omniforge.room_manager.get("idea:free") is not None)
    await wait_for(lambda: "notes" in omniforge.room_manager.get("idea:free").doc.keys())
    status, body = await asyncio.wait_for(
        fetch_json(server_url + "omniforge/api/rooms/idea:free", token=token), 10
    )
    assert status == 200 and "notes" in body["roots"]
    status, body = await asyncio.wait_for(
        fetch_json(
            server_url + "omniforge/api/rooms/idea:free?roots=notes:array",
            token=token,
            raise_error=False,
        ),
        10,
    )
    assert status == 400 and "notes" in body["message"]


@pytest.mark.parametrize(
    "update",
    [
        # Pass the gate and the structure, and yet pycrdt refuses them: format attributes that
        # are not JSON, and a string whose parent is another string.
        update_of([(7, 0, [item(var_string("bold") + var_string("tru"), ref=6, root="code")])]),
        update_of([(7, 0, [item(var_string("z"), ref=STRING, parent=(5, 0))])]),
    ],
    ids=["bad-format", "parent-is-a-string"],
)
async def test_an_update_pycrdt_refuses_after_the_check_leaves_the_shape_true(
    ws_connect, witness, omniforge, update
):
    await witness.write()
    room_name = "build:shape"
    writer = Doc(client_id=5)
    writer.get("code", type=Text).insert(0, "ab")
    setup = FrameReader(await ws_connect(room_name, user="alice"))
    await setup.conn.write_message(p.encode_update(writer.get_update()), binary=True)
    await wait_for(lambda: omniforge.room_manager.get(room_name) is not None)
    room = omniforge.room_manager.get(room_name)
    await wait_for(lambda: str(room.doc.get("code", type=Text)) == "ab")
    attacker = FrameReader(await ws_connect(room_name, user="mallory"))
    await attacker.conn.write_message(p.encode_update(update), binary=True)
    await wait_for(lambda: attacker.closed.is_set())
    assert attacker.conn.close_code == 1002
    # What the structure learnt from the refused update is gone: client 7's clock 0 is free,
    # so text written there into the build log is judged (not skipped as known) and refused.
    assert room.structure.place(7, 0) is None
    late = FrameReader(await ws_connect(room_name, user="mallory2"))
    await late.conn.write_message(p.encode_update(text_update("log", "😀", 7)), binary=True)
    await wait_for(lambda: late.closed.is_set())
    assert "only a text holds text" in late.conn.close_reason
    assert not setup.closed.is_set()
    await witness.check()


def test_an_item_whose_origins_sit_in_two_types_must_fit_both():
    # Found by test_structure_fuzz: yrs puts it where its left origin sits (a text), while a
    # judge that looked only at the right origin (an array) let a value into the text, and
    # deleting that text then panics in pycrdt.
    structure = Structure({"log": "array", "code": "text"})
    in_log = update_of([(1, 0, [item(var_uint(1) + b"\x77\x01v", ref=ANY, root="log")])])
    in_code = update_of([(1, 1, [item(var_string("a"), ref=STRING, root="code")])])
    assert refusal(structure, in_log) is None and refusal(structure, in_code) is None
    value = var_uint(1) + b"\x77\x01v"
    between = update_of([(1, 2, [item(value, ref=ANY, origin=(1, 1), right=(1, 0))])])
    assert "a value (item 1:2) in a text" in refusal(structure, between)
    text = update_of([(1, 2, [item(var_string("b"), ref=STRING, origin=(1, 1), right=(1, 0))])])
    assert "only a text holds text" in refusal(structure, text)
