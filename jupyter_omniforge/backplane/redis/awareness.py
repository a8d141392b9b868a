"""Awareness between instances over Redis pub/sub: it may be lost, and is renewed by clients anyway.

A message is ``{instance}\\0{room}\\0{kind}\\0{payload}``, of one of the kinds:

- :data:`UPDATE` — the payload is an awareness update of the sender's clients in the room;
- :data:`WRITER` — "follow my stream of the room" (the sender just enrolled as a writer);
- :data:`QUERY` — "send me your clients' states in the room" (the sender just opened it);
- :data:`REVOKED` — "this token is revoked": the room part is the token's id, the payload when
  it expires (see :mod:`.revocations`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from ...backoff import Backoff
from . import entries
from .connection import TRANSIENT, RedisConnection
from .entries import MalformedCounts, MalformedEntry
from .outbox import Outbox

UPDATE, WRITER, QUERY, REVOKED = b"u", b"w", b"q", b"r"
_KINDS = frozenset((UPDATE, WRITER, QUERY, REVOKED))

#: Called with (sender instance, room, kind, payload) for each message of another instance.
Deliver = Callable[[str, str, bytes, bytes], None]


def parse(data: object) -> tuple[str, str, bytes, bytes]:
    """``(instance, room, kind, payload)`` of a message; raises :class:`MalformedEntry`."""
    if not isinstance(data, bytes):
        raise MalformedEntry("awareness message is not a string")
    parts = data.split(b"\0", 3)
    if len(parts) != 4:
        raise MalformedEntry("awareness message has fewer than four NUL-separated parts")
    instance, room, kind, payload = parts
    if kind not in _KINDS:
        raise MalformedEntry(f"awareness message of unknown kind {kind[:20]!r}")
    return entries.instance_name(instance, "sender"), entries.text(room, "room"), kind, payload


class AwarenessChannel:
    """This instance's side of the ``awareness`` channel. What it publishes goes through the
    :class:`Outbox`, on the same connection as the room updates and in order with them."""

    def __init__(
        self,
        connection: RedisConnection,
        outbox: Outbox,
        instance_id: str,
        *,
        malformed: MalformedCounts,
        log: logging.Logger,
    ) -> None:
        self._connection = connection
        self._outbox = outbox
        self._instance = instance_id
        self._prefix = instance_id.encode() + b"\0"
        self._malformed = malformed
        self._log = log

    def publish(self, room: str, kind: bytes, payload: bytes = b"") -> None:
        """Queue a message of ``kind`` about ``room``. Never blocks."""
        if payload:
            payload = self._connection.seal(payload, room)
        self._outbox.announce(self._prefix + room.encode() + b"\0" + kind + b"\0" + payload)

    async def follow(self, deliver: Deliver) -> None:
        """Hand every well-formed message of another instance to ``deliver``, forever;
        reconnect (with backoff) when Redis is lost. Malformed messages are skipped."""
        backoff = Backoff()
        while True:
            client = self._connection.client(read_timeout=None, retries=0)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self._connection.key("awareness"))
                backoff.reset()
                async for message in pubsub.listen():
                    if message.get("type") in (b"message", "message"):
                        self._receive(message.get("data"), deliver)
            except TRANSIENT:
                await backoff.wait()
            finally:
                with contextlib.suppress(BaseException):
                    await pubsub.aclose()
                    await client.aclose()

    def _receive(self, data: object, deliver: Deliver) -> None:
        try:
            instance, room, kind, payload = parse(data)
        except MalformedEntry as e:
            self._malformed.skip("awareness", None, e)
            return
        if instance == self._instance:
            return
        try:
            if payload:
                payload = self._connection.unseal(payload, room)
        except MalformedEntry as e:
            self._malformed.skip("awareness", None, e)
            return
        try:
            deliver(instance, room, kind, payload)
        except Exception as e:
            self._log.exception("awareness from %s in room %s failed", instance, room)
            self._malformed.skip("awareness", None, f"from {instance} in {room!r}: {e}")
