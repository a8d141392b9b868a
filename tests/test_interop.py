"""The stock npm y-websocket client and a pycrdt client share one room."""

from __future__ import annotations

import pytest
from pycrdt import Doc, Map, Text

from jupyter_omniforge.client import connect_room

from .conftest import wait_for
from .nodeclient import NodeClient, ensure_node_modules, node_installed

pytestmark = pytest.mark.skipif(not node_installed(), reason="node is not installed")


@pytest.fixture(scope="module", autouse=True)
def _node_modules():
    ensure_node_modules()


async def test_a_browser_client_and_a_python_client_converge(ws_base, server_url, token):
    doc = Doc()
    async with (
        await NodeClient.start(ws_base, "idea:42", token) as js,
        connect_room(server_url, "idea:42", doc, token=token),
    ):
        await js.wait_synced()
        await js.check({"cmd": "insert", "root": "code", "index": 0, "text": "from js; "})
        await wait_for(lambda: str(doc.get("code", type=Text)) == "from js; ")
        with doc.transaction():  # one update, so the text arriving means the map did too
            doc.get("code", type=Text).insert(9, "from python")
            doc.get("tokens", type=Map)["by"] = "python"
        await js.check({"cmd": "wait_text", "root": "code", "value": "from js; from python"})
        reply = await js.check({"cmd": "get", "roots": {"tokens": "map"}})
        assert reply["json"]["tokens"] == {"by": "python"}


async def test_browser_clients_see_each_other_come_and_go(ws_base, token):
    async with (
        await NodeClient.start(ws_base, "idea:aw", token) as a,
        await NodeClient.start(ws_base, "idea:aw", token) as b,
    ):
        await a.wait_synced()
        await b.wait_synced()
        await a.check({"cmd": "awareness_field", "field": "cursor", "value": {"anchor": 1}})
        await b.check({"cmd": "wait_states", "count": 2})
        states = (await b.check({"cmd": "states"}))["states"]
        other = next(s for cid, s in states.items() if s.get("cursor"))
        assert other["cursor"] == {"anchor": 1}
        assert other["user"]["username"] and other["user"]["color"].startswith("#")
        await a.close()
        await b.check({"cmd": "wait_states", "count": 1})


async def test_offline_edits_of_a_browser_client_reach_the_server_on_reconnect(
    ws_base, server_url, token, omniforge
):
    async with await NodeClient.start(ws_base, "idea:offline", token) as js:
        await js.wait_synced()
        await js.check({"cmd": "disconnect"})
        await js.check({"cmd": "insert", "root": "code", "index": 0, "text": "written offline"})
        await js.check({"cmd": "connect"})
        await wait_for(
            lambda: (
                omniforge.room_manager.get("idea:offline") is not None
                and str(omniforge.room_manager.get("idea:offline").doc.get("code", type=Text))
                == "written offline"
            )
        )
