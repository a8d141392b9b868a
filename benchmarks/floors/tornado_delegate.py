"""The floor below ``RequestHandler``: Tornado's ``HTTPServer`` and HTTP/1.1 parser, and our own
``HTTPMessageDelegate`` that answers the WebSocket upgrade itself (the path issue 15 proposes,
without any of Jupyter's checks), then reads and writes frames on the detached ``IOStream``.

What it keeps of Tornado: accepting, the ``IOStream``, the request line and header parsing, one
task per connection (HTTP/1.1 loop, then the frame loop). What it drops: routing,
``RequestHandler`` and ``WebSocketHandler`` (their per-request objects, ``prepare``/``finish``,
headers written through the HTTP/1.1 connection, the handshake checks beyond the key).
``GET /`` answers 200 (ready); every other path is a room.

Run: ``python -m benchmarks.floors.tornado_delegate --port 8765 [--loop asyncio|uvloop]``.
"""

from __future__ import annotations

import asyncio
import struct
from urllib.parse import unquote

from tornado import httputil
from tornado.iostream import IOStream, StreamClosedError
from tornado.util import _websocket_mask  # Tornado's C speedup, as its own protocol uses

from .frames import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, frame, switching_protocols
from .process import main, serve_http
from .rooms import Rooms


class RoomConnection:
    """One y-websocket connection on a detached stream: a loop reading frames."""

    def __init__(self, rooms: Rooms, room: str, stream: IOStream) -> None:
        self.rooms, self.room, self.stream = rooms, room, stream

    async def run(self) -> None:
        stream = self.stream
        try:
            stream.write(frame(OP_BINARY, self.rooms.join(self.room, self)))
            while True:
                b0, b1 = await stream.read_bytes(2)
                opcode, n = b0 & 0x0F, b1 & 0x7F
                if n == 126:
                    (n,) = struct.unpack("!H", await stream.read_bytes(2))
                elif n == 127:
                    (n,) = struct.unpack("!Q", await stream.read_bytes(8))
                mask = await stream.read_bytes(4) if b1 & 0x80 else None
                payload = await stream.read_bytes(n) if n else b""
                if mask is not None:
                    payload = _websocket_mask(mask, payload)
                if opcode == OP_BINARY:
                    reply = self.rooms.receive(self.room, payload)
                    if reply is not None:
                        stream.write(frame(OP_BINARY, reply))
                elif opcode == OP_PING:
                    stream.write(frame(OP_PONG, payload))
                elif opcode == OP_CLOSE:
                    stream.write(frame(OP_CLOSE, payload[:2]))
                    break
        except StreamClosedError:
            pass
        finally:
            self.rooms.leave(self.room, self)
            stream.close()


class Upgrade(httputil.HTTPMessageDelegate):
    """One request: the upgrade answered and the stream detached as soon as its headers are in."""

    def __init__(
        self, rooms: Rooms, tasks: set[asyncio.Task[None]], connection: httputil.HTTPConnection
    ) -> None:
        self.rooms, self.tasks, self.connection = rooms, tasks, connection

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.RequestStartLine)
        path = start_line.path.partition("?")[0]
        key = headers.get("Sec-WebSocket-Key")
        if path == "/" or key is None or headers.get("Upgrade", "").lower() != "websocket":
            status = (200, "OK") if path == "/" else (400, "Bad Request")
            body = b"ok" if path == "/" else b""
            self.connection.write_headers(
                httputil.ResponseStartLine("HTTP/1.1", *status),
                httputil.HTTPHeaders({"Content-Length": str(len(body))}),
                body,
            )
            self.connection.finish()
            return
        stream = self.connection.detach()  # type: ignore[attr-defined]
        stream.set_nodelay(True)
        stream.write(switching_protocols(key.encode()))
        connection = RoomConnection(self.rooms, unquote(path[1:]), stream)
        task = asyncio.ensure_future(connection.run())
        self.tasks.add(task)  # a task nobody references may be collected while it runs
        task.add_done_callback(self.tasks.discard)

    def data_received(self, chunk: bytes) -> None:
        pass


class Delegates(httputil.HTTPServerConnectionDelegate):
    def __init__(self) -> None:
        self.rooms = Rooms()
        self.tasks: set[asyncio.Task[None]] = set()

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        return Upgrade(self.rooms, self.tasks, request_conn)


async def serve(port: int) -> None:
    await serve_http(port, Delegates())


if __name__ == "__main__":
    main(__spec__.name, serve)
