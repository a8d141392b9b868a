"""Awareness of one room: who is here, their cursors and selections.

States are kept as the JSON text clients sent, with one change: the ``user`` field of every state
is replaced by the server-side identity of the connection that announced it.

Who may say what:

- A client id belongs to the user who first announced it in this room. Another user can never
  announce or remove it; the same user on a new connection (a reconnect, a second tab) takes it
  over at once.
- A connection may announce at most ``awareness_clients_per_connection`` client ids, each state
  at most ``awareness_state_bytes`` of strict JSON (an object, or null to leave). Over a cap the
  connection is refused (:class:`~jupyter_omniforge.errors.AwarenessRefused`): one frame must
  not make the server hold, and send every peer and every later joiner, thousands of states.
- The server numbers what it relays. A client's own clock only orders that client's messages;
  the clock peers see grows with every change the server relays for a client id, so a client
  that reconnects is shown again at once (peers would ignore its old clock after its removal).

When a connection leaves, its states are removed and the removal goes out like any other change.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .. import strictjson
from ..errors import AwarenessRefused, MalformedMessage
from ..limits import RoomLimits
from .protocol import AwarenessEntry, decode_awareness_update, encode_awareness_update

if TYPE_CHECKING:
    from ..auth import Identity
    from .peer import Peer

NULL_STATE = "null"

#: Client ids that are not live any more whose claim and clock are still remembered, at most.
_REMEMBERED = 10_000


class RemoteOwner:
    """Stands for another instance as the owner of the awareness states it relays."""

    __slots__ = ("awareness_ids", "instance")

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.awareness_ids: set[int] = set()


class RoomAwareness:
    """The awareness table of one room. Pure state: the room decides when changes go out."""

    def __init__(self, limits: RoomLimits | None = None) -> None:
        self.limits = limits or RoomLimits()
        self._entries: dict[int, AwarenessEntry] = {}  # as relayed: stamped, server clocks
        self._owners: dict[int, Peer | RemoteOwner] = {}
        # Remembered after a client id leaves (bounded): who claimed it and the last clock
        # relayed for it, so that it can come back to its user, with a clock peers accept.
        self._claims: dict[int, str] = {}
        self._clocks: dict[int, int] = {}
        self._client_clocks: dict[int, int] = {}  # the clock its owner connection last sent
        self._dirty: set[int] = set()
        self._seen: dict[int, float] = {}  # client id -> time.monotonic() of its last change

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def has_changes(self) -> bool:
        return bool(self._dirty)

    def apply(self, peer: Peer | RemoteOwner, payload: bytes, *, local: bool = True) -> bool:
        """Apply an awareness update from ``peer``; return True if anything changed.

        Local updates (from a connection of this instance) are checked against the caps, stamped
        with the peer's identity and batched (see :meth:`take_changes`); an entry for a client
        id another user claimed, or with a stale clock, is ignored. Raises
        :class:`AwarenessRefused` or :class:`MalformedMessage` for what closes the connection.

        Remote ones (``local=False``, from another instance, already stamped there) are applied
        as they are and not batched: the caller relays them. A remote entry that is not valid
        (it comes through Redis: untrusted) is skipped.
        """
        entries = decode_awareness_update(payload)
        if not local:
            return self._apply_remote(peer, entries)  # type: ignore[arg-type]
        self._check_caps(peer, entries)  # type: ignore[arg-type]
        changed = False
        identity = peer.identity  # type: ignore[union-attr]
        username = identity.username
        user: dict[str, Any] | None = None
        now = time.monotonic()
        for client_id, clock, state in entries:
            claim = self._claims.get(client_id)
            if claim is not None and claim != username:
                continue  # someone else's
            owner = self._owners.get(client_id)
            if isinstance(owner, RemoteOwner):
                continue  # live on another instance
            if (
                owner is not None
                and owner is not peer
                and not owner.closed
                and clock <= self._clocks.get(client_id, -1)
            ):
                # A stock y-websocket client sends back every state it hears, late ones too:
                # from another live connection, an id's state at a clock we relayed already is
                # an echo, not a take-over (two connections of one user would take the id from
                # each other for ever). A client that does own the id (a second tab of the same
                # document) has adopted our clock, and its next change goes past it.
                continue
            if owner is not peer:
                self._take_over(peer, client_id, owner)  # type: ignore[arg-type]
            last = self._client_clocks.get(client_id)
            if last is not None and (clock < last or (clock == last and state != NULL_STATE)):
                continue  # stale, or a repeat
            self._client_clocks[client_id] = clock
            if state == NULL_STATE:
                if client_id in self._entries:
                    self._remove(client_id)
                    peer.awareness_ids.discard(client_id)
                    changed = True
                continue
            if user is None:
                user = identity.awareness_user()
            stamped = self._stamped(state, user, identity)
            relayed = max(clock, self._clocks.get(client_id, -1) + 1)
            self._remember(client_id, username, relayed)
            self._entries[client_id] = AwarenessEntry(client_id, relayed, stamped)
            self._owners[client_id] = peer
            self._seen[client_id] = now
            peer.awareness_ids.add(client_id)
            self._dirty.add(client_id)
            changed = True
        return changed

    def _check_caps(self, peer: Peer, entries: list[AwarenessEntry]) -> None:
        """Refuse a whole frame over a cap before any of it is applied."""
        cap = self.limits.awareness_clients_per_connection
        new = {e.client_id for e in entries} - peer.awareness_claimed
        if len(peer.awareness_claimed) + len(new) > cap:
            raise AwarenessRefused(f"more than {cap} awareness client ids on one connection")
        limit = self.limits.awareness_state_bytes
        for entry in entries:
            if len(entry.state) > limit and len(entry.state.encode()) > limit:
                raise AwarenessRefused(
                    f"an awareness state of {len(entry.state.encode())} bytes is larger than "
                    f"the limit of {limit}"
                )

    def _take_over(self, peer: Peer, client_id: int, owner: Peer | None) -> None:
        """``peer`` announces ``client_id`` (its own user's, or nobody's): count it among the
        ids it announced, and take it from another connection of the same user."""
        peer.awareness_claimed.add(client_id)
        if owner is not None:
            owner.awareness_ids.discard(client_id)
            self._owners.pop(client_id, None)
        self._client_clocks.pop(client_id, None)  # the new connection counts its own clock

    def _stamped(self, state: str, user: dict[str, Any], identity: Identity) -> str:
        limit = self.limits.awareness_state_bytes
        value = strictjson.loads(state, max_depth=self.limits.max_depth, max_bytes=limit)
        if not isinstance(value, dict):
            raise MalformedMessage("an awareness state is a JSON object (or null to leave)")
        # Who it is comes from the server; the colour the client shows its user in may stay.
        value["user"] = identity.with_claimed_color(user, value.get("user"))
        return strictjson.dumps(value)

    def _remember(self, client_id: int, username: str | None, clock: int) -> None:
        if username is not None:
            self._claims.pop(client_id, None)
            self._claims[client_id] = username  # the most recently used last
        self._clocks.pop(client_id, None)
        self._clocks[client_id] = clock
        if len(self._clocks) > len(self._entries) + _REMEMBERED:
            for forgotten in [c for c in self._clocks if c not in self._entries][:1000]:
                self._clocks.pop(forgotten, None)
                self._claims.pop(forgotten, None)
                self._client_clocks.pop(forgotten, None)

    def _remove(self, client_id: int) -> AwarenessEntry | None:
        """Forget ``client_id``'s state; its removal goes out with the next batch."""
        entry = self._entries.pop(client_id, None)
        self._owners.pop(client_id, None)
        self._seen.pop(client_id, None)
        if entry is not None:
            self._clocks[client_id] = entry.clock + 1
            self._dirty.add(client_id)
        return entry

    def _apply_remote(self, owner: RemoteOwner, entries: list[AwarenessEntry]) -> bool:
        changed = False
        now = time.monotonic()
        for client_id, clock, state in entries:
            current = self._owners.get(client_id)
            if current is not None and current is not owner:
                continue  # ours, or relayed by another instance
            if clock < self._clocks.get(client_id, -1):
                continue
            if state == NULL_STATE:
                if self._entries.pop(client_id, None) is not None:
                    self._owners.pop(client_id, None)
                    self._seen.pop(client_id, None)
                    owner.awareness_ids.discard(client_id)
                    self._clocks[client_id] = clock
                    changed = True
                continue
            try:
                value = strictjson.loads(
                    state,
                    max_depth=self.limits.max_depth,
                    max_bytes=self.limits.awareness_state_bytes + 4096,  # + the stamped user
                )
            except MalformedMessage:
                continue
            if not isinstance(value, dict):
                continue
            self._remember(client_id, None, clock)
            self._entries[client_id] = AwarenessEntry(client_id, clock, state)
            self._owners[client_id] = owner
            self._seen[client_id] = now
            owner.awareness_ids.add(client_id)
            changed = True
        return changed

    def remove_remote(self, owner: RemoteOwner, older_than: float | None = None) -> bytes | None:
        """Remove the states of a remote instance (all, or those not renewed since
        ``older_than``, a ``time.monotonic()`` value); the awareness update announcing it."""
        removed = []
        for client_id in list(owner.awareness_ids):
            if older_than is not None and self._seen.get(client_id, 0) >= older_than:
                continue
            owner.awareness_ids.discard(client_id)
            entry = self._entries.pop(client_id, None)
            self._owners.pop(client_id, None)
            self._seen.pop(client_id, None)
            if entry is not None:
                self._clocks[client_id] = entry.clock + 1
                removed.append(AwarenessEntry(client_id, entry.clock + 1, NULL_STATE))
        return encode_awareness_update(removed) if removed else None

    def encode_owned_by(self, owners: set[Any]) -> bytes | None:
        """The awareness update of the states whose owner is in ``owners``."""
        entries = [e for cid, e in self._entries.items() if self._owners.get(cid) in owners]
        return encode_awareness_update(entries) if entries else None

    def remove_peer(self, peer: Peer) -> bool:
        """Remove every state ``peer`` announced; return True if any was removed."""
        changed = False
        for client_id in peer.awareness_ids:
            if self._owners.get(client_id) is peer:
                self._client_clocks.pop(client_id, None)
                changed = self._remove(client_id) is not None or changed
        peer.awareness_ids.clear()
        return changed

    def take_changes(self) -> bytes | None:
        """The awareness update of everything changed since the last call, or None."""
        if not self._dirty:
            return None
        entries = []
        for client_id in self._dirty:
            entry = self._entries.get(client_id)
            if entry is None:
                entry = AwarenessEntry(client_id, self._clocks.get(client_id, 0), NULL_STATE)
            entries.append(entry)
        self._dirty.clear()
        return encode_awareness_update(entries)

    def encode_all(self) -> bytes | None:
        """The awareness update of every current state, or None when there is none."""
        if not self._entries:
            return None
        return encode_awareness_update(self._entries.values())

    def states(self) -> dict[int, Any]:
        """Current states decoded, keyed by client id."""
        return {cid: strictjson.loads(e.state, max_depth=1000) for cid, e in self._entries.items()}
