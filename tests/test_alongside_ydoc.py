"""OmniForge rooms run next to jupyter-server-ydoc's notebook rooms, with one login for both."""

from __future__ import annotations

import pytest
from pycrdt import Doc, Provider, Text

from jupyter_omniforge.client import connect_room
from jupyter_omniforge.client.rooms import RoomConnection, open_connection

from .conftest import wait_for


@pytest.fixture
def jp_server_config(jp_server_config):
    extensions = jp_server_config["ServerApp"]["jpserver_extensions"]
    extensions.update({"jupyter_server_fileid": True, "jupyter_server_ydoc": True})
    return jp_server_config


async def test_notebook_rooms_and_omniforge_rooms_share_one_server_and_one_token(
    jp_serverapp, server_url, token
):
    assert "jupyter_server_ydoc" in jp_serverapp.extension_manager.extensions
    # A jupyter-server-ydoc room (a transient one: its id has fewer than two colons).
    ydoc_url = "ws" + server_url[len("http") :] + f"api/collaboration/room/scratch?token={token}"
    notebook_side = Doc()
    conn = await open_connection(ydoc_url)
    async with Provider(notebook_side, RoomConnection(conn, "scratch")) as provider:
        await wait_for(lambda: provider.synced.is_set())
        notebook_side.get("source", type=Text).insert(0, "served by jupyter-server-ydoc")
        # An OmniForge room on the same server, same token, at the same time.
        ours = Doc()
        async with connect_room(server_url, "idea:1", ours, token=token):
            ours.get("code", type=Text).insert(0, "served by omniforge")
            peer = Doc()
            async with connect_room(server_url, "idea:1", peer, token=token):
                await wait_for(lambda: str(peer.get("code", type=Text)) == "served by omniforge")
        # And the notebook-side room still converges for a second client of jupyter-server-ydoc.
        other = Doc()
        conn2 = await open_connection(ydoc_url)
        async with Provider(other, RoomConnection(conn2, "scratch")) as provider2:
            await wait_for(lambda: provider2.synced.is_set())
            await wait_for(
                lambda: str(other.get("source", type=Text)) == "served by jupyter-server-ydoc"
            )
    conn.close()
    conn2.close()
