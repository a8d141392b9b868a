"""Rooms over Redis streams: reading a room, following the other writers, folding the streams."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from ... import strictjson
from ...backoff import Backoff
from ...metrics import METRICS
from ...store.compaction import CorruptUpdateError, fold_updates
from ..base import RoomSink
from . import entries
from .connection import BLOCK_MS, TRANSIENT, RedisConnection, is_wrong_type
from .entries import MalformedCounts, MalformedEntry
from .leases import RELEASE_LEASE, TAKE_LEASE
from .outbox import Outbox
from .persistence import LeaseHeld, StoreUnavailable

if TYPE_CHECKING:
    from .persistence import StreamPersister

#: How long a fold may hold a room's lease, in milliseconds.
LEASE_MS = 30_000

# Read a room atomically: its snapshot hash, then each writer's id and whole stream. A key that
# holds another type than ours is answered with false (nil) instead of failing the whole read.
# Every key it touches is in KEYS (a Redis Cluster routes by them; the room's keys share its
# slot), so the caller names the writers beforehand: when the writers set's members are not
# exactly those, it answers {false, 'writers', member, ...} and the caller asks again with them.
# KEYS: snapshot, writers set, then each writer's stream; ARGV: those writers, in that order.
# Returns {snapshot fields or nil, 1 if the writers key is a set or absent, writer, entries or
# nil, writer, entries or nil, ...}.
_READ_ROOM = """
local writers = redis.call('TYPE', KEYS[2])['ok']
if writers == 'set' then
  local same = redis.call('SCARD', KEYS[2]) == #ARGV
  for i = 1, #ARGV do
    if not same then break end
    same = redis.call('SISMEMBER', KEYS[2], ARGV[i]) == 1
  end
  if not same then
    local reply = {false, 'writers'}
    for _, writer in ipairs(redis.call('SMEMBERS', KEYS[2])) do reply[#reply + 1] = writer end
    return reply
  end
end
local reply = {}
local snap = redis.call('TYPE', KEYS[1])['ok']
if snap == 'hash' then
  reply[1] = redis.call('HGETALL', KEYS[1])
elseif snap == 'none' then
  reply[1] = {}
else
  reply[1] = false
end
reply[2] = (writers == 'set' or writers == 'none') and 1 or 0
if writers == 'set' then
  for i = 1, #ARGV do
    local stream = KEYS[2 + i]
    local kind = redis.call('TYPE', stream)['ok']
    reply[#reply + 1] = ARGV[i]
    if kind == 'stream' then
      reply[#reply + 1] = redis.call('XRANGE', stream, '-', '+')
    elseif kind == 'none' then
      reply[#reply + 1] = {}
    else
      reply[#reply + 1] = false
    end
  end
end
return reply
"""

#: Times a read asks again because the room's writers changed meanwhile (rare: a writer is
#: added once per room and instance) before it gives up for now.
_READ_ATTEMPTS = 3

#: Rooms whose writers a read remembers (to name their streams the next time), at most.
_WRITERS_REMEMBERED = 10_000


class WritersChanging(RedisError):
    """A room's writers changed on every attempt to read it: read later (as if Redis had not
    answered)."""


#: Folds run at once, at most: each holds a connection of the shared client.
_FOLDS_AT_ONCE = 8

#: Persist timers are rounded down to this many seconds: rooms falling due within one tick
#: are persisted together (never later than persist_interval; at most this much sooner).
_PERSIST_TICK = 0.05

#: Seconds before a persist tries again for a room whose lease another instance holds.
_LEASE_RETRY = 0.2

#: A stream's entries after the snapshot (id, update, author: "" unknown), and the id of its
#: last entry (valid or not; None for an empty stream).
Stream = tuple[list[tuple[str, bytes, str]], str | None]


class RoomStreams:
    """The rooms open here, over Redis streams (one per room and writing instance).

    - :meth:`open` reads a room's shared state and follows the other writers' streams from
      there on; :meth:`follow` applies what they append to the :class:`RoomSink`;
    - updates this instance applies for its clients go out through the :class:`Outbox`;
    - :meth:`fold` folds a room's streams into its snapshot under a lease, and trims them. A
      room is folded after this instance appended ``compact_after`` updates to it, and
      ``compact_idle`` seconds after its last one; with a shared store also
      ``persist_interval`` seconds after the first one not persisted yet.
    """

    def __init__(
        self,
        connection: RedisConnection,
        outbox: Outbox,
        instance_id: str,
        *,
        live_instances: Callable[[], Awaitable[set[str]]],
        malformed: MalformedCounts,
        compact_after: int,
        compact_idle: float,
        trim_grace: float,
        log: logging.Logger,
    ) -> None:
        self._connection = connection
        self._outbox = outbox
        self._instance = instance_id
        self._live_instances = live_instances
        self._malformed = malformed
        self.compact_after = compact_after
        self.compact_idle = compact_idle
        self.trim_grace = trim_grace
        self._log = log
        self._sink: RoomSink | None = None
        # open room -> {other writer instance -> last id applied from its stream}
        self._cursors: dict[str, dict[str, str]] = {}
        self._rooms_changed = asyncio.Event()
        self._reading: asyncio.Future[Any] | None = None  # the follower's pending XREAD
        self._closing = False
        # Folds: updates appended per room since its last fold, when the last one was appended,
        # the timers of idle folds, the folds running.
        self._appended: dict[str, int] = {}
        self._last_append: dict[str, float] = {}
        self._idle_timers: dict[str, asyncio.TimerHandle] = {}
        self._persist_timers: dict[str, asyncio.TimerHandle] = {}
        self._folding: dict[str, asyncio.Task[bool]] = {}
        self._scripts: dict[str, Any] = {}
        # room -> the members of its writers set when it was last read (see _READ_ROOM).
        self._writers_read: dict[str, list[bytes]] = {}
        #: With a shared store: persists the streams there instead of folding them into a
        #: snapshot in Redis (set by :meth:`RedisBackplane.use_shared_store`).
        self.persister: StreamPersister | None = None
        #: Seconds before a persist the store refused (or a lease held elsewhere) is tried
        #: again.
        self.retry_delay = 1.0
        #: How long a fold may hold a room's lease, in milliseconds.
        self.lease_ms = LEASE_MS
        #: With a shared store: an update is persisted at most this long (seconds) after this
        #: instance appended it, also while the room never goes idle (0: by count and idle only).
        self.persist_interval = 0.0
        self._fold_slots = asyncio.Semaphore(_FOLDS_AT_ONCE)

    def attach(self, sink: RoomSink) -> None:
        self._sink = sink

    @property
    def sink(self) -> RoomSink:
        assert self._sink is not None, "attach() the room manager first"
        return self._sink

    def _script(self, source: str) -> Any:
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self._connection.register_script(source)
        return script

    # -- reading a room --------------------------------------------------------------------------

    async def read(self, room: str) -> tuple[bytes | None, dict[str, str], dict[str, Stream]]:
        """Read atomically: the snapshot, the stream id of each writer it is folded through,
        and each writer's entries not folded into it yet. Malformed parts are skipped and
        counted; what remains is safe to use."""
        (result,) = await self.read_many([room])
        if isinstance(result, Exception):
            raise result
        return result

    async def read_many(
        self, rooms: list[str]
    ) -> list[tuple[bytes | None, dict[str, str], dict[str, Stream]] | Exception]:
        """:meth:`read` of each of ``rooms``, in one pipeline (one round trip, unless a room's
        writers changed since it was last read; each room's read is atomic, as its keys share
        a slot). A room whose read failed gets its error; raises when Redis did not answer."""
        connection = self._connection
        script = self._script(_READ_ROOM)
        replies: dict[str, Any] = {}
        pending = list(dict.fromkeys(rooms))
        for _ in range(_READ_ATTEMPTS):
            async with connection.redis.pipeline(transaction=False) as pipe:
                for room in pending:
                    writers = self._writers_read.get(room, [])
                    prefix = connection.room_log(room, "").encode()
                    await script(
                        keys=[
                            connection.room_key(room, "snap"),
                            connection.room_writers(room),
                            *(prefix + writer for writer in writers),
                        ],
                        args=writers,
                        client=pipe,
                    )
                answers = await pipe.execute(raise_on_error=False)
            changed = []
            for room, reply in zip(pending, answers, strict=True):
                if type(reply) is list and len(reply) >= 2 and reply[1] == b"writers":
                    # Members are names as Redis holds them (bytes; _parse_room checks them).
                    self._remember_writers(room, list(reply[2:]))
                    changed.append(room)
                else:
                    replies[room] = reply
            pending = changed
            if not pending:
                break
        for room in pending:
            replies[room] = WritersChanging(f"room {room}: its writers changed while read")
        results: list[tuple[bytes | None, dict[str, str], dict[str, Stream]] | Exception] = []
        for room in rooms:
            reply = replies[room]
            try:
                if isinstance(reply, Exception):
                    raise reply
                results.append(self._parse_room(room, reply))
            except Exception as e:  # that room's alone: the others are read
                results.append(e)
        return results

    def _remember_writers(self, room: str, writers: list[bytes]) -> None:
        if room not in self._writers_read and len(self._writers_read) >= _WRITERS_REMEMBERED:
            self._writers_read.clear()  # rooms come and go: start over rather than grow
        self._writers_read[room] = writers

    def _parse_room(
        self, room: str, reply: Any
    ) -> tuple[bytes | None, dict[str, str], dict[str, Stream]]:
        """What :meth:`read` returns, from the reply of ``_READ_ROOM``."""
        connection = self._connection
        snap_key, writers_key = connection.room_key(room, "snap"), connection.room_writers(room)
        data, last = self._snapshot(snap_key, reply[0], room)
        if not reply[1]:
            self._malformed.skip("writers", writers_key, "not a set")
        streams: dict[str, Stream] = {}
        for name, raw_entries in zip(reply[2::2], reply[3::2], strict=True):
            try:
                writer = entries.instance_name(name, "writer")
            except MalformedEntry as e:
                self._malformed.skip("writers", f"{writers_key} {name[:60]!r}", e)
                continue
            stream = connection.room_log(room, writer)
            if raw_entries is None:
                self._malformed.skip("room_updates", stream, "not a stream")
                continue
            folded = entries.parse_stream_id(last.get(writer, "0-0"))
            kept = []
            tail = None
            for entry_id, raw in raw_entries:
                sid = entries.stream_id(entry_id)
                if entries.parse_stream_id(sid) <= folded:
                    continue
                tail = sid
                try:
                    update = self._connection.unseal(entries.room_update(raw), room)
                except MalformedEntry as e:
                    self._malformed.skip("room_updates", f"{stream} {sid}", e)
                    continue
                try:
                    author = entries.room_author(raw)
                except MalformedEntry as e:  # the update stands; whose it is stays unknown
                    self._malformed.skip("room_updates", f"{stream} {sid} author", e)
                    author = ""
                kept.append((sid, update, author))
            streams[writer] = (kept, tail)
        return data, last, streams

    def _snapshot(self, key: str, raw: Any, room: str) -> tuple[bytes | None, dict[str, str]]:
        """The snapshot's data and cursors; what is malformed is dropped (and counted)."""
        if raw is None:
            self._malformed.skip("snapshots", key, "not a hash")
            return None, {}
        try:
            snap = entries.fields(raw)
        except MalformedEntry as e:
            self._malformed.skip("snapshots", key, e)
            return None, {}
        last: dict[str, str] = {}
        raw_last = snap.get(b"last")
        if raw_last is not None:
            where = f"{key} last#{zlib.crc32(raw_last) if isinstance(raw_last, bytes) else 0:08x}"
            try:
                last, dropped = entries.snapshot_cursors(raw_last)
            except MalformedEntry as e:
                self._malformed.skip("snapshots", where, e)
            else:
                for reason in dropped:
                    self._malformed.skip("snapshots", f"{where} {reason}", reason)
        data = snap.get(b"data")
        if not isinstance(data, bytes) or not data:
            return None, last
        try:
            return self._connection.unseal(data, room), last
        except MalformedEntry as e:
            self._malformed.skip("snapshots", key, e)
            return None, last

    async def _shared_state(self, room: str) -> tuple[list[bytes], dict[str, str]]:
        """The room's shared state, and the stream position to follow each other writer from."""
        data, last, streams = await self.read(room)
        updates = [data] if data else []
        cursors = {}
        for writer, (kept, tail) in streams.items():
            updates += [update for _, update, _ in kept]
            cursors[writer] = tail or last.get(writer, "0-0")
        cursors.pop(self._instance, None)
        return updates, cursors

    # -- open rooms ------------------------------------------------------------------------------

    async def open(self, room: str) -> list[bytes]:
        """The room's shared state (updates to apply), and from now on follow it. Serves from
        nothing (the caller's journal) when Redis is away; the follower merges later."""
        try:
            updates, cursors = await asyncio.wait_for(
                self._shared_state(room), self._connection.connect_timeout
            )
        except TRANSIENT as e:
            self._log.warning("room %s opened without Redis (%s); will merge later", room, e)
            updates, cursors = [], {}
            self._connection.healthy = False
        self._cursors[room] = cursors
        self._streams_changed()
        return updates

    def stop_following(self, room: str) -> None:
        """Stop following ``room`` (it was closed here)."""
        self._outbox.forget(room)
        if self._cursors.pop(room, None) is not None:
            self._streams_changed()

    async def delete(self, room: str) -> None:
        """Forget the room's shared state."""
        connection = self._connection
        writers_key = connection.room_writers(room)
        try:
            members = await connection.redis.smembers(writers_key)
        except TRANSIENT as e:
            if not is_wrong_type(e):
                raise
            members = set()
        streams = []
        for member in members:
            with contextlib.suppress(MalformedEntry):
                streams.append(connection.room_log(room, entries.text(member)))
        await connection.redis.delete(connection.room_key(room, "snap"), writers_key, *streams)

    def add_writer(self, room: str, writer: str) -> None:
        """Follow another instance's stream of ``room`` (from its start: applying an update
        twice is harmless, missing one is not)."""
        cursors = self._cursors.get(room)
        if cursors is not None and writer != self._instance and writer not in cursors:
            cursors[writer] = "0-0"
            self._streams_changed()

    async def refresh_writers(self) -> None:
        """Catch writers whose announcement was lost (pub/sub is not reliable): the members of
        each open room's writers set whose streams can be read (streams, or not there yet).
        Plain commands in pipelines, one key each, so a Redis Cluster routes every one."""
        rooms = list(self._cursors)
        if not rooms:
            return
        connection = self._connection
        async with connection.redis.pipeline(transaction=False) as pipe:
            for room in rooms:
                pipe.smembers(connection.room_writers(room))
            replies = await pipe.execute(raise_on_error=False)  # not a set: an error, skipped
        found: list[tuple[str, str]] = []
        for room, members in zip(rooms, replies, strict=True):
            if isinstance(members, Exception):
                continue
            for name in members:
                try:
                    writer = entries.instance_name(name, "writer")
                except MalformedEntry as e:
                    self._malformed.skip("writers", f"{connection.room_writers(room)} {name!r}", e)
                    continue
                found.append((room, writer))
        if not found:
            return
        async with connection.redis.pipeline(transaction=False) as pipe:
            for room, writer in found:
                pipe.type(connection.room_log(room, writer))
            kinds = await pipe.execute()
        for (room, writer), kind in zip(found, kinds, strict=True):
            if entries.stream_id(kind) in ("stream", "none"):
                self.add_writer(room, writer)

    async def resync_all(self) -> None:
        """After a connection loss: merge every open room both ways with Redis."""
        for room in list(self._cursors):
            await self.resync(room)

    async def resync(self, room: str) -> None:
        """Merge an open room both ways with Redis: apply what this instance lacks, publish
        what Redis lacks."""
        updates, cursors = await self._shared_state(room)
        if room not in self._cursors:
            return
        self._cursors[room] = cursors
        missing_there = self.sink.sync_remote_state(room, updates)
        if missing_there is not None:
            self._outbox.append(room, missing_there)
        self._streams_changed()

    # -- following the other writers -------------------------------------------------------------

    def _streams_changed(self) -> None:
        """The set of streams to follow changed: restart the pending XREAD with the new set."""
        self._rooms_changed.set()
        if self._reading is not None and not self._reading.done():
            self._reading.cancel()

    async def _xread(self, conn: Any, streams: dict[str, str]) -> list[tuple[str, list[Any]]]:
        """One blocking XREAD on ``conn``, bounded by a deadline of our own."""
        command = conn.pack_command(
            "XREAD", "COUNT", 1000, "BLOCK", BLOCK_MS, "STREAMS", *streams, *streams.values()
        )
        async with asyncio.timeout(self._connection.blocking_read_timeout):
            await conn.send_packed_command(command)
            reply = await conn.read_response()
        pairs = reply.items() if isinstance(reply, dict) else reply or ()  # RESP3 or RESP2
        return [(entries.stream_id(stream), batch) for stream, batch in pairs]

    async def follow(self, recovered: Callable[[], Awaitable[None]]) -> None:
        """XREAD the other instances' streams of the open rooms and apply their updates,
        forever. After Redis was lost, ``recovered()`` is awaited once it answers again.

        Per-update hot path on the receiving side, so like the outbox it reads on a connection
        of its own without redis-py's client layer."""
        pool = self._connection.pool()
        conn = pool.make_connection()
        backoff = Backoff()
        lost = False
        try:
            while True:
                streams: dict[str, str] = {}
                where: dict[str, tuple[str, str]] = {}
                while not streams:
                    self._rooms_changed.clear()
                    for room, cursors in self._cursors.items():
                        for writer, cursor in cursors.items():
                            stream = self._connection.room_log(room, writer)
                            streams[stream] = cursor
                            where[stream] = (room, writer)
                    if not streams:
                        await self._rooms_changed.wait()
                self._reading = asyncio.ensure_future(self._xread(conn, streams))
                try:
                    results = await self._reading
                except asyncio.CancelledError:
                    if self._closing or asyncio.current_task().cancelling():  # type: ignore[union-attr]
                        raise
                    continue  # _streams_changed: read again with the new set
                except TRANSIENT as e:
                    if is_wrong_type(e) and await self._drop_unreadable(where):
                        continue
                    await conn.disconnect()
                    if not lost:
                        self._log.warning("lost Redis (%s); reconnecting", e)
                    lost, self._connection.healthy = True, False
                    await backoff.wait()
                    continue
                if lost:
                    lost = False
                    backoff.reset()
                    try:
                        await recovered()
                    except TRANSIENT:
                        lost = True
                        continue
                    self._log.info("Redis is back; rooms merged")
                    continue
                for stream, batch in results:
                    room, writer = where[stream]
                    cursors = self._cursors.get(room)
                    if cursors is None or writer not in cursors:
                        continue  # closed meanwhile
                    _observe_lag(batch)
                    for entry_id, raw in batch:
                        sid = cursors[writer] = entries.stream_id(entry_id)
                        try:
                            update = self._connection.unseal(entries.room_update(raw), room)
                        except MalformedEntry as e:
                            self._malformed.skip("room_updates", f"{stream} {sid}", e)
                            continue
                        self._apply(room, update, stream, sid)
        finally:
            if self._reading is not None and not self._reading.done():
                self._reading.cancel()  # closing: the pending XREAD would fail on a closed socket
                with contextlib.suppress(BaseException):
                    await self._reading
            await conn.disconnect()
            await pool.aclose()

    def _apply(self, room: str, update: bytes, stream: str, sid: str) -> None:
        try:
            applied = self.sink.apply_remote_update(room, update)
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # a decoder's panic surfaces as a BaseException
            self._log.exception("room %s: applying %s %s failed", room, stream, sid)
            applied, reason = False, f"the room could not apply it: {e}"
        else:
            reason = "the room refused it (not a valid Yjs update)"
        if applied is False:
            self._malformed.skip("room_updates", f"{stream} {sid}", reason)

    async def _drop_unreadable(self, where: dict[str, tuple[str, str]]) -> bool:
        """After an XREAD refused for a key of another type: stop following every stream that
        is not a stream (someone wrote over it). True when some were found."""
        streams = list(where)
        try:
            async with self._connection.redis.pipeline(transaction=False) as pipe:
                for stream in streams:
                    pipe.type(stream)
                kinds = await pipe.execute()
        except TRANSIENT:
            return False
        dropped = False
        for stream, kind in zip(streams, kinds, strict=True):
            if entries.stream_id(kind) in ("stream", "none"):
                continue
            room, writer = where[stream]
            cursors = self._cursors.get(room)
            if cursors is not None and cursors.pop(writer, None) is not None:
                self._malformed.skip("room_updates", stream, "not a stream: no longer followed")
                dropped = True
        return dropped

    # -- folding ---------------------------------------------------------------------------------

    def appended(self, rooms: list[str]) -> None:
        """This instance appended updates of ``rooms`` (one item per update) to its streams:
        fold them by count or, later, when idle."""
        now = time.monotonic()
        for room in rooms:
            self._appended[room] = self._appended.get(room, 0) + 1
        for room in set(rooms):
            self._last_append[room] = now
            if self._appended[room] >= self.compact_after and room not in self._folding:
                self._start_fold(room)
            else:
                # Also after a fold that is running: it may not see what was just appended.
                self._idle_fold_in(room, self.compact_idle)
                self._persist_in(room, self.persist_interval)

    def _persist_in(self, room: str, delay: float) -> None:
        if (
            self.persister is not None
            and self.persist_interval > 0
            and room not in self._persist_timers
            and not self._closing
        ):
            loop = asyncio.get_running_loop()
            due = loop.time() + delay
            if delay > _PERSIST_TICK:  # (not a retry right after a persist)
                due -= due % _PERSIST_TICK  # with the others due in this tick: one batch
            self._persist_timers[room] = loop.call_at(due, self._persist_due, room)

    def _persist_soon(self, room: str, delay: float) -> None:
        """Persist ``room`` in ``delay`` seconds, or sooner if it is due sooner already."""
        if self._closing:
            return
        loop = asyncio.get_running_loop()
        timer = self._persist_timers.get(room)
        if timer is not None:
            if timer.when() <= loop.time() + delay:
                return
            timer.cancel()
        self._persist_timers[room] = loop.call_later(delay, self._persist_due, room)

    def _persist_due(self, room: str) -> None:
        self._persist_timers.pop(room, None)
        if room in self._folding:
            # It may have read the streams before the appends this timer is for: once more
            # right after it.
            self._persist_in(room, min(self.persist_interval, 0.05))
        else:
            self._start_fold(room)

    def _idle_fold_in(self, room: str, delay: float) -> None:
        if room not in self._idle_timers and self.compact_idle > 0 and not self._closing:
            self._idle_timers[room] = asyncio.get_running_loop().call_later(
                delay, self._check_idle, room
            )

    def _check_idle(self, room: str) -> None:
        self._idle_timers.pop(room, None)
        last = self._last_append.get(room)
        if last is None:
            return  # folded meanwhile
        wait = last + self.compact_idle - time.monotonic()
        if wait > 0 or room in self._folding:
            self._idle_fold_in(room, max(wait, 0.5))
        else:
            self._start_fold(room)

    def _start_fold(self, room: str) -> None:
        if self._closing:
            return
        self._appended.pop(room, None)
        self._last_append.pop(room, None)
        for timers in (self._idle_timers, self._persist_timers):
            timer = timers.pop(room, None)
            if timer is not None:
                timer.cancel()
        task = asyncio.ensure_future(self.fold(room))
        self._folding[room] = task
        task.add_done_callback(lambda _: self._folding.pop(room, None))

    def fold_later(self, room: str, delay: float) -> None:
        """Fold ``room`` again in ``delay`` seconds (the shared store refused it)."""
        if room not in self._idle_timers and not self._closing:
            self._idle_timers[room] = asyncio.get_running_loop().call_later(
                delay, self._start_fold, room
            )

    async def fold(self, room: str) -> bool:
        """Fold every writer's stream of the room into its snapshot (with a shared store:
        persist them into it, :attr:`persister`), if we get the lease. True when a snapshot
        was written (updates persisted). Never raises (but for cancellation)."""
        if self.persister is not None:
            # Persists wait for their batch holding no connection (the persister takes the
            # leases, reads and trims for the whole batch at once): no bound needed here.
            return await self._persist(room)
        async with self._fold_slots:  # thousands of rooms going idle at once: a few at a time
            return await self._fold(room)

    async def _persist(self, room: str) -> bool:
        assert self.persister is not None
        try:
            return await self.persister.persist(room)
        except LeaseHeld:
            if self.persist_interval > 0:
                # Another instance is persisting the room: it may have read the streams
                # before what this one appended, which would then wait for this instance's
                # next persist_interval. Soon again, and until the lease is free (a holder
                # that died mid-persist: once it expired).
                self._persist_soon(room, min(self.retry_delay, _LEASE_RETRY))
            else:
                # Another holder may have died mid-persist: try again once its lease
                # expired (until this instance held it once and found nothing left).
                self.fold_later(room, self.retry_delay)
        except StoreUnavailable:
            self.fold_later(room, self.retry_delay)  # the sweep tries again too
        except TRANSIENT as e:
            self._log.warning("persist of room %s skipped: %s", room, e)
        except Exception:
            self._log.exception("persist of room %s failed", room)
        return False

    async def take_leases(self, rooms: list[str]) -> dict[str, str]:
        """Take the fold leases of ``rooms`` (one pipeline); the token of each one taken."""
        connection = self._connection
        script = self._script(TAKE_LEASE)
        tokens = {room: uuid.uuid4().hex for room in rooms}
        async with connection.redis.pipeline(transaction=False) as pipe:
            for room, token in tokens.items():
                lease = connection.room_key(room, "lease")
                await script(keys=[lease], args=[token, self.lease_ms], client=pipe)
            taken = await pipe.execute(raise_on_error=False)
        return {
            room: token
            for (room, token), answer in zip(tokens.items(), taken, strict=True)
            if self._lease_taken(room, answer)
        }

    def _lease_taken(self, room: str, answer: Any) -> bool:
        """Whether TAKE_LEASE's ``answer`` gave this instance ``room``'s lease; a lease that
        had no expiry (it now has) is counted as malformed."""
        if answer == -1:
            lease = self._connection.room_key(room, "lease")
            self._malformed.skip("leases", None, f"{lease} never expired; it now does")
        return answer == 1

    async def release_leases(self, tokens: dict[str, str]) -> None:
        """Give back the leases :meth:`take_leases` took (those still ours; one pipeline)."""
        connection = self._connection
        script = self._script(RELEASE_LEASE)
        async with connection.redis.pipeline(transaction=False) as pipe:
            for room, token in tokens.items():
                await script(keys=[connection.room_key(room, "lease")], args=[token], client=pipe)
            await pipe.execute(raise_on_error=False)

    async def _fold(self, room: str) -> bool:
        connection = self._connection
        lease = connection.room_key(room, "lease")
        token = uuid.uuid4().hex
        try:
            taken = await self._script(TAKE_LEASE)(keys=[lease], args=[token, self.lease_ms])
            if not self._lease_taken(room, taken):
                return False
            try:
                return await self._fold_held(room)
            finally:
                await self._script(RELEASE_LEASE)(keys=[lease], args=[token])
        except TRANSIENT as e:
            self._log.warning("fold of room %s skipped: %s", room, e)
        except Exception:
            self._log.exception("fold of room %s failed", room)
        return False

    async def _fold_held(self, room: str) -> bool:
        connection = self._connection
        snap_key = connection.room_key(room, "snap")
        data, last, streams = await self.read(room)
        updates: list[bytes] = [data] if data else []
        sources: list[tuple[str, str]] = [("snapshots", snap_key)] if data else []
        new = False
        for writer, (kept, tail) in streams.items():
            stream = connection.room_log(room, writer)
            updates += [update for _, update, _ in kept]
            sources += [("room_updates", f"{stream} {sid}") for sid, _, _ in kept]
            if tail is not None:
                last[writer] = tail
                new = True
        if not new:
            return False  # nothing since the last fold
        folded, lost_snapshot = await self._fold_decodable(updates, sources)
        # A key of another type in place of the snapshot is replaced (read() counted it).
        await connection.drop_unless_type(snap_key, "hash")
        await connection.redis.hset(
            snap_key,
            mapping={
                "data": connection.seal(folded, room),
                "last": strictjson.dumps(dict(sorted(last.items()))),
            },
        )
        await self.trim(room, last, streams)
        if lost_snapshot and room in self._cursors:
            # What the dropped snapshot held is gone from Redis: this instance, which has the
            # room open, publishes it again.
            await self.resync(room)
        return True

    async def trim(self, room: str, last: dict[str, str], streams: dict[str, Stream]) -> None:
        """Trim each writer's stream of ``room`` through ``last[writer]`` (folded, or
        persisted), keeping what is younger than ``trim_grace``: a follower that lags by less
        than that never misses an entry; one that lost Redis resyncs in full. A dead
        instance's stream, once trimmed empty, is dropped. The caller holds the lease."""
        await self.trim_many([(room, last, streams)])

    async def trim_many(self, rooms: list[tuple[str, dict[str, str], dict[str, Stream]]]) -> None:
        """:meth:`trim` of each (room, last, streams), in one pipeline; the live instances
        are listed once for them all. The caller holds their leases."""
        connection = self._connection
        grace_ms = int((time.time() - self.trim_grace) * 1000)
        async with connection.redis.pipeline(transaction=False) as pipe:
            for room, last, streams in rooms:
                for writer in streams:
                    ms, seq = entries.parse_stream_id(last.get(writer, "0-0"))
                    min_id = f"{ms}-{seq + 1}" if ms <= grace_ms else f"{grace_ms}-0"
                    pipe.xtrim(connection.room_log(room, writer), minid=min_id)
            await pipe.execute()
        others = [
            (room, writer)
            for room, _, streams in rooms
            for writer in streams
            if writer != self._instance
        ]
        if not others:
            return  # (listing the live instances scans the keyspace: not for nothing)
        live = await self._live_instances()
        dead = [(room, writer) for room, writer in others if writer not in live]
        if not dead:
            return
        async with connection.redis.pipeline(transaction=False) as pipe:
            for room, writer in dead:
                pipe.xlen(connection.room_log(room, writer))
            lengths = await pipe.execute()
        for (room, writer), length in zip(dead, lengths, strict=True):
            if length == 0:
                await connection.redis.srem(connection.room_writers(room), writer)
                await connection.redis.delete(connection.room_log(room, writer))

    async def _fold_decodable(
        self, updates: list[bytes], sources: list[tuple[str, str]]
    ) -> tuple[bytes, bool]:
        """Fold ``updates``, dropping (and counting) each one the fold refuses; and whether the
        snapshot was among them."""
        lost_snapshot = False
        while True:
            try:
                return await asyncio.to_thread(fold_updates, updates), lost_snapshot
            except CorruptUpdateError as e:
                kind, where = sources.pop(e.index)
                del updates[e.index]
                lost_snapshot = lost_snapshot or kind == "snapshots"
                self._malformed.skip(kind, where, "not a valid Yjs update: left out of the fold")

    async def close(self) -> None:
        """Stop folding (a fold cut short leaves its lease to expire)."""
        self._closing = True
        for timers in (self._idle_timers, self._persist_timers):
            for timer in timers.values():
                timer.cancel()
            timers.clear()
        for task in list(self._folding.values()):
            task.cancel()
        await asyncio.gather(*self._folding.values(), return_exceptions=True)
        if self.persister is not None:
            await self.persister.close()


def _observe_lag(batch: list[Any]) -> None:
    """The follow lag of a batch read from one stream: now minus its newest entry's time."""
    if not batch:
        return
    try:
        ms, _ = entries.parse_stream_id(entries.stream_id(batch[-1][0]))
    except MalformedEntry:
        return
    METRICS.redis_lag_seconds.observe(max(0.0, time.time() - ms / 1000))
