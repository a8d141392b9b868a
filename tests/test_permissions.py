"""Security stories: write permission, authorization, and Jupyter's auth checks."""

from __future__ import annotations

import warnings

import pytest
from pycrdt import Doc, Text
from tornado.httpclient import HTTPClientError

from jupyter_omniforge.client import connect_room
from jupyter_omniforge.rooms import protocol as p

from .authorizers import READ_ONLY_HEADER
from .conftest import fetch_json, wait_for
from .identities import USER_HEADER


@pytest.fixture
def jp_server_config(jp_server_config):
    jp_server_config["ServerApp"]["authorizer_class"] = "tests.authorizers.ReadOnlyOnRequest"
    return jp_server_config


async def test_a_read_only_user_receives_the_document_but_cannot_change_it(
    server_url, token, ws_connect, omniforge
):
    doc = Doc()
    async with connect_room(server_url, "idea:ro", doc, token=token):
        doc.get("code", type=Text).insert(0, "by a writer")
        await wait_for(
            lambda: (
                omniforge.room_manager.get("idea:ro")
                and str(omniforge.room_manager.get("idea:ro").doc.get("code", type=Text))
            )
        )
        reader = await ws_connect("idea:ro", headers={READ_ONLY_HEADER: "1"}, user="reader")
        frames = []
        # The read-only user syncs like anyone else…
        await reader.write_message(p.encode_sync_step1(b"\x00"), binary=True)
        while True:
            frame = await reader.read_message()
            frames.append(frame)
            if frame[:2] == b"\x00\x01":
                break
        synced = Doc()
        synced.apply_update(p.parse_message(frames[-1]).payload)
        assert str(synced.get("code", type=Text)) == "by a writer"
        # …but its edits are dropped, and it is told why.
        sneaky = Doc()
        sneaky.get("code", type=Text).insert(0, "vandalism ")
        await reader.write_message(p.encode_update(sneaky.get_update()), binary=True)
        denial = await reader.read_message()
        assert denial[0] == p.MESSAGE_AUTH and b"read-only" in denial
        await reader.write_message(p.encode_sync_step2(sneaky.get_update()), binary=True)
        # A write from the writer after that still arrives, and the vandalism never does.
        doc.get("code", type=Text).insert(0, "!")
        await wait_for(
            lambda: (
                str(omniforge.room_manager.get("idea:ro").doc.get("code", type=Text))
                == "!by a writer"
            )
        )
        assert reader.close_code is None
    await omniforge.store.rooms.flush()
    stored = Doc()
    for update in await omniforge.store.rooms.load("idea:ro"):
        stored.apply_update(update)
    assert str(stored.get("code", type=Text)) == "!by a writer"


async def test_delete_needs_write_permission(server_url, token):
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest

    async with connect_room(server_url, "idea:keep", Doc(), token=token):
        pass
    request = HTTPRequest(
        server_url + "omniforge/api/rooms/idea:keep",
        method="DELETE",
        headers={"Authorization": f"token {token}", READ_ONLY_HEADER: "1", USER_HEADER: "reader"},
    )
    with pytest.raises(HTTPClientError) as info:
        await AsyncHTTPClient().fetch(request)
    assert info.value.code == 403


class TestNoReadPermission:
    @pytest.fixture
    def jp_server_config(self, jp_server_config):
        jp_server_config["ServerApp"]["authorizer_class"] = "tests.authorizers.NobodyMayRead"
        return jp_server_config

    async def test_a_user_without_permission_is_refused(
        self, ws_connect, server_url, token, omniforge
    ):
        with pytest.raises(HTTPClientError) as info:
            await ws_connect("idea:1", user="nobody")
        assert info.value.code == 403
        code, _ = await fetch_json(
            server_url + "omniforge/api/rooms/idea:1",
            token=token,
            raise_error=False,
            headers={USER_HEADER: "nobody"},
        )
        assert code == 403
        assert omniforge.room_manager.rooms == {}


def test_every_handler_declares_its_authentication(jp_configurable_serverapp, tmp_path):
    """Like jupyter-collaboration's CI check: no JupyterServerAuthWarning when unauthenticated
    access is disallowed, i.e. every handler is authenticated or explicitly public."""
    from jupyter_server.utils import JupyterServerAuthWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app = jp_configurable_serverapp(
            config={
                "ServerApp": {
                    "jpserver_extensions": {"jupyter_omniforge": True},
                    "allow_unauthenticated_access": False,
                },
                "OmniForgeApp": {"db_path": str(tmp_path / "db.sqlite")},
            }
        )
    assert "omniforge" in app.web_app.settings
    auth_warnings = [w for w in caught if issubclass(w.category, JupyterServerAuthWarning)]
    assert not auth_warnings, [str(w.message) for w in auth_warnings]
