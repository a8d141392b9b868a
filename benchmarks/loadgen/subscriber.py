"""Light subscribers: complete the y-websocket handshake, then only time marker arrivals."""

from __future__ import annotations

import asyncio
import time

from .wsclient import WebSocketClientProtocol, connect
from .yprotocol import EMPTY_STEP1, EMPTY_STEP2, MARKER_RE, MSG_SYNC, SYNC_STEP1, SYNC_STEP2


class LightSubscriber:
    """One WebSocket peer that never decodes Yjs.

    On the server's sync step 1 it replies with an empty step 2; on open it sends its own step 1
    with an empty state vector, and counts as *synced* when the server's step 2 arrives. For every
    sync frame it records the first arrival time of each marker it contains (``first_seen``) and,
    with kernel timestamps, also when this process read it (``first_read``) — the difference is
    the load generator's own delay.
    """

    __slots__ = (
        "_owe_step2",
        "conn",
        "connect_started",
        "first_read",
        "first_seen",
        "kernel_timestamps",
        "synced",
        "synced_at",
    )

    def __init__(self, kernel_timestamps: bool = False) -> None:
        self.kernel_timestamps = kernel_timestamps
        self.conn: WebSocketClientProtocol | None = None
        self.first_seen: dict[int, float] = {}
        self.first_read: dict[int, float] = {}
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
            if self._owe_step2:
                self.conn.send_binary(EMPTY_STEP2)
            self.conn.send_binary(EMPTY_STEP1)
            await self.synced

        try:
            await asyncio.wait_for(_run(), timeout)
        except BaseException:
            if self.conn is not None:
                self.conn.abort()
            raise
        return self.synced_at - self.connect_started

    def _on_message(self, data: bytes, t: float) -> None:
        if len(data) < 2 or data[0] != MSG_SYNC:
            return  # awareness, auth, query-awareness: not timed
        subtype = data[1]
        if subtype == SYNC_STEP1:
            if self.conn is None:
                self._owe_step2 = True
            else:
                self.conn.send_binary(EMPTY_STEP2)
            return
        if subtype == SYNC_STEP2 and not self.synced.done():
            self.synced_at = t
            self.synced.set_result(None)
        seen = self.first_seen
        for match in MARKER_RE.finditer(data):
            seq = int(match.group(1))
            if seq not in seen:
                seen[seq] = t
                if self.kernel_timestamps and self.conn is not None:
                    self.first_read[seq] = self.conn.read_at
