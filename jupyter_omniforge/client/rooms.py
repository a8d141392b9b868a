"""Connect a pycrdt ``Doc`` to an OmniForge room from Python (a script, a notebook, a test).

    async with connect_room("http://127.0.0.1:8888/", "idea:42", doc, token=token) as room:
        await room.synced.wait()
        doc.get("code", type=Text).insert(0, "hello")

The transport is a :class:`pycrdt.Channel` over a Tornado WebSocket client, driven by the stock
:class:`pycrdt.Provider`; awareness frames can be sent with :meth:`RoomConnection.send`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from pycrdt import Doc, Provider
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect


def room_url(server_url: str, room: str, token: str | None = None) -> str:
    """``ws(s)://…/omniforge/rooms/{room}?token=…`` for a server URL like ``http://host:port/base/``."""
    parts = urlsplit(server_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/") + "/omniforge/rooms/" + room
    query = urlencode({"token": token}) if token else ""
    return urlunsplit((scheme, parts.netloc, path, query, ""))


class RoomConnection:
    """One WebSocket to one room; usable as a :class:`pycrdt.Channel`."""

    def __init__(self, conn: WebSocketClientConnection, path: str) -> None:
        self._conn = conn
        self._path = path
        self.received: list[bytes] = []  # frames the provider did not consume (awareness, auth)
        self.synced = asyncio.Event()

    @property
    def path(self) -> str:
        return self._path

    @property
    def close_code(self) -> int | None:
        return self._conn.close_code

    @property
    def close_reason(self) -> str | None:
        return self._conn.close_reason

    def __aiter__(self) -> RoomConnection:
        return self

    async def __anext__(self) -> bytes:
        return await self.recv()

    async def send(self, message: bytes) -> None:
        await self._conn.write_message(message, binary=True)

    async def recv(self) -> bytes:
        while True:
            message = await self._conn.read_message()
            if message is None:
                raise StopAsyncIteration
            if isinstance(message, str):
                continue
            if message[:1] == b"\x00":
                return message
            self.other_message(message)

    def other_message(self, message: bytes) -> None:
        """A frame that is not sync or update (awareness, auth): kept in ``received``."""
        self.received.append(message)

    def close(self) -> None:
        self._conn.close()


async def open_connection(
    url: str, *, headers: dict[str, str] | None = None, timeout: float = 10
) -> WebSocketClientConnection:
    request = HTTPRequest(
        url, headers=headers or {}, connect_timeout=timeout, request_timeout=timeout
    )
    return await websocket_connect(request, max_message_size=1 << 30)


@asynccontextmanager
async def connect_room(
    server_url: str, room: str, doc: Doc, *, token: str | None = None, timeout: float = 10
) -> AsyncIterator[RoomConnection]:
    """Keep ``doc`` in sync with ``room`` while the block runs; ``.synced`` is set after sync."""
    url = room_url(server_url, room, token)
    conn = await open_connection(url, timeout=timeout)
    channel = RoomConnection(conn, room)
    provider = Provider(doc, channel)
    task: asyncio.Task[Any] = asyncio.ensure_future(provider.start())
    try:
        await asyncio.wait_for(provider.synced.wait(), timeout)
        channel.synced.set()
        yield channel
    finally:
        conn.close()
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass
