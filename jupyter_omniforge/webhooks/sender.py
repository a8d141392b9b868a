"""The webhook sender: every event that matches an endpoint is queued in the store, then POSTed
to it, in order, once, from one instance at a time.

- **Ingest never waits for an endpoint.** The bus hands each stored event to :meth:`_offer`,
  which appends it to a list. A feed task queues what accumulated in one store transaction
  (a batch per round trip); one task per endpoint delivers its queue.
- **In order, once, per endpoint.** An endpoint's next delivery waits until the one before it
  was delivered or given up. A delivery is retried with exponential backoff
  (:class:`~jupyter_omniforge.backoff.Backoff`, from the attempts recorded in the store) for
  ``retry_seconds`` after it was queued, then given up and recorded as failed. A receiver may
  still see a delivery twice when its answer was lost (the request timed out after it acted):
  ``webhook-id`` stays the same across attempts so that it can drop the repeat.
- **Restarts.** The queue, the cursor of the event log it was filled up to and each endpoint's
  **position** (the last event delivered or given up) are in the store, each written with the
  change it records. A starting sender reads the log again after each endpoint's position and
  queues what is not queued yet (events stored after the last batch queued when the process
  died), then follows the bus.
- **One instance at a time.** The sender holds a lease of the backplane
  (:class:`~jupyter_omniforge.backplane.base.Lease`). Alone, it always does. Under Redis, every
  instance follows the one shared event stream, and the holder queues from it into its own
  store and delivers. Each endpoint's position is also kept in the lease
  (``Lease.save_positions``: written in batches as deliveries finish, refused once the lease
  is lost). A new holder (:meth:`_take_over`)
  drops what its own store still queues up to each position (another holder sent it), then
  queues again from the stream every matching event after the position: what an instance that
  died had queued and not sent is sent by the next one, with the same ``webhook-id``. Positions
  only move forward; a holder that crashed after a delivery and before saving its position
  makes the next one send that delivery again (a duplicate the receiver can tell by its
  ``webhook-id``). An event the stream no longer keeps (``event_retention_seconds``) cannot be
  queued again: the new holder starts at the oldest kept, logs the gap and records it as a
  failure of the endpoint. A holder stops sending as soon as it fails to renew the lease, and
  never sends once the lease's time to live has passed since its last renewal.

HTTP goes through an :class:`httpx.AsyncClient` of the sender's own, not Tornado's
``AsyncHTTPClient``: Tornado's is a per-loop singleton shared with the rest of the server (a
dead endpoint would hold its ``max_clients`` slots from Jupyter's own requests), whereas this
pool is ours, bounded (``concurrency`` connections) and closed with the sender. Every attempt
has a total deadline (``timeout``), and an answer's body is never read: a slow, dead or hostile
endpoint costs one slot for at most ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from .._version import __version__
from ..backoff import Backoff
from ..backplane.base import Lease
from ..errors import ValidationError
from ..events.bus import EventBus, EventMessage
from ..store.base import Delivery, Page, WebhookQueue
from . import messages, signing
from .endpoints import Endpoint

#: Runs remembered for the durations of Slack summaries (``build:42 completed in 3.2 s``).
_RUNS_REMEMBERED = 10_000
#: Events read per page when catching up with the log.
_PAGE = 1000

#: An event id and its order key in the log (ids of the Redis log do not sort as text).
Position = tuple[Any, str]


class WebhookSender:
    """Queues and delivers the events that match ``endpoints``; :meth:`start`, then
    :meth:`close`. ``status()`` is what ``GET omniforge/api/webhooks`` shows."""

    def __init__(
        self,
        endpoints: list[Endpoint],
        *,
        bus: EventBus,
        queue: WebhookQueue,
        lease: Lease,
        retry_seconds: float,
        timeout: float,
        concurrency: int = 8,
        lease_renewal: float = 2.0,
        first_retry: float = 0.5,
        max_retry: float = 600.0,
        log: logging.Logger | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.bus = bus
        self.queue = queue
        self.lease = lease
        self.retry_seconds = retry_seconds
        self.timeout = timeout
        self.lease_renewal = lease_renewal
        self.first_retry = min(first_retry, max_retry)
        self.max_retry = max_retry
        self.log = log or logging.getLogger(__name__)
        #: True while this instance holds the lease (queues and delivers).
        self.holding = False
        self._incoming: list[EventMessage] = []
        self._more = asyncio.Event()
        self._wakes = {endpoint.key: asyncio.Event() for endpoint in endpoints}
        self._slots = asyncio.Semaphore(concurrency)
        self._client = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            headers={"user-agent": f"jupyter-omniforge/{__version__}"},
        )
        self._runs: OrderedDict[str, float] = OrderedDict()  # channel -> when it started
        self._lead_task: asyncio.Task[None] | None = None
        self._serving: asyncio.Task[None] | None = None
        self._closing = False
        #: time.monotonic() after which the lease may be someone else's (since the last renewal).
        self._held_until = 0.0
        self._origin = ""
        #: While serving: the last event looked at, for all endpoints; for each endpoint, the
        #: last event that was either queued or needs no sending (the queue holds every
        #: matching event after its position up to there).
        self._seen: Position = (None, "")
        self._after: dict[str, Position] = {}
        #: Each endpoint's position in the store, in the lease, and what the lease lacks yet.
        self._here: dict[str, Position] = {}
        self._saved: dict[str, Position] = {}
        self._unsaved: dict[str, str] = {}
        self._save_due = asyncio.Event()
        patterns = sorted({p for endpoint in endpoints for p in endpoint.channels})
        self._patterns = ["*"] if "*" in patterns else patterns

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start taking the lease. Returns once the newest event id is read: every event
        appended after this returns is sent (the first holder of a new deployment starts
        there), so the server answers ready only after it."""
        self.bus.on_appended.append(self._offer)
        try:
            self._origin = await self.bus.last_id()
        except Exception as e:
            self.log.warning("webhooks: could not read the newest event id: %s", e)
        self._lead_task = asyncio.ensure_future(self._lead())

    async def close(self, drain: float = 2.0) -> None:
        """Queue what the bus handed over (waiting at most ``drain`` seconds), stop delivering,
        and let another instance take over."""
        with contextlib.suppress(ValueError):
            self.bus.on_appended.remove(self._offer)
        self._closing = True
        self._more.set()
        if self._serving is not None:
            await asyncio.wait({self._serving}, timeout=drain)  # the feed ends once drained
        if self._lead_task is not None:
            await _cancel(self._lead_task)
        await self._client.aclose()

    # -- the ingest side: cheap, synchronous -----------------------------------------------------

    def _offer(self, message: EventMessage) -> None:
        if self.holding:
            self._incoming.append(message)
            self._more.set()

    # -- holding the lease -----------------------------------------------------------------------

    async def _lead(self) -> None:
        """Take and renew the lease; serve while it is held."""
        try:
            while True:
                began = time.monotonic()
                try:
                    held = await self.lease.hold()
                except Exception as e:  # the backplane is unreachable: let the lease lapse
                    self.log.warning("webhooks: could not renew the sender's lease: %s", e)
                    held = False
                self._held_until = began + self.lease.ttl if held else 0.0
                if held and self._serving is None and not self._closing:
                    self.holding = True
                    self._serving = asyncio.ensure_future(self._serve())
                elif not held and self._serving is not None:
                    self.log.info("webhooks: the sender's lease is lost")
                    await self._stop_serving()
                await asyncio.sleep(self.lease_renewal)
        finally:
            await self._stop_serving()
            with contextlib.suppress(Exception):
                await self.lease.release()

    async def _stop_serving(self) -> None:
        serving, self._serving = self._serving, None
        if serving is not None:
            await _cancel(serving)
            # The positions of the last deliveries, for the next holder (refused if the lease
            # is another instance's by now).
            unsaved, self._unsaved = self._unsaved, {}
            with contextlib.suppress(Exception):
                await self.lease.save_positions(unsaved)
        self.holding = False
        self._incoming.clear()

    async def _serve(self) -> None:
        await self._supervised(self._take_over)
        workers = [
            asyncio.ensure_future(self._supervised(lambda e=e: self._deliver_forever(e)))
            for e in self.endpoints
        ]
        workers.append(asyncio.ensure_future(self._supervised(self._save_positions)))
        try:
            await self._supervised(self._feed)
        finally:
            for worker in workers:
                await _cancel(worker)

    async def _supervised(self, loop: Callable[[], Awaitable[None]]) -> None:
        """Run ``loop`` until it returns; a failure (the store unavailable, a bug) is logged and
        the loop started again after a pause."""
        backoff = Backoff(first=0.5, cap=10.0)
        while True:
            try:
                return await loop()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("webhooks: sending failed; trying again")
                await backoff.wait()

    # -- taking over ---------------------------------------------------------------------------

    async def _take_over(self) -> None:
        """Where each endpoint resumes: after its position, the later of the lease's (the last
        holder's) and this store's. What this store still queues up to it was sent by another
        holder: dropped. An endpoint with no position yet starts at the cursor (where the last
        holder stopped queueing); it is saved as its position when nothing is queued for it
        here, so that a next holder starts there too."""
        saved = await self.lease.load_positions()
        here = await self.queue.positions()
        fallback: Position | None = None
        self._after, self._here, self._saved, self._unsaved = {}, {}, {}, {}
        for endpoint in self.endpoints:
            key = endpoint.key
            shared = self._position(saved.get(key), "lease")
            own = self._position(here.get(key), "store")
            if shared is not None:
                self._saved[key] = shared
            if shared is not None or own is not None:
                position = max((p for p in (shared, own) if p is not None), key=lambda p: p[0])
                await self._forget_through(key, position)
            else:
                if fallback is None:
                    fallback = self._position(await self._cursor(), "cursor")
                    assert fallback is not None  # the cursor was checked
                position = fallback
            self._after[key] = position
            if own is not None:
                self._here[key] = own
            if shared is None and (own is not None or not await self.queue.queued(key, 1)):
                # (Deliveries queued here before there was a position: saved once one is sent.)
                self._unsaved[key] = position[1]
        if self._unsaved:
            unsaved, self._unsaved = self._unsaved, {}
            await self.lease.save_positions(unsaved)
            self._saved.update((key, self._after[key]) for key in unsaved)

    def _position(self, event_id: str | None, where: str = "") -> Position | None:
        try:
            event_id = EventBus.check_cursor(event_id)
        except ValidationError:
            self.log.warning("webhooks: ignored a position of the %s: not an event id", where)
            return None
        return None if event_id is None else (self.bus.log.order_key(event_id), event_id)

    async def _forget_through(self, key: str, position: Position) -> None:
        """Drop the deliveries queued here for ``key`` up to ``position`` (delivered or given
        up by another holder). A position of another log (Redis lost its stream) drops
        nothing: what is queued here was never sent."""
        order_key = self.bus.log.order_key
        unknown = order_key("")
        if position[0] == unknown:
            return
        while True:
            queued = await self.queue.queued(key, _PAGE)
            stale = [i for i in queued if unknown < order_key(i) <= position[0]]
            if stale:
                await self.queue.forget(key, stale)
                self.log.info(
                    "webhooks: dropped %d deliveries to %s queued here, sent by another instance",
                    len(stale),
                    self._endpoint(key).shown_url,
                )
            if len(stale) < _PAGE:
                return

    def _endpoint(self, key: str) -> Endpoint:
        return next(endpoint for endpoint in self.endpoints if endpoint.key == key)

    # -- queueing --------------------------------------------------------------------------------

    async def _feed(self) -> None:
        """Queue what the log holds after each endpoint's start, then what the bus hands
        over."""
        await self._catch_up()
        while not (self._closing and not self._incoming):
            await self._more.wait()
            self._more.clear()
            batch, self._incoming = self._incoming, []
            await self._enqueue(batch)

    async def _cursor(self) -> str:
        """Where the last holder stopped (the lease's value, else this store's), or the newest
        event when this sender started when nobody queued anything yet."""
        for where, read in (("lease", self.lease.load), ("store", self.queue.cursor)):
            value = await read()
            try:
                cursor = EventBus.check_cursor(value)
            except ValidationError:
                self.log.warning("webhooks: ignored the %s's cursor: not an event id", where)
                cursor = None
            if cursor is not None:
                return cursor
        return self._origin or await self.bus.last_id()

    async def _catch_up(self) -> None:
        log = self.bus.log
        self._seen = min(self._after.values(), key=lambda p: p[0])
        cursor = self._seen[1]
        first = True
        while True:
            page = await log.read(self._patterns, cursor, _PAGE)
            if first and page.reset:
                await self._report_gap(page)
            first = False
            await self._enqueue([EventMessage(e, log.order_key(e["id"])) for e in page.events])
            if page.events:
                cursor = page.events[-1]["id"]
            if len(page.events) < _PAGE:
                return

    async def _report_gap(self, page: Page) -> None:
        """The log no longer keeps every event after the earliest start (or is another log):
        sending resumes at the oldest kept. Each endpoint whose start is before it may have
        missed events; logged, and recorded as one of its failures."""
        oldest = page.events[0]["id"] if page.events else None
        oldest_key = self.bus.log.order_key(oldest) if oldest is not None else None
        for endpoint in self.endpoints:
            after = self._after[endpoint.key]
            if oldest_key is not None and after[0] >= oldest_key:
                continue
            since = f"from the oldest kept ({oldest})" if oldest else "from the next one"
            error = (
                f"the events after this one were no longer kept by the event log when sending "
                f"resumed (event_retention_seconds, or the log was lost); sending {since}"
            )
            self.log.warning("webhooks: %s: %s (after %s)", endpoint.shown_url, error, after[1])
            await self.queue.lost(endpoint.key, after[1], error)

    async def _enqueue(self, batch: list[EventMessage]) -> None:
        """Queue ``batch``'s events to the endpoints they match, each after where that
        endpoint is, and record the cursor."""
        seen = self._seen
        rows: list[tuple[str, str, bytes]] = []
        for message in batch:
            if message.seq <= seen[0]:
                continue  # looked at already (the log was read while the bus handed it over)
            seen = (message.seq, message.id)
            took = self._track(message.envelope)
            for endpoint in self.endpoints:
                if message.seq > self._after[endpoint.key][0] and endpoint.matches(
                    message.channel, message.envelope["type"]
                ):
                    body = messages.body(endpoint.format, message.json, message.envelope, took)
                    rows.append((endpoint.key, message.id, body))
        if seen is self._seen:
            return
        if rows:
            await self.queue.enqueue(rows, seen[1])
            if not await self.lease.save(seen[1]):
                self.log.info("webhooks: lease lost while queueing up to %s", seen[1])
        self._seen = seen
        for key, after in self._after.items():
            if after[0] < seen[0]:
                self._after[key] = seen
        for key in {key for key, _, _ in rows}:
            self._wakes[key].set()

    def _track(self, envelope: dict[str, Any]) -> float | None:
        """Remember when runs start; the seconds a run took, at its end."""
        action = envelope["type"].rpartition(".")[2]
        channel = envelope["channel"]
        if action == "started":
            self._runs[channel] = envelope["time"]
            if len(self._runs) > _RUNS_REMEMBERED:
                self._runs.popitem(last=False)
        elif action in ("completed", "failed"):
            started = self._runs.pop(channel, None)
            if started is not None:
                return max(0.0, envelope["time"] - started)
        return None

    # -- delivering ------------------------------------------------------------------------------

    async def _deliver_forever(self, endpoint: Endpoint) -> None:
        wake = self._wakes[endpoint.key]
        backoff = Backoff(first=self.first_retry, cap=self.max_retry)
        while True:
            wake.clear()
            queued_through = self._after[endpoint.key]
            head = await self.queue.next(endpoint.key, 1)
            if not head:
                # Every matching event up to where it was queued is sent: the position moves
                # there, so that a next holder does not read the log from further back.
                await self._advance(endpoint.key, queued_through)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), 60)
                continue
            delivery = head[0]
            wait = delivery.next_at - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            if time.monotonic() >= self._held_until:
                # The lease was not renewed within its time to live (this process stalled):
                # another instance may hold it. Wait for the renewal, or to be stopped.
                await asyncio.sleep(0.1)
                continue
            async with self._slots:
                status, error = await self._post(endpoint, delivery)
            done = (self.bus.log.order_key(delivery.event_id), delivery.event_id)
            if status is not None and 200 <= status < 300:
                await self.queue.delivered(endpoint.key, delivery, status)
                await self._advance(endpoint.key, done, stored=True)
                continue
            now = time.time()
            deadline = delivery.created + self.retry_seconds
            if now >= deadline:
                self.log.warning(
                    "webhooks: gave up event %s to %s after %d attempts: %s",
                    delivery.event_id,
                    endpoint.shown_url,
                    delivery.attempts + 1,
                    error,
                )
                await self.queue.give_up(endpoint.key, delivery, status, error)
                await self._advance(endpoint.key, done, stored=True)
                continue
            backoff.failures = delivery.attempts  # the attempts before this one
            next_at = min(now + backoff.delay(), deadline)
            await self.queue.attempted(endpoint.key, delivery, status, error, next_at)

    async def _advance(self, key: str, position: Position, *, stored: bool = False) -> None:
        """``key``'s position is ``position`` (ignored unless later): written to the store now
        (unless ``stored`` already, with the delivery), to the lease with the next batch.

        Only the endpoint's delivery task calls this, in order: its position in the store
        never moves back (the order of its queue after a restart depends on it)."""
        here = self._here.get(key)
        if here is None or here[0] < position[0]:
            if not stored:
                await self.queue.set_position(key, position[1])
            self._here[key] = position
        saved = self._saved.get(key)
        if saved is None or saved[0] < position[0]:
            self._saved[key] = position
            self._unsaved[key] = position[1]
            self._save_due.set()

    async def _save_positions(self) -> None:
        """Save the positions of finished deliveries in the lease, in batches: one write per
        round trip, however many deliveries finished meanwhile."""
        while True:
            await self._save_due.wait()
            self._save_due.clear()
            unsaved, self._unsaved = self._unsaved, {}
            try:
                saved = await self.lease.save_positions(unsaved)
            except BaseException:  # (cancelled too: the last save, when serving stops, has them)
                self._unsaved = {**unsaved, **self._unsaved}
                self._save_due.set()
                raise
            if not saved:
                self.log.info("webhooks: lease lost while saving the endpoints' positions")

    async def _post(self, endpoint: Endpoint, delivery: Delivery) -> tuple[int | None, str]:
        """One attempt: the HTTP status (None without one) and what went wrong ("" if
        nothing)."""
        message_id = f"{endpoint.key}_{delivery.event_id}"
        sent = signing.headers(endpoint.secret, message_id, int(time.time()), delivery.body)
        sent["content-type"] = "application/json"
        try:
            async with asyncio.timeout(self.timeout):
                async with self._client.stream(
                    "POST", endpoint.url, content=delivery.body, headers=sent
                ) as response:
                    status = response.status_code  # the body is never read
        except TimeoutError:
            return None, f"no answer within {self.timeout:g} s"
        except (httpx.HTTPError, OSError, ValueError) as e:
            # httpx's messages may quote the URL, which may hold credentials.
            reason = str(e).replace(endpoint.url, endpoint.shown_url)[:200]
            return None, f"{type(e).__name__}: {reason}" if reason else type(e).__name__
        return status, "" if 200 <= status < 300 else f"HTTP {status}"

    # -- status ----------------------------------------------------------------------------------

    async def status(self) -> list[dict[str, Any]]:
        """Each endpoint: ``url`` (as shown), ``channels``, ``types``, ``format``, whether this
        instance is the one ``sending``, and the queue's ``backlog``, ``last_status``,
        ``last_time``, ``last_error`` and given-up ``failures``."""
        shown = []
        for endpoint in self.endpoints:
            shown.append(
                {
                    "url": endpoint.shown_url,
                    "channels": list(endpoint.channels),
                    "types": list(endpoint.types),
                    "format": endpoint.format,
                    "sending": self.holding,
                    **await self.queue.status(endpoint.key),
                }
            )
        return shown


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
