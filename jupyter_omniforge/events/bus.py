"""The event bus: validate, number, keep, fan out, and replay from a cursor.

    envelope = await bus.emit("build:42", "build.progress", {"percent": 40, "message": "compiling"},
                              source={"username": "alice"})

An event is delivered live only after it is in the log, so every id a subscriber has seen can be
replayed. Each event is serialized once; every subscriber of a wire format reuses the bytes.
Delivery is at least once: a subscriber that replays from a cursor while live events arrive may
see an id twice and must drop repeats.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from .. import strictjson
from ..errors import EventTooLarge, MalformedMessage, ReservedEventType, ValidationError
from ..metrics import METRICS
from ..names import parse_room_name
from ..store.base import EventStore
from .channels import ChannelMatcher
from .types import EventTypes

#: Event types only the server emits: their ``source`` and ``data`` are facts it vouches for.
RESERVED_TYPES = frozenset(
    # Presence, and version history (the server keeps the versions: history/recorder.py).
    {"user.joined", "user.left", "room.versioned", "room.restored"}
) | frozenset(
    # Comments: the server is their only writer (comments/service.py).
    {"comment.created", "comment.edited", "comment.deleted", "comment.reacted"}
    | {"thread.resolved", "thread.reopened"}
)

# A cursor: an id of the SQLite log (digits) or of the Redis log (``{ms}-{seq}@{epoch}``).
_CURSOR_RE = re.compile(r"[0-9A-Za-z@:._-]{1,64}")


class EventMessage:
    """One stored event on its way to subscribers; encodings are computed once and cached."""

    __slots__ = ("_encoded", "channel", "envelope", "id", "json", "seq")

    def __init__(self, envelope: dict[str, Any], seq: Any) -> None:
        self.envelope = envelope
        self.id: str = envelope["id"]
        self.seq = seq  # the log's order key of the id
        self.channel: str = envelope["channel"]
        self.json = strictjson.dumps(envelope)
        self._encoded: dict[Any, Any] = {}

    def encoded(self, encode: Callable[[EventMessage], Any]) -> Any:
        try:
            return self._encoded[encode]
        except KeyError:
            value = self._encoded[encode] = encode(self)
            return value


Deliver = Callable[[EventMessage], None]
DeliverMany = Callable[[list[EventMessage]], None]


Visible = Callable[[str], bool]


def _everything(channel: str) -> bool:
    return True


class Subscription:
    """Live delivery of matching events to ``deliver`` until :meth:`close`; only events of
    channels ``visible`` says the subscriber may read. With ``deliver_many``, the events stored
    in one turn of the event loop are handed over together, in order."""

    __slots__ = (
        "_buffer",
        "_bus",
        "closed",
        "deliver",
        "deliver_many",
        "matches",
        "on_reset",
        "visible",
    )

    def __init__(
        self,
        bus: EventBus,
        patterns: list[str],
        deliver: Deliver,
        visible: Visible = _everything,
        deliver_many: DeliverMany | None = None,
    ) -> None:
        self._bus = bus
        self.matches = ChannelMatcher(patterns)
        self.deliver = deliver
        self.deliver_many = deliver_many
        self.visible = visible
        self.closed = False
        self._buffer: list[EventMessage] | None = None

    def _offer(self, messages: list[EventMessage]) -> None:
        if self._buffer is not None:
            self._buffer += messages  # replay in progress: hold live events back
        elif self.deliver_many is not None:
            self.deliver_many(messages)
        else:
            for message in messages:
                self.deliver(message)

    def close(self) -> None:
        self.closed = True
        self._bus._subscriptions.discard(self)


class EventBus:
    """Emits typed events into the log and out to subscribers."""

    def __init__(
        self,
        log: EventStore,
        types: EventTypes | None = None,
        *,
        event_logger: Any = None,
        max_event_bytes: int = 64 * 1024,
        max_patterns: int = 100,
        max_depth: int = strictjson.MAX_DEPTH,
        logger: logging.Logger | None = None,
    ) -> None:
        self.log = log
        self.types = types or EventTypes()
        self.max_event_bytes = max_event_bytes
        self.max_patterns = max_patterns
        self.max_depth = max_depth
        self.event_logger = event_logger
        self.logger = logger or logging.getLogger(__name__)
        self._subscriptions: set[Subscription] = set()
        # Stored events not yet handed to the subscriptions: at the end of this loop turn.
        self._unpublished: list[EventMessage] | None = None
        #: Called with each stored event, in log order, on every instance (e.g. the webhook
        #: sender). Each must return at once: it runs on the ingest path.
        self.on_appended: list[Deliver] = []
        # The log calls us with each stored event, in order (on every instance, for a shared log).
        log.listener = self._publish_envelope
        if event_logger is not None:
            for family, path in self.types.paths.items():
                if self.types.schemas[family]["$id"] not in event_logger.schemas.schema_ids:
                    event_logger.register_event_schema(path)

    # -- emitting --------------------------------------------------------------------------------

    def check(
        self,
        channel: str,
        event_type: str,
        data: Any,
        source: dict[str, Any],
        *,
        internal: bool = False,
        namespace: str | None = None,
    ) -> dict:
        """The envelope (without id) of a valid event; raises ``ValidationError`` otherwise.

        ``data`` must be strict JSON (no NaN or infinities, nested at most ``max_depth``) of at
        most ``max_event_bytes``; the reserved types (:data:`RESERVED_TYPES`) pass only when
        ``internal`` (the server's own presence events). ``namespace`` is the app the event
        arrives through (see :meth:`EventTypes.validate`).
        """
        channel = str(parse_room_name(channel))
        data = {} if data is None else data
        try:
            size = len(strictjson.dumps(data, max_depth=self.max_depth))
        except MalformedMessage as e:
            raise ValidationError(f"invalid {event_type} event: data: {e}") from None
        if size > self.max_event_bytes:
            raise EventTooLarge(
                f"event data of {size} bytes is larger than the limit of {self.max_event_bytes} "
                "(max_event_bytes)"
            )
        envelope = {
            "channel": channel,
            "type": event_type,
            "time": time.time(),
            "source": source,
            "data": data,
        }
        if event_type in RESERVED_TYPES and not internal:
            self.types.check_channel(channel)  # a channel nobody serves says so first
            raise ReservedEventType(
                f"{event_type} is reserved: only the server emits it (presence, version history"
                " and comments are facts it vouches for)"
            )
        self.types.validate({"id": "0", **envelope}, namespace=namespace)
        return envelope

    async def emit(
        self,
        channel: str,
        event_type: str,
        data: Any = None,
        source: dict[str, Any] | None = None,
        *,
        internal: bool = False,
    ) -> dict[str, Any]:
        """Validate, store and deliver one event; return its envelope (with ``id``).

        Raises :class:`~..errors.ValidationError` (:class:`~..errors.ReservedEventType` for a
        type only the server emits, unless ``internal``) or
        :class:`~..errors.InvalidRoomName` for an invalid event: nothing is then stored or sent.
        """
        envelope = self.check(
            channel, event_type, data, source or {"username": "server"}, internal=internal
        )
        return await self.append(envelope)

    async def append(self, envelope: dict[str, Any]) -> dict[str, Any]:
        """Number, store and deliver an envelope that passed :meth:`check`; return it with its
        ``id``."""
        stored = await self.log.append(envelope)
        METRICS.events_ingested += 1
        return stored

    async def append_many(self, envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """:meth:`append` for several envelopes, stored in one transaction (all or none), in
        order; return them with their ids."""
        if not envelopes:
            return []
        stored = await self.log.append_many(envelopes)
        METRICS.events_ingested += len(stored)
        return stored

    def check_patterns(self, patterns: list[str]) -> list[str]:
        """Refuse more than ``max_patterns`` patterns in one subscription or history read."""
        if not patterns:
            raise ValidationError("name at least one channel or pattern")
        if len(patterns) > self.max_patterns:
            raise ValidationError(
                f"{len(patterns)} channels or patterns; at most {self.max_patterns} "
                "(max_patterns_per_subscription)"
            )
        return patterns

    @staticmethod
    def check_cursor(cursor: Any) -> str | None:
        """A cursor as a client gave it (None or empty: none), or ``ValidationError``."""
        if cursor is None or cursor == "":
            return None
        if isinstance(cursor, int) and not isinstance(cursor, bool):
            cursor = str(cursor)
        if not isinstance(cursor, str) or not _CURSOR_RE.fullmatch(cursor):
            raise ValidationError(
                f"invalid event id {strictjson.dumps(str(cursor)[:40])}: ids are what the "
                "server sent"
            )
        return cursor

    def _publish_envelope(self, envelope: dict[str, Any]) -> None:
        self._publish(EventMessage(envelope, self.log.order_key(envelope["id"])))

    def _publish(self, message: EventMessage) -> None:
        for listener in self.on_appended:
            try:
                listener(message)
            except Exception:
                self.logger.exception("event listener %r failed", listener)
        if self._subscriptions:
            if self._unpublished is None:
                self._unpublished = [message]
                asyncio.get_running_loop().call_soon(self._fan_out)
            else:
                self._unpublished.append(message)
        if self.event_logger is not None:
            try:
                self.event_logger.emit(
                    schema_id=self.types.schema_id(message.envelope["type"]),
                    data=message.envelope,
                )
            except Exception:
                self.logger.exception("could not log %s to Jupyter's event_logger", message.id)

    def _fan_out(self) -> None:
        """Hand the events stored in this loop turn (a batch, a group commit, a page of the
        shared stream) to each subscription, in order: which channels it takes is decided once
        per channel, not once per event."""
        messages, self._unpublished = self._unpublished or [], None
        for subscription in tuple(self._subscriptions):
            if subscription.closed:
                continue
            takes: dict[str, bool] = {}
            mine = []
            for message in messages:
                channel = message.channel
                taken = takes.get(channel)
                if taken is None:
                    taken = takes[channel] = bool(
                        subscription.matches(channel) and subscription.visible(channel)
                    )
                if taken:
                    mine.append(message)
            if mine:
                try:
                    subscription._offer(mine)
                except Exception:
                    self.logger.exception("event subscriber failed; unsubscribing it")
                    subscription.close()

    # -- subscribing -----------------------------------------------------------------------------

    def subscribe(
        self,
        patterns: list[str],
        deliver: Deliver,
        visible: Visible = _everything,
        deliver_many: DeliverMany | None = None,
    ) -> Subscription:
        """Live events of channels matching ``patterns`` (``*``, ``build:*``, ``idea:1``)."""
        subscription = Subscription(self, patterns, deliver, visible, deliver_many)
        self._subscriptions.add(subscription)
        return subscription

    async def subscribe_from(
        self,
        patterns: list[str],
        after: str | None,
        deliver: Deliver,
        on_reset: Callable[[str], None],
        page_size: int = 1000,
        visible: Visible = _everything,
        deliver_many: DeliverMany | None = None,
    ) -> Subscription:
        """Everything after cursor ``after`` in order, then live events, with no gap.

        When the cursor is older than what is kept (or unknown), ``on_reset(reason)`` is called
        first and delivery starts at the oldest event kept. Raises ``ValidationError`` for too
        many patterns or a malformed cursor; if it raises, nothing stays subscribed.
        """
        self.check_patterns(patterns)
        after = self.check_cursor(after)
        subscription = Subscription(self, patterns, deliver, visible, deliver_many)
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
                    if visible(envelope["channel"]):
                        deliver(EventMessage(envelope, self.log.order_key(envelope["id"])))
                if page.events:
                    cursor = page.events[-1]["id"]
                if len(page.events) < page_size:
                    break
            seen = self.log.order_key(cursor) if cursor else self.log.order_key("0")
            for message in subscription._buffer:
                if message.seq > seen:
                    deliver(message)
        except BaseException:
            subscription.close()
            raise
        finally:
            subscription._buffer = None
        return subscription

    async def last_id(self) -> str:
        """The newest event id (a cursor that replays nothing)."""
        return await self.log.last_id()

    async def history(
        self,
        patterns: list[str],
        after: str | None,
        limit: int,
        visible: Visible = _everything,
        *,
        max_scans: int = 10,
    ) -> tuple[list[dict[str, Any]], bool, str | None]:
        """Up to ``limit`` kept events after ``after`` (see :meth:`subscribe_from` for the
        checks), whether the cursor was reset, and the id to page on from: the last one looked
        at, visible or not (``after`` when there was none).

        Events of channels ``visible`` refuses are left out: pages are read on (at most
        ``max_scans``) until ``limit`` visible events are found or the log ends."""
        self.check_patterns(patterns)
        cursor = self.check_cursor(after)
        page = await self.log.read(patterns, cursor, limit)
        reset, scanned = page.reset, page.events
        events = [e for e in scanned if visible(e["channel"])]
        last = scanned[-1]["id"] if scanned else cursor
        for _ in range(max_scans - 1):
            if cursor is None or len(scanned) < limit or len(events) >= limit:
                break
            scanned = (await self.log.read(patterns, last, limit)).events
            events += [e for e in scanned if visible(e["channel"])]
            last = scanned[-1]["id"] if scanned else last
        if len(events) > limit:
            events = events[:limit]
            last = events[-1]["id"]
        return events, reset, last
