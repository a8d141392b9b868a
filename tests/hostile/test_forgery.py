"""Class 6: facts the server owns cannot be forged: presence events and event sources. Afterwards
the server answers, others still edit, and what was stored is intact (the witness)."""

from __future__ import annotations

import pytest

from jupyter_omniforge.cli import main as cli
from jupyter_omniforge.errors import ReservedEventType

from ..conftest import fetch_json


@pytest.mark.parametrize("event_type", ["user.joined", "user.left"])
async def test_presence_events_cannot_be_emitted_through_rest(
    server_url, token, event_type, witness
):
    await witness.write()
    status, answer = await fetch_json(
        server_url + "omniforge/api/events",
        method="POST",
        token=token,
        body={"channel": "idea:1", "type": event_type, "data": {"username": "admin"}},
        raise_error=False,
    )
    assert status == 400 and answer["error"] == "reserved"
    _, history = await fetch_json(server_url + "omniforge/api/events?channel=idea:1", token=token)
    assert history["events"] == []
    await witness.check()


async def test_nor_through_python(omniforge, witness):
    await witness.write()
    with pytest.raises(ReservedEventType):
        await omniforge.emit("idea:1", "user.joined", {"username": "admin"})
    await witness.check()


def test_nor_through_the_cli(server_url, token, capsys, io_loop, witness):
    io_loop.run_sync(witness.write)
    status = io_loop.run_sync(
        lambda: __import__("asyncio").to_thread(
            cli, ["emit", "idea:1", "user.left", "--url", server_url, "--token", token]
        )
    )
    assert status == 2
    assert "reserved" in capsys.readouterr().err
    io_loop.run_sync(witness.check)


async def test_the_source_is_always_the_servers(server_url, token, witness):
    await witness.write()
    status, answer = await fetch_json(
        server_url + "omniforge/api/events",
        method="POST",
        token=token,
        body={
            "channel": "build:1",
            "type": "build.started",
            "data": {},
            "source": {"username": "admin"},
        },
        raise_error=False,
    )
    assert status == 400 and "unknown fields: source" in answer["message"]
    _, envelope = await fetch_json(
        server_url + "omniforge/api/events",
        method="POST",
        token=token,
        body={"channel": "build:1", "type": "build.started", "data": {}},
    )
    assert envelope["source"] == {"username": envelope["source"]["username"]}
    assert envelope["source"]["username"] != "admin"
    await witness.check()
