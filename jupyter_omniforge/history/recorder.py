"""Takes the versions of each room: a room listener that counts who sent which update since the
last version, and checkpoints after a quiet spell, every N updates, before the store folds a
room's log, at shutdown, and when a user names or restores a version."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from ..auth import Identity
from ..errors import OmniForgeError, RoomNotFound
from ..rooms.peer import Peer
from . import authorship

if TYPE_CHECKING:
    from ..events.bus import EventBus
    from ..names import RoomName
    from ..rooms.manager import RoomManager
    from ..rooms.room import Room
    from ..store.base import HistoryStore

Runs = dict[str, list[list[Any]]]


class VersionNotFound(OmniForgeError):
    """The room has no version with that id."""

    http_status = 404
    code = "version_not_found"


class _Pending:
    """What a room gained since its last version: the authored updates, in order, and how many
    each user sent (with the display name to show)."""

    __slots__ = ("authors", "last", "name", "timer", "updates")

    def __init__(self, name: RoomName) -> None:
        self.name = name
        self.updates: list[tuple[str, bytes]] = []
        self.authors: dict[str, list[Any]] = {}  # username -> [display_name, updates]
        self.timer: asyncio.TimerHandle | None = None
        self.last = 0.0  # loop time of the last update


class HistoryRecorder:
    """A room listener that records versions into a :class:`HistoryStore`.

    A version's runs (who wrote each character) are the previous version's runs replayed with
    the authored updates since (:func:`.authorship.replay`), then with the room's actual state
    as unknown-author content: so content that reached the room some other way (loaded from the
    store after a crash, another instance's) shows as "" rather than being missed."""

    def __init__(
        self,
        history: HistoryStore,
        manager: RoomManager,
        *,
        idle: float = 60.0,
        max_updates: int = 500,
        retention_seconds: float = 30 * 86400,
        max_versions: int = 1000,
        bus: EventBus | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        """``bus``: where ``room.restored`` events go (None: none are emitted)."""
        self.history = history
        self.bus = bus
        self.manager = manager
        self.idle = idle
        self.max_updates = max_updates
        self.retention_seconds = retention_seconds
        self.max_versions = max_versions
        self.log = log or logging.getLogger(__name__)
        self._pending: dict[str, _Pending] = {}
        # Per room: its lock and how many checkpoints hold or await it (forgotten at 0).
        self._locks: dict[str, list[Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    # -- RoomListener ----------------------------------------------------------------------------

    def room_updated(self, room: Room, update: bytes, origin: Any) -> None:
        if self._closed:
            return
        pending = self._pending.get(room.key)
        if pending is None:
            pending = self._pending[room.key] = _Pending(room.name)
        author = room.last_author
        pending.updates.append((author, update))
        counted = pending.authors.setdefault(author, [_display_name(origin, author), 0])
        counted[1] += 1
        if len(pending.updates) >= self.max_updates:
            self._spawn(self.checkpoint(room.name))
            return
        # One timer per quiet spell, not one per update: when it fires early it waits again.
        loop = asyncio.get_running_loop()
        pending.last = loop.time()
        if pending.timer is None:
            pending.timer = loop.call_later(self.idle, self._check_idle, room.key, pending)

    def _check_idle(self, key: str, pending: _Pending) -> None:
        if self._pending.get(key) is not pending:
            return  # taken by a checkpoint meanwhile
        remaining = pending.last + self.idle - asyncio.get_running_loop().time()
        if remaining > 0:
            pending.timer = asyncio.get_running_loop().call_later(
                remaining, self._check_idle, key, pending
            )
            return
        pending.timer = None
        self._spawn(self.checkpoint(pending.name))

    def user_joined(self, room: Room, identity: Identity) -> None:
        pass

    def user_left(self, room: Room, identity: Identity) -> None:
        pass

    def awareness_changed(self, room: Room, awareness_update: bytes, origin: Any) -> None:
        pass

    # -- versions --------------------------------------------------------------------------------

    async def before_compaction(self, room: str) -> None:
        """The store is about to fold ``room``'s log: put what no version holds yet into one."""
        pending = self._pending.get(room)
        if pending is not None and pending.updates:
            await self.checkpoint(pending.name)

    async def checkpoint(
        self,
        name: RoomName,
        *,
        kind: str = "auto",
        label: str | None = None,
        actor: Identity | None = None,
    ) -> dict[str, Any] | None:
        """Store a version of the room's current document; its VERSION. An automatic one is
        taken only when the room changed since its last version (else None). Raises
        :class:`~..errors.RoomNotFound` for a room that does not exist."""
        key = str(name)
        pending = self._pending.get(key)
        if kind == "auto" and (pending is None or not pending.updates):
            return None
        # Taken now, with no await between: what the version holds and what it owes its
        # authorship to (updates arriving while it is stored go to the next version).
        pending = self._pending.pop(key, None)
        if pending is not None and pending.timer is not None:
            pending.timer.cancel()
        room = self.manager.get(key)
        state = room.full_update() if room is not None else None
        # One version of a room at a time, in the order they were taken (the lock is FIFO):
        # each one's authorship is replayed on top of the one before.
        entry = self._locks.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                return await self._store(name, kind, label, actor, pending, state)
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[key]

    async def _store(
        self,
        name: RoomName,
        kind: str,
        label: str | None,
        actor: Identity | None,
        pending: _Pending | None,
        state: bytes | None,
    ) -> dict[str, Any]:
        """Work out the authorship of ``state`` (read now if None) and store it as a version."""
        key = str(name)
        if state is None:
            state = await self.manager.read(name)
        if state is None:
            raise RoomNotFound(f"room {key} does not exist")
        previous = await self._latest(key)
        updates = pending.updates if pending else []
        runs = await asyncio.to_thread(_runs_of, previous, updates, state)
        version = await self.history.add_version(
            key, state, runs, kind=kind, label=label, authors=_authors(pending, actor)
        )
        await self.history.prune(
            key, older_than=time.time() - self.retention_seconds, keep=self.max_versions
        )
        return version

    async def restore(self, name: RoomName, version_id: str, actor: Identity) -> dict[str, Any]:
        """Make the room's document equal to version ``version_id`` with one forward update
        through the room (every peer converges; edits made meanwhile merge on top), recorded
        as a new version of kind "restored". Returns that VERSION. Raises
        :class:`VersionNotFound`."""
        key = str(name)
        found = await self.history.get_version(key, version_id)
        if found is None:
            raise VersionNotFound(f"room {key} has no version {version_id!r}")
        _, state, _ = found
        room = await self.manager.open(name, opener=actor)
        try:
            room.change(lambda doc: authorship.forward_changes(doc, state), origin=actor)
        finally:
            self.manager.release_if_idle(room)  # opened for this alone: evicted as usual
        version = await self.checkpoint(
            name, kind="restored", label=f"restored from {version_id}", actor=actor
        )
        assert version is not None
        if self.bus is not None:
            data = {"version": version_id, "restored_as": version["id"], "username": actor.username}
            await self.bus.emit(key, "room.restored", data, source=actor.as_source(), internal=True)
        return version

    async def current(self, name: RoomName) -> tuple[bytes, Runs]:
        """The room's current document and its authorship runs, without storing a version.
        Raises :class:`~..errors.RoomNotFound`."""
        key = str(name)
        previous = await self._latest(key)
        pending = self._pending.get(key)
        updates = list(pending.updates) if pending else []
        room = self.manager.get(key)
        state = room.full_update() if room is not None else await self.manager.read(name)
        if state is None:
            raise RoomNotFound(f"room {key} does not exist")
        return state, await asyncio.to_thread(_runs_of, previous, updates, state)

    async def _latest(self, room: str) -> tuple[dict[str, Any], bytes, Runs] | None:
        newest = await self.history.list_versions(room, limit=1)
        if not newest:
            return None
        return await self.history.get_version(room, newest[0]["id"])

    async def forget(self, room: str) -> None:
        """``room`` was deleted: drop what was pending and every version of it."""
        pending = self._pending.pop(room, None)
        if pending is not None and pending.timer is not None:
            pending.timer.cancel()
        await self.history.delete(room)

    # -- lifecycle -------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        if self._closed:
            coro.close()
            return
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("could not take a history checkpoint", exc_info=task.exception())

    async def close(self) -> None:
        """Take a last version of every room with updates no version holds, then record no more.
        Call while the rooms and the store are still open."""
        for key in [key for key, pending in self._pending.items() if pending.updates]:
            try:
                await self.checkpoint(self._pending[key].name)
            except Exception:
                self.log.exception("could not take the last history checkpoint of room %s", key)
        self._closed = True
        for pending in self._pending.values():
            if pending.timer is not None:
                pending.timer.cancel()
        while unfinished := [task for task in self._tasks if not task.done()]:
            await asyncio.wait(unfinished)


def _display_name(origin: Any, author: str) -> str:
    identity = origin.identity if isinstance(origin, Peer) else origin
    if isinstance(identity, Identity) and identity.username == author:
        return identity.shown_name
    return author


def _authors(pending: _Pending | None, actor: Identity | None) -> list[dict[str, Any]]:
    counted = dict(pending.authors) if pending else {}
    if actor is not None and actor.username not in counted:
        counted[actor.username] = [actor.shown_name, 0]
    return [
        {"username": username, "display_name": display, "updates": updates}
        for username, (display, updates) in counted.items()
    ]


def _runs_of(
    previous: tuple[dict[str, Any], bytes, Runs] | None,
    updates: list[tuple[str, bytes]],
    state: bytes,
) -> Runs:
    """The authorship runs of ``state``: the previous version's, replayed with the authored
    updates since, then with ``state`` itself as unknown-author content (what reached the room
    without passing here)."""
    base_state, base_runs = (previous[1], previous[2]) if previous else (b"", {})
    replayed, runs = authorship.replay(base_state, base_runs, updates)
    _, runs = authorship.replay(replayed, runs, [("", state)])
    return runs
