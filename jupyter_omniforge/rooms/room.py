"""A room: one Yjs document, its awareness, and the peers connected to it.

Each update a peer sends is applied to the document once, appended to the store once, and its
frame is built once and handed to every other peer. The room never awaits while handling a frame,
so frames are handled in arrival order and a slow peer can only hurt itself (see :mod:`.peer`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from pycrdt import Doc, get_update, merge_updates

from ..auth import Identity
from ..backplane.base import REMOTE
from ..errors import DocumentTooLarge, MalformedMessage, RoomClosed
from ..limits import RoomLimits
from ..metrics import METRICS, Timer
from ..names import RoomName
from ..structure import Structure
from ..updates import UpdateRefused, check_state_vector, is_decode_failure
from . import protocol as p
from .awareness import RemoteOwner, RoomAwareness
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

    def room_discarded(self, room: Room) -> None:
        """``room`` closed itself and must be opened again from the store (see
        :meth:`Room.change`)."""


class Pacer:
    """Runs ``flush`` once for any number of :meth:`schedule` calls; after ``burst`` flushes in
    quick succession, at most one per ``interval`` seconds (a token bucket: ``burst`` tokens,
    one more every ``interval``, one taken per flush that sent something).

    A flush with a token left only waits for the end of this turn of the event loop, so what
    arrives together leaves together and a room that is not busy adds no delay: two users whose
    edits happen to arrive a moment apart are both sent at once. While calls keep coming faster
    than ``interval``, once the tokens are spent each flush takes everything that arrived since
    the last. With ``interval`` 0 that is once per loop turn: batching then grows only with the
    server's own backlog.
    """

    __slots__ = ("_flush", "_handle", "_stamp", "_tokens", "burst", "interval")

    def __init__(self, flush: Callable[[], bool | None], interval: float, burst: int = 1) -> None:
        self._flush = flush
        self.interval = interval
        self.burst = max(1, burst)
        self._handle: asyncio.Handle | None = None
        self._tokens = float(self.burst)
        self._stamp = 0.0  # when _tokens was last brought up to date (loop time)

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) / self.interval)
        self._stamp = now

    def schedule(self) -> None:
        if self._handle is not None:
            return
        loop = asyncio.get_running_loop()
        if self.interval > 0:
            self._refill(loop.time())
            if self._tokens < 1:
                wait = (1 - self._tokens) * self.interval
                self._handle = loop.call_later(wait, self._run)
                return
        self._handle = loop.call_soon(self._run)

    def _run(self) -> None:
        self._handle = None
        if self.interval > 0:
            self._refill(asyncio.get_running_loop().time())
            self._tokens -= 1
        if self._flush() is False and self.interval > 0:
            self._tokens += 1  # nothing went out (say, only copies of known updates came in)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def _combined(batch: list[tuple[bytes, bytes | None, Any]]) -> tuple[bytes, bytes | None, Any]:
    """One ``(update, frame, origin)`` for a batch of them: a lone entry as it is; else the merged
    update, no ready-made frame, and the origin the entries share, if they share one (with
    several origins, each gets its own updates back too, which a Yjs client ignores)."""
    if len(batch) == 1:
        return batch[0]
    origins = {origin for _, _, origin in batch}
    merged = merge_updates(*(update for update, _, _ in batch))
    return merged, None, origins.pop() if len(origins) == 1 else None


def author_of(origin: Any) -> str:
    """The username an update's origin stands for: a peer's, or the identity (or username) a
    server-side change acts for; "" for anything else (another instance, the server itself)."""
    if isinstance(origin, Peer):
        return origin.identity.username
    if isinstance(origin, Identity):
        return origin.username
    return origin if isinstance(origin, str) else ""


class Room:
    """One collaboration room. Create through :class:`~.manager.RoomManager`."""

    def __init__(
        self,
        name: RoomName,
        store: RoomStore,
        listener: RoomListener,
        *,
        awareness_interval: float = 0.0,
        update_interval: float = 0.0,
        update_burst: int = 1,
        limits: RoomLimits | None = None,
        roots: Mapping[str, str] | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        """``roots``: the roots (name -> type) the server reads this room's document with."""
        self.name = name
        self.key = str(name)
        self._doc = Doc()
        self.limits = limits or RoomLimits()
        # Every update is checked against the document's shape before pycrdt sees it: the
        # gate, plus what only shows across updates (see structure.py).
        self.structure = Structure(roots, max_depth=self.limits.max_depth)
        self.structure.own_client = self._doc.client_id
        self.awareness = RoomAwareness(self.limits)
        # Bytes of the updates the document was built from: an upper bound of its encoded
        # size (deletions shrink it), made exact whenever it nears max_document_bytes.
        self.size_estimate = 0
        self.peers: set[Peer] = set()
        self.store = store
        self.listener = listener
        self.log = log or logging.getLogger(__name__)
        self.updates_applied = 0
        self.last_author = ""
        self._users: Counter[str] = Counter()
        self._remote_owners: dict[str, RemoteOwner] = {}
        # Updates from peers not applied yet, updates applied but not sent yet (with the origin
        # they are not sent back to), and awareness changes: each handled in batches (:class:`Pacer`).
        self._incoming: list[tuple[bytes, bytes | None, Peer]] = []
        self._outbox: list[tuple[bytes, bytes | None, Any]] = []
        self._update_pacer = Pacer(self._flush_outbox, update_interval, update_burst)
        self._awareness_pacer = Pacer(self._flush_awareness, awareness_interval)
        self.closed = False

    # -- loading ---------------------------------------------------------------------------------

    def load(
        self, updates: Iterable[bytes], *, publish_missing: bool = False
    ) -> list[tuple[bytes, str]]:
        """Apply stored updates (snapshot then log) without storing or broadcasting them again.

        With ``publish_missing``, what these updates add to the document is handed to the
        listener as a change (so a backplane shares it). A stored update that fails the gate or
        does not decode (corruption, or a row written by someone else) is skipped and logged:
        the rest of the document still loads. Returns the skipped ``(update, reason)`` pairs.
        """
        before = self.doc.get_state() if publish_missing else None
        refused = self._apply_all(updates)
        if before is not None:
            missing = self.doc.get_update(before)
            if missing != _EMPTY_UPDATE:
                self.listener.room_updated(self, missing, None)
        return refused

    def _apply_all(self, updates: Iterable[bytes]) -> list[tuple[bytes, str]]:
        """Apply updates in one transaction, skipping (and logging) any that fails the gate or
        does not decode; returns those ``(update, reason)``."""
        refused: list[tuple[bytes, str]] = []
        with self.doc.transaction():
            for update in updates:
                try:
                    self.structure.check(update, limits=False)
                except UpdateRefused as e:
                    self.log.error(
                        "room %s: skipped an update that fails the check: %s", self.key, e
                    )
                    refused.append((update, str(e)))
                    continue
                try:
                    self.doc.apply_update(update)
                except BaseException as e:
                    if not is_decode_failure(e):
                        raise
                    self.log.error(
                        "room %s: skipped an update that does not decode: %s", self.key, e
                    )
                    refused.append((update, str(e)))
                    self._rebuild_structure()
                    continue
                self.size_estimate += len(update)
        return refused

    def _rebuild_structure(self) -> None:
        """Re-read the document's shape from the document itself, after an update that passed
        the structure did not apply (so what the structure learnt from it is not true)."""
        try:
            self.structure = self.structure.rebuilt(self._doc.get_update())
        except UpdateRefused as e:  # a document stored before the structure existed
            self.log.error("room %s: its document's shape cannot be read again: %s", self.key, e)

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
        # Presence events are stored; a read-only user creates nothing, so has none.
        if self._users[username] == 1 and peer.can_write:
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
            if peer.can_write:
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
                check_state_vector(message.payload)
                try:
                    update = self.doc.get_update(message.payload)
                except BaseException as e:
                    if not is_decode_failure(e):
                        raise
                    raise MalformedMessage(f"invalid state vector: {e}") from None
                peer.send(Outgoing(p.encode_sync_step2(update), KIND_OTHER, room=self.key))
                if peer.connected_at:  # its first sync: connect-to-synced
                    METRICS.connect_seconds.observe(time.monotonic() - peer.connected_at)
                    peer.connected_at = 0.0
                return
            # Step 2 (a client's reply, possibly carrying offline edits) and updates are both
            # updates; an incoming update frame is relayed as it came, with no re-encoding.
            if not peer.can_write:
                # A client answers our step 1 with an empty step 2 when it has nothing new:
                # that is no write, and a read-only client must not be told off for it.
                if message.payload != _EMPTY_UPDATE:
                    self.refuse(peer, f"read-only: you may not write in {self.key}", "write")
                return
            relay = frame if message.subtype == p.SYNC_UPDATE else None
            try:
                self.receive_update(peer, message.payload, relay)
            except DocumentTooLarge as e:
                self.refuse(peer, str(e))
        elif message.type == p.MESSAGE_AWARENESS:
            self.apply_awareness(peer, message.payload)
        elif message.type == p.MESSAGE_QUERY_AWARENESS:
            states = self.awareness.encode_all()
            if states is not None:
                peer.send(Outgoing(p.encode_awareness(states), KIND_AWARENESS, room=self.key))
        # MESSAGE_AUTH from a client carries nothing for us; it is accepted and ignored.

    def apply_awareness(self, peer: Peer, awareness_update: bytes) -> None:
        """Apply ``peer``'s awareness update; changes go out with the next batch. From a peer
        that may not publish presence here, it is dropped (and the peer told once)."""
        if not peer.can_presence:
            self.refuse(peer, "you may not publish presence in this room", "presence")
            return
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

    def refuse(self, peer: Peer, reason: str, action: str | None = None) -> None:
        """Drop what ``peer`` sent and tell it why with an auth message (once per reason, not on
        every keystroke); the connection carries on (it still receives the document). A refused
        ``action`` (a permission it lacks) goes to ``peer.on_denied`` too."""
        METRICS.refused("forbidden")
        if reason not in peer.refused_reasons:
            peer.refused_reasons.add(reason)
            peer.send(Outgoing(p.encode_permission_denied(reason), room=self.key))
            if action is not None and peer.on_denied is not None:
                peer.on_denied(self.key, action)

    # -- document --------------------------------------------------------------------------------

    @property
    def doc(self) -> Doc:
        """The room's document, with every update received so far applied."""
        if self._incoming:
            self._apply_incoming()
        return self._doc

    def receive_update(self, peer: Peer, update: bytes, frame: bytes | None = None) -> None:
        """An update from ``peer``: applied, stored and sent with the room's next batch.

        A fast writer's updates are applied as one merged update per batch: pycrdt's cost of
        applying an update grows with the length of the text item it extends (it re-measures
        the item after merging into it), so applying each update on its own costs more, the
        longer a writer types (see :class:`Pacer` for when batches go).

        Raises :class:`~jupyter_omniforge.updates.UpdateRefused` for an update that fails the gate and
        :class:`DocumentTooLarge` for one that would grow the document past
        ``max_document_bytes``: then nothing of it is applied, stored or sent. One that passes
        the gate but does not apply closes ``peer`` later, with the batch.
        """
        if update == _EMPTY_UPDATE:
            return
        self.structure.check(update)
        self._check_size(len(update))
        self._incoming.append((update, frame, peer))
        self._update_pacer.schedule()

    def _check_size(self, added: int) -> None:
        limit = self.limits.max_document_bytes
        if self.size_estimate + added <= limit:
            self.size_estimate += added
            return
        self.size_estimate = len(self.doc.get_update())  # exact, now
        if self.size_estimate + added > limit:
            raise DocumentTooLarge(
                f"room {self.key} is at its size limit ({self.size_estimate} of {limit} bytes): "
                "update refused"
            )
        self.size_estimate += added

    def _apply_incoming(self) -> None:
        batch = self._without_echoes(self._incoming)
        self._incoming = []
        if not batch:
            return
        try:
            update, frame, origin = _combined(batch)
            with Timer(METRICS.apply_seconds):
                self._doc.apply_update(update)
        except BaseException as e:
            if not is_decode_failure(e):
                raise
            batch = self._apply_one_by_one(batch)
            self._rebuild_structure()
            if not batch:
                return
            update, frame, origin = _combined(batch)
        authors = {peer.identity.username for _, _, peer in batch}
        if len(authors) == 1:
            self._applied(update, frame, origin, count=len(batch), author=authors.pop())
            return
        # Several users' updates in one batch: each user's part is stored and recorded as
        # theirs (version history shows who wrote what). Sent as one update all the same.
        for author in sorted(authors):
            parts = [part for part in batch if part[2].identity.username == author]
            merged, _, part_origin = _combined(parts)
            self._applied(merged, None, part_origin, count=len(parts), author=author)

    def _without_echoes(
        self, batch: list[tuple[bytes, bytes | None, Peer]]
    ) -> list[tuple[bytes, bytes | None, Peer]]:
        """The batch without the updates that add nothing: every item held already, nothing
        deleted. A stock pycrdt ``Provider`` sends back every update it applies (it does not
        tell its own changes from received ones), so in a room of N such clients each edit
        came back N - 1 times, and each copy was stored and sent to every other peer again.
        One that fails to decode is kept: applying it closes its sender."""
        state = self._doc.get_state()
        kept = []
        for entry in batch:
            try:
                if get_update(entry[0], state) == _EMPTY_UPDATE:
                    self.size_estimate -= len(entry[0])  # counted when it came in
                    continue
            except BaseException as e:
                if not is_decode_failure(e):
                    raise
            kept.append(entry)
        return kept

    def _apply_one_by_one(
        self, batch: list[tuple[bytes, bytes | None, Peer]]
    ) -> list[tuple[bytes, bytes | None, Peer]]:
        """Apply a batch that failed as a whole update by update; close the peers whose update
        does not apply (their later updates in the batch are dropped, as a closing connection's
        later frames are). Returns what was applied."""
        applied = []
        for update, frame, peer in batch:
            if peer.closed:
                continue
            try:
                self._doc.apply_update(update)
            except BaseException as e:
                if not is_decode_failure(e):
                    raise
                peer.close(MalformedMessage(f"invalid Yjs update: {e}"))
                continue
            applied.append((update, frame, peer))
        return applied

    def apply_update(self, update: bytes, origin: Any = None, frame: bytes | None = None) -> bool:
        """Apply a Yjs update now, store it and send it to every peer but ``origin``.

        ``frame`` is the ready-made update message when the caller already has it. Returns False
        for an empty update (nothing stored or sent). Raises :class:`MalformedMessage` for an
        update that fails the gate or does not decode, and, unless it comes from another
        instance, :class:`DocumentTooLarge` for one past ``max_document_bytes``: then nothing was
        applied, stored or sent.
        """
        if update == _EMPTY_UPDATE:
            return False
        self.structure.check(update, limits=origin is not REMOTE)
        if origin is not REMOTE:
            self._check_size(len(update))
        else:
            self.size_estimate += len(update)
        try:
            with Timer(METRICS.apply_seconds):
                self.doc.apply_update(update)
        except BaseException as e:
            if not is_decode_failure(e):
                raise
            self._rebuild_structure()
            raise MalformedMessage(f"invalid Yjs update: {e}") from None
        self._applied(update, frame, origin)
        self._update_pacer.schedule()
        return True

    def merge(self, updates: Iterable[bytes], origin: Any = None) -> bytes:
        """Apply many updates (another replica's state); store and send to every peer only what
        they added. Updates that fail the gate or do not decode are skipped and logged. Returns
        what was added."""
        before = self.doc.get_state()
        self._apply_all(updates)
        gained = self._doc.get_update(before)
        if gained != _EMPTY_UPDATE:
            self._applied(gained, None, origin)
            self._update_pacer.schedule()
        return gained

    def change(self, mutate: Callable[[Doc], None], origin: Any = None) -> bytes:
        """Run ``mutate(doc)`` in one transaction on the server; store and send what it changed.

        Returns the update (empty when nothing changed). A change whose update fails the check
        every update passes (a value nested deeper than ``max_nesting_depth``, say) raises
        :class:`~jupyter_omniforge.updates.UpdateRefused`: nothing of it is stored or sent, and
        the room closes (its peers get 1001 and reconnect) so that it opens again from its
        store, as it was before the change.
        """
        # The transaction's own update, not a diff against the state before: a diff carries the
        # document's whole delete set, which grows with every deletion (a build log that drops
        # its oldest lines made each event cost more than the last).
        doc = self.doc
        captured: list[bytes] = []
        subscription = doc.observe(lambda event: captured.append(event.update))
        try:
            with doc.transaction():
                mutate(doc)
        finally:
            doc.unobserve(subscription)
        update = merge_updates(*captured) if len(captured) > 1 else (captured or [_EMPTY_UPDATE])[0]
        if update != _EMPTY_UPDATE:
            try:
                self.structure.check(update, limits=False)  # the server's own edit
            except UpdateRefused as e:
                self._discard(f"a server-side change was refused: {e}")
                raise UpdateRefused(
                    f"room {self.key}: the server-side change was refused, not stored or sent: {e}"
                ) from None
            self._applied(update, None, origin)
            self._update_pacer.schedule()
        return update

    def _discard(self, reason: str) -> None:
        """Close the room because its document holds a change that must go nowhere: pycrdt
        cannot take a transaction back (what it deleted may be collected already), so the
        room's listener forgets it and the next open reads it again from the store, which
        never saw the change. Peers reconnect and sync from there."""
        self.log.error("room %s: %s; it reopens from its store", self.key, reason)
        self.close(RoomClosed(f"room {self.key} reopens: {reason}"))
        self.listener.room_discarded(self)

    def _applied(
        self,
        update: bytes,
        frame: bytes | None,
        origin: Any,
        *,
        count: int = 1,
        author: str | None = None,
    ) -> None:
        """What follows applying ``update``: store it with its author, tell the listener, and
        queue it for every peer but ``origin``. The batch that sends it is scheduled already
        when ``update`` came from :meth:`receive_update`."""
        self.updates_applied += count
        METRICS.updates_applied += count
        if author is None:
            author = author_of(origin)
        # Who sent the update the listener is being told about (the recorder reads it).
        self.last_author = author
        self.store.append(self.key, update, author=author, relaxed=origin is REMOTE)
        self._outbox.append((update, frame, origin))
        self.listener.room_updated(self, update, origin)

    def _flush_outbox(self) -> bool:
        """Send what was applied since the last batch to every peer, as one update.

        Updates that arrive within one batch (a fast writer, many writers, a busy server) leave
        as one merged update, so each peer costs one frame and one send per batch rather than per
        update: the busier the room, the more this saves. A quiet room pays one loop turn.
        """
        if self._incoming:
            self._apply_incoming()
        batch, self._outbox = self._outbox, []
        if self.closed or not batch:
            return False
        update, frame, origin = _combined(batch)
        message = Outgoing(frame or p.encode_update(update), KIND_UPDATE, update, self.key)
        self.broadcast(message, exclude=origin)
        return True

    def broadcast(self, message: Outgoing, exclude: Any = None) -> None:
        for peer in tuple(self.peers):
            if peer is not exclude:
                peer.send(message)

    def full_update(self) -> bytes:
        return self.doc.get_update()

    # -- awareness fan-out -----------------------------------------------------------------------

    def _schedule_awareness(self) -> None:
        """Send awareness changes at most once per ``awareness_interval``, batched."""
        if not self.closed:
            self._awareness_pacer.schedule()

    def _flush_awareness(self) -> None:
        changes = self.awareness.take_changes()
        if changes is None:
            return
        self.broadcast(Outgoing(p.encode_awareness(changes), KIND_AWARENESS, room=self.key))
        self.listener.awareness_changed(self, changes, None)

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self, error: Exception | None = None) -> None:
        """Disconnect every peer (with ``error`` as the reason) and stop timers."""
        if self._incoming:
            self._apply_incoming()  # stored before the room goes: nothing accepted is lost
        self.closed = True
        self._awareness_pacer.cancel()
        self._update_pacer.cancel()
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
