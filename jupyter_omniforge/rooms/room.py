"""A room: one Yjs document, its awareness, and the peers connected to it.

Each update a peer sends is applied to the document once, appended to the store once, and its
frame is built once and handed to every other peer. The room never awaits while handling a frame,
so frames are handled in arrival order and a slow peer can only hurt itself (see :mod:`.peer`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from pycrdt import Doc, merge_updates

from ..auth import Identity
from ..backplane.base import REMOTE
from ..errors import MalformedMessage
from . import protocol as p
from .awareness import RemoteOwner, RoomAwareness
from .names import RoomName
from .peer import KIND_AWARENESS, KIND_MESSAGE, KIND_OTHER, KIND_UPDATE, Outgoing, Peer

if TYPE_CHECKING:
    from ..store.base import RoomStore

# An update that carries no structs and an empty delete set: what a client sends when it has
# nothing the server lacks.
_EMPTY_UPDATE = b"\x00\x00"


class RoomListener(Protocol):
    """Who hears about what happens in rooms (the manager, which forwards to events/backplane)."""

    def user_joined(self, room: Room, identity: Identity) -> None: ...

    def user_left(self, room: Room, identity: Identity) -> None: ...

    def room_updated(self, room: Room, update: bytes, origin: Any) -> None: ...

    def awareness_changed(self, room: Room, awareness_update: bytes, origin: Any) -> None: ...


class Room:
    """One collaboration room. Create through :class:`~.manager.RoomManager`."""

    def __init__(
        self,
        name: RoomName,
        store: RoomStore,
        listener: RoomListener,
        *,
        awareness_interval: float = 0.0,
        log: logging.Logger | None = None,
    ) -> None:
        self.name = name
        self.key = str(name)
        self.doc = Doc()
        self.awareness = RoomAwareness()
        self.peers: set[Peer] = set()
        self.store = store
        self.listener = listener
        self.awareness_interval = awareness_interval
        self.log = log or logging.getLogger(__name__)
        self.updates_applied = 0
        self._users: Counter[str] = Counter()
        self._remote_owners: dict[str, RemoteOwner] = {}
        self._awareness_timer: asyncio.TimerHandle | None = None
        self._awareness_sent_at = 0.0
        # Document updates applied in this turn of the event loop, sent together at its end.
        self._outbox: list[tuple[bytes, bytes | None, Any]] = []
        self.closed = False

    # -- loading ---------------------------------------------------------------------------------

    def load(self, updates: Iterable[bytes], *, publish_missing: bool = False) -> None:
        """Apply stored updates (snapshot then log) without storing or broadcasting them again.

        With ``publish_missing``, what these updates add to the document is handed to the
        listener as a change (so a backplane shares it). A stored update that no longer decodes
        (disk corruption) is skipped and logged: the rest of the document still loads.
        """
        before = self.doc.get_state() if publish_missing else None
        self._apply_all(updates)
        if before is not None:
            missing = self.doc.get_update(before)
            if missing != _EMPTY_UPDATE:
                self.listener.room_updated(self, missing, None)

    def _apply_all(self, updates: Iterable[bytes]) -> None:
        """Apply updates in one transaction, skipping (and logging) any that does not decode."""
        with self.doc.transaction():
            for update in updates:
                try:
                    self.doc.apply_update(update)
                except ValueError as e:
                    self.log.error(
                        "room %s: skipped an update that does not decode: %s", self.key, e
                    )

    # -- membership ------------------------------------------------------------------------------

    def join(self, peer: Peer) -> None:
        """Add ``peer`` and start the sync: our step 1, then every current awareness state."""
        self.peers.add(peer)
        peer.send(Outgoing(p.encode_sync_step1(self.doc.get_state()), KIND_OTHER, room=self.key))
        states = self.awareness.encode_all()
        if states is not None:
            peer.send(Outgoing(p.encode_awareness(states), KIND_AWARENESS, room=self.key))
        username = peer.identity.username
        self._users[username] += 1
        if self._users[username] == 1:
            self.listener.user_joined(self, peer.identity)

    def leave(self, peer: Peer) -> None:
        """Remove ``peer``; the awareness states it announced are removed and the removal sent."""
        if peer not in self.peers:
            return
        self.peers.discard(peer)
        if self.awareness.remove_peer(peer):
            self._schedule_awareness()
        username = peer.identity.username
        self._users[username] -= 1
        if self._users[username] <= 0:
            del self._users[username]
            self.listener.user_left(self, peer.identity)

    @property
    def users(self) -> list[Identity]:
        """Distinct identities connected now, in join order."""
        seen: dict[str, Identity] = {}
        for peer in self.peers:
            seen.setdefault(peer.identity.username, peer.identity)
        return [seen[u] for u in self._users if u in seen]

    # -- incoming frames -------------------------------------------------------------------------

    def receive(self, peer: Peer, frame: bytes) -> None:
        """Handle one y-websocket frame from ``peer``.

        Raises :class:`~..errors.OmniForgeError` subclasses for frames that must close the
        connection; the room and every other peer are untouched in that case.
        """
        message = p.parse_message(frame)
        if message.type == p.MESSAGE_SYNC:
            if message.subtype == p.SYNC_STEP1:
                try:
                    update = self.doc.get_update(message.payload)
                except ValueError as e:
                    raise MalformedMessage(f"invalid state vector: {e}") from None
                peer.send(Outgoing(p.encode_sync_step2(update), KIND_OTHER, room=self.key))
                return
            # Step 2 (a client's reply, possibly carrying offline edits) and updates are both
            # updates; an incoming update frame is relayed as it came, with no re-encoding.
            if not peer.can_write:
                self._refuse_write(peer)
                return
            relay = frame if message.subtype == p.SYNC_UPDATE else None
            self.apply_update(message.payload, origin=peer, frame=relay)
        elif message.type == p.MESSAGE_AWARENESS:
            self.apply_awareness(peer, message.payload)
        elif message.type == p.MESSAGE_QUERY_AWARENESS:
            states = self.awareness.encode_all()
            if states is not None:
                peer.send(Outgoing(p.encode_awareness(states), KIND_AWARENESS, room=self.key))
        # MESSAGE_AUTH from a client carries nothing for us; it is accepted and ignored.

    def apply_awareness(self, peer: Peer, awareness_update: bytes) -> None:
        """Apply ``peer``'s awareness update; changes go out with the next batch."""
        if self.awareness.apply(peer, awareness_update):
            self._schedule_awareness()

    # -- awareness of other instances ---------------------------------------------------------

    def remote_owner(self, instance: str) -> RemoteOwner:
        owner = self._remote_owners.get(instance)
        if owner is None:
            owner = self._remote_owners[instance] = RemoteOwner(instance)
        return owner

    def apply_remote_awareness(self, instance: str, awareness_update: bytes) -> None:
        """States relayed by another instance: applied as they are and sent to our peers."""
        if self.awareness.apply(self.remote_owner(instance), awareness_update, local=False):
            self.broadcast(
                Outgoing(p.encode_awareness(awareness_update), KIND_AWARENESS, room=self.key)
            )

    def remove_remote_awareness(self, instance: str, older_than: float | None = None) -> None:
        """Drop the states of another instance (it died, or they expired)."""
        owner = self._remote_owners.get(instance)
        if owner is None:
            return
        removal = self.awareness.remove_remote(owner, older_than)
        if removal is not None:
            self.broadcast(Outgoing(p.encode_awareness(removal), KIND_AWARENESS, room=self.key))
        if not owner.awareness_ids:
            del self._remote_owners[instance]

    def remote_instances(self) -> list[str]:
        return list(self._remote_owners)

    def local_awareness(self) -> bytes | None:
        """The states of this instance's own peers (to answer another instance's query)."""
        return self.awareness.encode_owned_by(set(self.peers))

    def relay_message(self, payload: bytes, origin: Any = None) -> int:
        """Send a custom JSON message to every peer but ``origin`` that takes messages (the
        gateway's); return how many peers it was handed to. Not stored."""
        message = Outgoing(payload, KIND_MESSAGE, room=self.key)
        count = 0
        for peer in tuple(self.peers):
            if peer is not origin and peer.transport.takes_messages:
                peer.send(message)
                count += 1
        return count

    def _refuse_write(self, peer: Peer) -> None:
        peer.refused_writes += 1
        if peer.refused_writes == 1:  # tell a read-only peer once, not on every keystroke
            peer.send(
                Outgoing(
                    p.encode_permission_denied("read-only: you lack write permission on omniforge"),
                    room=self.key,
                )
            )

    # -- document --------------------------------------------------------------------------------

    def apply_update(self, update: bytes, origin: Any = None, frame: bytes | None = None) -> bool:
        """Apply a Yjs update, store it and send it to every peer but ``origin``.

        ``frame`` is the ready-made update message when the caller already has it. Returns False
        for an empty update (nothing stored or sent). Raises :class:`MalformedMessage` for an
        update that does not decode; then nothing was applied, stored or sent.
        """
        if update == _EMPTY_UPDATE:
            return False
        try:
            self.doc.apply_update(update)
        except ValueError as e:
            raise MalformedMessage(f"invalid Yjs update: {e}") from None
        self.updates_applied += 1
        self.store.append(self.key, update, relaxed=origin is REMOTE)
        self._send_update(update, frame, origin)
        self.listener.room_updated(self, update, origin)
        return True

    def merge(self, updates: Iterable[bytes], origin: Any = None) -> bytes:
        """Apply many updates (another replica's state); store and send to every peer only what
        they added. Updates that do not decode are skipped and logged. Returns what was added."""
        before = self.doc.get_state()
        self._apply_all(updates)
        gained = self.doc.get_update(before)
        if gained != _EMPTY_UPDATE:
            self.updates_applied += 1
            self.store.append(self.key, gained)
            self._send_update(gained)
            self.listener.room_updated(self, gained, origin)
        return gained

    def change(self, mutate: Callable[[Doc], None], origin: Any = None) -> bytes:
        """Run ``mutate(doc)`` in one transaction on the server; store and send what it changed.

        Returns the update (empty when nothing changed).
        """
        # The transaction's own update, not a diff against the state before: a diff carries the
        # document's whole delete set, which grows with every deletion (a build log that drops
        # its oldest lines made each event cost more than the last).
        captured: list[bytes] = []
        subscription = self.doc.observe(lambda event: captured.append(event.update))
        try:
            with self.doc.transaction():
                mutate(self.doc)
        finally:
            self.doc.unobserve(subscription)
        update = merge_updates(*captured) if len(captured) > 1 else (captured or [_EMPTY_UPDATE])[0]
        if update != _EMPTY_UPDATE:
            self.updates_applied += 1
            self.store.append(self.key, update)
            self._send_update(update)
            self.listener.room_updated(self, update, origin)
        return update

    def _send_update(self, update: bytes, frame: bytes | None = None, origin: Any = None) -> None:
        """Send ``update`` to every peer but ``origin`` at the end of this event-loop turn.

        Updates that arrive in the same turn (a fast writer, many writers, a busy server) leave
        as one merged update, so each peer costs one frame and one send per turn rather than per
        update: the busier the room, the more this saves. A quiet room pays one loop turn.
        """
        self._outbox.append((update, frame, origin))
        if len(self._outbox) == 1:
            asyncio.get_running_loop().call_soon(self._flush_outbox)

    def _flush_outbox(self) -> None:
        batch, self._outbox = self._outbox, []
        if self.closed or not batch:
            return
        if len(batch) == 1:
            update, frame, origin = batch[0]
        else:
            update, frame = merge_updates(*(u for u, _, _ in batch)), None
            origins = {o for _, _, o in batch}
            # The origin of every merged update need not get them back; with several origins,
            # each also gets its own updates again, which a Yjs client ignores.
            origin = origins.pop() if len(origins) == 1 else None
        message = Outgoing(frame or p.encode_update(update), KIND_UPDATE, update, self.key)
        self.broadcast(message, exclude=origin)

    def broadcast(self, message: Outgoing, exclude: Any = None) -> None:
        for peer in tuple(self.peers):
            if peer is not exclude:
                peer.send(message)

    def full_update(self) -> bytes:
        return self.doc.get_update()

    # -- awareness fan-out -----------------------------------------------------------------------

    def _schedule_awareness(self) -> None:
        """Send awareness changes at most once per ``awareness_interval``, batched."""
        if self._awareness_timer is not None or self.closed:
            return
        loop = asyncio.get_running_loop()
        delay = self._awareness_sent_at + self.awareness_interval - loop.time()
        # The first change after a quiet spell still waits for the end of this loop iteration,
        # so changes that arrive together leave together.
        self._awareness_timer = loop.call_later(max(delay, 0.0), self._flush_awareness)

    def _flush_awareness(self) -> None:
        self._awareness_timer = None
        changes = self.awareness.take_changes()
        if changes is None:
            return
        self._awareness_sent_at = asyncio.get_running_loop().time()
        self.broadcast(Outgoing(p.encode_awareness(changes), KIND_AWARENESS, room=self.key))
        self.listener.awareness_changed(self, changes, None)

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self, error: Exception | None = None) -> None:
        """Disconnect every peer (with ``error`` as the reason) and stop timers."""
        self.closed = True
        if self._awareness_timer is not None:
            self._awareness_timer.cancel()
            self._awareness_timer = None
        for peer in tuple(self.peers):
            peer.close(error)  # type: ignore[arg-type]
        self.peers.clear()

    def info(self) -> dict[str, Any]:
        """What the REST API shows about this room."""
        return {
            "name": self.key,
            "kind": self.name.kind,
            "peers": len(self.peers),
            "users": [i.awareness_user() for i in self.users],
            "size": len(self.full_update()),
            "awareness": len(self.awareness),
        }
