"""The server's own figures, for Prometheus, on Jupyter's ``{base_url}metrics``.

Jupyter Server already serves ``prometheus_client``'s default registry there; this module adds
one collector to it. The hot paths (every frame in and out, every update applied) only add to
plain integers of :data:`METRICS`, and observe into :class:`Histogram`, a list of bucket counts:
no lock, no label lookup, no object per sample. The collector turns them into metric families
when Prometheus scrapes, so the cost of a sample is a dictionary update, paid once per frame (see
``benchmarks/metricscost.py`` for what it costs on the rate workload).

Labels come from small fixed sets only (endpoints, message types, close codes, error codes):
never room names, users or ids, so the number of series stays bounded whatever clients send.
Durations are taken with ``time.monotonic()``; the Redis follow lag compares the wall clocks of
two machines (a stream entry's id is its writer's time), the only clock they share.
"""

from __future__ import annotations

import time
import weakref
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import REGISTRY, Collector

ENDPOINTS = ("rooms", "gateway", "sse")

#: y-websocket message types by their first one or two bytes (message type, sync subtype).
ROOM_MESSAGE_TYPES = {
    b"\x00\x00": "sync_step1",
    b"\x00\x01": "sync_step2",
    b"\x00\x02": "update",
    b"\x01": "awareness",
    b"\x02": "auth",
    b"\x03": "query_awareness",
}

#: Close codes with a label of their own; any other code a client sends counts as "other".
CLOSE_CODES = frozenset((1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1011, 1013))

#: Bucket bounds (seconds) of the latency histograms: 0.5 ms to 10 s.
SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Bucket bounds of the send-queue depth (frames waiting when a socket drains).
DEPTHS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)


class Histogram:
    """Counts per bucket and a sum; ``observe`` is a bisect and two additions."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one: above every bound (+Inf)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, int]]:
        """Cumulative ``(le, count)`` pairs, as Prometheus wants them."""
        out, running = [], 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


class Metrics:
    """The process's counters. Handlers, rooms, the store and the event bus add to them."""

    def __init__(self) -> None:
        self.messages_in: defaultdict[tuple[str, str], int] = defaultdict(int)
        #: Per endpoint, per type: messages and bytes sent (the hottest counters: one pair of
        #: dictionary additions per recipient, see :meth:`sent_counters`).
        self.sent: dict[str, tuple[defaultdict[str, int], defaultdict[str, int]]] = {
            endpoint: (defaultdict(int), defaultdict(int)) for endpoint in ENDPOINTS
        }
        self.bytes_in: defaultdict[str, int] = defaultdict(int)
        self.connections: defaultdict[str, int] = defaultdict(int)
        self.closes: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.refusals: defaultdict[str, int] = defaultdict(int)
        self.updates_applied = 0
        self.events_ingested = 0
        self.events_delivered = 0
        self.connect_seconds = Histogram(SECONDS)
        self.apply_seconds = Histogram(SECONDS)
        self.commit_seconds = Histogram(SECONDS)
        self.send_queue_depth = Histogram(DEPTHS)
        self.redis_lag_seconds = Histogram(SECONDS)

    # -- what the hot paths call -----------------------------------------------------------------

    def room_frame_in(self, frame: bytes) -> None:
        kind = ROOM_MESSAGE_TYPES.get(frame[:2]) or ROOM_MESSAGE_TYPES.get(frame[:1], "other")
        self.messages_in["rooms", kind] += 1
        self.bytes_in["rooms"] += len(frame)

    def frame_in(self, endpoint: str, kind: str, size: int) -> None:
        """``kind`` must come from a fixed set (the caller checks what a client sent)."""
        self.messages_in[endpoint, kind] += 1
        self.bytes_in[endpoint] += size

    def sent_counters(self, endpoint: str) -> tuple[defaultdict[str, int], defaultdict[str, int]]:
        """``(messages, bytes)`` by type sent on ``endpoint``, for a sender to add to directly:
        ``messages[kind] += 1; sizes[kind] += len(frame)``."""
        return self.sent[endpoint]

    def frame_out(self, endpoint: str, kind: str, size: int) -> None:
        messages, sizes = self.sent[endpoint]
        messages[kind] += 1
        sizes[kind] += size

    def opened(self, endpoint: str) -> None:
        self.connections[endpoint] += 1

    def closed(self, endpoint: str, code: int | None) -> None:
        self.connections[endpoint] -= 1
        label = str(code) if code in CLOSE_CODES else ("none" if code is None else "other")
        self.closes[endpoint, label] += 1

    def refused(self, reason: str) -> None:
        """``reason``: an error's ``code`` (a fixed set, see :mod:`.errors`)."""
        self.refusals[reason] += 1


#: The one set of counters of this process (a Prometheus scrape is per process too).
METRICS = Metrics()


class Timer:
    """``with Timer(histogram):`` observes the block's duration (monotonic clock)."""

    __slots__ = ("_histogram", "_start")

    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram

    def __enter__(self) -> None:
        self._start = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        self._histogram.observe(time.monotonic() - self._start)


