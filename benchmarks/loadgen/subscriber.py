"""Light subscribers: complete the y-websocket handshake, then only time marker arrivals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection

from .wsclient import WebSocketClientProtocol, connect
from .yprotocol import (
    EMPTY_STEP1,
    EMPTY_STEP2,
    MARKER_RE,
    MSG_STATELESS,
    MSG_SYNC,
    SYNC_STEP1,
    SYNC_STEP2,
    Framing,
    var_string,
)

_PLAIN = Framing()


class LightSubscriber:
    """One WebSocket peer that never decodes Yjs.

    On the server's sync step 1 it replies with an empty step 2; on open it sends its own step 1
    with an empty state vector, and counts as *synced* when the server's step 2 arrives. For every
    frame of a ``timed`` message type (default: sync) it records the first arrival time of each
    marker it contains (``first_seen``) and, with kernel timestamps, also when this process read
    it (``first_read``) — the difference is the load generator's own delay — and counts those
    frames (``timed_frames``: a server that batches sends fewer).

    ``framing`` wraps what it sends and locates the y-protocol message in what it receives
    (plain y-websocket by default, or Hocuspocus's document-name prefix).
    """

    __slots__ = (
        "_owe_step2",
        "conn",
        "connect_started",
        "first_read",
        "first_seen",
        "framing",
        "kernel_timestamps",
        "synced",
        "synced_at",
        "timed",
        "timed_frames",
    )

    def __init__(
        self,
        kernel_timestamps: bool = False,
        framing: Framing = _PLAIN,
        timed: Collection[int] = (MSG_SYNC,),
    ) -> None:
        self.kernel_timestamps = kernel_timestamps
        self.framing = framing
        self.timed = frozenset(timed)
        self.conn: WebSocketClientProtocol | None = None
        self.first_seen: dict[int, float] = {}
        self.first_read: dict[int, float] = {}
        self.timed_frames = 0
        self.connect_started = 0.0
        self.synced_at = 0.0
        # The server's step 1 can arrive in the same read as the upgrade response, before
        # connect() has returned the connection to us: remember to answer it then.
        self._owe_step2 = False
        self.synced: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def start(self, url: str, timeout: float) -> float:
        """Connect and wait until synced; return the connect→synced time in seconds."""
        self.connect_started = time.perf_counter()

        async def _run() -> None:
            self.conn = await connect(
                url, self._on_message, timeout=timeout, kernel_timestamps=self.kernel_timestamps
            )
            for message in self.framing.opening():
                self.conn.send_binary(message)
            if self._owe_step2:
                self.send(EMPTY_STEP2)
            self.send(EMPTY_STEP1)
            await self.synced

        try:
            await asyncio.wait_for(_run(), timeout)
        except BaseException:
            if self.conn is not None:
                self.conn.abort()
            raise
        return self.synced_at - self.connect_started

    def send(self, message: bytes) -> None:
        """Send one y-protocol message (framed); dropped if not connected."""
        if self.conn is not None:
            self.conn.send_binary(self.framing.wrap(message))

    def _on_message(self, data: bytes, t: float) -> None:
        at = self.framing.body_offset(data)
        if at < 0 or len(data) < at + 2:
            return
        kind = data[at]
        if kind == MSG_SYNC:
            subtype = data[at + 1]
            if subtype == SYNC_STEP1:
                if self.conn is None:
                    self._owe_step2 = True
                else:
                    self.send(EMPTY_STEP2)
                return
            if subtype == SYNC_STEP2 and not self.synced.done():
                self.synced_at = t
                self.synced.set_result(None)
        if kind not in self.timed:
            return  # awareness, auth, query-awareness, acknowledgements: not timed
        self.timed_frames += 1
        seen = self.first_seen
        for match in MARKER_RE.finditer(data):
            seq = int(match.group(1))
            if seq not in seen:
                seen[seq] = t
                if self.kernel_timestamps and self.conn is not None:
                    self.first_read[seq] = self.conn.read_at


class StatelessSender(LightSubscriber):
    """A light client that sends Hocuspocus *stateless* messages (type 5, a string payload).

    Hocuspocus's equivalent of an event: the server hands the payload to its ``onStateless``
    hook, and the peer server here (``benchmarks/peers/hocuspocus-server.mjs``) broadcasts it to
    every connection of the document. :meth:`encode_append` and :meth:`send_encoded` are the
    :class:`~.fullclient.Writer`'s, so the fan-out machinery paces and times it the same way.
    """

    __slots__ = ()

    def encode_append(self, text: str) -> bytes:
        """The framed stateless message carrying ``text`` (see :meth:`send_encoded`)."""
        return self.framing.wrap(bytes((MSG_STATELESS,)) + var_string(text))

    def send_encoded(self, message: bytes) -> float:
        """Send a message from :meth:`encode_append`; return the send time (right before the
        write)."""
        assert self.conn is not None
        t = time.perf_counter()
        self.conn.send_binary(message)
        return t

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
