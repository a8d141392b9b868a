"""An update that re-uses a client's IDs for other text, cut inside a character: the server
applies it without complaint, but every stock pycrdt client it relays it to panics.

Found by the Redis fuzzer (``test_redis_entries.py``), whose valid updates all come from client
1234 starting at clock 0. With pycrdt 0.14.13 (yrs 0.28): the document holds ``1234:0`` (one
character), and an update re-sends ``1234:0`` as a two-unit character outside the BMP followed by
another item. yrs integrates only the part past what it holds, which starts between the two
surrogates: it drops the half character, leaving a hole at ``1234:1`` while the state vector
says ``1234:3``. A document with no observer (the server's) carries on; encoding the
transaction's update, which every ``doc.observe`` and so every ``pycrdt.Provider`` does, panics
(``Option::unwrap()`` on ``None`` in ``Store::write_blocks_from``). The client's provider dies
and it silently stops syncing. The server now refuses such an update (see
:mod:`jupyter_omniforge.structure`).
"""

from __future__ import annotations

import pytest
from pycrdt import Doc, Map, Text

from jupyter_omniforge.client import connect_room
from jupyter_omniforge.rooms import protocol as p
from jupyter_omniforge.structure import Structure
from jupyter_omniforge.updates import UpdateRefused

from ..conftest import wait_for
from ..test_rooms import FrameReader
from .conftest import refused_and_both_still_sync

OUTSIDE_BMP = "\U00010000"  # two UTF-16 units


def forged(text: str, *, then_a_map_write: bool = False) -> bytes:
    """An update of client 1234 from clock 0: ``text`` in the ``code`` text (and a write of
    ``tokens["k"]`` after it), as a fuzzer that always uses client 1234 makes them."""
    doc = Doc(client_id=1234)
    with doc.transaction():
        doc.get("code", type=Text).insert(0, text)
        if then_a_map_write:
            doc.get("tokens", type=Map)["k"] = 1
    return doc.get_update()


FIRST = forged("a")
SECOND = forged(OUTSIDE_BMP, then_a_map_write=True)


def _apply_both(doc: Doc) -> None:
    doc.apply_update(FIRST)
    doc.apply_update(SECOND)


@pytest.mark.xfail(
    strict=True,
    raises=BaseException,
    reason="pycrdt 0.14.13 panics encoding the transaction; passes once pycrdt is fixed",
)
def test_pycrdt_panics_on_a_client_that_observes_its_document():
    server_like = Doc()
    _apply_both(server_like)  # no observer: no panic, and no error either
    assert server_like.get_state() != Doc().get_state()
    client_like = Doc()
    client_like.observe(lambda event: event.update)  # what every pycrdt Provider does
    _apply_both(client_like)  # PanicException (a BaseException)


def test_the_structure_refuses_text_re_sent_cut_inside_a_character():
    structure = Structure()
    structure.check(FIRST)
    with pytest.raises(UpdateRefused, match="cut inside a character"):
        structure.check(SECOND)
    # A client re-sending its own text (a reconnect, a merged update) cuts it where it was cut.
    honest = Doc(client_id=7)
    text = honest.get("code", type=Text)
    text.insert(0, "a" + OUTSIDE_BMP)
    part = honest.get_update()
    text.insert(len(text), OUTSIDE_BMP + "b")
    structure.check(part)
    structure.check(honest.get_update())


async def test_the_server_refuses_it_and_honest_clients_keep_syncing(server_url, token, ws_connect):
    room = "idea:split-character"
    alice, bob = Doc(), Doc()
    async with (
        connect_room(server_url, room, alice, token=token),
        connect_room(server_url, room, bob, token=token),
    ):
        mallory = FrameReader(await ws_connect(room, user="mallory"))
        await mallory.conn.write_message(p.encode_update(FIRST), binary=True)
        await wait_for(lambda: str(alice.get("code", type=Text)) == "a")
        await mallory.conn.write_message(p.encode_update(SECOND), binary=True)
        await refused_and_both_still_sync(mallory, "cut inside a character", alice, bob)
        assert str(alice.get("code", type=Text)) == "bob: a from alice"
        assert "tokens" not in alice.keys()
