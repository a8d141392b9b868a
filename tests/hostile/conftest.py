"""What every hostile story checks after the attack: the server is alive, other people still
collaborate, and what was stored before is intact."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc, Text

from jupyter_omniforge.client import connect_room

from ..conftest import fetch_json, wait_for

BEFORE = "written before the attack"


class Witness:
    """A room written before the attack, and the checks run after it."""

    room = "idea:witness"

    def __init__(self, server_url: str, token: str, omniforge: Any) -> None:
        self.server_url = server_url
        self.token = token
        self.omniforge = omniforge

    async def write(self) -> None:
        doc = Doc()
        async with connect_room(self.server_url, self.room, doc, token=self.token):
            doc.get("code", type=Text).insert(0, BEFORE)
            await wait_for(lambda: self.stored_text_now() == BEFORE)
        await self.omniforge.store.rooms.flush()

    def stored_text_now(self) -> str | None:
        room = self.omniforge.room_manager.get(self.room)
        return None if room is None else str(room.doc.get("code", type=Text))

    async def check(self) -> None:
        """The server process answers, two clients edit the witness room and converge, and
        its content is what was written before plus their edit."""
        status, body = await fetch_json(self.server_url + "omniforge/health/live")
        assert (status, body) == (200, {"status": "ok"})
        a, b = Doc(), Doc()
        async with (
            connect_room(self.server_url, self.room, a, token=self.token),
            connect_room(self.server_url, self.room, b, token=self.token),
        ):
            await wait_for(lambda: str(a.get("code", type=Text)) == BEFORE)
            a.get("code", type=Text).insert(len(BEFORE), " and after")
            await wait_for(lambda: str(b.get("code", type=Text)) == BEFORE + " and after")
        _, room = await fetch_json(
            self.server_url + f"omniforge/api/rooms/{self.room}", token=self.token
        )
        assert room["content"]["code"] == BEFORE + " and after"


@pytest.fixture
def witness(server_url: str, token: str, omniforge: Any) -> Witness:
    """A test calls ``await witness.write()`` before its attack, ``await witness.check()``
    after it."""
    return Witness(server_url, token, omniforge)


async def refused_and_both_still_sync(attacker: Any, reason: str, alice: Doc, bob: Doc) -> None:
    """The attacker's connection (a ``FrameReader``) is closed with 1002 and ``reason``, and the
    two honest clients' providers still run: an edit of each reaches the other."""
    await wait_for(lambda: attacker.closed.is_set())
    assert attacker.conn.close_code == 1002
    assert reason in attacker.conn.close_reason
    alices, bobs = alice.get("code", type=Text), bob.get("code", type=Text)
    alices.insert(len(alices), " from alice")
    await wait_for(lambda: str(bobs) == str(alices))
    bobs.insert(0, "bob: ")
    await wait_for(lambda: str(alices) == str(bobs) and str(alices).startswith("bob: "))
