"""The realtime gateway: one multiplexed WebSocket, ``GET {base_url}omniforge/realtime``.

JSON text frames, each a flat object with a ``type``. Client → server: ``joinRoom {roomId}``,
``leaveRoom {roomId}``, ``applyUpdate {roomId, update}``, ``awareness {roomId, awareness}``,
``message {roomId, data}``, ``subscribe {channels, lastEventId}``, ``unsubscribe {channels}``.
Server → client: ``docSync {roomId, update}``, ``docUpdate {roomId, update}``,
``awareness {roomId, update, states}``, ``message {roomId, data, source}``, ``subscribed``,
``event {event}``, ``reset {reason}``, ``error {code, message}``. Updates are base64 (arrays of
byte values are accepted too). The rooms are the very rooms of the y-websocket endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import random
from collections.abc import Callable
from typing import Any

from .. import strictjson
from ..access.control import ReadRevoked
from ..access.tokens import TokenRefused
from ..errors import (
    AwarenessRefused,
    Forbidden,
    MalformedMessage,
    OmniForgeError,
    SlowConsumer,
    TooManyRooms,
    UnsupportedMessage,
    ValidationError,
)
from ..events.bus import EventMessage, Subscription
from ..metrics import METRICS
from ..rooms import protocol as p
from ..rooms.peer import KIND_AWARENESS, KIND_MESSAGE, KIND_UPDATE, Outgoing, Peer
from ..rooms.room import Room
from .frames import OPCODE_TEXT, FrameWriter, ws_frame
from .rooms import close_reason
from .socket import OmniForgeWebSocket


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def decode_update(value: Any) -> bytes:
    """An update as sent by a client: base64 text, or the seed's array of byte values."""
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedMessage("update is not valid base64") from None
    if isinstance(value, list):
        try:
            return bytes(value)
        except (TypeError, ValueError):
            raise MalformedMessage("update array must hold byte values 0-255") from None
    raise MalformedMessage("update must be a base64 string or an array of byte values")


def _text_frame(obj: Any) -> tuple[bytes, bytes]:
    return ws_frame(strictjson.dumps(obj).encode(), OPCODE_TEXT)


def gateway_frame(message: Outgoing) -> tuple[bytes, bytes] | None:
    """A room message as a gateway frame (None: nothing for gateway clients)."""
    if message.kind == KIND_UPDATE:
        return _text_frame(
            {"type": "docUpdate", "roomId": message.room, "update": _b64(message.update or b"")}
        )
    if message.kind == KIND_MESSAGE:
        return ws_frame(message.payload, OPCODE_TEXT)
    if message.kind == KIND_AWARENESS:
        update = p.parse_message(message.payload).payload
        # States were checked on their way in (strict JSON, bounded): parsing them is safe.
        states = {
            str(e.client_id): strictjson.loads(e.state, max_depth=strictjson.MAX_DEPTH * 2)
            for e in p.decode_awareness_update(update)
        }
        return _text_frame(
            {"type": "awareness", "roomId": message.room, "update": _b64(update), "states": states}
        )
    if message.payload[:1] == bytes([p.MESSAGE_AUTH]):
        reason = p.parse_message(message.payload).payload.decode(errors="replace")
        return _text_frame(
            {"type": "error", "code": "forbidden", "roomId": message.room, "message": reason}
        )
    return None  # sync step messages: gateway clients get docSync instead


def event_frame(message: EventMessage) -> tuple[bytes, bytes]:
    return ws_frame(f'{{"type":"event","event":{message.json}}}'.encode(), OPCODE_TEXT)


class GatewayTransport:
    """One room membership of a gateway connection."""

    __slots__ = ("_conn", "room_key")

    takes_messages = True

    def __init__(self, conn: GatewayHandler, room_key: str) -> None:
        self._conn = conn
        self.room_key = room_key

    def write(self, message: Outgoing) -> bool:
        frame = message.encoded(gateway_frame, gateway_frame)
        if frame is not None:
            self._conn.send_frame(frame, message.kind)
        return False  # the connection keeps its own bounded queue

    def when_drained(self, callback: Callable[[], None]) -> None:
        callback()

    def close(self, error: OmniForgeError | None = None) -> None:
        self._conn.lost_room(self.room_key, error)


