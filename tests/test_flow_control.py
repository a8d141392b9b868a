"""A peer that cannot keep up is disconnected; its room carries on."""

from __future__ import annotations

import asyncio
import base64
import os
from urllib.parse import urlsplit

import pytest
from pycrdt import Doc, Text

from jupyter_omniforge.client import connect_room

from .conftest import wait_for


async def stalled_websocket(ws_url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket client that completes the handshake and then never reads again."""
    parts = urlsplit(ws_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    key = base64.b64encode(os.urandom(16)).decode()
    path = parts.path + ("?" + parts.query if parts.query else "")
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    status = await reader.readline()
    assert b"101" in status, status
    # Shrink our receive buffer so the server's send buffer fills quickly.
    sock = writer.get_extra_info("socket")
    import socket

    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return reader, writer


@pytest.fixture
def omniforge_config():
    return {"send_queue_max_messages": 20, "send_queue_max_bytes": 1 << 20}


async def test_a_stalled_reader_is_dropped_and_the_room_carries_on(
    ws_base, server_url, token, omniforge, caplog
):
    writer_doc, reader_doc = Doc(), Doc()
    async with (
        connect_room(server_url, "idea:slow", writer_doc, token=token),
        connect_room(server_url, "idea:slow", reader_doc, token=token) as healthy,
    ):
        _, stalled = await stalled_websocket(f"{ws_base}/idea:slow?token={token}")
        room = await wait_for(lambda: omniforge.room_manager.get("idea:slow"))
        await wait_for(lambda: len(room.peers) == 3)
        text = writer_doc.get("code", type=Text)
        chunk = "z" * 20_000
        for _ in range(400):
            text.insert(len(text), chunk)
            if len(room.peers) == 2:
                break
            await asyncio.sleep(0.002)
        await wait_for(lambda: len(room.peers) == 2, timeout=20)
        # The healthy reader got everything and was never closed.
        expected = len(text)
        await wait_for(lambda: len(str(reader_doc.get("code", type=Text))) == expected, timeout=20)
        assert healthy.close_code is None
        assert "send queue overflow" in caplog.text
        stalled.close()


def masked_text_frame(text: str) -> bytes:
    """A client-to-server WebSocket text frame (clients must mask)."""
    payload = text.encode()
    mask = os.urandom(4)
    header = bytes((0x81, 0x80 | len(payload))) if len(payload) < 126 else None
    assert header is not None, "keep test frames short"
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@pytest.mark.parametrize(
    "omniforge_config", [{"send_queue_max_messages": 20, "send_queue_max_bytes": 1 << 20}]
)
async def test_a_stalled_gateway_subscriber_is_dropped_and_others_get_everything(
    server_url, token, omniforge, caplog
):
    from .realtime import Gateway

    healthy = await Gateway.connect(server_url, token)
    await healthy.send(type="subscribe", channels=["build:*"])
    await healthy.next("subscribed")
    base = "ws" + server_url[len("http") :] + f"omniforge/realtime?token={token}"
    _, stalled = await stalled_websocket(base)
    stalled.write(masked_text_frame('{"type":"subscribe","channels":["build:*"]}'))
    await stalled.drain()
    await asyncio.sleep(0.2)
    line = "x" * 5000
    for i in range(300):
        await omniforge.emit(
            "build:big", "build.progress", {"percent": 1, "message": str(i), "log": [line] * 10}
        )
        if "send queue overflow" in caplog.text:
            break
    await wait_for(lambda: "send queue overflow" in caplog.text, timeout=20)
    sent = i + 1
    await wait_for(lambda: len(healthy.events()) == sent, timeout=20)
    assert healthy.conn.close_code is None
    stalled.close()


@pytest.mark.parametrize("omniforge_config", [{"ws_ping_interval": 0.2}])
async def test_a_peer_that_never_answers_pings_is_dropped_and_a_live_one_stays(
    ws_base, server_url, token, omniforge
):
    doc = Doc()
    async with connect_room(server_url, "idea:ping", doc, token=token) as live:
        reader, silent = await stalled_websocket(f"{ws_base}/idea:ping?token={token}")
        room = await wait_for(lambda: omniforge.room_manager.get("idea:ping"))
        await wait_for(lambda: len(room.peers) == 2)
        # The silent client reads (so it is not a slow consumer) but never sends a pong.
        received = bytearray()

        async def drain() -> None:
            while chunk := await reader.read(65536):
                received.extend(chunk)

        draining = asyncio.ensure_future(drain())
        await wait_for(lambda: len(room.peers) == 1, timeout=5)
        await asyncio.wait_for(draining, 5)  # the server closed the socket
        assert b"\x89\x00" in received, "no ping was sent"
        assert b"ping timed out" in received  # the close frame says why
        await asyncio.sleep(0.6)  # live (Tornado answers pings) stays through more intervals
        assert live.close_code is None and len(room.peers) == 1
        silent.close()


def masked_binary_frame(payload: bytes) -> bytes:
    """A client-to-server WebSocket binary frame of any length."""
    n = len(payload)
    if n < 126:
        header = bytes((0x82, 0x80 | n))
    elif n <= 0xFFFF:
        header = bytes((0x82, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x82, 0x80 | 127)) + n.to_bytes(8, "big")
    mask = os.urandom(4)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def test_updates_that_arrive_together_leave_together(ws_base, token):
    """A burst of 50 updates in one TCP write reaches a peer as far fewer frames, intact."""
    from jupyter_omniforge.client.rooms import open_connection
    from jupyter_omniforge.rooms import protocol as p

    author = Doc()
    text = author.get("code", type=Text)
    updates: list[bytes] = []
    author.observe(lambda event: updates.append(event.update))
    for i in range(50):
        text += f"{i};"
    watcher = await open_connection(f"{ws_base}/idea:burst?token={token}")
    mirror = Doc()
    frames: list[bytes] = []

    async def read() -> None:
        while (message := await watcher.read_message()) is not None:
            if message[:2] == bytes((p.MESSAGE_SYNC, p.SYNC_UPDATE)):
                frames.append(message)
                mirror.apply_update(p.parse_message(message).payload)

    reading = asyncio.ensure_future(read())
    _, burst = await stalled_websocket(f"{ws_base}/idea:burst?token={token}")
    burst.write(b"".join(masked_binary_frame(p.encode_update(u)) for u in updates))
    await burst.drain()
    await wait_for(lambda: str(mirror.get("code", type=Text)) == str(text))
    assert 1 <= len(frames) < 10, f"{len(frames)} frames for 50 updates"
    burst.close()
    watcher.close()
    reading.cancel()
