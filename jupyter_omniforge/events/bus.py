"""The event bus: validate, number, keep, fan out, and replay from a cursor.

    envelope = await bus.emit("build:42", "build.progress", {"percent": 40, "message": "compiling"},
                              source={"username": "alice"})

An event is delivered live only after it is in the log, so every id a subscriber has seen can be
replayed. Each event is serialized once; every subscriber of a wire format reuses the bytes.
Delivery is at least once: a subscriber that replays from a cursor while live events arrive may
see an id twice and must drop repeats.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from ..rooms.names import parse_room_name
from .channels import ChannelMatcher
from .log import EventLog
from .types import EventTypes


class EventMessage:
    """One stored event on its way to subscribers; encodings are computed once and cached."""

    __slots__ = ("_encoded", "channel", "envelope", "id", "json", "seq")

    def __init__(self, envelope: dict[str, Any], seq: Any) -> None:
        self.envelope = envelope
        self.id: str = envelope["id"]
        self.seq = seq  # the log's order key of the id
        self.channel: str = envelope["channel"]
        self.json = json.dumps(envelope, separators=(",", ":"))
        self._encoded: dict[Any, Any] = {}

    def encoded(self, encode: Callable[[EventMessage], Any]) -> Any:
        try:
            return self._encoded[encode]
        except KeyError:
            value = self._encoded[encode] = encode(self)
            return value


Deliver = Callable[[EventMessage], None]


class Subscription:
    """Live delivery of matching events to ``deliver`` until :meth:`close`."""

    __slots__ = ("_buffer", "_bus", "closed", "deliver", "matches", "on_reset")

    def __init__(self, bus: EventBus, patterns: list[str], deliver: Deliver) -> None:
        self._bus = bus
        self.matches = ChannelMatcher(patterns)
        self.deliver = deliver
        self.closed = False
        self._buffer: list[EventMessage] | None = None

    def _offer(self, message: EventMessage) -> None:
        if self._buffer is not None:
            self._buffer.append(message)  # replay in progress: hold live events back
        else:
            self.deliver(message)

    def close(self) -> None:
        self.closed = True
        self._bus._subscriptions.discard(self)


class EventBus:
    """Emits typed events into the log and out to subscribers."""

    def __init__(
        self,
        log: EventLog,
        types: EventTypes | None = None,
        *,
        event_logger: Any = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.log = log
        self.types = types or EventTypes()
        self.event_logger = event_logger
        self.logger = logger or logging.getLogger(__name__)
        self._subscriptions: set[Subscription] = set()
        # The log calls us with each stored event, in order (on every instance, for a shared log).
        log.listener = self._publish_envelope
        if event_logger is not None:
            for family, path in self.types.paths.items():
                if self.types.schemas[family]["$id"] not in event_logger.schemas.schema_ids:
                    event_logger.register_event_schema(path)

    # -- emitting --------------------------------------------------------------------------------

    def check(self, channel: str, event_type: str, data: Any, source: dict[str, Any]) -> dict:
        """The envelope (without id) of a valid event; raises ``ValidationError`` otherwise."""
        channel = str(parse_room_name(channel))
        envelope = {
            "channel": channel,
            "type": event_type,
            "time": time.time(),
            "source": source,
            "data": {} if data is None else data,
        }
        self.types.validate({"id": "0", **envelope})
        return envelope

    async def emit(
        self,
        channel: str,
        event_type: str,
        data: Any = None,
        source: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Validate, store and deliver one event; return its envelope (with ``id``).

        Raises :class:`~..errors.ValidationError` or :class:`~..errors.InvalidRoomName` for an
        invalid event: nothing is then stored or sent.
        """
        envelope = self.check(channel, event_type, data, source or {"username": "server"})
        return await self.log.append(envelope)

    def _publish_envelope(self, envelope: dict[str, Any]) -> None:
        self._publish(EventMessage(envelope, self.log.order_key(envelope["id"])))

    def _publish(self, message: EventMessage) -> None:
        for subscription in tuple(self._subscriptions):
            if subscription.matches(message.channel):
                try:
                    subscription._offer(message)
                except Exception:
                    self.logger.exception("event subscriber failed; unsubscribing it")
                    subscription.close()
        if self.event_logger is not None:
            try:
                self.event_logger.emit(
                    schema_id=self.types.schema_id(message.envelope["type"]),
                    data=message.envelope,
                )
            except Exception:
                self.logger.exception("could not log %s to Jupyter's event_logger", message.id)

    # -- subscribing -----------------------------------------------------------------------------

    def subscribe(self, patterns: list[str], deliver: Deliver) -> Subscription:
        """Live events of channels matching ``patterns`` (``*``, ``build:*``, ``idea:1``)."""
        subscription = Subscription(self, patterns, deliver)
        self._subscriptions.add(subscription)
        return subscription

    async def subscribe_from(
        self,
        patterns: list[str],
        after: str | None,
        deliver: Deliver,
        on_reset: Callable[[str], None],
        page_size: int = 1000,
    ) -> Subscription:
        """Everything after cursor ``after`` in order, then live events, with no gap.

        When the cursor is older than what is kept (or unknown), ``on_reset(reason)`` is called
        first and delivery starts at the oldest event kept.
        """
        subscription = Subscription(self, patterns, deliver)
        subscription._buffer = []
        self._subscriptions.add(subscription)
        try:
            cursor: str | None = after
            first = True
            while not subscription.closed:
                page = await self.log.read(subscription.matches.patterns, cursor or "0", page_size)
                if first and page.reset:
                    on_reset(f"cursor {after!r} is older than the events kept, or unknown")
                first = False
                for envelope in page.events:
                    deliver(EventMessage(envelope, self.log.order_key(envelope["id"])))
                if page.events:
                    cursor = page.events[-1]["id"]
                if len(page.events) < page_size:
                    break
            seen = self.log.order_key(cursor) if cursor else self.log.order_key("0")
            for message in subscription._buffer:
                if message.seq > seen:
                    deliver(message)
        finally:
            subscription._buffer = None
        return subscription

    async def last_id(self) -> str:
        """The newest event id (a cursor that replays nothing)."""
        return await self.log.last_id()

    async def history(
        self, patterns: list[str], after: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        page = await self.log.read(patterns, after, limit)
        return page.events, page.reset