class Membership:
    __slots__ = ("client_id", "clock", "peer", "room")

    def __init__(self, room: Room, peer: Peer) -> None:
        self.room = room
        self.peer = peer
        self.client_id = random.getrandbits(31)
        self.clock = 0


#: Events queued for one write are written at once beyond this many bytes.
_EVENTS_WRITE_BYTES = 256 * 1024

#: Refusals that end the connection instead of an ``error`` frame: the sender overstepped a cap
#: meant to protect everyone else.
_FATAL = (AwarenessRefused,)


class GatewayHandler(OmniForgeWebSocket):
    """One multiplexed realtime connection: many rooms, many event channels."""

    metrics_endpoint = "gateway"

    def initialize(self, name: str) -> None:
        super().initialize(name)
        self.memberships: dict[str, Membership] = {}
        self.subscriptions: list[Subscription] = []
        self.writer: FrameWriter | None = None
        self._closing = False
        # Events delivered in this turn of the event loop, written together at its end.
        self._events: list[tuple[bytes, bytes]] | None = None
        self._events_bytes = 0

    async def open(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        self.opened()
        self.watch_access()
        app = self.extensionapp
        self.writer = FrameWriter(
            self.ws_connection.stream,  # type: ignore[union-attr]
            app.send_queue_max_messages,
            app.send_queue_max_bytes,
            lambda queued: self.close_with(SlowConsumer(f"send queue overflow ({queued} frames)")),
            direct=self.fast_path,
        )

    # -- outgoing --------------------------------------------------------------------------------

    def send_frame(self, frame: tuple[bytes, bytes], kind: str = "other") -> None:
        """Write a ready-made frame; a connection whose queue overflows is closed (1013).
        ``kind``: its type in the metrics (from a fixed set)."""
        if not self._closing and self.writer is not None:
            if self._events is not None:
                self._write_events()  # what was delivered before this frame goes first
            METRICS.frame_out("gateway", kind, len(frame[0]) + len(frame[1]))
            self.writer.send(frame)

    def send_json(self, obj: dict[str, Any]) -> None:
        self.send_frame(_text_frame(obj), obj["type"])

    def send_refusal(self, error: OmniForgeError, **context: Any) -> None:
        METRICS.refused(error.code)
        self.send_json({"type": "error", "code": error.code, "message": str(error), **context})

    # -- incoming --------------------------------------------------------------------------------

    async def on_message(self, message: str | bytes) -> None:
        # A coroutine: Tornado reads the next frame only when this one is handled, so a joinRoom
        # that loads its room completes before the applyUpdate that follows it.
        if self._closing or not self.message_allowed():
            return
        frame: Any = None
        try:
            if isinstance(message, bytes):
                raise UnsupportedMessage("binary frame: the gateway speaks JSON text frames")
            app = self.extensionapp
            frame = strictjson.loads(
                message, max_depth=app.max_nesting_depth, max_bytes=app.max_message_size
            )
            if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
                raise MalformedMessage('a frame is a JSON object with a string "type"')
            handler = self._dispatch.get(frame["type"])
            METRICS.frame_in("gateway", frame["type"] if handler else "other", len(message))
            if handler is None:
                raise UnsupportedMessage(
                    f"unknown message type {strictjson.dumps(frame['type'][:40])}"
                )
            await handler(self, frame)
        except _FATAL as e:
            self.close_with(e)
        except OmniForgeError as e:
            room_id = frame.get("roomId") if isinstance(frame, dict) else None
            context = {"roomId": room_id} if isinstance(room_id, str) and len(room_id) < 300 else {}
            self.send_refusal(e, **context)
        except Exception:
            self.log.exception("gateway frame failed")
            self.send_json({"type": "error", "code": "internal", "message": "internal error"})

    def _membership(self, frame: dict[str, Any]) -> Membership:
        room_id = frame.get("roomId")
        key = str(self.extensionapp.room_names.parse(room_id))
        membership = self.memberships.get(key)
        if membership is None:
            raise MalformedMessage(f"not in room {key}: send joinRoom first")
        return membership

    async def _join(self, frame: dict[str, Any]) -> None:
        name = self.extensionapp.room_names.parse(frame.get("roomId"))
        key = str(name)
        if key in self.memberships:
            membership = self.memberships[key]
        else:
            if len(self.memberships) >= self.extensionapp.max_rooms_per_connection:
                raise TooManyRooms(
                    f"at most {self.extensionapp.max_rooms_per_connection} rooms per connection"
                )
            self.guard.require(key, "read")
            peer = Peer(
                GatewayTransport(self, key),
                self.identity,
                can_write=self.guard.can(key, "write"),
                can_presence=self.guard.can(key, "presence"),
            )
            peer.on_denied = self.guard.denied
            room = await self.extensionapp.room_manager.join(name, peer)
            if self._closing:
                self.extensionapp.room_manager.leave(room, peer)
                return
            membership = self.memberships[key] = Membership(room, peer)
        self.send_json(
            {"type": "docSync", "roomId": key, "update": _b64(membership.room.full_update())}
        )

    async def _leave(self, frame: dict[str, Any]) -> None:
        membership = self._membership(frame)
        del self.memberships[membership.room.key]
        self.extensionapp.room_manager.leave(membership.room, membership.peer)
        self.send_json({"type": "left", "roomId": membership.room.key})

    async def _apply_update(self, frame: dict[str, Any]) -> None:
        membership = self._membership(frame)
        if not membership.peer.can_write:
            self.guard.denied(membership.room.key, "write")
            raise Forbidden(f"read-only: you may not write in {membership.room.key}")
        update = decode_update(frame.get("update"))
        membership.room.apply_update(update, origin=membership.peer)

    async def _awareness(self, frame: dict[str, Any]) -> None:
        membership = self._membership(frame)
        value = frame.get("awareness")
        if isinstance(value, dict | type(None)):
            # A plain state object for this connection's own awareness client id.
            membership.clock += 1
            state = strictjson.dumps(value)
            entry = p.AwarenessEntry(membership.client_id, membership.clock, state)
            update = p.encode_awareness_update([entry])
        else:
            update = decode_update(value)  # a y-protocols awareness update
        membership.room.apply_awareness(membership.peer, update)

    async def _message(self, frame: dict[str, Any]) -> None:
        membership = self._membership(frame)
        self.guard.require(membership.room.key, "emit")
        payload = strictjson.dumps(
            {
                "type": "message",
                "roomId": membership.room.key,
                "data": frame.get("data"),
                "source": self.identity.as_source(),
            }
        ).encode()
        limit = self.extensionapp.max_event_bytes
        if len(payload) > limit:
            raise ValidationError(
                f"a message of {len(payload)} bytes is larger than the limit of {limit} "
                "(max_event_bytes)"
            )
        membership.room.relay_message(payload, origin=membership.peer)

    def _patterns(self, channels: Any) -> list[str]:
        if isinstance(channels, str):
            channels = [channels]
        if not isinstance(channels, list) or not channels:
            raise MalformedMessage('"channels" is a list of channel names or patterns')
        bus = self.extensionapp.bus
        return self.extensionapp.room_names.patterns(bus.check_patterns(channels))

    async def _subscribe(self, frame: dict[str, Any]) -> None:
        patterns = self._patterns(frame.get("channels"))
        bus = self.extensionapp.bus
        # Without a cursor, start from the newest id: the subscription is then gap-free from
        # the moment of `subscribed`, and its cursor lets the client resume from there.
        after = bus.check_cursor(frame.get("lastEventId")) or await bus.last_id()
        self.send_json({"type": "subscribed", "channels": patterns, "lastEventId": after})
        subscription = await bus.subscribe_from(
            patterns,
            after,
            self._deliver,
            self._reset,
            visible=self._readable,
            deliver_many=self._deliver_many,
        )
        if self._closing:
            subscription.close()
        else:
            self.subscriptions.append(subscription)

    async def _unsubscribe(self, frame: dict[str, Any]) -> None:
        channels = frame.get("channels")
        patterns = None if channels is None else self._patterns(channels)
        keep = []
        for subscription in self.subscriptions:
            if patterns is None or subscription.matches.patterns == patterns:
                subscription.close()
            else:
                keep.append(subscription)
        self.subscriptions = keep
        self.send_json({"type": "unsubscribed", "channels": patterns})

    def _readable(self, channel: str) -> bool:
        return self.guard.can(channel, "read")

    async def _auth(self, frame: dict[str, Any]) -> None:
        token = frame.get("token")
        if not isinstance(token, str):
            raise MalformedMessage('auth needs "token": a fresh room-scoped token')
        try:
            self.refresh_token(token)
        except TokenRefused as e:
            self.close_with(e)
            return
        self.send_json({"type": "authenticated", "expires": self.guard.expires})

    def access_changed(self) -> None:
        for key, membership in list(self.memberships.items()):
            allowed = self.guard.allowed(key)
            if "read" not in allowed:
                del self.memberships[key]
                membership.peer.closed = True
                self.extensionapp.room_manager.leave(membership.room, membership.peer)
                self.send_refusal(
                    ReadRevoked(f"{self.identity.username} may no longer read {key}"), roomId=key
                )
                continue
            membership.peer.can_write = "write" in allowed
            membership.peer.can_presence = "presence" in allowed

    def _deliver(self, message: EventMessage) -> None:
        """Queue an event's frame for the end of this event-loop turn: the events stored
        together (a batch, a group commit, a replay page) reach the socket in one write, not
        one system call per event per subscriber."""
        self._deliver_many([message])

    def _deliver_many(self, messages: list[EventMessage]) -> None:
        METRICS.events_delivered += len(messages)
        frames = [message.encoded(event_frame) for message in messages]
        size = sum(len(head) + len(tail) for head, tail in frames)
        if self._events is None:
            self._events = frames
            self._events_bytes = size
            asyncio.get_running_loop().call_soon(self._write_events)
        else:
            self._events += frames
            self._events_bytes += size
        if self._events_bytes >= _EVENTS_WRITE_BYTES:
            self._write_events()

    def _write_events(self) -> None:
        frames, self._events = self._events, None
        if not frames or self._closing or self.writer is None:
            return
        for head, tail in frames:
            METRICS.frame_out("gateway", "event", len(head) + len(tail))
        if len(frames) == 1:
            self.writer.send(frames[0])
        else:  # server frames are unmasked: whole frames back to back are valid on the wire
            self.writer.send((b"".join(part for frame in frames for part in frame), b""))

    def _reset(self, reason: str) -> None:
        self.send_json({"type": "reset", "reason": reason})

    _dispatch: dict[str, Any] = {
        "joinRoom": _join,
        "leaveRoom": _leave,
        "applyUpdate": _apply_update,
        "awareness": _awareness,
        "message": _message,
        "subscribe": _subscribe,
        "unsubscribe": _unsubscribe,
        "auth": _auth,
    }

    # -- closing ---------------------------------------------------------------------------------

    def lost_room(self, key: str, error: OmniForgeError | None) -> None:
        """The room closed this membership (deleted, server shutting down)."""
        membership = self.memberships.pop(key, None)
        if membership is not None and error is not None:
            self.send_refusal(error, roomId=key)

    def close_with(self, error: OmniForgeError | None) -> None:
        if self._closing:
            return
        code, reason = close_reason(error)
        if error is not None:
            METRICS.refused(error.code)
            self.log.info("closing a gateway connection of %s: %s", self.identity.username, error)
        self._cleanup()
        self.close(code, reason)

    def _cleanup(self) -> None:
        self._closing = True
        if self.writer is not None:
            self.writer.close()
        for subscription in self.subscriptions:
            subscription.close()
        self.subscriptions = []
        memberships, self.memberships = self.memberships, {}
        for membership in memberships.values():
            membership.peer.closed = True
            self.extensionapp.room_manager.leave(membership.room, membership.peer)

    def on_close(self) -> None:
        self.count_close()
        self._cleanup()
        self.release()
