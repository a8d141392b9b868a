"""The Redis backplane: the parts of this package, put together behind :class:`Backplane`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from ...backoff import Backoff
from ...store.base import RoomStore
from ..base import Backplane, BackplaneSettings, Lease, RoomSink
from . import awareness as aw
from . import entries
from .awareness import AwarenessChannel
from .connection import TRANSIENT, RedisConnection, safe_url
from .entries import MalformedCounts, MalformedEntry
from .events import RedisEventLog
from .history import RedisClientAuthors, RedisHistoryStore
from .instances import Instances
from .leases import RedisLease
from .outbox import Outbox
from .persistence import SharedRoomStore, StreamPersister
from .revocations import SharedRevocations
from .rooms import RoomStreams

#: With a shared store: how long a persist may hold a room's lease, in milliseconds.
PERSIST_LEASE_MS = 5_000


class RedisBackplane(Backplane):
    """Rooms over Redis streams, awareness over pub/sub, events over one shared stream.

    A room is folded into its snapshot after this instance appended ``compact_after`` updates
    to it, and ``compact_idle`` seconds after the last one (0: only by count).
    """

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
        compact_idle: float = 5.0,
        trim_grace: float = 60.0,
        connect_timeout: float = 5.0,
        heartbeat_interval: float = 2.0,
        awareness_timeout: float = 30.0,
        cipher: Any = None,
        log: logging.Logger | None = None,
    ) -> None:
        try:
            entries.instance_name(instance_id)
        except MalformedEntry as e:
            raise ValueError(f"instance_id: {e} (it is part of Redis keys and messages)") from e
        self.instance_id = instance_id
        self.heartbeat_interval = heartbeat_interval
        self.awareness_timeout = awareness_timeout
        self.log = log or logging.getLogger(__name__)
        self.malformed_entries = MalformedCounts(self.log)
        common = {"malformed": self.malformed_entries, "log": self.log}
        self.connection = RedisConnection(
            url, prefix=prefix, connect_timeout=connect_timeout, cipher=cipher, **common
        )
        self.outbox = Outbox(self.connection, instance_id, **common)
        self.instances = Instances(
            self.connection,
            instance_id,
            rooms_info=rooms_info,
            malformed=self.malformed_entries,
            ttl=max(1, round(heartbeat_interval * 3)),
        )
        self.rooms = RoomStreams(
            self.connection,
            self.outbox,
            instance_id,
            live_instances=self.instances.live,
            compact_after=compact_after,
            compact_idle=compact_idle,
            trim_grace=trim_grace,
            **common,
        )
        self.awareness = AwarenessChannel(self.connection, self.outbox, instance_id, **common)
        self.revocations = SharedRevocations(self.connection, self.awareness, **common)
        self.event_log = RedisEventLog(
            self.connection, instance_id, max_len=event_max_len, max_age=event_max_age, **common
        )
        self.history = RedisHistoryStore(self.connection, self.malformed_entries)
        self.client_authors = RedisClientAuthors(self.connection, self.malformed_entries)
        self.outbox.on_enrolled = lambda room: self.awareness.publish(room, aw.WRITER)
        self.outbox.on_appended = self.rooms.appended
        self._tasks: list[asyncio.Task[Any]] = []
        #: With a shared store (:meth:`use_shared_store`): persists the rooms' streams there.
        self.persister: StreamPersister | None = None

    @classmethod
    def from_settings(cls, settings: BackplaneSettings) -> RedisBackplane:
        if not settings.url:
            raise ValueError("the Redis backplane needs a Redis URL (OmniForgeApp.redis_url)")
        return cls(
            settings.url,
            instance_id=settings.instance_id,
            prefix=settings.prefix,
            rooms_info=settings.rooms_info,
            event_max_len=settings.event_max_len,
            event_max_age=settings.event_max_age,
            compact_after=settings.compact_max_updates,
            compact_idle=settings.compact_idle,
            connect_timeout=settings.connect_timeout,
            cipher=settings.cipher,
            log=settings.log,
        )

    @property
    def healthy(self) -> bool:
        """False while this instance cannot reach Redis or is catching up after that."""
        return self.connection.healthy

    @property
    def epoch(self) -> str | None:
        return self.connection.epoch

    def malformed(self) -> dict[str, int]:
        return self.malformed_entries.as_dict()

    def attach(self, rooms: RoomSink) -> None:
        super().attach(rooms)
        self.rooms.attach(rooms)

    def lease(self, name: str, ttl: float) -> Lease:
        return RedisLease(self.connection, name, ttl, self.malformed_entries)

    def use_shared_store(
        self, rooms: RoomStore, *, ttl: float, persist_interval: float = 1.0
    ) -> RoomStore:
        self.rooms.persist_interval = persist_interval
        self.persister = StreamPersister(
            self.connection,
            self.rooms,
            rooms,
            self.instances,
            ttl=ttl,
            malformed=self.malformed_entries,
            log=self.log,
        )
        self.rooms.persister = self.persister
        # A short lease: a holder killed mid-persist holds the room up for this long only. Two
        # holders at once (one outlived its lease) are safe: the store's marker check lets
        # one of them commit.
        self.rooms.lease_ms = PERSIST_LEASE_MS
        return SharedRoomStore(rooms)

    async def health(self) -> str:
        return self.persister.problem if self.persister is not None else ""

    async def _sweep(self) -> None:
        assert self.persister is not None
        interval = max(0.5, min(self.persister.ttl / 2, 60.0))
        lease = RedisLease(
            self.connection, "sweep", max(10.0, interval * 3), self.malformed_entries
        )
        await self.persister.sweep(lease, interval)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.connection.start()
        await self._load_revocations()
        for loop in (
            lambda: self.rooms.follow(self._recovered),
            self.event_log.follow,
            lambda: self.awareness.follow(self._on_awareness),
            self.outbox.run,
            self._heartbeat,
            *([self._sweep] if self.persister is not None else []),
        ):
            self._tasks.append(asyncio.ensure_future(self._supervise(loop)))
        self.log.info(
            "OmniForge instance %s joined Redis %s", self.instance_id, safe_url(self.connection.url)
        )

    async def close(self) -> None:
        # Give pending updates a moment to reach Redis; they are in SQLite anyway.
        await self.outbox.drained(2)
        await self.rooms.close()
        await _cancel_all(self._tasks, self.log)
        if self._tasks:
            try:
                await self.instances.leave()
            except TRANSIENT:
                pass
        await self.connection.close()

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
                self.log.exception("backplane task failed; restarting it")
                self.connection.healthy = False
                await backoff.wait()

    async def _recovered(self) -> None:
        """After a connection loss: check the epoch, merge every open room both ways."""
        await self.connection.check_epoch()
        self.outbox.enrol_again()  # the writers sets may be gone
        await self.rooms.resync_all()
        self.connection.data_lost = False
        await self._load_revocations()  # announcements made meanwhile were lost
        self.connection.healthy = True

    # -- rooms -----------------------------------------------------------------------------------

    async def open_room(self, room: str) -> list[bytes]:
        updates = await self.rooms.open(room)
        self.awareness.publish(room, aw.QUERY)  # ask the others for their states
        return updates

    def close_room(self, room: str) -> None:
        self.rooms.stop_following(room)

    def publish_update(self, room: str, update: bytes) -> None:
        self.publish_authored_update(room, update, "")

    def publish_authored_update(self, room: str, update: bytes, author: str) -> None:
        # Only a shared store's rows keep it (each instance's own journal has it already); in
        # the clear, as the rows' authors are stored (metadata).
        if self.persister is None or not entries.is_author(author):
            author = ""
        self.outbox.append(room, self.connection.seal(update, room), author)

    async def delete_room(self, room: str) -> None:
        await self.rooms.delete(room)

    # -- awareness -------------------------------------------------------------------------------

    def publish_awareness(self, room: str, awareness_update: bytes) -> None:
        if self._tasks:  # not before start: nobody would hear it
            self.awareness.publish(room, aw.UPDATE, awareness_update)

    def _on_awareness(self, instance: str, room: str, kind: bytes, payload: bytes) -> None:
        if kind == aw.UPDATE:
            if self.sink.apply_remote_awareness(room, instance, payload) is False:
                self.malformed_entries.skip(
                    "awareness", None, f"from {instance} in {room!r}: refused by the room"
                )
        elif kind == aw.WRITER:
            self.rooms.add_writer(room, instance)
        elif kind == aw.QUERY:
            states = self.sink.local_awareness(room)
            if states is not None:
                self.publish_awareness(room, states)
        elif kind == aw.REVOKED:
            revoked = self.revocations.received(room, payload)
            if revoked is not None and self.on_revoked is not None:
                self.on_revoked(*revoked)

    # -- revoked tokens --------------------------------------------------------------------------

    async def share_revocation(self, jti: str, expires: float) -> None:
        await self.revocations.share(jti, expires)

    async def _load_revocations(self) -> None:
        """Apply the revocations the other instances shared (those made while this one was
        away or cut off included)."""
        if self.on_revoked is None:
            return
        try:
            revoked = await self.revocations.load()
        except TRANSIENT as e:
            self.log.warning("could not read the revoked tokens of the other instances: %s", e)
            return
        for jti, expires in revoked.items():
            self.on_revoked(jti, expires)

    # -- instances -------------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        beats = 0
        while True:
            beats += 1
            try:
                if beats % 30 == 1:
                    await self.event_log.trim()
                await self.instances.beat()
                await self.connection.check_epoch()
                if self.connection.data_lost:
                    # Redis lost its data while we stayed connected, noticed here or by another
                    # reader (the event stream's checks the epoch after an error too): an
                    # instance that follows no other writer's stream never sees its reads fail.
                    await self._recovered()
                live = await self.instances.live()
                await self.rooms.refresh_writers()
                for instance in self.sink.remote_instances() - live:
                    self.log.info("instance %s is gone: dropping its awareness states", instance)
                    self.sink.forget_remote_instance(instance)
                self.sink.expire_remote_awareness(time.monotonic() - self.awareness_timeout)
            except TRANSIENT:
                self.connection.healthy = False
            except Exception:
                self.log.exception("heartbeat failed")
            await asyncio.sleep(self.heartbeat_interval)

    async def cluster(self) -> list[dict[str, Any]]:
        instances = await self.instances.list()
        for info in instances:
            info["self"] = info["id"] == self.instance_id
            if info["self"]:
                info["healthy"] = self.healthy
        return instances


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
