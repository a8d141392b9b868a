"""Redis as the hot path in front of a shared store: the lease holder of a room persists the
room's streams into the store, trims them, and lets an idle room leave Redis.

When the instances share their store (PostgreSQL, or one SQLite file several servers on one
host open), that store is the system of record and Redis only carries what is new:

- rooms write nothing to the store themselves (:class:`SharedRoomStore`): every update an
  instance applies for its clients goes to its Redis stream, as in the Redis-only mode;
- the instance holding a room's lease (``room:{room}:lease``, the fold's) persists the entries
  of every writer's stream that the store lacks, with the room's *marker* — the last stream id
  persisted of each writer, and the Redis epoch — in one store transaction that only commits
  if the marker is still the one it read (:meth:`RoomStore.persist`). A holder killed at any
  point leaves either both or neither, and the next one starts from the marker: no update is
  lost or persisted twice;
- the persists that fall due together are done together (:meth:`StreamPersister.persist`):
  one pipeline taking their leases, one read of their markers, one pipeline reading their
  streams, one store transaction
  (:meth:`RoomStore.persist_many`: each room still commits only if its marker is the one read),
  one pipeline trimming them. A room whose entries cannot be read, or whose rows the store
  refuses, fails alone;
- each entry carries who sent its update (field ``a``, written by the instance whose client
  sent it), and the row persisted from it keeps that author, as a row the SQLite store
  appends does: history and blame read the store's rows after a restart. An author that is
  not what we write (:func:`.entries.room_author`) is counted and the row stored with none;
- persisted entries older than ``trim_grace`` are trimmed from the streams, so Redis holds the
  recent tail only; a room that opens reads the store, then whatever the streams still hold
  (an entry in both is applied twice, which a CRDT ignores);
- a room with no new entry for ``ttl`` seconds, all of it persisted and open on no live
  instance, leaves Redis entirely (one script checks and deletes its keys atomically). A
  sweep (one instance at a time) goes over the rooms in Redis: it persists what no writer
  persisted (an instance died before its idle fold) and removes the idle rooms.

Everything read back from Redis or the marker is checked as :mod:`.entries` does.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ... import strictjson
from ...errors import InvalidRoomName
from ...names import parse_room_name
from ...store.base import Persist, RoomStore
from . import entries
from .connection import TRANSIENT, RedisConnection
from .entries import MalformedCounts, MalformedEntry

if TYPE_CHECKING:
    from .instances import Instances
    from .leases import RedisLease
    from .rooms import RoomStreams, Stream

#: How far Redis's clock may be ahead of ours, in seconds (as entries.py allows).
_CLOCK_SKEW = 24 * 3600

#: Rooms the sweep folds at once (RoomStreams bounds the folds running anyway).
_SWEEP_BATCH = 64

#: Rooms persisted in one batch at most (one store transaction, one pipeline of reads).
_ROOMS_PER_BATCH = 128

# Delete a room's keys if it is exactly as the persister last read it: the same writers, each
# stream ending at the same entry (so all of it is persisted). One room: one Redis Cluster slot,
# and every key it touches is in KEYS. With them go the room's snapshot and the authors of its
# Yjs clients (history.py: known to the store by now). KEYS: writers set, snapshot, clients,
# then each writer's stream; ARGV: for each stream in that order, its writer and last id (""
# for an empty stream). Returns 1 when deleted.
_EXPIRE_ROOM = """
if redis.call('TYPE', KEYS[1])['ok'] ~= 'set' then return 0 end
if redis.call('SCARD', KEYS[1]) ~= #ARGV / 2 then return 0 end
local keys = {KEYS[1], KEYS[2], KEYS[3]}
for i = 1, #ARGV, 2 do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then return 0 end
  local stream = KEYS[3 + (i + 1) / 2]
  local kind = redis.call('TYPE', stream)['ok']
  local last = ''
  if kind == 'stream' then
    local newest = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
    if #newest > 0 then last = newest[1][1] end
  elseif kind ~= 'none' then
    return 0
  end
  if last ~= ARGV[i + 1] then return 0 end
  keys[#keys + 1] = stream
end
redis.call('DEL', unpack(keys))
return 1
"""


class StoreUnavailable(Exception):
    """The shared store refused a persist; the entries stay in Redis and are retried."""


class LeaseHeld(Exception):
    """Another instance holds the room's lease (it is persisting the room, or died doing so)."""


@dataclass
class _Plan:
    """What persisting one room takes, worked out from its marker and its streams."""

    room: str
    #: The marker read (the persist commits only if it is still this one), and its cursors.
    expected: str | None
    persisted: dict[str, str]
    #: A snapshot the Redis-only mode folded (persisted first), or None.
    data: bytes | None
    #: What the store lacks, in the order Redis took it, each with its author.
    updates: list[tuple[bytes, str]]
    #: Each writer's stream id persisted through once this commits; its stream's last entry.
    cursors: dict[str, str]
    tails: dict[str, str]
    streams: dict[str, Stream]


class StreamPersister:
    """Persists rooms' Redis streams into the shared ``store``, trims them, expires idle rooms.

    :attr:`problem` is "" while persisting works, else why not (for ``health/ready``)."""

    def __init__(
        self,
        connection: RedisConnection,
        streams: RoomStreams,
        store: RoomStore,
        instances: Instances,
        *,
        ttl: float,
        malformed: MalformedCounts,
        log: logging.Logger,
    ) -> None:
        self._connection = connection
        self._streams = streams
        self._store = store
        self._instances = instances
        self.ttl = ttl
        self._malformed = malformed
        self._log = log
        self._expire: Any = None
        #: "" while the store takes what is persisted; otherwise the last error.
        self.problem = ""
        #: Counters for tests and monitoring.
        self.persisted_updates = 0
        self._open: set[str] = set()
        self._open_read = -math.inf
        self.expired_rooms = 0
        #: Batches persisted (each one store transaction), for tests and monitoring.
        self.batches = 0
        # The rooms waiting for the next batch, and the task running the batches.
        self._waiting: list[tuple[str, asyncio.Future[bool]]] = []
        self._batcher: asyncio.Task[None] | None = None

    # -- the marker ------------------------------------------------------------------------------

    def _read_marker(self, room: str, text: str | None) -> dict[str, str]:
        """The per-writer stream ids a marker says are persisted; {} when it is of another
        Redis epoch (Redis lost its data: its new ids mean nothing against the old ones, and
        persisting an entry again is harmless) or not a marker we write."""
        if text is None:
            return {}
        try:
            value = entries.json_value(text, "persisted marker")
            if not isinstance(value, dict) or not isinstance(value.get("streams"), dict):
                raise MalformedEntry("persisted marker is not {epoch, streams}")
            if value.get("epoch") != self._connection.epoch:
                return {}
            cursors, dropped = entries.snapshot_cursors(strictjson.dumps(value["streams"]))
        except MalformedEntry as e:
            self._log.warning("room %s: its persisted marker is unreadable (%s): ignored", room, e)
            return {}
        for reason in dropped:
            self._log.warning(
                "room %s: a cursor of its persisted marker was dropped: %s", room, reason
            )
        return cursors

    def _marker(self, cursors: dict[str, str]) -> str:
        return strictjson.dumps(
            {"epoch": self._connection.epoch, "streams": dict(sorted(cursors.items()))}
        )

    # -- persisting a room (under its lease) -----------------------------------------------------

    async def persist(self, room: str) -> bool:
        """Under the room's lease: persist what the store lacks of ``room``'s streams, trim
        them, and let the room leave Redis if it is idle. True when something was persisted.
        Raises :class:`LeaseHeld` when another instance holds the lease,
        :class:`StoreUnavailable` when the store refused.

        The rooms asked for while a batch runs wait for the next one, which persists them
        all at once (their leases taken and given back in one pipeline each): the more
        persists fall due together, the fewer round trips each."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((room, future))
        if self._batcher is None or self._batcher.done():
            self._batcher = asyncio.ensure_future(self._run_batches())
        return await future

    async def close(self) -> None:
        """Stop persisting: the rooms waiting are cancelled (their entries stay in Redis)."""
        if self._batcher is not None and not self._batcher.done():
            self._batcher.cancel()
            await asyncio.gather(self._batcher, return_exceptions=True)
        for _, future in self._waiting:
            future.cancel()
        self._waiting.clear()

    async def _run_batches(self) -> None:
        await asyncio.sleep(0)  # the persists asked for in this turn of the loop come along
        while self._waiting:
            batch = self._waiting[:_ROOMS_PER_BATCH]
            del self._waiting[:_ROOMS_PER_BATCH]
            waiting: dict[str, list[asyncio.Future[bool]]] = {}
            for room, future in batch:
                if not future.done():  # (its fold was cancelled)
                    waiting.setdefault(room, []).append(future)
            if not waiting:
                continue
            try:
                results = await self._persist_leased(list(waiting))
            except asyncio.CancelledError:
                for futures in waiting.values():
                    for future in futures:
                        future.cancel()
                raise
            except Exception as e:  # a bug: each fold reports it
                results = [e] * len(waiting)
            for futures, result in zip(waiting.values(), results, strict=True):
                for future in futures:
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)

    async def _persist_leased(self, rooms: list[str]) -> list[bool | Exception]:
        """:meth:`_persist_batch` of those of ``rooms`` whose lease this instance takes; the
        others get :class:`LeaseHeld`. The leases are given back after (a batch cut short
        leaves them to expire)."""
        try:
            tokens = await self._streams.take_leases(rooms)
        except TRANSIENT as e:
            return [e] * len(rooms)
        held = [room for room in rooms if room in tokens]
        try:
            done = dict(zip(held, await self._persist_batch(held), strict=True)) if held else {}
        finally:
            if tokens:
                try:
                    await self._streams.release_leases(tokens)
                except TRANSIENT as e:  # they expire
                    self._log.warning("the leases of %s were not given back: %s", _rooms(held), e)
        return [done[room] if room in done else LeaseHeld(room) for room in rooms]

    async def _persist_batch(self, rooms: list[str]) -> list[bool | Exception]:
        """Persist ``rooms`` (their leases held), each as :meth:`persist` says; for each,
        what it returns or the error it raises."""
        self.batches += 1
        try:
            markers = await self._store.persisted_markers(rooms)
        except Exception as e:
            return [self._unavailable(_rooms(rooms), e)] * len(rooms)
        try:
            reads = await self._streams.read_many(rooms)
        except TRANSIENT as e:
            return [e] * len(rooms)
        results: dict[str, bool | Exception] = {}
        plans: list[_Plan] = []
        for room, read in zip(rooms, reads, strict=True):
            if isinstance(read, Exception):
                results[room] = read
                continue
            try:
                plans.append(self._plan(room, markers[room], *read))
            except Exception as e:  # that room alone
                results[room] = e
        writes = [plan for plan in plans if plan.updates or plan.cursors != plan.persisted]
        refused = False
        if writes:
            persists = [
                Persist(plan.room, plan.updates, self._marker(plan.cursors), plan.expected)
                for plan in writes
            ]
            try:
                outcomes = await self._store.persist_many(persists)
            except Exception as e:  # none could be tried (the store is away): said once
                error = self._unavailable(_rooms([plan.room for plan in writes]), e)
                outcomes = [error] * len(writes)
            for plan, outcome in zip(writes, outcomes, strict=True):
                if isinstance(outcome, StoreUnavailable):
                    results[plan.room] = outcome
                    refused = True
                elif isinstance(outcome, Exception):
                    results[plan.room] = self._unavailable(_rooms([plan.room]), outcome)
                    refused = True
                elif not outcome:
                    self._log.info("room %s: persisted by another instance meanwhile", plan.room)
                    results[plan.room] = False
                else:
                    self.persisted_updates += len(plan.updates)
        done = [plan for plan in plans if plan.room not in results]
        if done and not refused:
            if self.problem:
                self._log.info("the shared store takes the rooms' updates again")
            self.problem = ""
        try:
            await self._after_persist(done)
        except TRANSIENT as e:
            for plan in done:
                results[plan.room] = e
        for plan in done:
            if plan.room in results:
                continue
            try:
                await self._expire_if_idle(plan.room, plan.tails)
            except Exception as e:
                results[plan.room] = e
                continue
            results[plan.room] = bool(plan.updates)
        return [results[room] for room in rooms]

    def _plan(
        self,
        room: str,
        marker_text: str | None,
        data: bytes | None,
        last: dict[str, str],
        streams: dict[str, Stream],
    ) -> _Plan:
        """What the store lacks of ``room``, given its marker and what Redis holds."""
        connection = self._connection
        persisted = self._read_marker(room, marker_text)
        updates: list[tuple[bytes, str]] = [(data, "")] if data else []
        # Every writer's new entries, to be stored in the order Redis took them (its clock
        # gives every stream's ids): an update a client sent back to another instance after
        # receiving it (an echo, credited there to that client's user) comes after the
        # original, so the history credits the update to whoever sent it first.
        new: list[tuple[tuple[int, int], str, bytes, str]] = []
        cursors: dict[str, str] = {}
        tails: dict[str, str] = {}  # writer -> its stream's last entry ("" none)
        # An id ahead of time was not given by Redis's clock (someone wrote it): it would move
        # the marker past every entry to come. Such entries are skipped, and stay.
        latest_ms = (time.time() + _CLOCK_SKEW) * 1000
        for writer, (kept, tail) in streams.items():
            done = entries.parse_stream_id(persisted.get(writer, "0-0"))
            cursor = max(done, entries.parse_stream_id(last.get(writer, "0-0")))
            for sid, update, author in kept:
                parsed = entries.parse_stream_id(sid)
                if parsed[0] > latest_ms:
                    where = f"{connection.room_log(room, writer)} {sid}"
                    self._malformed.skip("room_updates", where, "its id lies in the future")
                    continue
                if parsed > done:
                    new.append((parsed, writer, update, author))
                cursor = max(cursor, parsed)
            if tail is not None and entries.parse_stream_id(tail)[0] <= latest_ms:
                cursor = max(cursor, entries.parse_stream_id(tail))
            tails[writer] = tail or ""
            cursors[writer] = f"{cursor[0]}-{cursor[1]}"
        new.sort(key=lambda entry: entry[:2])
        updates += [(update, author) for _, _, update, author in new]
        return _Plan(room, marker_text, persisted, data, updates, cursors, tails, streams)

    async def _after_persist(self, plans: list[_Plan]) -> None:
        """Once the store holds them: drop the snapshots the Redis-only mode folded, trim the
        rooms' streams."""
        if not plans:
            return
        connection = self._connection
        snapshots = [connection.room_key(plan.room, "snap") for plan in plans if plan.data]
        if snapshots:
            # One DEL per key: the rooms' keys lie in different Redis Cluster slots.
            async with connection.redis.pipeline(transaction=False) as pipe:
                for key in snapshots:
                    pipe.delete(key)
                await pipe.execute()
        await self._streams.trim_many([(plan.room, plan.cursors, plan.streams) for plan in plans])

    def _unavailable(self, what: str, error: BaseException) -> StoreUnavailable:
        """``what`` ("room R", "N rooms") could not be persisted: why, for health/ready."""
        reason = f"the shared store refused the updates of {what}: {error or type(error).__name__}"
        if self.problem != reason:
            self._log.warning("%s; they stay in Redis and are retried", reason)
        self.problem = reason
        return StoreUnavailable(reason)

    async def _open_rooms(self) -> set[str]:
        """The rooms the live instances have open, by their heartbeats (read at most once a
        second: a sweep asks for each room)."""
        now = time.monotonic()
        if now - self._open_read >= 1.0:
            self._open = {
                room for info in await self._instances.list() for room in info.get("rooms", ())
            }
            self._open_read = now
        return self._open

    async def _expire_if_idle(self, room: str, tails: dict[str, str]) -> bool:
        """Delete the room's keys if nothing was appended for :attr:`ttl` seconds and no live
        instance has it open (it is all persisted: the caller just did)."""
        newest = max(
            (entries.parse_stream_id(tail)[0] for tail in tails.values() if tail), default=0
        )
        if newest > (time.time() - self.ttl) * 1000:
            return False
        if room in await self._open_rooms():
            return False  # open there: it would not enrol again with its next update
        connection = self._connection
        if self._expire is None:
            self._expire = connection.register_script(_EXPIRE_ROOM)
        keys = [
            connection.room_writers(room),
            connection.room_key(room, "snap"),
            connection.room_key(room, "clients"),
        ]
        args: list[str] = []
        for writer, tail in sorted(tails.items()):
            keys.append(connection.room_log(room, writer))
            args += (writer, tail)
        deleted = await self._expire(keys=keys, args=args)
        if deleted == 1:
            self.expired_rooms += 1
            self._log.debug("room %s left Redis (idle, persisted)", room)
            return True
        return False

    # -- the sweep -------------------------------------------------------------------------------

    async def rooms_in_redis(self) -> list[str]:
        """The rooms with keys in Redis (found by their writers sets; untrusted names that are
        not room names are skipped)."""
        prefix = re.sub(r"([*?\[\]\\])", r"\\\1", self._connection.prefix)  # glob-escaped
        pattern = f"{prefix}:room:{{*}}:writers"
        start = len(self._connection.room_writers("")) - len("{}:writers")
        rooms = []
        async for raw in self._connection.redis.scan_iter(match=pattern, count=1000):
            key = entries.stream_id(raw)
            room = key[start:].removeprefix("{").removesuffix("}:writers")
            try:
                if key != self._connection.room_writers(room):
                    raise InvalidRoomName("not one room's key")
                parse_room_name(room)
            except InvalidRoomName as e:
                self._malformed.skip("writers", key[:300], f"not a room's writers set: {e}")
                continue
            rooms.append(room)
        return rooms

    async def sweep(self, lease: RedisLease, interval: float) -> None:
        """Forever, every ``interval`` seconds, while this instance holds ``lease``: persist
        every room in Redis and let the idle ones leave."""
        while True:
            try:
                if await lease.hold():
                    rooms = await self.rooms_in_redis()
                    for start in range(0, len(rooms), _SWEEP_BATCH):
                        batch = rooms[start : start + _SWEEP_BATCH]
                        await asyncio.gather(*(self._streams.fold(room) for room in batch))
                        if not await lease.hold():
                            break
            except TRANSIENT as e:
                self._log.warning("the sweep of rooms in Redis stopped early: %s", e)
            await asyncio.sleep(interval)


def _rooms(rooms: list[str]) -> str:
    """The rooms of a batch, for a log line: the room, or how many."""
    return f"room {rooms[0]}" if len(rooms) == 1 else f"{len(rooms)} rooms"


class SharedRoomStore(RoomStore):
    """The room store as the rooms see it when Redis is in front of a shared store: reads go
    to the store; appends go nowhere, because the update is in the instance's Redis stream
    already (the outbox sends it), and the room's lease holder persists it from there."""

    shared = True

    def __init__(self, store: RoomStore) -> None:
        self.store = store

    @property
    def before_compaction(self):  # type: ignore[override]
        return self.store.before_compaction

    @before_compaction.setter
    def before_compaction(self, hook) -> None:
        self.store.before_compaction = hook

    async def start(self) -> None:
        pass  # the store starts with its Store

    async def close(self) -> None:
        pass  # and closes with it

    def append(self, room: str, update: bytes, *, author: str = "", relaxed: bool = False) -> None:
        pass

    async def flush(self) -> None:
        pass

    async def load(self, room: str) -> list[bytes]:
        return await self.store.load(room)

    async def load_authored(self, room: str) -> list[tuple[bytes, str]]:
        return await self.store.load_authored(room)

    async def compact(self, room: str) -> None:
        await self.store.compact(room)

    async def quarantine(self, room: str, update: bytes, reason: str) -> None:
        await self.store.quarantine(room, update, reason)

    async def delete(self, room: str) -> None:
        await self.store.delete(room)

    async def stored_rooms(self) -> list[str]:
        return await self.store.stored_rooms()

    async def stats(self, room: str) -> dict[str, int]:
        return await self.store.stats(room)

    async def persist(
        self, room: str, updates: list[tuple[bytes, str]], marker: str, *, expected: str | None
    ) -> bool:
        return await self.store.persist(room, updates, marker, expected=expected)

    async def persisted_marker(self, room: str) -> str | None:
        return await self.store.persisted_marker(room)

    async def persist_many(self, persists: Sequence[Persist]) -> list[bool | Exception]:
        return await self.store.persist_many(persists)

    async def persisted_markers(self, rooms: Iterable[str]) -> dict[str, str | None]:
        return await self.store.persisted_markers(rooms)
