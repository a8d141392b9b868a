"""Test clients for the event stream: the JSON gateway and Server-Sent Events."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import Any
from urllib.parse import urlsplit

from jupyter_omniforge.client.rooms import open_connection

from .conftest import close_after_test, wait_for


class Gateway:
    """A raw ``omniforge/realtime`` connection that keeps every frame it receives."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.frames: list[dict[str, Any]] = []
        self.closed = asyncio.Event()
        self._applied: dict[str, int] = {}
        self._task = asyncio.ensure_future(self._read())
        close_after_test(self.aclose)

    @classmethod
    async def connect(cls, server_url: str, token: str | None, headers: dict | None = None):
        url = "ws" + server_url[len("http") :] + "omniforge/realtime"
        if token:
            url += f"?token={token}"
        return cls(await open_connection(url, headers=headers))

    async def _read(self) -> None:
        while True:
            message = await self.conn.read_message()
            if message is None:  # closed by the server: release our side too
                self.conn.close()
                self.closed.set()
                return
            self.frames.append(json.loads(message))

    async def send(self, **frame: Any) -> None:
        await self.conn.write_message(json.dumps(frame))

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == kind]

    def events(self) -> list[dict[str, Any]]:
        return [f["event"] for f in self.of_type("event")]

    async def next(self, kind: str, timeout: float = 10, **match: Any) -> dict[str, Any]:
        """The first frame of ``kind`` (matching ``match``) received so far or soon."""

        def find():
            for f in self.frames:
                if f["type"] == kind and all(f.get(k) == v for k, v in match.items()):
                    return f
            return None

        return await wait_for(find, timeout=timeout)

    def text_of(self, mirror: Any, room: str, root: str = "code") -> str:
        """Apply the docUpdates of ``room`` not applied yet to ``mirror``; its text ``root``."""
        from pycrdt import Text

        updates = [f for f in self.of_type("docUpdate") if f["roomId"] == room]
        for frame in updates[self._applied.get(room, 0) :]:
            mirror.apply_update(base64.b64decode(frame["update"]))
        self._applied[room] = len(updates)
        return str(mirror.get(root, type=Text))

    def close(self) -> None:
        """Start the closing handshake; ``closed`` is set once the server has answered."""
        self.conn.close()

    async def aclose(self, timeout: float = 5) -> None:
        """Close and wait until the connection is closed (called when the test ends)."""
        self.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        await _cancelled(self._task)


class SSE:
    """A Server-Sent Events reader: a plain HTTP/1.0 request over an asyncio stream (so the body
    is not chunked and closing the socket ends the subscription)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.status = 0
        self.events: list[dict[str, Any]] = []  # {"id", "event", "data"}
        self._reader = reader
        self._writer = writer
        self._task = asyncio.ensure_future(self._read())
        close_after_test(self.aclose)

    @classmethod
    async def open(
        cls,
        server_url: str,
        token: str,
        channels: str,
        last_event_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SSE:
        parts = urlsplit(server_url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        lines = [
            f"GET {parts.path}omniforge/api/events/stream?channels={channels} HTTP/1.0",
            f"Host: {parts.netloc}",
            f"Authorization: token {token}",
            "Accept: text/event-stream",
        ]
        if last_event_id:
            lines.append(f"Last-Event-ID: {last_event_id}")
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        sse = cls(reader, writer)
        await wait_for(lambda: sse.status)
        return sse

    async def _read(self) -> None:
        status = await self._reader.readline()
        self.status = int(status.split()[1])
        while (await self._reader.readline()).strip():
            pass  # headers
        fields: dict[str, str] = {}
        while line := await self._reader.readline():
            line = line.decode().rstrip("\n")
            if line == "":
                if "data" in fields:
                    self.events.append(
                        {
                            "id": fields.get("id"),
                            "event": fields.get("event", "message"),
                            "data": json.loads(fields["data"]),
                        }
                    )
                fields = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(":")
                fields[key] = value[1:] if value.startswith(" ") else value

    def messages(self) -> list[dict[str, Any]]:
        return [e["data"] for e in self.events if e["event"] == "message"]

    @property
    def ended(self) -> bool:
        """Whether the server ended the stream (the response is over)."""
        return self._task.done()

    def close(self) -> None:
        self._writer.close()
        self._task.cancel()

    async def aclose(self) -> None:
        """Close and wait until the socket is closed (called when the test ends)."""
        self.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
        await _cancelled(self._task)


async def _cancelled(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` (unless it is done) and wait until it is."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
