"""The Redis backplane: several Jupyter servers share rooms, awareness and events.

What goes where (keys under ``{prefix}:``):

- ``room:{room}:log:{instance}`` — one stream per room and writer: the updates that instance
  applied for its own clients (field ``u``). An instance follows the streams of the *other*
  writers of the rooms it has open, so it never reads back what it wrote; the updates it
  applies from there have the origin ``REMOTE`` and are never published again.
- ``room:{room}:writers`` — the set of instances with a stream for the room. An instance enrols
  with its first update and announces it over pub/sub (``w``); followers also re-read the set
  with every heartbeat, in case an announcement was lost.
- ``room:{room}:snap`` — a hash ``{data, last}``: the room folded through stream id ``last[w]``
  of each writer ``w``. Opening a room reads snapshot, writers and streams in one Lua script
  (atomic), then follows from each stream's tail. One instance at a time
  (``room:{room}:lease``) folds the streams into the snapshot, trims entries older than
  ``trim_grace`` seconds, and drops the emptied streams of instances that are gone.
- ``events`` — one stream for all channels, so one cursor serves any set of channels. Event ids
  are ``{stream id}@{epoch}``. Every instance reads the stream and delivers entries, its own
  included, in stream order.
- ``awareness`` — a pub/sub channel: awareness may be lost, and is renewed by clients anyway.
- ``instance:{id}`` — a heartbeat with a TTL: the live instances and their rooms. When one
  disappears, the others drop its awareness states at once.
- ``epoch`` — created once. If it changes or vanishes, Redis lost its data: instances publish
  the full state of their open rooms again (a CRDT merge makes that safe) and event cursors of
  the old epoch get a ``reset``.

Redis is the source of truth for rooms and events; each instance's SQLite store remains a local
journal of the rooms it served (it is how their state comes back if Redis loses it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..errors import BackplaneUnavailable
from ..events.channels import ChannelMatcher
from ..store.base import Page
from ..store.compaction import fold_updates
from .base import Backplane

_EMPTY = b"\x00\x00"
_BLOCK_MS = 5000  # how long one XREAD waits for new entries
_RETRY = (RedisError, OSError, asyncio.TimeoutError)

#: Awareness messages kept while Redis is unreachable, at most.
_MAX_ANNOUNCEMENTS = 10_000

#: Read a room atomically: its snapshot hash, then each writer's id and whole stream.
#: KEYS: snapshot, writers set; ARGV: the streams' key prefix (the writer id completes it).
_READ_ROOM = """
local reply = {redis.call('HGETALL', KEYS[1])}
for _, writer in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  reply[#reply + 1] = writer
  reply[#reply + 1] = redis.call('XRANGE', ARGV[1] .. writer, '-', '+')
end
return reply
"""


def _sid(entry_id: bytes | str) -> str:
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


def _pairs(flat: list[Any]) -> dict[Any, Any]:
    """A Redis flat ``[field, value, ...]`` reply as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _parse_sid(sid: str) -> tuple[int, int]:
    ms, _, seq = sid.partition("-")
    return int(ms), int(seq or 0)


class Backoff:
    """Exponential backoff with a cap: 0.05 s, 0.1 s, … 2 s."""

    def __init__(self, first: float = 0.05, cap: float = 2.0) -> None:
        self.first, self.cap, self.delay = first, cap, first

    async def wait(self) -> None:
        await asyncio.sleep(self.delay)
        self.delay = min(self.cap, self.delay * 2)

    def reset(self) -> None:
        self.delay = self.first


class RedisBackplane(Backplane):
    """Rooms over Redis streams, awareness over pub/sub, events over one shared stream."""

    shared = True

    def __init__(
        self,
        url: str,
        *,
        instance_id: str,
        prefix: str = "omniforge",
        rooms_info: Callable[[], dict[str, Any]] = dict,
        event_max_len: int = 1_000_000,
        event_max_age: float = 7 * 24 * 3600,
        compact_after: int = 1000,
        trim_grace: float = 60.0,
        connect_timeout: float = 5.0,
        heartbeat_interval: float = 2.0,
        awareness_timeout: float = 30.0,
        log: logging.Logger | None = None,
    ) -> None:
        self.url = url
        self.instance_id = instance_id
        self.prefix = prefix
        self._rooms_info = rooms_info
        self.compact_after = compact_after
        self.trim_grace = trim_grace
        self.connect_timeout = connect_timeout
        self.heartbeat_interval = heartbeat_interval
        self.awareness_timeout = awareness_timeout
        self.log = log or logging.getLogger(__name__)
        self.epoch: str | None = None
        self.started_at = time.time()
        self.event_log = RedisEventLog(self, max_len=event_max_len, max_age=event_max_age)
        self._redis: aioredis.Redis | None = None
        # open room -> {other writer instance -> last id applied from its stream}
        self._cursors: dict[str, dict[str, str]] = {}
        self._registered: set[str] = set()  # rooms whose writers set holds this instance
        self._rooms_changed = asyncio.Event()
        self._reading: asyncio.Future[Any] | None = None  # the follower's pending XREAD
        self._pending: list[tuple[str, bytes]] = []  # (room, update) to append to our streams
        # Awareness messages to publish, in order: sent on the same connection as the updates,
        # since a removal that overtook the state it removes would leave a ghost elsewhere.
        self._announcements: list[bytes] = []
        self._pending_event = asyncio.Event()
        self._idle = asyncio.Event()  # set while nothing waits to be published
        self._idle.set()
        self._appended: dict[str, int] = {}  # room -> updates appended since its last compaction
        self._tasks: list[asyncio.Task[Any]] = []
        self._spawned: set[asyncio.Task[Any]] = set()
        self._closing = False
        self.healthy = False

    # -- keys ------------------------------------------------------------------------------------

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _room_log(self, room: str, writer: str) -> str:
        return self.key("room", room, "log", writer)

    def _room_writers(self, room: str) -> str:
        return self.key("room", room, "writers")

    def _client(self, *, read_timeout: float | None = -1) -> aioredis.Redis:
        """A client. redis-py uses one socket timeout for every read: a reader blocking on
        XREAD needs one longer than ``_BLOCK_MS``, a pub/sub listener none at all."""
        return aioredis.Redis.from_url(
            self.url,
            socket_connect_timeout=self.connect_timeout,
            socket_timeout=self.connect_timeout if read_timeout == -1 else read_timeout,
            health_check_interval=10,
        )

    @property
    def _blocking_read_timeout(self) -> float:
        return _BLOCK_MS / 1000 + self.connect_timeout

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._redis = self._client()
        self._read_room_script = self._redis.register_script(_READ_ROOM)
        try:
            await asyncio.wait_for(self._redis.ping(), self.connect_timeout)
            await self._check_epoch()
        except _RETRY as e:
            await self._redis.aclose()
            self._redis = None
            raise BackplaneUnavailable(f"Redis at {_safe_url(self.url)} is unreachable: {e}") from e
        self.healthy = True
        for loop in (
            self._follow_rooms,
            self._follow_events,
            self._follow_awareness,
            self._flush_updates,
            self._heartbeat,
        ):
            self._tasks.append(asyncio.ensure_future(self._supervise(loop)))
        self.log.info(
            "OmniForge instance %s joined Redis %s", self.instance_id, _safe_url(self.url)
        )

    async def close(self) -> None:
        self._closing = True
        # Give pending updates a moment to reach Redis; they are in SQLite anyway.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._idle.wait(), 2)
        await _cancel_all([*self._tasks, *self._spawned], self.log)
        if self._redis is not None:
            with contextlib.suppress(*_RETRY):
                await self._redis.delete(self.key("instance", self.instance_id))
            await self._redis.aclose()

    async def _supervise(self, loop: Callable[[], Any]) -> None:
        """Run a background loop forever: a bug in one iteration is logged and the loop
        restarted (after a pause), instead of silently ending that part of the backplane."""
        backoff = Backoff(first=0.5, cap=5.0)
        while True:
            try:
                await loop()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("backplane task %s failed; restarting it", loop.__name__)
                self.healthy = False
                await backoff.wait()

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            raise BackplaneUnavailable("Redis backplane not started")
        return self._redis

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    async def _check_epoch(self) -> bool:
        """Read (or create) the epoch; True when Redis lost its data since we last looked."""
        await self.redis.set(self.key("epoch"), uuid.uuid4().hex[:8], nx=True)
        epoch = _sid(await self.redis.get(self.key("epoch")) or b"")
        lost = self.epoch is not None and epoch != self.epoch
        if lost:
            self.log.warning(
                "Redis lost its data (epoch %s -> %s): republishing the open rooms",
                self.epoch,
                epoch,
            )
        self.epoch = epoch
        if lost:
            self._registered.clear()
        return lost

    async def _recovered(self) -> None:
        """After a connection loss: check the epoch, merge every open room both ways."""
        await self._check_epoch()
        self._registered.clear()  # enrol again: the writers sets may be gone
        for room in list(self._cursors):
            await self._resync(room)
        self.healthy = True

    async def _resync(self, room: str) -> None:
        shared, cursors = await self._read_room(room)
        if room not in self._cursors:
            return
        self._cursors[room] = cursors
        missing_there = self.sink.sync_remote_state(room, shared)
        if missing_there is not None:
            self.publish_update(room, missing_there)
        self._streams_changed()

    # -- rooms -----------------------------------------------------------------------------------

    async def _read_room_raw(
        self, room: str
    ) -> tuple[bytes | None, dict[str, str], dict[str, list[tuple[str, bytes]]]]:
        """Read atomically: the snapshot, the stream id of each writer it is folded through,
        and each writer's ``(id, update)`` entries not folded into it yet."""
        reply = await self._read_room_script(
            keys=[self.key("room", room, "snap"), self._room_writers(room)],
            args=[self._room_log(room, "")],
        )
        snap = _pairs(reply[0])
        last = json.loads(snap[b"last"]) if snap.get(b"last") else {}
        streams = {}
        for name, entries in zip(reply[1::2], reply[2::2], strict=True):
            writer = _sid(name)
            folded = _parse_sid(last.get(writer, "0-0"))
            streams[writer] = [
                (_sid(entry_id), _pairs(fields)[b"u"])
                for entry_id, fields in entries
                if _parse_sid(_sid(entry_id)) > folded
            ]
        return snap.get(b"data"), last, streams

    async def _read_room(self, room: str) -> tuple[list[bytes], dict[str, str]]:
        """The room's shared state, and the stream position to follow each other writer from."""
        data, last, streams = await self._read_room_raw(room)
        updates = [data] if data else []
        cursors = {}
        for writer, entries in streams.items():
            updates += [update for _, update in entries]
            cursors[writer] = entries[-1][0] if entries else last.get(writer, "0-0")
        cursors.pop(self.instance_id, None)
        return updates, cursors

    async def open_room(self, room: str) -> list[bytes]:
        try:
            updates, cursors = await asyncio.wait_for(self._read_room(room), self.connect_timeout)
        except _RETRY as e:
            # Serve the room from this instance's journal; the follower merges the shared
            # state in when Redis is back.
            self.log.warning("room %s opened without Redis (%s); will merge later", room, e)
            updates, cursors = [], {}
            self.healthy = False
        self._cursors[room] = cursors
        self._streams_changed()
        self._publish_awareness_raw(room, b"q", b"")  # ask the others for their states
        return updates

    def close_room(self, room: str) -> None:
        self._registered.discard(room)
        if self._cursors.pop(room, None) is not None:
            self._streams_changed()

    async def delete_room(self, room: str) -> None:
        writers = await self.redis.smembers(self._room_writers(room))
        await self.redis.delete(
            self.key("room", room, "snap"),
            self._room_writers(room),
            *(self._room_log(room, _sid(w)) for w in writers),
        )

    def _add_writer(self, room: str, writer: str) -> None:
        """Follow another instance's stream of ``room`` (from its start: applying an update
        twice is harmless, missing one is not)."""
        cursors = self._cursors.get(room)
        if cursors is not None and writer != self.instance_id and writer not in cursors:
            cursors[writer] = "0-0"
            self._streams_changed()

    async def _refresh_writers(self) -> None:
        """Catch writers whose announcement was lost (pub/sub is not reliable)."""
        rooms = list(self._cursors)
        if not rooms:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for room in rooms:
                pipe.smembers(self._room_writers(room))
            replies = await pipe.execute()
        for room, writers in zip(rooms, replies, strict=True):
            for writer in writers:
                self._add_writer(room, _sid(writer))

    def publish_update(self, room: str, update: bytes) -> None:
        self._pending.append((room, update))
        self._wake_flusher()

    def _wake_flusher(self) -> None:
        self._idle.clear()
        self._pending_event.set()

    async def _flush_updates(self) -> None:
        """Send what ``publish_update`` and ``_publish_awareness_raw`` queued, in batches and
        in order, on a connection of its own.

        This is the per-update hot path, so it bypasses redis-py's client layer (a pipeline
        object and a timer per command): one packed write per batch and one deadline around
        it. A failed or timed-out batch drops the connection and is sent again."""
        pool = aioredis.ConnectionPool.from_url(
            self.url, socket_connect_timeout=self.connect_timeout, socket_timeout=None
        )
        conn = await pool.get_connection()
        try:
            await self._flush_forever(conn)
        finally:
            await conn.disconnect()
            await pool.aclose()

    async def _flush_forever(self, conn: Any) -> None:
        backoff = Backoff()
        while True:
            await self._pending_event.wait()
            self._pending_event.clear()
            while self._pending or self._announcements:
                batch = self._pending[:1000]
                announcements = self._announcements[:1000]
                # The first update of a room (since we opened it, or since Redis came back)
                # also enrols this instance among the room's writers.
                enrol = {room for room, _ in batch} - self._registered
                commands: list[tuple[Any, ...]] = [
                    ("SADD", self._room_writers(room), self.instance_id) for room in enrol
                ]
                commands += [
                    ("XADD", self._room_log(room, self.instance_id), "*", "u", update)
                    for room, update in batch
                ]
                channel = self.key("awareness")
                commands += [("PUBLISH", channel, message) for message in announcements]
                try:
                    async with asyncio.timeout(self.connect_timeout):
                        await conn.send_packed_command(conn.pack_commands(commands))
                        for _ in commands:
                            await conn.read_response()
                except _RETRY as e:
                    await conn.disconnect()  # replies may be out of step now
                    self.healthy = False
                    self.log.warning(
                        "could not publish %d updates and %d awareness messages (%s); retrying",
                        len(batch),
                        len(announcements),
                        e,
                    )
                    await backoff.wait()
                    continue
                backoff.reset()
                del self._pending[: len(batch)]
                del self._announcements[: len(announcements)]
                if not self._pending and not self._announcements:
                    self._idle.set()
                for room in enrol:
                    self._registered.add(room)
                    self._publish_awareness_raw(room, b"w", b"")  # "follow my stream"
                for room, _ in batch:
                    count = self._appended.get(room, 0) + 1
                    self._appended[room] = count
                    if count == self.compact_after:
                        self._spawn(self._compact(room))

    def _streams_changed(self) -> None:
        """The set of streams to follow changed: restart the pending XREAD with the new set."""
        self._rooms_changed.set()
        if self._reading is not None and not self._reading.done():
            self._reading.cancel()

    async def _xread(self, conn: Any, streams: dict[str, str]) -> list[tuple[str, list[Any]]]:
        """One blocking XREAD on ``conn``, bounded by a deadline of our own."""
        command = conn.pack_command(
            "XREAD", "COUNT", 1000, "BLOCK", _BLOCK_MS, "STREAMS", *streams, *streams.values()
        )
        async with asyncio.timeout(self._blocking_read_timeout):
            await conn.send_packed_command(command)
            reply = await conn.read_response()
        pairs = reply.items() if isinstance(reply, dict) else reply or ()  # RESP3 or RESP2
        return [(_sid(stream), entries) for stream, entries in pairs]

    async def _follow_rooms(self) -> None:
        """XREAD the other instances' streams of the open rooms and apply their updates.

        Per-update hot path on the receiving side, so like ``_flush_updates`` it reads on a
        connection of its own without redis-py's client layer."""
        pool = aioredis.ConnectionPool.from_url(
            self.url, socket_connect_timeout=self.connect_timeout, socket_timeout=None
        )
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
                            stream = self._room_log(room, writer)
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
                except _RETRY as e:
                    await conn.disconnect()
                    if not lost:
                        self.log.warning("lost Redis (%s); reconnecting", e)
                    lost, self.healthy = True, False
                    await backoff.wait()
                    continue
                if lost:
                    lost = False
                    backoff.reset()
                    try:
                        await self._recovered()
                    except _RETRY:
                        lost = True
                        continue
                    self.log.info("Redis is back; rooms merged")
                    continue
                for stream, entries in results:
                    room, writer = where[stream]
                    cursors = self._cursors.get(room)
                    if cursors is None or writer not in cursors:
                        continue  # closed meanwhile
                    for entry_id, fields in entries:
                        cursors[writer] = _sid(entry_id)
                        self.sink.apply_remote_update(room, _pairs(fields)[b"u"])
        finally:
            if self._reading is not None and not self._reading.done():
                self._reading.cancel()  # closing: the pending XREAD would fail on a closed socket
                with contextlib.suppress(BaseException):
                    await self._reading
            await conn.disconnect()
            await pool.aclose()

    async def _compact(self, room: str) -> None:
        """Fold every writer's stream of the room into its snapshot, if we get the lease."""
        lease = self.key("room", room, "lease")
        token = uuid.uuid4().hex
        try:
            if not await self.redis.set(lease, token, nx=True, px=30_000):
                return
            try:
                data, last, streams = await self._read_room_raw(room)
                updates = [data] if data else []
                for writer, entries in streams.items():
                    if entries:
                        updates += [update for _, update in entries]
                        last[writer] = entries[-1][0]
                if len(updates) <= 1:
                    return  # nothing new since the last fold
                folded_update = await asyncio.to_thread(fold_updates, updates)
                await self.redis.hset(
                    self.key("room", room, "snap"),
                    mapping={"data": folded_update, "last": json.dumps(last, sort_keys=True)},
                )
                # Trim what is folded and older than the grace period: a follower that lags by
                # less than that never misses an entry; one that lost Redis resyncs in full.
                grace_ms = int((time.time() - self.trim_grace) * 1000)
                live = {i["id"] for i in await self.cluster()}
                async with self.redis.pipeline(transaction=False) as pipe:
                    for writer in streams:
                        ms, seq = _parse_sid(last.get(writer, "0-0"))
                        min_id = f"{ms}-{seq + 1}" if ms <= grace_ms else f"{grace_ms}-0"
                        pipe.xtrim(self._room_log(room, writer), minid=min_id)
                    await pipe.execute()
                # A dead instance's stream, once folded and trimmed empty, is dropped.
                for writer in streams:
                    if writer in live or writer == self.instance_id:
                        continue
                    if await self.redis.xlen(self._room_log(room, writer)) == 0:
                        await self.redis.srem(self._room_writers(room), writer)
                        await self.redis.delete(self._room_log(room, writer))
                self._appended[room] = 0
            finally:
                # Release only our own lease.
                if _sid(await self.redis.get(lease) or b"") == token:
                    await self.redis.delete(lease)
        except _RETRY as e:
            self.log.warning("compaction of room %s skipped: %s", room, e)
        except Exception:
            self.log.exception("compaction of room %s failed", room)

    # -- awareness -------------------------------------------------------------------------------

    def publish_awareness(self, room: str, awareness_update: bytes) -> None:
        self._publish_awareness_raw(room, b"u", awareness_update)

    def _publish_awareness_raw(self, room: str, kind: bytes, payload: bytes) -> None:
        if self._redis is None:
            return
        message = b"\0".join((self.instance_id.encode(), room.encode(), kind)) + b"\0" + payload
        if len(self._announcements) >= _MAX_ANNOUNCEMENTS:
            # Redis has been away for a while: the oldest awareness goes (states expire on
            # the other instances anyway); updates are never dropped.
            del self._announcements[: _MAX_ANNOUNCEMENTS // 10]
        self._announcements.append(message)
        self._wake_flusher()

    async def _follow_awareness(self) -> None:
        backoff = Backoff()
        while True:
            client = self._client(read_timeout=None)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.key("awareness"))
                backoff.reset()
                async for message in pubsub.listen():
                    if message.get("type") != b"message" and message.get("type") != "message":
                        continue
                    self._on_awareness(message["data"])
            except _RETRY:
                await backoff.wait()
            finally:
                with contextlib.suppress(BaseException):
                    await pubsub.aclose()
                    await client.aclose()

    def _on_awareness(self, data: bytes) -> None:
        instance, room, kind, payload = data.split(b"\0", 3)
        instance_id = instance.decode()
        if instance_id == self.instance_id:
            return
        key = room.decode()
        if kind == b"u":
            self.sink.apply_remote_awareness(key, instance_id, payload)
        elif kind == b"w":
            self._add_writer(key, instance_id)
        elif kind == b"q":
            states = self.sink.local_awareness(key)
            if states is not None:
                self.publish_awareness(key, states)

    # -- instances -------------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        ttl = max(1, round(self.heartbeat_interval * 3))
        beats = 0
        while True:
            beats += 1
            try:
                if beats % 30 == 1:
                    await self.event_log.trim()
                info = {
                    "id": self.instance_id,
                    "started": self.started_at,
                    "seen": time.time(),
                    **self._rooms_info(),
                }
                await self.redis.set(
                    self.key("instance", self.instance_id), json.dumps(info), ex=ttl
                )
                live = {i["id"] for i in await self.cluster()}
                await self._refresh_writers()
                for instance in self.sink.remote_instances() - live:
                    self.log.info("instance %s is gone: dropping its awareness states", instance)
                    self.sink.forget_remote_instance(instance)
                self.sink.expire_remote_awareness(time.monotonic() - self.awareness_timeout)
            except _RETRY:
                self.healthy = False
            except Exception:
                self.log.exception("heartbeat failed")
            await asyncio.sleep(self.heartbeat_interval)

    async def cluster(self) -> list[dict[str, Any]]:
        keys = [k async for k in self.redis.scan_iter(match=self.key("instance", "*"), count=100)]
        values = await self.redis.mget(keys) if keys else []
        instances = []
        for value in values:
            if value:
                info = json.loads(value)
                info["self"] = info["id"] == self.instance_id
                if info["self"]:
                    # False while this instance cannot reach Redis or is catching up after that.
                    info["healthy"] = self.healthy
                instances.append(info)
        return sorted(instances, key=lambda i: i["started"])

    # -- events ----------------------------------------------------------------------------------

    async def _follow_events(self) -> None:
        await self.event_log.follow()


class RedisEventLog:
    """The event log in one Redis stream; ids are ``{stream id}@{epoch}``."""

    def __init__(self, backplane: RedisBackplane, *, max_len: int, max_age: float) -> None:
        self.backplane = backplane
        self.max_len = max_len
        self.max_age = max_age
        self.listener: Callable[[dict[str, Any]], None] = lambda envelope: None
        self._last: str | None = None

    @property
    def _stream(self) -> str:
        return self.backplane.key("events")

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def order_key(self, event_id: str) -> tuple[int, int]:
        sid, _, epoch = event_id.partition("@")
        try:
            ms, seq = _parse_sid(sid)
        except ValueError:
            return (-1, -1)
        if epoch and epoch != self.backplane.epoch:
            return (-1, -1)
        return (ms, seq)

    def _envelope(self, entry_id: bytes, fields: dict[bytes, bytes]) -> dict[str, Any]:
        return {"id": f"{_sid(entry_id)}@{self.backplane.epoch}", **json.loads(fields[b"e"])}

    async def append(self, envelope: dict[str, Any]) -> dict[str, Any]:
        """Add to the shared stream; every instance (this one too) delivers it from there."""
        deadline = time.monotonic() + self.backplane.connect_timeout * 2
        backoff = Backoff()
        body = json.dumps(envelope, separators=(",", ":"))
        while True:
            try:
                entry_id = await self.backplane.redis.xadd(
                    self._stream,
                    {"i": self.backplane.instance_id, "e": body},
                    maxlen=self.max_len,
                    approximate=True,
                )
                return {"id": f"{_sid(entry_id)}@{self.backplane.epoch}", **envelope}
            except _RETRY as e:
                if time.monotonic() > deadline:
                    raise BackplaneUnavailable(f"could not store the event: {e}") from e
                await backoff.wait()

    async def follow(self) -> None:
        """Deliver every entry of the stream to the listener, in order, forever."""
        redis = self.backplane
        reader = redis._client(read_timeout=redis._blocking_read_timeout)
        backoff = Backoff()
        epoch = redis.epoch
        try:
            last = _sid((await redis.redis.xinfo_stream(self._stream))["last-generated-id"])
        except RedisError:
            last = "0-0"  # no stream yet
        try:
            while True:
                try:
                    results = await reader.xread({self._stream: last}, count=1000, block=_BLOCK_MS)
                    backoff.reset()
                except _RETRY:
                    await backoff.wait()
                    with contextlib.suppress(*_RETRY):
                        await redis._check_epoch()
                    continue
                if redis.epoch != epoch:
                    epoch, last = redis.epoch, "0-0"  # Redis lost the stream: start over
                    continue
                for _, entries in results or []:
                    for entry_id, fields in entries:
                        last = _sid(entry_id)
                        try:
                            self.listener(self._envelope(entry_id, fields))
                        except Exception:
                            redis.log.exception("event listener failed")
        finally:
            await reader.aclose()

    async def trim(self) -> None:
        """Delete events older than ``max_age``."""
        cutoff_ms = int((time.time() - self.max_age) * 1000)
        await self.backplane.redis.xtrim(self._stream, minid=f"{cutoff_ms}-0")

    async def last_id(self) -> str:
        try:
            info = await self.backplane.redis.xinfo_stream(self._stream)
            return f"{_sid(info['last-generated-id'])}@{self.backplane.epoch}"
        except RedisError:
            return f"0-0@{self.backplane.epoch}"

    async def read(self, patterns: Iterable[str], after: str | None, limit: int = 1000) -> Page:
        matches = ChannelMatcher(list(patterns))
        redis = self.backplane.redis
        try:
            info = await redis.xinfo_stream(self._stream)
        except RedisError:
            info = None
        reset = False
        if after in (None, ""):
            events: list[dict[str, Any]] = []
            end = "+"
            while len(events) < limit:
                chunk = await redis.xrevrange(self._stream, end, "-", count=1000)
                for entry_id, fields in chunk:
                    envelope = self._envelope(entry_id, fields)
                    if matches(envelope["channel"]):
                        events.append(envelope)
                if len(chunk) < 1000:
                    break
                ms, seq = _parse_sid(_sid(chunk[-1][0]))
                end = f"({ms}-{seq}"
            return Page(events[:limit][::-1], False)
        start = self._start_after(after, info)
        if start is None:
            reset, start = True, "-"
        events = []
        while len(events) < limit:
            chunk = await redis.xrange(self._stream, start, "+", count=1000)
            for entry_id, fields in chunk:
                envelope = self._envelope(entry_id, fields)
                if matches(envelope["channel"]):
                    events.append(envelope)
            if len(chunk) < 1000:
                break
            start = f"({_sid(chunk[-1][0])}"
        return Page(events[:limit], reset)

    def _start_after(self, after: str, info: dict[bytes, Any] | None) -> str | None:
        """The XRANGE start for a cursor, or None when the cursor is older than what is kept,
        from another epoch, or unknown."""
        if after == "0":
            return "-"
        sid, _, epoch = after.partition("@")
        try:
            cursor = _parse_sid(sid)
        except ValueError:
            return None
        if epoch != self.backplane.epoch:
            return None
        if info is None:
            return "-" if cursor == (0, 0) else None
        last = _parse_sid(_sid(info["last-generated-id"]))
        deleted = _parse_sid(_sid(info.get("max-deleted-entry-id", b"0-0")))
        if cursor > last or cursor < deleted:
            return None
        return f"({sid}" if cursor != (0, 0) else "-"


async def _cancel_all(tasks: list[asyncio.Task[Any]], log: logging.Logger) -> None:
    """Cancel ``tasks`` and wait for them to end, cancelling again those that did not.

    Again, because a cancellation can be lost: at shutdown right after 300+ clients left, the
    event follower stayed in a redis-py XREAD, marked cancelling, and a single cancel left the
    server hanging on SIGTERM. Where redis-py absorbs it was not pinned down; cancelling again
    ends it (tests/test_scaleout.py checks the shutdown)."""
    pending = {task for task in tasks if not task.done()}
    for _ in range(10):
        if not pending:
            break
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
    else:
        log.warning("%d backplane tasks did not stop: %s", len(pending), pending)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" at exit


def _safe_url(url: str) -> str:
    """The URL without a password."""
    if "@" in url:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
