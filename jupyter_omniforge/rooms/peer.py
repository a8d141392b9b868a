"""A peer is one connection's membership of one room: identity, permissions, and a bounded send queue.

The room hands every peer the same :class:`Outgoing` object; a transport encodes it for the wire
once (the encoding is cached on the object) and every other peer of that transport reuses the bytes.

Flow control: a peer writes straight to its transport while the transport keeps up. As soon as the
transport reports unsent bytes, further messages wait in a backlog; when the transport drains, the
backlog goes out with consecutive document updates merged into one. A backlog that grows past its
bound closes the peer with :class:`SlowConsumer`: one slow reader never stalls its room.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from pycrdt import merge_updates

from ..auth import Identity
from ..errors import OmniForgeError, SlowConsumer
from ..metrics import METRICS
from .protocol import encode_update

KIND_UPDATE = "update"
KIND_AWARENESS = "awareness"
KIND_OTHER = "other"
KIND_MESSAGE = "message"  # a custom JSON message between gateway clients; payload is its JSON


class Outgoing:
    """One message to one or more peers; ``payload`` is a complete y-websocket message.

    ``update`` holds the raw Yjs update for ``KIND_UPDATE`` messages, so a backlog can merge them.
    """

    __slots__ = ("_encoded", "kind", "payload", "room", "update")

    def __init__(
        self, payload: bytes, kind: str = KIND_OTHER, update: bytes | None = None, room: str = ""
    ) -> None:
        self.payload = payload
        self.kind = kind
        self.update = update
        self.room = room
        self._encoded: dict[Any, Any] = {}

    def __len__(self) -> int:
        return len(self.payload)

    def encoded(self, key: Any, encode: Callable[[Outgoing], Any]) -> Any:
        """``encode(self)``, computed once per ``key`` (one key per wire format)."""
        try:
            return self._encoded[key]
        except KeyError:
            value = self._encoded[key] = encode(self)
            return value


class Transport(Protocol):
    """What a room needs from a connection. Implemented by the WebSocket handlers."""

    takes_messages: bool  # whether KIND_MESSAGE (gateway JSON) messages should be sent to it

    def write(self, message: Outgoing) -> bool:
        """Write without blocking; return True while bytes are still waiting to be sent."""

    def when_drained(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once everything written so far has been sent."""

    def close(self, error: OmniForgeError | None = None) -> None:
        """Close the connection, with ``error``'s close code and message as the reason."""


class Peer:
    """One connection in one room."""

    __slots__ = (
        "_backlog",
        "_backlog_bytes",
        "awareness_claimed",
        "awareness_ids",
        "can_presence",
        "can_write",
        "closed",
        "connected_at",
        "identity",
        "max_queue_bytes",
        "max_queue_messages",
        "on_denied",
        "refused_reasons",
        "stats",
        "transport",
    )

    def __init__(
        self,
        transport: Transport,
        identity: Identity,
        *,
        can_write: bool,
        can_presence: bool = True,
        max_queue_messages: int = 1000,
        max_queue_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.transport = transport
        self.identity = identity
        # What the connection may do in this room (access control updates them while open).
        self.can_write = can_write
        self.can_presence = can_presence
        self.max_queue_messages = max_queue_messages
        self.max_queue_bytes = max_queue_bytes
        self.awareness_ids: set[int] = set()  # the client ids whose states it holds now
        self.awareness_claimed: set[int] = set()  # every client id it ever announced
        self.closed = False
        #: When its connection was requested (monotonic), until its first sync (the metrics').
        self.connected_at = 0.0
        self.refused_reasons: set[str] = set()  # what it was told it may not do
        #: Called with (room, action) when the room refuses it an action (the audit trail).
        self.on_denied: Callable[[str, str], None] | None = None
        self._backlog: list[Outgoing] | None = None
        self._backlog_bytes = 0
        self.stats = {"sent": 0, "merged": 0}

    def send(self, message: Outgoing) -> None:
        """Queue ``message``; never blocks. Closes the peer if its backlog overflows."""
        if self.closed:
            return
        backlog = self._backlog
        if backlog is not None:
            backlog.append(message)
            self._backlog_bytes += len(message.payload)
            if len(backlog) > self.max_queue_messages or self._backlog_bytes > self.max_queue_bytes:
                self.close(
                    SlowConsumer(
                        f"send queue overflow ({len(backlog)} messages, {self._backlog_bytes} bytes)"
                    )
                )
            return
        self.stats["sent"] += 1
        if self.transport.write(message):
            self._backlog = []
            self._backlog_bytes = 0
            self.transport.when_drained(self._drain)

    def _drain(self) -> None:
        if self.closed:
            return
        backlog = self._backlog or []
        self._backlog = None
        self._backlog_bytes = 0
        METRICS.send_queue_depth.observe(len(backlog))
        pending = False
        coalesced = _coalesce(backlog)
        self.stats["merged"] += len(backlog) - len(coalesced)
        for message in coalesced:
            self.stats["sent"] += 1
            pending = self.transport.write(message)
        if pending:
            self._backlog = []
            self.transport.when_drained(self._drain)

    def close(self, error: OmniForgeError | None = None) -> None:
        if self.closed:
            return
        self.closed = True
        self._backlog = None
        self.transport.close(error)


def _coalesce(messages: list[Outgoing]) -> list[Outgoing]:
    """Merge each run of consecutive document updates into one update message."""
    if len(messages) < 2:
        return messages
    out: list[Outgoing] = []
    run: list[Outgoing] = []
    for message in messages:
        if message.kind == KIND_UPDATE and message.update is not None:
            run.append(message)
            continue
        if run:
            out.append(_merged(run))
            run = []
        out.append(message)
    if run:
        out.append(_merged(run))
    return out


def _merged(run: list[Outgoing]) -> Outgoing:
    if len(run) == 1:
        return run[0]
    update = merge_updates(*(m.update for m in run))  # type: ignore[misc]
    return Outgoing(encode_update(update), KIND_UPDATE, update, run[0].room)
