"""Takes the versions of each room: a room listener that counts who sent which update since the
last version, and checkpoints after a quiet spell, every N updates, before the store folds a
room's log, at shutdown, and when a user names or restores a version."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from pycrdt import get_update

from ..auth import Identity, is_safe_color
from ..errors import OmniForgeError, RoomNotFound
from ..rooms.peer import Peer
from ..rooms.protocol import decode_awareness_update
from ..updates import UpdateRefused, is_decode_failure, read_structs
from . import authorship

if TYPE_CHECKING:
    from ..backplane.base import Lease
    from ..events.bus import EventBus
    from ..names import RoomName
    from ..rooms.manager import RoomManager
    from ..rooms.room import Room
    from ..store.base import HistoryStore

Runs = dict[str, list[list[Any]]]
Version = tuple[dict[str, Any], bytes, Runs]

#: How many updates a room that another instance takes the versions of keeps at most, for
#: when this one takes them (older ones are in a version by then, or shown as unknown).
_KEEP_UNRECORDED = 4
#: Seconds an update from another instance may arrive ahead of the record of its client.
_LATE_NOTE = 0.25
#: Authors a ``room.versioned`` event names at most (the version itself lists them all).
_EVENT_AUTHORS = 20
#: Rooms whose versions are not announced: the server writes them from their channel's own
#: events (events/room_state.py), where a ``room.versioned`` would show as a step of the run.
_UNANNOUNCED_KINDS = frozenset({"build", "deployment"})


class ClientAuthors(Protocol):
    """Who sent each Yjs client's updates, shared by the instances of a deployment (with
    Redis: :class:`~..backplane.redis.history.RedisClientAuthors`). An update another instance
    applied reaches this one without its author: the version attributes it by its client."""

    async def note(self, room: str, clients: dict[int, tuple[str, str]]) -> None:
        """Record ``client -> (username, display name)``; a known client keeps its first."""

    async def lookup(self, room: str, clients: list[int]) -> dict[int, tuple[str, str]]:
        """The recorded users of these clients (those known)."""

    async def forget(self, room: str) -> None:
        """``room`` was deleted."""


class VersionNotFound(OmniForgeError):
    """The room has no version with that id."""

    http_status = 404
    code = "version_not_found"


class _Pending:
    """What a room gained since its last version: the authored updates, in order, and how many
    each user sent (with the display name to show)."""

    __slots__ = ("authors", "colors", "elsewhere", "last", "name", "timer", "updates")

    def __init__(self, name: RoomName) -> None:
        self.name = name
        self.updates: list[tuple[str, bytes]] = []
        self.authors: dict[str, list[Any]] = {}  # username -> [display_name, updates]
        self.colors: dict[str, str] = {}  # username -> the colour they are shown in
        self.timer: asyncio.TimerHandle | None = None
        self.last = 0.0  # loop time of the last update
        # Loop time until which another instance holds the room's history lease (0: none).
        self.elsewhere = 0.0


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
        lease: Callable[[str], Lease] | None = None,
        clients: ClientAuthors | None = None,
        compact: Callable[[str], Awaitable[None]] | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        """``bus``: where ``room.versioned`` and ``room.restored`` events go (None: none are
        emitted).

        Several instances sharing one history (Redis): ``lease(room)`` is the room's history
        lease, which the instance taking automatic versions holds (None: this one takes them
        all); versions users ask for (named, restored) are taken where they are asked.
        ``clients`` attributes the updates other instances applied (None: they are shown as
        by nobody). ``compact(room)`` folds the room's stored log: called after a version of a
        room whose compaction waited for one (:meth:`defers_compaction`)."""
        self.history = history
        self.lease = lease
        self.clients = clients
        self.compact = compact
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
        self._leases: dict[str, Lease] = {}
        # Per room: the Yjs clients whose user is recorded in ``clients`` already.
        self._noted: dict[str, set[int]] = {}
        # Rooms whose compaction waits for their next version.
        self._deferred: set[str] = set()

    # -- RoomListener ----------------------------------------------------------------------------

    def room_updated(self, room: Room, update: bytes, origin: Any) -> None:
        if self._closed:
            return
        pending = self._pending.get(room.key)
        if pending is None:
            pending = self._pending[room.key] = _Pending(room.name)
        author = room.last_author
        pending.updates.append((author, update))
        counted = pending.authors.get(author)
        if counted is None:
            # Once per author and version: who they are shown as, and in which colour.
            counted = pending.authors[author] = [_display_name(origin, author), 0]
            color = shown_color(room, origin, author)
            if color is not None:
                pending.colors[author] = color
        counted[1] += 1
        if self.clients is not None:
            self._note_client(
                room.key, update, author if isinstance(origin, Peer) else "", counted[0]
            )
        loop = asyncio.get_running_loop()
        if len(pending.updates) >= self.max_updates and loop.time() >= pending.elsewhere:
            self._spawn(self.checkpoint(room.name))
            return
        # One timer per quiet spell, not one per update: when it fires early it waits again.
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

    def _note_client(self, key: str, update: bytes, author: str, display_name: str) -> None:
        """Share who ``update``'s Yjs client is, the first time this instance sees it, if it
        came from a connection here (``author``). A client first seen in another instance's
        update is that instance's to record: a connection here that sends its updates later
        only echoes them (a client may send back what it received)."""
        noted = self._noted.setdefault(key, set())
        new = clients_of(update) - noted
        if not new:
            return
        noted.update(new)
        if author:
            assert self.clients is not None
            self._spawn(self.clients.note(key, dict.fromkeys(new, (author, display_name))))

    def room_opened(self, room: Room, stored: list[tuple[bytes, str]]) -> None:
        """``room`` was opened from ``stored`` (its snapshot and log, each with its author).
        When this process holds nothing pending for it (it was restarted, perhaps killed), the
        logged updates no version holds yet are attributed from there: they become pending,
        and the next version credits their authors (those a version holds change nothing)."""
        if self.clients is not None:
            # What the room holds came from elsewhere: a connection here sending it again
            # only echoes it (see _note_client).
            self._noted.setdefault(room.key, set()).update(_vector_clients(room.doc.get_state()))
        if self._closed or room.key in self._pending or not any(a for _, a in stored):
            return
        pending = self._pending[room.key] = _Pending(room.name)
        for update, author in stored:
            pending.updates.append((author, update))
            pending.authors.setdefault(author, [author, 0])[1] += 1
        loop = asyncio.get_running_loop()
        pending.last = loop.time()
        pending.timer = loop.call_later(self.idle, self._check_idle, room.key, pending)

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

    def defers_compaction(self, room: str) -> bool:
        """Whether the store should not fold ``room``'s log now (a store that asks folds
        when quiet or by count): True while updates no version holds are pending here and
        this instance takes the room's versions. The next automatic version (after
        ``idle`` seconds of quiet, or ``max_updates`` updates) then compacts the room, so
        compaction adds no versions and still folds nothing a version does not hold."""
        pending = self._pending.get(room)
        if self.compact is None or pending is None or not pending.updates:
            return False
        if asyncio.get_running_loop().time() < pending.elsewhere:
            return False  # another instance takes the versions: this log is folded as usual
        self._deferred.add(room)
        return True

    async def checkpoint(
        self,
        name: RoomName,
        *,
        kind: str = "auto",
        label: str | None = None,
        actor: Identity | None = None,
        here: bool = False,
    ) -> dict[str, Any] | None:
        """Store a version of the room's current document; its VERSION. An automatic one is
        taken only when the room changed since its last version (else None), and only by the
        instance holding the room's history lease unless ``here``. Raises
        :class:`~..errors.RoomNotFound` for a room that does not exist."""
        key = str(name)
        pending = self._pending.get(key)
        if kind == "auto" and (pending is None or not pending.updates):
            return None
        if kind == "auto" and not here and not await self._takes_versions(key):
            return None
        # Taken now, with no await between: what the version holds and what it owes its
        # authorship to (updates arriving while it is stored go to the next version).
        pending = self._pending.pop(key, None)
        if pending is not None and pending.timer is not None:
            pending.timer.cancel()
        room = self.manager.get(key)
        state = room.full_update() if room is not None else None
        colors = dict(pending.colors) if pending is not None else {}
        if actor is not None and actor.username not in colors:
            colors[actor.username] = shown_color(room, actor, actor.username) or actor.color
        # One version of a room at a time, in the order they were taken (the lock is FIFO):
        # each one's authorship is replayed on top of the one before.
        entry = self._locks.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                version = await self._store(name, kind, label, actor, pending, state, colors)
        except BaseException:
            if pending is not None:
                self._requeue(key, pending)  # the next version holds them (Redis was down?)
            raise
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[key]
        if key in self._deferred and self.compact is not None:
            self._deferred.discard(key)
            if key in self._pending and self._pending[key].updates:
                self._deferred.add(key)  # updates came meanwhile: at the next version
            else:
                try:
                    await self.compact(key)
                except Exception:
                    self.log.exception("could not compact room %s after its version", key)
        if version is not None:
            await self._announce(name, version, actor)
        return version

    async def _announce(
        self, name: RoomName, version: dict[str, Any], actor: Identity | None
    ) -> None:
        """Emit ``room.versioned`` on the room's channel (the History panels update from it),
        but for build and deployment rooms. A version is kept whether or not its event could
        be: a failure is only logged."""
        if self.bus is None or (name.namespace is None and name.kind in _UNANNOUNCED_KINDS):
            return
        key = str(name)
        authors = version.get("authors") or []
        data = {
            **version,
            "authors": authors[:_EVENT_AUTHORS],
            "authors_total": len(authors),
        }
        source = actor.as_source() if actor is not None else None
        try:
            await self.bus.emit(key, "room.versioned", data, source=source, internal=True)
        except Exception as e:
            self.log.warning("could not emit room.versioned for room %s: %s", key, e)

    def _requeue(self, key: str, pending: _Pending) -> None:
        """Put ``pending`` back ahead of what came since it was taken."""
        current = self._pending.get(key)
        if current is None:
            self._pending[key] = pending
            pending.timer = asyncio.get_running_loop().call_later(
                self.idle, self._check_idle, key, pending
            )
            return
        current.updates[:0] = pending.updates
        for author, (display, _) in pending.authors.items():
            current.authors.setdefault(author, [display, 0])
        for author, color in pending.colors.items():
            current.colors.setdefault(author, color)

    async def _takes_versions(self, key: str) -> bool:
        """Whether this instance takes ``key``'s automatic versions now (it holds, or took,
        the room's history lease). If not, what is pending stays (bounded), and the room is
        looked at again once the lease could have passed on."""
        if self.lease is None:
            return True
        lease = self._leases.get(key)
        if lease is None:
            lease = self._leases[key] = self.lease(key)
        if await lease.hold():
            return True
        pending = self._pending.get(key)
        if pending is not None:
            del pending.updates[: -self.max_updates * _KEEP_UNRECORDED]
            loop = asyncio.get_running_loop()
            pending.elsewhere = loop.time() + lease.ttl
            if pending.timer is not None:
                pending.timer.cancel()
            pending.timer = loop.call_later(lease.ttl, self._check_idle, key, pending)
        return False

    async def _store(
        self,
        name: RoomName,
        kind: str,
        label: str | None,
        actor: Identity | None,
        pending: _Pending | None,
        state: bytes | None,
        colors: dict[str, str],
    ) -> dict[str, Any] | None:
        """Work out the authorship of ``state`` (read now if None) and store it as a version
        (an automatic one only if it holds an update its previous version lacks)."""
        key = str(name)
        if state is None:
            state = await self.manager.read(name)
        if state is None:
            raise RoomNotFound(f"room {key} does not exist")
        previous = await self.history.latest(key)
        updates, names = await self._attributed(key, pending)
        runs, new = await asyncio.to_thread(_runs_of, previous, updates, state)
        if kind == "auto" and not new and previous is not None:
            return None  # all in the previous version already (another instance's, say)
        version = await self.history.add_version(
            key, state, runs, kind=kind, label=label, authors=_authors(new, names, actor, colors)
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
            # What the restore replaces stays reachable: edits no version holds yet become an
            # automatic version first (here, whichever instance was asked).
            await self.checkpoint(name, label=f"before restoring {version_id}", here=True)
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
        previous = await self.history.latest(key)
        updates, _ = await self._attributed(key, self._pending.get(key))
        room = self.manager.get(key)
        state = room.full_update() if room is not None else await self.manager.read(name)
        if state is None:
            raise RoomNotFound(f"room {key} does not exist")
        runs, _ = await asyncio.to_thread(_runs_of, previous, updates, state)
        return state, runs

    async def _attributed(
        self, key: str, pending: _Pending | None
    ) -> tuple[list[tuple[str, bytes]], dict[str, str]]:
        """The pending ``(author, update)`` pairs, with those of unknown author (another
        instance's) attributed by their Yjs client where ``clients`` knows it; and the display
        name of each author."""
        if pending is None:
            return [], {}
        updates = list(pending.updates)
        names = {author: display for author, (display, _) in pending.authors.items()}
        if self.clients is None:
            return updates, names
        unknown = {i: clients_of(u) for i, (a, u) in enumerate(updates) if not a}
        wanted = sorted({c for clients in unknown.values() for c in clients})
        if not wanted:
            return updates, names
        known = await self.clients.lookup(key, wanted)
        missing = [client for client in wanted if client not in known]
        if missing and asyncio.get_running_loop().time() - pending.last < _LATE_NOTE:
            # An update just in from another instance: the record of who its client is
            # travels on another connection, and may come a moment later.
            await asyncio.sleep(_LATE_NOTE)
            known.update(await self.clients.lookup(key, missing))
        attributed: list[tuple[str, bytes]] = []
        for i, (author, update) in enumerate(updates):
            clients = unknown.get(i)
            if not clients:
                attributed.append((author, update))
                continue
            for client, part in _parts(update, clients):
                username, display = known.get(client, ("", ""))
                attributed.append((username, part))
                if username:
                    names.setdefault(username, display)
        return attributed, names

    async def forget(self, room: str) -> None:
        """``room`` was deleted: drop what was pending and every version of it."""
        pending = self._pending.pop(room, None)
        if pending is not None and pending.timer is not None:
            pending.timer.cancel()
        self._noted.pop(room, None)
        self._deferred.discard(room)
        await self.history.delete(room)
        if self.clients is not None:
            await self.clients.forget(room)

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
        for key, lease in self._leases.items():  # another instance takes over at once
            try:
                await lease.release()
            except Exception as e:
                self.log.warning("could not release the history lease of room %s: %s", key, e)


def _display_name(origin: Any, author: str) -> str:
    identity = origin.identity if isinstance(origin, Peer) else origin
    if isinstance(identity, Identity) and identity.username == author:
        return identity.shown_name
    return author


def _authors(
    updates: list[tuple[str, bytes]],
    names: dict[str, str],
    actor: Identity | None,
    colors: dict[str, str],
) -> list[dict[str, Any]]:
    counted: dict[str, int] = {}
    for author, _ in updates:
        counted[author] = counted.get(author, 0) + 1
    if actor is not None and actor.username not in counted:
        counted[actor.username] = 0
        names = {**names, actor.username: actor.shown_name}
    authors = []
    for username, n in counted.items():
        author = {"username": username, "display_name": names.get(username, username), "updates": n}
        color = colors.get(username) if username else None
        if color is not None:
            author["color"] = color
        authors.append(author)
    return authors


def shown_color(room: Room | None, origin: Any, author: str) -> str | None:
    """The colour ``author`` is shown in, as the room's awareness states show them (the
    sidebar's avatars, the cursors): the Jupyter identity's own colour, else the one their
    JupyterLab claims in a connection's awareness, else the identity's fallback colour. None
    when ``origin`` is not ``author``'s connection or identity (another instance's update)."""
    identity = origin.identity if isinstance(origin, Peer) else origin
    if not isinstance(identity, Identity) or identity.username != author:
        return None
    if identity.own_color or room is None:
        return identity.color
    peers = [origin] if isinstance(origin, Peer) else []
    peers += [p for p in room.peers if p is not origin and p.identity.username == author]
    for peer in peers:
        if not peer.awareness_ids:
            continue
        states = room.awareness.encode_owned_by({peer})
        for entry in decode_awareness_update(states) if states else []:
            try:
                user = json.loads(entry.state).get("user")
                color = user.get("color")
            except (ValueError, AttributeError):
                continue
            if is_safe_color(color):
                return color
    return identity.color


def _runs_of(
    previous: Version | None, updates: list[tuple[str, bytes]], state: bytes
) -> tuple[Runs, list[tuple[str, bytes]]]:
    """The authorship runs of ``state``: the previous version's, replayed with the authored
    updates since, then with ``state`` itself as unknown-author content (what reached the room
    without passing here). And those of ``updates`` the previous version lacks (an update it
    holds already changes nothing: another instance's version took it, or a stored row read
    back after a restart)."""
    base_state, base_runs = (previous[1], previous[2]) if previous else (b"", {})
    return authorship.replay_changes(base_state, base_runs, updates, then=state)


def clients_of(update: bytes) -> set[int]:
    """The Yjs client ids of the structs of ``update`` (none for what is not an update). One,
    as a rule (what a client sends), read from the header; several are read by the gate's
    parser."""
    try:
        clients, at = _var_uint(update, 0)
        if clients == 1:
            _, at = _var_uint(update, at)  # how many structs
            return {_var_uint(update, at)[0]}
    except IndexError:
        return set()
    if clients == 0:
        return set()
    try:
        return {struct.client for struct in read_structs(update, limits=False)}
    except UpdateRefused:
        return set()


def _parts(update: bytes, clients: set[int]) -> list[tuple[int, bytes]]:
    """``update`` split by client: each client's structs (with the whole delete set), so
    that each part is credited to its client's user. (An update several clients' structs
    came in together: a client that sent others' content back with its own, a batch.)"""
    if len(clients) == 1:
        return [(next(iter(clients)), update)]
    parts = []
    for client in sorted(clients):
        others = sorted(clients - {client})
        vector = _var_uint_bytes(len(others)) + b"".join(
            _var_uint_bytes(other) + _var_uint_bytes(2**32 - 1) for other in others
        )
        try:
            parts.append((client, get_update(update, vector)))
        except BaseException as e:  # malformed input may surface as a pyo3 panic
            if not is_decode_failure(e):
                raise
            return [(-1, update)]  # credited to nobody
    return parts


def _var_uint_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _vector_clients(state_vector: bytes) -> set[int]:
    """The client ids of an encoded state vector."""
    clients: set[int] = set()
    try:
        count, at = _var_uint(state_vector, 0)
        for _ in range(count):
            client, at = _var_uint(state_vector, at)
            _, at = _var_uint(state_vector, at)
            clients.add(client)
    except IndexError:
        pass
    return clients


def _var_uint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80 or shift > 63:
            return value, at
        shift += 7
