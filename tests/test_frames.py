"""WebSocket framing at the byte level, against a real server, with a client written on a raw
socket so that frames can be split, fragmented, interleaved and malformed at will."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from urllib.parse import urlsplit

import pytest
from pycrdt import Doc, Text

from jupyter_omniforge.rooms import protocol as p

from .conftest import fast_path_only, wait_for
from .test_rooms import server_text, witnessed_room

BINARY, CONTINUATION, CLOSE, PING, PONG = 0x2, 0x0, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    """A client frame (masked, as RFC 6455 requires of clients)."""
    n = len(payload)
    if n < 126:
        length = bytes([0x80 | n])
    elif n < 1 << 16:
        length = bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        length = bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([(0x80 if fin else 0) | rsv | opcode]) + length + mask + masked


class RawSocket:
    """A WebSocket client on a bare TCP stream: writes any bytes, reads server frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(
        cls, server_url: str, room: str, token: str, *, path: str | None = None
    ) -> RawSocket:
        """Upgrade ``omniforge/rooms/{room}`` (or ``path``, relative to the server)."""
        url = urlsplit(server_url)
        path = path or f"omniforge/rooms/{room}"
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {url.path}{path}?token={token} HTTP/1.1\r\n"
                f"Host: {url.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def send(self, data: bytes, *, piecewise: bool = False) -> None:
        for i in range(len(data)) if piecewise else [None]:
            self.writer.write(data if i is None else data[i : i + 1])
            await self.writer.drain()
            if piecewise:
                await asyncio.sleep(0.001)

    async def receive(self) -> tuple[int, bytes] | None:
        """The next frame from the server, or None once the connection is closed."""
        try:
            b0, b1 = await self.reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            return b0 & 0x0F, await self.reader.readexactly(n)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    async def until(self, opcode: int, timeout: float = 10) -> bytes | None:
        """The payload of the next frame with ``opcode`` (None if the connection ends first)."""
        async with asyncio.timeout(timeout):
            while (got := await self.receive()) is not None:
                if got[0] == opcode:
                    return got[1]
        return None

    def close(self) -> None:
        self.writer.close()


def update_inserting(text: str) -> bytes:
    doc = Doc()
    doc.get("code", type=Text).insert(0, text)
    return p.encode_update(doc.get_update())


async def test_frames_split_byte_by_byte_fragmented_and_batched_all_arrive(
    server_url, token, omniforge
):
    ws = await RawSocket.connect(server_url, "idea:frames", token)
    # Byte by byte: one update, each of its bytes in a TCP segment of its own.
    await ws.send(frame(BINARY, update_inserting("a")), piecewise=True)
    await wait_for(lambda: server_text(omniforge, "idea:frames"))
    # One message in three fragments, with a ping between them; then two frames in one write.
    message = update_inserting("b")
    await ws.send(frame(BINARY, message[:3], fin=False))
    await ws.send(frame(PING, b"still there?"))
    assert await ws.until(PONG) == b"still there?"
    await ws.send(frame(CONTINUATION, message[3:6], fin=False))
    await ws.send(frame(CONTINUATION, message[6:]))
    await ws.send(frame(BINARY, update_inserting("c")) + frame(PING, b"last"))
    assert await ws.until(PONG) == b"last"
    assert sorted(server_text(omniforge, "idea:frames")) == ["a", "b", "c"]
    # A close frame is answered with the same code, then the server hangs up.
    await ws.send(frame(CLOSE, struct.pack("!H", 1000)))
    assert await ws.until(CLOSE) == struct.pack("!H", 1000)
    assert await ws.receive() is None
    ws.close()


async def test_a_frame_larger_than_one_read_arrives_whole(server_url, token, omniforge):
    big = "x" * 300_000  # several reads of the server's 64 KiB
    ws = await RawSocket.connect(server_url, "idea:big", token)
    await ws.send(frame(BINARY, update_inserting(big)))
    await ws.send(frame(PING, b"done?"))
    assert await ws.until(PONG) == b"done?"
    assert server_text(omniforge, "idea:big") == big
    ws.close()


@pytest.mark.parametrize("omniforge_config", [{"max_message_size": 64 * 1024}])
async def test_an_oversized_frame_is_refused_on_its_header(server_url, token, omniforge):
    """The server need not receive (or buffer) the payload to refuse it."""
    async with witnessed_room(server_url, token, omniforge):
        ws = await RawSocket.connect(server_url, "idea:victim", token)
        header = bytes([0x80 | BINARY, 0x80 | 127]) + struct.pack("!Q", 10 << 20) + os.urandom(4)
        await ws.send(header)  # and not one byte of the 10 MiB it announces
        closing = await ws.until(CLOSE)
        assert closing is not None and struct.unpack("!H", closing[:2])[0] == 1009
        assert await ws.receive() is None
        ws.close()


@pytest.mark.parametrize(
    "bad",
    [
        frame(BINARY, b"\x00\x00\x01\x00", rsv=0x40),  # compressed, never negotiated
        frame(PING, b"x" * 126),  # control frame too long
        frame(PING, b"x", fin=False),  # fragmented control frame
        frame(CONTINUATION, b"nothing to continue"),
        frame(BINARY, b"\x00", fin=False) + frame(BINARY, b"\x00"),  # new message mid-message
    ],
    ids=["rsv", "long-control", "fragmented-control", "stray-continuation", "interleaved"],
)
async def test_a_protocol_violation_drops_only_that_connection(server_url, token, omniforge, bad):
    async with witnessed_room(server_url, token, omniforge):
        ws = await RawSocket.connect(server_url, "idea:victim", token)
        await ws.send(bad)
        async with asyncio.timeout(10):
            while await ws.receive() is not None:
                pass
        ws.close()
        await wait_for(lambda: len(omniforge.room_manager.get("idea:victim").peers) == 1)


@fast_path_only
async def test_an_open_connection_leaves_no_task_behind(ws_connect, omniforge):
    """Idle connections cost memory: once open, a connection holds a pending read and no
    suspended upgrade (Tornado's ``_execute`` → ``get`` → frame loop), task or coroutine."""

    def upgrades() -> list[asyncio.Task]:
        return [
            t
            for t in asyncio.all_tasks()
            if getattr(t.get_coro(), "__qualname__", "") == "RequestHandler._execute"
        ]

    before = len(upgrades())
    conns = [await ws_connect(f"idea:idle-{i}") for i in range(5)]
    for conn in conns:
        assert (await conn.read_message())[0] == p.MESSAGE_SYNC
    assert len(upgrades()) == before
    await conns[0].write_message(update_inserting("still reading"), binary=True)
    await wait_for(lambda: server_text(omniforge, "idea:idle-0"))