# -- exposition ------------------------------------------------------------------------------------

#: What the gauges read: each running extension app gives a callable returning
#: ``(rooms open, rooms in memory)``.
_room_counts: weakref.WeakKeyDictionary[Any, Callable[[], tuple[int, int]]] = (
    weakref.WeakKeyDictionary()
)


def watch_rooms(owner: Any, counts: Callable[[], tuple[int, int]]) -> None:
    """Report ``counts()`` in the room gauges while ``owner`` (an app) lives."""
    _room_counts[owner] = counts


def unwatch_rooms(owner: Any) -> None:
    _room_counts.pop(owner, None)


def _counter(name: str, doc: str, labels: Sequence[str], values: dict[Any, int]) -> Metric:
    family = CounterMetricFamily(name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key) if isinstance(key, tuple) else [key], value)
    return family


def _histogram(name: str, doc: str, histogram: Histogram) -> Metric:
    family = HistogramMetricFamily(name, doc)
    family.add_metric([], histogram.buckets(), histogram.total)
    return family


class OmniForgeCollector(Collector):
    """Reads :data:`METRICS` (and the rooms of running apps) when Prometheus scrapes."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        open_rooms = in_memory = 0
        for counts in list(_room_counts.values()):
            opened, loaded = counts()
            open_rooms += opened
            in_memory += loaded
        yield GaugeMetricFamily(
            "omniforge_rooms_open", "Rooms with at least one connection.", value=open_rooms
        )
        yield GaugeMetricFamily(
            "omniforge_rooms_in_memory",
            "Rooms loaded in memory (open ones and those waiting to close when idle).",
            value=in_memory,
        )
        connections = GaugeMetricFamily(
            "omniforge_connections", "Open connections by endpoint.", labels=["endpoint"]
        )
        for endpoint in ENDPOINTS:
            connections.add_metric([endpoint], m.connections.get(endpoint, 0))
        yield connections
        yield _counter(
            "omniforge_messages_in",
            "Messages received, by endpoint and type.",
            ["endpoint", "type"],
            dict(m.messages_in),
        )
        yield _counter(
            "omniforge_messages_out",
            "Messages sent (one per recipient), by endpoint and type.",
            ["endpoint", "type"],
            {(e, k): n for e, (messages, _) in m.sent.items() for k, n in list(messages.items())},
        )
        yield _counter(
            "omniforge_received_bytes", "Message bytes received.", ["endpoint"], dict(m.bytes_in)
        )
        yield _counter(
            "omniforge_sent_bytes",
            "Frame bytes sent.",
            ["endpoint"],
            {e: sum(list(sizes.values())) for e, (_, sizes) in m.sent.items()},
        )
        yield CounterMetricFamily(
            "omniforge_updates_applied",
            "Yjs updates applied to rooms (from clients, the API, the server and other instances).",
            value=m.updates_applied,
        )
        yield CounterMetricFamily(
            "omniforge_events_ingested",
            "Events accepted on this instance (REST, gateway, Python, the server).",
            value=m.events_ingested,
        )
        yield CounterMetricFamily(
            "omniforge_events_delivered",
            "Events sent to clients (gateway and Server-Sent Events), live or replayed, one per client.",
            value=m.events_delivered,
        )
        yield _counter(
            "omniforge_closes",
            "Connections closed, by endpoint and close code (the server's, else the client's).",
            ["endpoint", "code"],
            dict(m.closes),
        )
        yield _counter(
            "omniforge_refusals",
            "Requests, connections and messages refused, by reason (an error code).",
            ["reason"],
            dict(m.refusals),
        )
        yield _histogram(
            "omniforge_connect_seconds",
            "From a room connection's request to the server's sync step 2.",
            m.connect_seconds,
        )
        yield _histogram(
            "omniforge_apply_seconds",
            "Applying a batch of updates to a room's document.",
            m.apply_seconds,
        )
        yield _histogram(
            "omniforge_store_commit_seconds",
            "Committing a batch of room updates to the store.",
            m.commit_seconds,
        )
        yield _histogram(
            "omniforge_send_queue_depth",
            "Frames waiting for a slow socket when it drains.",
            m.send_queue_depth,
        )
        yield _histogram(
            "omniforge_redis_follow_lag_seconds",
            "From a Redis stream entry's time to this instance reading it (wall clocks).",
            m.redis_lag_seconds,
        )


_COLLECTOR = OmniForgeCollector(METRICS)
_registered = False


def register() -> None:
    """Add the collector to Jupyter's registry (once per process)."""
    global _registered
    if not _registered:
        REGISTRY.register(_COLLECTOR)
        _registered = True


def samples(text: str, names: Iterable[str] = ()) -> dict[str, float]:
    """``{"name{labels}": value}`` of a Prometheus text scrape (the tests and the benchmark
    read /metrics with it)."""
    wanted = tuple(names)
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if not wanted or key.startswith(wanted):
            out[key] = float(value)
    return out
