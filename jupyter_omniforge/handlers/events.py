"""REST and Server-Sent Events for the event stream. Thin: each method calls the bus."""

from __future__ import annotations

import asyncio
from typing import Any

from tornado import web
from tornado.iostream import StreamClosedError

from .. import strictjson
from ..errors import OmniForgeError, ValidationError
from ..events.bus import EventMessage
from ..metrics import METRICS
from .api import OmniForgeAPIHandler


def _patterns(raw: str) -> list[str]:
    return [p.strip() for p in raw.split(",") if p.strip()] or ["*"]


class _EventsBase(OmniForgeAPIHandler):
    def initialize(self, name: str, namespace: str | None = None) -> None:
        super().initialize(name)
        # An app's endpoint: channels are relative to its namespace, events go through its hooks.
        self.namespace = namespace

    def _readable(self, channel: str) -> bool:
        return self.guard.can(channel, "read")

    def patterns(self, raw: str) -> list[str]:
        self.require_some_access()
        app = self.extensionapp
        return app.room_names.patterns(app.bus.check_patterns(_patterns(raw)), self.namespace)


class EventsHandler(_EventsBase):
    """``POST`` emits an event; ``GET`` pages through history."""

    @web.authenticated
    async def post(self) -> None:
        """One event (a JSON object: 201 and its envelope), or a batch: a JSON array or NDJSON
        (``Content-Type: application/x-ndjson``), answered 200 with each event's envelope or
        error, in order; the valid ones are stored in one transaction."""
        app = self.extensionapp
        content_type = self.request.headers.get("Content-Type", "")
        if "ndjson" in content_type or "jsonl" in content_type:
            await self._post_batch(self._ndjson_body())
            return
        if self.request.body.lstrip()[:1] == b"[":
            await self._post_batch(self.json_body(app.max_event_batch_bytes))
            return
        # The body holds one event: its data (at most max_event_bytes as compact JSON) and a
        # little envelope, with room for the sender's whitespace.
        body = self.json_body(2 * app.max_event_bytes + 4096)
        envelope = await self._prepare(body)
        self.write_json(await app.bus.append(envelope), status=201)

    async def _prepare(self, body: Any) -> dict[str, Any]:
        """The envelope of one event of a request; raises when it may not be emitted."""
        app = self.extensionapp
        if not isinstance(body, dict):
            raise ValidationError('expected a JSON object {"channel", "type", "data"}')
        unknown = set(body) - {"channel", "type", "data"}
        if unknown:
            raise ValidationError(f"unknown fields: {', '.join(sorted(unknown))}")
        channel = str(app.room_names.parse(body.get("channel"), self.namespace))
        self.guard.require(channel, "emit")
        source = self.guard.identity.as_source()
        if self.namespace is None:
            return app.bus.check(channel, body.get("type"), body.get("data"), source)
        return await app.apps[self.namespace].prepare(
            body.get("channel"), body.get("type"), body.get("data"), source=source
        )

    def _ndjson_body(self) -> list[Any]:
        """The lines of an NDJSON body, each parsed (or the error it gives, kept in its place)."""
        app = self.extensionapp
        body = self.sized_body(app.max_event_batch_bytes)
        items: list[Any] = []
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                items.append(strictjson.loads(line, max_depth=app.max_nesting_depth))
            except OmniForgeError as e:
                items.append(e)
        return items

    async def _post_batch(self, items: Any) -> None:
        app = self.extensionapp
        if not isinstance(items, list) or not items:
            raise ValidationError("expected a non-empty batch of events")
        if len(items) > app.max_events_per_post:
            raise web.HTTPError(
                413, f"{len(items)} events in one request; at most {app.max_events_per_post}"
            )
        results: list[dict[str, Any]] = []
        valid: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            try:
                if isinstance(item, OmniForgeError):
                    raise item
                valid.append(await self._prepare(item))
                results.append({})  # filled in once stored
            except OmniForgeError as e:
                results.append({"index": index, "error": e.code, "message": str(e)})
        stored = iter(await app.bus.append_many(valid))
        answer = [result or next(stored) for result in results]
        self.write_json(
            {"events": answer, "stored": len(valid), "refused": len(items) - len(valid)}
        )

    @web.authenticated
    async def get(self) -> None:
        patterns = self.patterns(self.get_query_argument("channel", "*"))
        after = self.get_query_argument("after", None)
        try:
            limit = int(self.get_query_argument("limit", "100"))
        except ValueError:
            raise ValidationError("limit must be an integer") from None
        limit = max(1, min(limit, self.extensionapp.event_page_max))
        events, reset, last = await self.extensionapp.bus.history(
            patterns, after, limit, self._readable
        )
        self.write_json({"events": events, "reset": reset, "next": last})


