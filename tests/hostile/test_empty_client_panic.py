"""An update with a client section that holds no structs: harmless to a document that does not
know the client, a panic in any document that does.

Found by the Redis fuzzer (``test_redis_entries.py``). With pycrdt 0.14.13 (yrs 0.28), applying
``1 client: 0 structs of client C from clock 0`` to a document holding items of C panics in
``BlockSet::exclude`` (``Option::unwrap()`` on ``None``), observer or not. A server whose
document did not know C yet applied it and relayed it, and every peer that did know C (C itself,
say: its client ID is in every update it sends) died of it: a stock pycrdt ``Provider`` silently
stops syncing. No encoder writes such a section (checked against 7,500 of yrs's own diffs and
merges while writing this), so the gate refuses it (close 1002) wherever it comes from.
"""

from __future__ import annotations

import pytest
from pycrdt import Doc, Text

from jupyter_omniforge.client import connect_room
from jupyter_omniforge.rooms import protocol as p
from jupyter_omniforge.updates import UpdateRefused, gate

from ..conftest import wait_for
from ..test_rooms import FrameReader
from .conftest import refused_and_both_still_sync
from .lib0 import STRING, item, update_of, var_uint


def empty_section(client: int) -> bytes:
    """One client section with no structs (client ``client``, clock 0), no delete set."""
    return var_uint(1) + var_uint(0) + var_uint(client) + var_uint(0) + var_uint(0)


@pytest.mark.xfail(
    strict=True,
    raises=BaseException,
    reason="pycrdt 0.14.13 panics applying it to a document holding the client",
)
def test_pycrdt_panics_applying_it_to_a_document_that_holds_the_client():
    Doc().apply_update(empty_section(77))  # a document that does not know 77: no panic
    holder = Doc(client_id=77)
    holder.get("code", type=Text).insert(0, "mine")
    holder.apply_update(empty_section(77))  # PanicException (a BaseException)


@pytest.mark.xfail(
    strict=True,
    raises=BaseException,
    reason="pycrdt 0.14.13 panics applying an item of length 0 to a document holding its client",
)
def test_pycrdt_panics_on_an_item_of_length_0_too():
    """The same panic from an item of length 0 (an empty string here), at any clock. Not
    refused yet: yrs's own merges and diffs write such items when they slice a character
    outside the BMP, so the gate cannot simply refuse them (see the closing note of
    2026-12-05); a client the server does not hold yet is the attack surface left."""
    empty_string = update_of([(77, 0, [item(var_uint(0), ref=STRING, root="code")])])
    Doc().apply_update(empty_string)  # a document that does not know 77: no panic
    holder = Doc(client_id=77)
    holder.get("code", type=Text).insert(0, "mine")
    holder.apply_update(empty_string)  # PanicException (a BaseException)


def test_the_gate_refuses_a_client_with_no_structs():
    with pytest.raises(UpdateRefused, match="a client with no structs"):
        gate(empty_section(77))
    gate(Doc().get_update())  # no clients at all is fine (an empty update)


async def test_the_server_refuses_it_and_the_client_it_targets_keeps_syncing(
    server_url, token, ws_connect
):
    room = "idea:empty-client"
    alice, bob = Doc(), Doc()
    async with (
        connect_room(server_url, room, alice, token=token),
        connect_room(server_url, room, bob, token=token),
    ):
        alice.get("code", type=Text).insert(0, "alice")
        await wait_for(lambda: str(bob.get("code", type=Text)) == "alice")
        mallory = FrameReader(await ws_connect(room, user="mallory"))
        await mallory.conn.write_message(
            p.encode_update(empty_section(alice.client_id)), binary=True
        )
        # Alice's provider, the one the update named, still runs.
        await refused_and_both_still_sync(mallory, "a client with no structs", alice, bob)
        assert str(alice.get("code", type=Text)) == "bob: alice from alice"
