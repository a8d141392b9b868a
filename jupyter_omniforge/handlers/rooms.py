"""The y-websocket endpoint: ``GET {base_url}omniforge/rooms/{room}`` upgrades to a WebSocket.

This handler only translates: authentication and limits, bytes in to :meth:`Room.receive`, room
messages out to the socket, domain errors to close codes. Everything else lives in :mod:`..rooms`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tornado import web
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketHandler

from ..access.control import ReadRevoked
from ..access.tokens import TokenRefused
from ..errors import InvalidRoomName, MalformedMessage, OmniForgeError
from ..metrics import METRICS
from ..rooms import protocol as p
from ..rooms.peer import Outgoing, Peer
from .frames import OPCODE_BINARY, frame_writer, ws_frame
from .socket import OmniForgeWebSocket

# Close reasons travel in a control frame: 125 bytes minus the 2-byte code.
_MAX_REASON_BYTES = 123
_AUTH = bytes([p.MESSAGE_AUTH])
_SENT, _SENT_BYTES = METRICS.sent_counters("rooms")  # added to once per frame sent


def ws_binary_frame(message: Outgoing) -> tuple[bytes, bytes]:
    return ws_frame(message.payload, OPCODE_BINARY)


def close_reason(error: OmniForgeError | None) -> tuple[int, str]:
    if error is None:
        return 1000, ""
    reason = str(error).encode()[:_MAX_REASON_BYTES].decode(errors="ignore")
    return error.close_code, reason


class SocketTransport:
    """Writes pre-encoded frames straight to a handler's stream (see :mod:`..rooms.peer`)."""

    __slots__ = ("_handler", "_last_write", "_stream", "_write_frame")

    takes_messages = False  # custom JSON messages mean nothing to a y-websocket client

    def __init__(self, handler: WebSocketHandler, *, direct: bool) -> None:
        self._handler = handler
        self._write_frame = frame_writer(direct)
        self._stream = handler.ws_connection.stream  # type: ignore[union-attr]
        self._last_write: Any = None

    def write(self, message: Outgoing) -> bool:
        head, tail = message.encoded(ws_binary_frame, ws_binary_frame)
        stream = self._stream
        _SENT[message.kind] += 1
        _SENT_BYTES[message.kind] += len(head) + len(tail)
        try:
            self._last_write = self._write_frame(stream, head, tail)
        except StreamClosedError:
            return False  # on_close follows and removes the peer
        return self._last_write is not None and stream.writing()

    def when_drained(self, callback: Callable[[], None]) -> None:
        if self._last_write is None or self._last_write.done():
            callback()
        else:
            self._last_write.add_done_callback(lambda _f: callback())

    def close(self, error: OmniForgeError | None = None) -> None:
        self._handler.close_with(error)


class RoomWebSocketHandler(OmniForgeWebSocket):
    """One y-websocket connection to one room."""

    def initialize(self, name: str, namespace: str | None = None) -> None:
        super().initialize(name)
        self.namespace = namespace  # an app's endpoint: names are relative to its namespace
        self.room = None
        self.peer: Peer | None = None
        self._closing = False

    def before_upgrade(self, room: str, *args: Any) -> None:
        # ``room`` is already URL-decoded by Tornado: decoding it again would let
        # ``idea%253Ax`` in here while REST refuses it.
        try:
            self.room_name = self.extensionapp.room_names.parse(room, self.namespace)
        except InvalidRoomName as e:
            METRICS.refused(e.code)
            raise web.HTTPError(400, str(e), reason="Invalid room name") from None

    @property
    def audit_room(self) -> str:
        return str(self.room_name)

    def authorize(self) -> None:
        self.guard.require(str(self.room_name), "read")

    async def open(self, room: str, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        self.opened()
        app = self.extensionapp
        key = str(self.room_name)
        self.peer = Peer(
            SocketTransport(self, direct=self.fast_path),
            self.identity,
            can_write=self.guard.can(key, "write"),
            can_presence=self.guard.can(key, "presence"),
            max_queue_messages=app.send_queue_max_messages,
            max_queue_bytes=app.send_queue_max_bytes,
        )
        self.peer.connected_at = self.requested_at
        self.peer.on_denied = self.guard.denied
        self.watch_access()
        try:
            await app.started()
            self.room = await app.room_manager.join(self.room_name, self.peer)
        except OmniForgeError as e:
            self.close_with(e)
        except Exception:
            self.log.exception("could not open room %s", self.room_name)
            self.close(1011, "internal error opening the room")
        if self._closing and self.room is not None:
            self.on_close()

    def on_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            METRICS.room_frame_in(message)
        if self._closing or self.room is None or not self.message_allowed():
            return
        if not isinstance(message, bytes):
            self.close_with(MalformedMessage("text frame: y-websocket messages are binary"))
            return
        try:
            if message[:1] == _AUTH:
                self._auth(message)
                return
            self.room.receive(self.peer, message)
        except OmniForgeError as e:
            self.close_with(e)
        except Exception:
            self.log.exception("error handling a frame in room %s", self.room_name)
            self.close(1011, "internal error")

    def _auth(self, frame: bytes) -> None:
        """An auth message from the client: ``2, 1, varstring token`` carries a fresh
        room-scoped token (before the current one expires); anything else is ignored."""
        message = p.parse_message(frame)
        if message.subtype != p.AUTH_REFRESH:
            return
        try:
            self.refresh_token(message.payload.decode(errors="replace"))
        except TokenRefused as e:
            self.close_with(e)

    def access_changed(self) -> None:
        peer, key = self.peer, str(self.room_name)
        if peer is None or self._closing:
            return
        allowed = self.guard.allowed(key)
        if "read" not in allowed:
            self.close_with(ReadRevoked(f"{self.identity.username} may no longer read {key}"))
            return
        peer.can_write = "write" in allowed
        peer.can_presence = "presence" in allowed
        peer.refused_reasons.clear()

    def close_with(self, error: OmniForgeError | None) -> None:
        """Close with ``error``'s code and reason (idempotent)."""
        if self._closing:
            return
        self._closing = True
        code, reason = close_reason(error)
        if error is not None:
            METRICS.refused(error.code)
            self.log.info(
                "closing %s connection of %s: %s", self.room_name, self.identity.username, error
            )
        if self.peer is not None:
            self.peer.closed = True
        self.close(code, reason)

    def on_close(self) -> None:
        self._closing = True
        self.count_close()
        self.release()
        room, peer = self.room, self.peer
        if room is not None and peer is not None:
            self.room = None
            peer.closed = True
            self.extensionapp.room_manager.leave(room, peer)