def sse_frame(message: EventMessage) -> bytes:
    return f"id: {message.id}\ndata: {message.json}\n\n".encode()


class EventStreamHandler(_EventsBase):
    """``GET omniforge/api/events/stream?channels=build:*`` — Server-Sent Events.

    Honours ``Last-Event-ID`` (header, or ``lastEventId`` query argument): the stream starts with
    everything after it, then goes live. A cursor older than what is kept yields ``event: reset``.
    """

    @web.authenticated
    async def get(self) -> None:
        self._done = asyncio.Event()
        patterns = self.patterns(self.get_query_argument("channels", "*"))
        bus = self.extensionapp.bus
        after = bus.check_cursor(
            self.request.headers.get("Last-Event-ID")
            or self.get_query_argument("lastEventId", None)
        )
        app = self.extensionapp
        identity = self.guard.identity
        app.connections.acquire(identity.username)  # TooManyConnections: 429
        # A room-scoped token that expires (or is revoked) ends the stream.
        self.guard.on_expired = lambda error: self._end()
        app.access.watch(self.guard)
        METRICS.opened("sse")
        try:
            await self._stream(patterns, after)
        finally:
            METRICS.closed("sse", None)
            app.access.unwatch(self.guard)
            app.connections.release(identity.username)

    def _end(self) -> None:
        self._done.set()
        self.request.connection.close()

    async def _stream(self, patterns: list[str], after: str | None) -> None:
        bus = self.extensionapp.bus
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Accel-Buffering", "no")
        self._pending_flushes = 0
        self._queued: list[bytes] | None = None
        self.write(b"retry: 1000\n\n")
        await self.flush()
        after = after or await bus.last_id()
        self.subscription = await bus.subscribe_from(
            patterns, after, self._send, self._reset, visible=self._readable
        )
        try:
            while not self._done.is_set():
                try:
                    await asyncio.wait_for(self._done.wait(), self.extensionapp.sse_keepalive)
                except TimeoutError:
                    self._write(b": keepalive\n\n")
        finally:
            self.subscription.close()

    def _send(self, message: EventMessage) -> None:
        frame = message.encoded(sse_frame)
        METRICS.events_delivered += 1
        METRICS.frame_out("sse", "event", len(frame))
        self._write(frame)

    def _reset(self, reason: str) -> None:
        METRICS.frame_out("sse", "reset", 0)
        self._write(f"event: reset\ndata: {strictjson.dumps({'reason': reason})}\n\n".encode())

    def _write(self, data: bytes) -> None:
        """Queue ``data`` for the end of this event-loop turn: what is written in one turn (the
        events stored together, a replay page) goes out in one write and one flush."""
        if self._done.is_set():
            return
        if self._queued is None:
            self._queued = [data]
            asyncio.get_running_loop().call_soon(self._write_queued)
        else:
            self._queued.append(data)

    def _write_queued(self) -> None:
        queued, self._queued = self._queued, None
        if not queued or self._done.is_set():
            return
        data = queued[0] if len(queued) == 1 else b"".join(queued)
        if self._pending_flushes > self.extensionapp.send_queue_max_messages:
            self.log.info("closing a Server-Sent Events stream that cannot keep up")
            self._done.set()
            self.request.connection.close()
            return
        try:
            self.write(data)
            self._pending_flushes += 1
            self.flush().add_done_callback(self._flushed)
        except StreamClosedError:
            self._done.set()

    def _flushed(self, future: Any) -> None:
        self._pending_flushes -= 1
        if future.exception() is not None:
            self._done.set()

    def on_connection_close(self) -> None:
        self._done.set()
