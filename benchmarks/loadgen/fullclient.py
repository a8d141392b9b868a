"""Full clients: a pycrdt ``Doc`` kept in sync with a room, and the writer that edits it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from pycrdt import Doc, Text, create_sync_message, create_update_message, handle_sync_message

from .wsclient import WebSocketClientProtocol, connect
from .yprotocol import MARKER_RE, MSG_SYNC, SYNC_STEP2, Framing

TEXT_NAME = "code"
_PLAIN = Framing()


class FullClient:
    """A y-websocket peer that applies every sync message to its own ``Doc``.

    It answers the server's step 1 with a real step 2, sends its own step 1 on open, and counts
    as *synced* once the server's step 2 has been applied. ``framing`` as for
    :class:`~.subscriber.LightSubscriber`. With ``track_markers``, :attr:`first_seen` maps each
    marker seen in a sync message to its first arrival time.
    """

    def __init__(self, framing: Framing = _PLAIN, track_markers: bool = False) -> None:
        self.framing = framing
        self.first_seen: dict[int, float] | None = {} if track_markers else None
        self.doc = Doc()
        self.text = self.doc.get(TEXT_NAME, type=Text)
        self.conn: WebSocketClientProtocol | None = None
        self.connect_started = 0.0
        #: perf_counter when the server's step 2 was read off the socket / applied to the Doc.
        self.step2_received_at = 0.0
        self.step2_applied_at = 0.0
        #: Size of the server's step 2 message, in bytes.
        self.step2_bytes = 0
        self.messages = 0
        self._changed = asyncio.Event()
        # Replies owed before connect() has handed us the connection (see LightSubscriber).
        self._outbox: list[bytes] = []
        self.synced: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def start(self, url: str, timeout: float) -> float:
        """Connect and wait until the server's step 2 is applied; return that time in seconds."""
        self.connect_started = time.perf_counter()

        async def _run() -> None:
            self.conn = await connect(url, self._on_message, timeout=timeout)
            for message in self.framing.opening():
                self.conn.send_binary(message)
            for message in self._outbox:
                self.conn.send_binary(message)
            self._outbox.clear()
            self._send(create_sync_message(self.doc))
            await self.synced

        try:
            await asyncio.wait_for(_run(), timeout)
        except BaseException:
            if self.conn is not None:
                self.conn.abort()
            raise
        return self.step2_applied_at - self.connect_started

    def content(self) -> str:
        return str(self.text)

    async def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``condition()`` holds, re-checked after each sync message; False on timeout."""
        deadline = time.perf_counter() + timeout
        while not condition():
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return condition()
        return True

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()

    def _send(self, message: bytes) -> None:
        """Send one y-protocol message (framed), or keep it until connected."""
        message = self.framing.wrap(message)
        if self.conn is None:
            self._outbox.append(message)
        else:
            self.conn.send_binary(message)

    def _on_message(self, data: bytes, t: float) -> None:
        at = self.framing.body_offset(data)
        if at < 0 or len(data) < at + 2 or data[at] != MSG_SYNC:
            return
        self.messages += 1
        if self.first_seen is not None:
            for match in MARKER_RE.finditer(data):
                self.first_seen.setdefault(int(match.group(1)), t)
        reply = handle_sync_message(data[at + 1 :], self.doc)
        self._changed.set()
        if reply is not None:
            self._send(reply)
        if data[at + 1] == SYNC_STEP2 and not self.synced.done():
            self.step2_bytes = len(data)
            self.step2_received_at = t
            self.step2_applied_at = time.perf_counter()
            self.synced.set_result(None)


class Writer(FullClient):
    """The one full client that edits: appends to Text ``code`` and sends each change at once."""

    def encode_append(self, text: str) -> bytes:
        """Append ``text`` to the document in one transaction; return the framed update message,
        not sent yet (see :meth:`send_encoded`). Appends are applied in call order, so messages
        encoded ahead of time must be sent in that order."""
        state = self.doc.get_state()
        self.text += text
        update = self.doc.get_update(state)
        return self.framing.wrap(create_update_message(update))

    def send_encoded(self, message: bytes) -> float:
        """Send a message from :meth:`encode_append`; return the send time.

        The send time is ``perf_counter()`` right before the message is written to the socket —
        what a latency measures from is the wire, not pycrdt.
        """
        assert self.conn is not None
        t = time.perf_counter()
        self.conn.send_binary(message)
        return t

    def append(self, text: str) -> float:
        """Append ``text`` in one transaction, send the update; return the send time."""
        return self.send_encoded(self.encode_append(text))
