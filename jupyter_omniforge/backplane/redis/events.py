"""The event log in one Redis stream: one cursor serves any set of channels, on any instance."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from redis.exceptions import RedisError, ResponseError

from ... import strictjson
from ...backoff import Backoff
from ...errors import BackplaneUnavailable
from ...events.channels import ChannelMatcher
from ...store.base import Page
from . import entries
from .connection import BLOCK_MS, TRANSIENT, RedisConnection, is_wrong_type
from .entries import MalformedCounts, MalformedEntry

_CHUNK = 1000  # entries read per XRANGE / XREAD


class RedisEventLog:
    """Events in the stream ``events``; ids are ``{stream id}@{epoch}``.

    Every instance reads the stream and hands each entry, its own included, to
    :attr:`listener` in stream order. Malformed entries are skipped (and counted) wherever they
    are read: by the follower, by history and by replay.
    """

    def __init__(
        self,
        connection: RedisConnection,
        instance_id: str,
        *,
        malformed: MalformedCounts,
        max_len: int,
        max_age: float,
        log: logging.Logger,
    ) -> None:
        self._connection = connection
        self._instance = instance_id
        self._malformed = malformed
        self.max_len = max_len
        self.max_age = max_age
        self._log = log
        #: Called with each event's envelope (with its id), in stream order.
        self.listener: Callable[[dict[str, Any]], None] = lambda envelope: None

    @property
    def _stream(self) -> str:
        return self._connection.key("events")

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def order_key(self, event_id: str) -> tuple[int, int]:
        sid, _, epoch = event_id.partition("@")
        try:
            key = entries.parse_stream_id(sid)
        except MalformedEntry:
            return (-1, -1)
        if epoch and epoch != self._connection.epoch:
            return (-1, -1)
        return key

    def _envelope(self, entry_id: Any, fields: Any) -> dict[str, Any] | None:
        """The envelope of an entry, or None (skipped and counted) when it is malformed."""
        sid = entries.stream_id(entry_id)
        try:
            return entries.event(
                fields,
                f"{sid}@{self._connection.epoch}",
                unseal=lambda payload: self._connection.unseal(payload, "event"),
            )
        except MalformedEntry as e:
            self._malformed.skip("events", f"{self._stream} {sid}", e)
            return None

    async def append(self, envelope: dict[str, Any]) -> dict[str, Any]:
        """Add to the shared stream; every instance (this one too) delivers it from there.
        redis-py retries with backoff; :class:`BackplaneUnavailable` if that is not enough."""
        body = self._connection.seal(strictjson.dumps(envelope).encode(), "event")
        redis = self._connection.redis
        fields = {"i": self._instance, "e": body}
        try:
            try:
                entry_id = await redis.xadd(
                    self._stream, fields, maxlen=self.max_len, approximate=True
                )
            except ResponseError as e:
                if not is_wrong_type(e):
                    raise
                # Someone wrote over the stream: start a new one (its cursors get a reset).
                self._malformed.skip("events", None, f"{self._stream} is not a stream: deleted it")
                await self._connection.drop_unless_type(self._stream, "stream")
                entry_id = await redis.xadd(
                    self._stream, fields, maxlen=self.max_len, approximate=True
                )
        except TRANSIENT as e:
            raise BackplaneUnavailable(f"could not store the event: {e}") from e
        return {"id": f"{entries.stream_id(entry_id)}@{self._connection.epoch}", **envelope}

    async def append_many(self, envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add several in one MULTI/EXEC: all or none, in order, contiguous in the stream."""
        bodies = [
            {"i": self._instance, "e": self._connection.seal(strictjson.dumps(e).encode(), "event")}
            for e in envelopes
        ]
        try:
            try:
                entry_ids = await self._xadd_all(bodies)
            except ResponseError as e:
                if not is_wrong_type(e):
                    raise
                self._malformed.skip("events", None, f"{self._stream} is not a stream: deleted it")
                await self._connection.drop_unless_type(self._stream, "stream")
                entry_ids = await self._xadd_all(bodies)
        except TRANSIENT as e:
            raise BackplaneUnavailable(f"could not store the events: {e}") from e
        epoch = self._connection.epoch
        return [
            {"id": f"{entries.stream_id(entry_id)}@{epoch}", **envelope}
            for entry_id, envelope in zip(entry_ids, envelopes, strict=True)
        ]

    async def _xadd_all(self, bodies: list[dict[str, Any]]) -> list[Any]:
        async with self._connection.redis.pipeline(transaction=True) as pipe:
            for fields in bodies:
                pipe.xadd(self._stream, fields, maxlen=self.max_len, approximate=True)
            return await pipe.execute()

    async def follow(self) -> None:
        """Deliver every entry of the stream to the listener, in order, forever."""
        connection = self._connection
        reader = connection.client(read_timeout=connection.blocking_read_timeout, retries=0)
        backoff = Backoff()
        epoch = connection.epoch
        try:
            last = entries.stream_id(
                (await connection.redis.xinfo_stream(self._stream))["last-generated-id"]
            )
        except RedisError:
            last = "0-0"  # no stream yet
        try:
            while True:
                try:
                    results = await reader.xread({self._stream: last}, count=_CHUNK, block=BLOCK_MS)
                    backoff.reset()
                except TRANSIENT as e:
                    if is_wrong_type(e):
                        self._malformed.skip("events", self._stream, "not a stream")
                    await backoff.wait()
                    try:
                        await connection.check_epoch()
                    except TRANSIENT:
                        pass
                    continue
                if connection.epoch != epoch:
                    epoch, last = connection.epoch, "0-0"  # Redis lost the stream: start over
                    continue
                for _, batch in results or []:
                    for entry_id, fields in batch:
                        last = entries.stream_id(entry_id)
                        envelope = self._envelope(entry_id, fields)
                        if envelope is None:
                            continue
                        try:
                            self.listener(envelope)
                        except Exception:
                            self._log.exception("event listener failed")
        finally:
            await reader.aclose()

    async def trim(self) -> None:
        """Delete events older than ``max_age``."""
        cutoff_ms = int((time.time() - self.max_age) * 1000)
        try:
            await self._connection.redis.xtrim(self._stream, minid=f"{cutoff_ms}-0")
        except TRANSIENT as e:
            if not is_wrong_type(e):
                raise
            self._malformed.skip("events", self._stream, "not a stream")

    async def last_id(self) -> str:
        try:
            info = await self._connection.redis.xinfo_stream(self._stream)
            return f"{entries.stream_id(info['last-generated-id'])}@{self._connection.epoch}"
        except RedisError:
            return f"0-0@{self._connection.epoch}"

    async def read(self, patterns: Iterable[str], after: str | None, limit: int = 1000) -> Page:
        try:
            return await self._read(ChannelMatcher(list(patterns)), after, limit)
        except TRANSIENT as e:
            if not is_wrong_type(e):
                raise
            self._malformed.skip("events", self._stream, "not a stream")
            return Page([], after not in (None, "", "0"))

    async def _read(self, matches: ChannelMatcher, after: str | None, limit: int) -> Page:
        redis = self._connection.redis
        try:
            info = await redis.xinfo_stream(self._stream)
        except RedisError:
            info = None
        events: list[dict[str, Any]] = []
        if after in (None, ""):
            end = "+"
            while len(events) < limit:
                chunk = await redis.xrevrange(self._stream, end, "-", count=_CHUNK)
                for entry_id, fields in chunk:
                    envelope = self._envelope(entry_id, fields)
                    if envelope is not None and matches(envelope["channel"]):
                        events.append(envelope)
                if len(chunk) < _CHUNK:
                    break
                ms, seq = entries.parse_stream_id(entries.stream_id(chunk[-1][0]))
                end = f"({ms}-{seq}"
            return Page(events[:limit][::-1], False)
        start = self._start_after(after, info)
        reset = start is None
        if start is None:
            start = "-"
        while len(events) < limit:
            chunk = await redis.xrange(self._stream, start, "+", count=_CHUNK)
            for entry_id, fields in chunk:
                envelope = self._envelope(entry_id, fields)
                if envelope is not None and matches(envelope["channel"]):
                    events.append(envelope)
            if len(chunk) < _CHUNK:
                break
            start = f"({entries.stream_id(chunk[-1][0])}"
        return Page(events[:limit], reset)

    def _start_after(self, after: str, info: dict[Any, Any] | None) -> str | None:
        """The XRANGE start for a cursor, or None when the cursor is older than what is kept,
        from another epoch, or unknown."""
        if after == "0":
            return "-"
        sid, _, epoch = after.partition("@")
        try:
            cursor = entries.parse_stream_id(sid)
        except MalformedEntry:
            return None
        if epoch != self._connection.epoch:
            return None
        if info is None:
            return "-" if cursor == (0, 0) else None
        last = entries.parse_stream_id(entries.stream_id(info["last-generated-id"]))
        deleted = entries.parse_stream_id(
            entries.stream_id(info.get("max-deleted-entry-id", b"0-0"))
        )
        if cursor > last or cursor < deleted:
            return None
        return f"({sid}" if cursor != (0, 0) else "-"
