"""The Python floor, no Tornado: an ``asyncio.Protocol`` that parses the upgrade request head
itself, answers 101 and then reads WebSocket frames from its buffer in ``data_received``, with no
task, future or stream per connection (what Node's ``ws`` does in ``y-websocket``'s server).

Not a server to ship: it checks only what a join needs (the path and ``Sec-WebSocket-Key``),
no HTTP/1.1 edge cases (continuation lines, pipelining, bodies), no fragmented frames. It tells
how close to the Node servers Python itself gets; the Tornado floors tell what Tornado adds.
``GET /`` answers 200 (ready); every other path is a room.

Run: ``python -m benchmarks.floors.asyncio_raw --port 8765 [--loop asyncio|uvloop]``.
"""

from __future__ import annotations

import asyncio
import struct
from urllib.parse import unquote

from tornado.util import _websocket_mask  # a C helper only, for unmasking client frames

from .frames import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, frame, switching_protocols
from .process import main, until_signalled
from .rooms import LISTEN_BACKLOG, Rooms

#: Largest request head or frame accepted (the storm's are ~300 and ~10 bytes).
_LIMIT = 1 << 16


class RawRoomProtocol(asyncio.Protocol):
    """One connection: the request head until ``\\r\\n\\r\\n``, then frames."""

    def __init__(self, rooms: Rooms) -> None:
        self.rooms = rooms
        self.buffer = b""
        self.room: str | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio (and uvloop) set TCP_NODELAY on TCP transports themselves.
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.room is None and not self._handshake():
            return
        self._frames()

    def _handshake(self) -> bool:
        """Answer the request head once it is complete; whether frames may follow."""
        assert self.transport is not None
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > _LIMIT:
                self.transport.close()
            return False
        head, self.buffer = self.buffer[:end].split(b"\r\n"), self.buffer[end + 4 :]
        path = head[0].split(b" ")[1].partition(b"?")[0].decode()
        key = None
        for line in head[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        if path == "/" or key is None:
            ok = path == "/"
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                if ok
                else b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
            )
            self.transport.close()
            return False
        self.transport.write(switching_protocols(key))
        self.room = unquote(path[1:])
        self.transport.write(frame(OP_BINARY, self.rooms.join(self.room, self)))
        return True

    def _frames(self) -> None:
        assert self.transport is not None and self.room is not None
        buf = self.buffer
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            opcode, n, at = b0 & 0x0F, b1 & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    break
                (n,) = struct.unpack_from("!H", buf, 2)
                at = 4
            elif n == 127:
                if len(buf) < 10:
                    break
                (n,) = struct.unpack_from("!Q", buf, 2)
                at = 10
            if n > _LIMIT:
                self.transport.close()
                return
            masked = b1 & 0x80
            end = at + (4 if masked else 0) + n
            if len(buf) < end:
                break
            payload = buf[end - n : end]
            if masked:
                payload = _websocket_mask(buf[at : at + 4], payload)
            buf = buf[end:]
            if opcode == OP_BINARY:
                reply = self.rooms.receive(self.room, payload)
                if reply is not None:
                    self.transport.write(frame(OP_BINARY, reply))
            elif opcode == OP_PING:
                self.transport.write(frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                self.transport.write(frame(OP_CLOSE, payload[:2]))
                self.transport.close()
                break
        self.buffer = buf

    def connection_lost(self, exc: Exception | None) -> None:
        if self.room is not None:
            self.rooms.leave(self.room, self)


async def serve(port: int) -> None:
    rooms = Rooms()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: RawRoomProtocol(rooms), "127.0.0.1", port, backlog=LISTEN_BACKLOG
    )
    await until_signalled()
    server.close()


if __name__ == "__main__":
    main(__spec__.name, serve)
