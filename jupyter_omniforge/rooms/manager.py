"""The room manager: opens rooms on first join, evicts them when idle, deletes them on request.

A room is loaded from the store once, however many peers join while it loads. After its last peer
leaves it stays open for ``idle_timeout`` seconds, then its pending writes are flushed and it is
dropped from memory, unless someone joined in the meantime.

Quotas: at most ``max_rooms`` rooms in memory (idle ones are dropped early to make room), and
each user may open at most ``rooms_per_minute`` rooms that were not open. Stored updates that fail
the gate are quarantined by the store, and the room opens from what remains.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pycrdt import Doc

from ..auth import Identity
from ..backplane.base import REMOTE, Backplane
from ..errors import OmniForgeError, RoomClosed, RoomNotFound, ServerBusy, TooManyRooms
from ..limits import RateQuota, RoomLimits
from ..names import RoomName
from ..store.compaction import fold_updates
from ..structure import Structure
from ..updates import is_decode_failure
from .peer import Peer
from .room import Room, RoomListener
from .roots import KIND_ROOTS

if TYPE_CHECKING:
    from ..store.base import RoomStore


class RoomManager(RoomListener):
    """All open rooms of this server. Forwards room happenings to its ``listeners``."""

    def __init__(
        self,
        store: RoomStore,
        *,
        backplane: Backplane | None = None,
        idle_timeout: float = 60.0,
        awareness_interval: float = 0.0,
        update_interval: float = 0.0,
        update_burst: int = 1,
        limits: RoomLimits | None = None,
        max_rooms: int = 10_000,
        rooms_per_minute: float = 0,
        roots: Callable[[RoomName], Mapping[str, str]] | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        """``rooms_per_minute`` 0 means no per-user limit on opening rooms; ``roots`` gives the
        roots (name -> type) the server reads a room's document with (default: those of its
        kind, :data:`~.roots.KIND_ROOTS`)."""
        self.roots = roots or (lambda name: KIND_ROOTS.get(name.kind, {}))
        self.store = store
        self.backplane = backplane
        self.idle_timeout = idle_timeout
        self.awareness_interval = awareness_interval
        self.update_interval = update_interval
        self.update_burst = update_burst
        self.limits = limits or RoomLimits()
        self.max_rooms = max_rooms
        self._open_quota = RateQuota(rooms_per_minute) if rooms_per_minute > 0 else None
        #: Stored updates moved aside because they failed the gate, since start.
        self.quarantined = 0
        self.log = log or logging.getLogger(__name__)
        self.rooms: dict[str, Room] = {}
        self.listeners: list[RoomListener] = []
        self._opening: dict[str, asyncio.Future[Room]] = {}
        self._evictions: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    # -- rooms -----------------------------------------------------------------------------------

    def counts(self) -> tuple[int, int]:
        """Rooms with a connection, and rooms in memory (the metrics' gauges)."""
        return sum(1 for room in self.rooms.values() if room.peers), len(self.rooms)

    def get(self, name: str) -> Room | None:
        return self.rooms.get(name)

    async def open(self, name: RoomName, opener: Identity | None = None) -> Room:
        """The open room called ``name``, loading it from the store if needed.

        ``opener`` is the user asking (None: the server itself); opening a room that is not open
        counts against their ``rooms_per_minute`` (:class:`TooManyRooms`). Raises
        :class:`ServerBusy` when ``max_rooms`` rooms are in memory and none is idle.
        """
        if self._closed:
            raise RoomClosed("the server is shutting down")
        key = str(name)
        room = self.rooms.get(key)
        if room is not None:
            return room
        opening = self._opening.get(key)
        if opening is not None:
            return await asyncio.shield(opening)
        await self._admit(key, opener)
        room = self.rooms.get(key)  # opened by someone else while we made room
        if room is not None:
            return room
        opening = self._opening.get(key)
        if opening is not None:
            return await asyncio.shield(opening)
        future: asyncio.Future[Room] = asyncio.get_running_loop().create_future()
        self._opening[key] = future
        try:
            stored = await self.store.load_authored(key)
            updates = [update for update, _ in stored]
            shared = await self.backplane.open_room(key) if self.backplane else []
            room = Room(
                name,
                self.store,
                self,
                awareness_interval=self.awareness_interval,
                update_interval=self.update_interval,
                update_burst=self.update_burst,
                limits=self.limits,
                roots=self.roots(name),
                log=self.log,
            )
            for _, reason in room.load(shared):
                self.log.error("room %s: skipped an update of the shared state: %s", key, reason)
            # What this instance kept that the shared state lacks (Redis lost data, or updates
            # that never reached it) goes back out: a CRDT merge makes that safe. A shared
            # store holds nothing the others lack.
            refused = room.load(
                updates,
                publish_missing=bool(self.backplane and self.backplane.shared)
                and not self.store.shared,
            )
            await self._quarantine(key, refused)
            self.rooms[key] = room
            self._opened(room, stored)
            future.set_result(room)
            self.log.debug("room %s opened from %d stored updates", key, len(updates))
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # mark retrieved: the joiners that wait get it raised
            raise
        finally:
            del self._opening[key]
        return room

    async def _admit(self, key: str, opener: Identity | None) -> None:
        """Check the quotas before opening room ``key``."""
        quota = self._open_quota
        if opener is not None and quota is not None and not quota.take(opener.username):
            raise TooManyRooms(
                f"{opener.username} opened more than {quota.per_minute:g} rooms in a minute "
                "(rooms_per_minute)"
            )
        if len(self.rooms) + len(self._opening) < self.max_rooms:
            return
        # Make room: drop idle rooms (no peers, waiting for their eviction) now.
        idle = [r for r in self.rooms.values() if not r.peers and r.key in self._evictions]
        for room in idle[: max(1, len(self.rooms) + len(self._opening) - self.max_rooms + 1)]:
            self._cancel_eviction(room.key)
            await self._evict(room)
        if len(self.rooms) + len(self._opening) >= self.max_rooms:
            raise ServerBusy(
                f"{self.max_rooms} rooms are open (max_rooms_in_memory); try again later"
            )

    async def _quarantine(self, key: str, refused: list[tuple[bytes, str]]) -> None:
        """Move stored updates that failed the gate aside, so they are never read again."""
        for update, reason in refused:
            self.quarantined += 1
            self.log.error(
                "room %s: quarantined a stored update of %d bytes: %s", key, len(update), reason
            )
            try:
                await self.store.quarantine(key, update, reason)
            except Exception:
                self.log.exception("room %s: could not quarantine a stored update", key)

    async def read(self, name: RoomName) -> bytes | None:
        """The stored document of ``name`` as one update, without opening the room (None: it
        does not exist). Stored updates that fail the gate are quarantined, not read."""
        key = str(name)
        room = self.rooms.get(key)
        if room is not None:
            return room.full_update()
        updates = await self.store.load(key)
        if not updates:
            return None
        good, refused = [], []
        structure = Structure(self.roots(name), max_depth=self.limits.max_depth)
        for update in updates:
            try:
                structure.check(update, limits=False)
            except OmniForgeError as e:
                refused.append((update, str(e)))
                continue
            good.append(update)
        await self._quarantine(key, refused)
        try:
            return fold_updates(good)
        except BaseException as e:
            if not is_decode_failure(e):
                raise
            self.log.error("room %s: stored updates do not fold: %s", key, e)
            return None

    async def join(self, name: RoomName, peer: Peer) -> Room:
        """Open ``name`` if needed (on behalf of ``peer``'s user) and add ``peer`` to it."""
        room = await self.open(name, peer.identity)
        self._cancel_eviction(room.key)
        room.join(peer)
        return room

    def leave(self, room: Room, peer: Peer) -> None:
        """Remove ``peer``; an empty room is evicted after ``idle_timeout``."""
        room.leave(peer)
        self.release_if_idle(room)

    def release_if_idle(self, room: Room) -> None:
        """Schedule eviction of ``room`` if nobody is in it (after a server-side change, say)."""
        if not room.peers and not room.closed and self.rooms.get(room.key) is room:
            self._schedule_eviction(room)

    def _schedule_eviction(self, room: Room) -> None:
        self._cancel_eviction(room.key)
        loop = asyncio.get_running_loop()
        self._evictions[room.key] = loop.call_later(
            self.idle_timeout, lambda: self._spawn(self._evict(room))
        )

    def _cancel_eviction(self, key: str) -> None:
        handle = self._evictions.pop(key, None)
        if handle is not None:
            handle.cancel()

    async def _evict(self, room: Room) -> None:
        self._evictions.pop(room.key, None)
        # Flush before dropping: a room is never forgotten with writes still in memory only.
        await self.store.flush()
        if room.peers or self.rooms.get(room.key) is not room:
            return  # someone joined while we flushed
        room.close()
        del self.rooms[room.key]
        if self.backplane is not None:
            self.backplane.close_room(room.key)
        self.log.debug("room %s evicted", room.key)

    async def delete(self, name: RoomName) -> None:
        """Disconnect everyone from ``name`` and forget its document, in memory and on disk."""
        key = str(name)
        room = self.rooms.pop(key, None)
        self._cancel_eviction(key)
        if room is None and key not in await self.store.stored_rooms():
            raise RoomNotFound(f"room {key!r} does not exist")
        if room is not None:
            room.close(RoomClosed(f"room {key} was deleted"))
        await self.store.delete(key)
        if self.backplane is not None:
            self.backplane.close_room(key)
            await self.backplane.delete_room(key)

    async def close(self) -> None:
        """Disconnect every peer, flush the store. Further joins are refused."""
        self._closed = True
        for key in list(self._evictions):
            self._cancel_eviction(key)
        for room in list(self.rooms.values()):
            room.close(RoomClosed("the server is shutting down"))
        self.rooms.clear()
        for task in list(self._tasks):
            task.cancel()
        await self.store.flush()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("room task failed", exc_info=task.exception())

    # -- RoomListener: forward to whoever listens --------------------------------------------------

    def _forward(self, method: str, *args: Any) -> None:
        for listener in self.listeners:
            try:
                getattr(listener, method)(*args)
            except Exception:  # a listener's failure must never break a room
                self.log.exception("room listener %r failed in %s", listener, method)

    def _opened(self, room: Room, stored: list[tuple[bytes, str]]) -> None:
        """Tell the listeners that have a ``room_opened(room, stored)`` (the version history)
        what ``room`` was opened from: its stored updates, each with its author."""
        for listener in self.listeners:
            opened = getattr(listener, "room_opened", None)
            if opened is None:
                continue
            try:
                opened(room, stored)
            except Exception:  # a listener's failure must never break a room
                self.log.exception("room listener %r failed in room_opened", listener)

    def user_joined(self, room: Room, identity: Identity) -> None:
        self._forward("user_joined", room, identity)

    def user_left(self, room: Room, identity: Identity) -> None:
        self._forward("user_left", room, identity)

    def room_updated(self, room: Room, update: bytes, origin: Any) -> None:
        if self.backplane is not None and origin is not REMOTE:
            self.backplane.publish_authored_update(room.key, update, room.last_author)
        self._forward("room_updated", room, update, origin)

    def awareness_changed(self, room: Room, awareness_update: bytes, origin: Any) -> None:
        if self.backplane is not None and origin is not REMOTE:
            self.backplane.publish_awareness(room.key, awareness_update)
        self._forward("awareness_changed", room, awareness_update, origin)

    def room_discarded(self, room: Room) -> None:
        """Forget ``room``, which closed itself: the next open reads it from the store again.
        Not forwarded: for the listeners, the room's peers just left."""
        if self.rooms.get(room.key) is not room:
            return
        del self.rooms[room.key]
        self._cancel_eviction(room.key)
        if self.backplane is not None:
            self.backplane.close_room(room.key)

    # -- RoomSink: what other instances send through the backplane --------------------------------

    def apply_remote_update(self, key: str, update: bytes) -> bool:
        """Apply an update another instance published; False when it was refused (it fails the
        gate or does not decode: Redis entries are untrusted) and dropped; True otherwise (also
        when the room is not open here: nothing to apply)."""
        room = self.rooms.get(key)
        if room is None:
            return True  # not open here: whoever opens it reads the shared state
        try:
            room.apply_update(update, origin=REMOTE)
        except OmniForgeError as e:
            self.log.error("room %s: dropped an update from another instance: %s", key, e)
            return False
        return True

    def apply_remote_awareness(self, key: str, instance: str, awareness_update: bytes) -> bool:
        """Apply another instance's awareness; False when the room refused it."""
        room = self.rooms.get(key)
        if room is not None:
            try:
                room.apply_remote_awareness(instance, awareness_update)
            except OmniForgeError as e:
                self.log.error("room %s: dropped awareness from %s: %s", key, instance, e)
                return False
        return True

    def forget_remote_instance(self, instance: str) -> None:
        for room in list(self.rooms.values()):
            room.remove_remote_awareness(instance)

    def sync_remote_state(self, key: str, shared: list[bytes]) -> bytes | None:
        """Merge the shared state of an open room (after a reconnect): apply what this
        instance lacks; return what the shared state lacks (to publish), or None."""
        room = self.rooms.get(key)
        if room is None:
            return None
        # Straight into the room's own document: shared updates whose dependencies only this
        # instance holds (Redis lost them) integrate there, where a scratch document would
        # keep them pending and silently leave them out of any diff.
        room.merge(shared, origin=REMOTE)
        theirs = Doc()
        structure = Structure(max_depth=self.limits.max_depth)
        for update in shared:
            try:
                structure.check(update, limits=False)
                theirs.apply_update(update)
            except BaseException as e:
                if not is_decode_failure(e):
                    raise
        missing_there = room.doc.get_update(theirs.get_state())
        return missing_there if missing_there != b"\x00\x00" else None

    def expire_remote_awareness(self, older_than: float) -> None:
        """Drop other instances' states not renewed since ``older_than`` (time.monotonic())."""
        for room in list(self.rooms.values()):
            for instance in room.remote_instances():
                room.remove_remote_awareness(instance, older_than)

    def remote_instances(self) -> set[str]:
        return {i for room in self.rooms.values() for i in room.remote_instances()}

    def local_awareness(self, key: str) -> bytes | None:
        room = self.rooms.get(key)
        return room.local_awareness() if room is not None else None
