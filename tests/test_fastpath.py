"""The fast path's Tornado internals: the probe refuses a Tornado that lacks one of them, and a
server then (or with ``tornado_fast_path`` off) serves rooms through Tornado's stock path."""

from __future__ import annotations

from typing import Any

import pytest
from tornado import iostream, tcpserver, web, websocket
from tornado.websocket import WebSocketProtocol13

from jupyter_omniforge.handlers import fastpath

from .conftest import wait_for
from .test_frames import update_inserting
from .test_rooms import server_text


def test_the_installed_tornado_passes_the_probe():
    assert fastpath.probe() == fastpath.Probe(True)


def _handle_message_that_drops(self: Any, opcode: int, data: bytes) -> None:
    return None


@pytest.mark.parametrize(
    ("owner", "name", "replacement", "blamed"),
    [
        (fastpath, "_mask", None, "_websocket_mask"),
        (fastpath, "_Params", None, "_WebSocketParams"),
        (WebSocketProtocol13, "_receive_frame_loop", "gone", "frame loop"),
        (websocket.WebSocketProtocol, "_abort", "gone", "frame loop"),
        (WebSocketProtocol13, "_accept_connection", lambda self, handler: None, "frame loop"),
        (WebSocketProtocol13, "_handle_message", lambda self, message: None, "frame loop"),
        (WebSocketProtocol13, "_handle_message", _handle_message_that_drops, "frame loop"),
        (iostream, "_StreamBuffer", "gone", "_write_buffer"),
        (iostream.BaseIOStream, "writing", lambda self: False, "_write_buffer"),
        (web.RequestHandler, "clear", lambda self: None, "cookies and headers"),
        (tcpserver.TCPServer, "add_sockets", lambda self, sockets: None, "_sockets"),
    ],
)
def test_a_tornado_without_a_name_or_with_another_behaviour_fails_the_probe(
    monkeypatch, owner, name, replacement, blamed
):
    if replacement == "gone":
        monkeypatch.delattr(owner, name)
    else:
        monkeypatch.setattr(owner, name, replacement)
    found = fastpath.probe()
    assert not found.ok
    assert blamed in found.problem


def stock_protocol_of(omniforge: Any, room: str) -> Any:
    (peer,) = omniforge.room_manager.get(room).peers
    return peer.transport._handler.ws_connection


async def serves_a_room_the_stock_way(omniforge: Any, ws_connect: Any) -> None:
    conn = await ws_connect("idea:stock")
    await conn.read_message()
    await conn.write_message(update_inserting("through Tornado's own reader"), binary=True)
    await wait_for(lambda: server_text(omniforge, "idea:stock"))
    assert server_text(omniforge, "idea:stock") == "through Tornado's own reader"
    protocol = stock_protocol_of(omniforge, "idea:stock")
    assert type(protocol) is WebSocketProtocol13


class TestATornadoThatFailsTheProbe:
    @pytest.fixture
    def omniforge_config(self, monkeypatch):
        monkeypatch.setattr(fastpath, "PROBE", fastpath.Probe(False, "a name went missing"))
        return {"tornado_fast_path": True}  # whatever the environment says

    async def test_gets_the_stock_path_and_says_why_once(self, capfd, omniforge, ws_connect):
        # capfd first: it captures the server's start-up (Jupyter logs to stderr).
        assert not omniforge.fast_path
        await serves_a_room_the_stock_way(omniforge, ws_connect)
        why = [
            line for line in capfd.readouterr().err.splitlines() if "a name went missing" in line
        ]
        assert len(why) == 1 and "stock WebSocket reading and writing" in why[0]


class TestTheSettingOff:
    @pytest.fixture
    def omniforge_config(self):
        return {"tornado_fast_path": False}

    async def test_gets_the_stock_path(self, omniforge, ws_connect):
        assert not omniforge.fast_path
        await serves_a_room_the_stock_way(omniforge, ws_connect)
