"""Awareness of one room: who is here, their cursors and selections.

States are kept as the JSON text clients sent, with one change: the ``user`` field of every state
is replaced by the server-side identity of the connection that announced it. A connection owns the
client ids it announces first; another connection cannot overwrite or remove them. When a
connection leaves, its states are removed and the removal goes out like any other change.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from ..errors import MalformedMessage
from .protocol import AwarenessEntry, decode_awareness_update, encode_awareness_update

if TYPE_CHECKING:
    from .peer import Peer

NULL_STATE = "null"


class RemoteOwner:
    """Stands for another instance as the owner of the awareness states it relays."""

    __slots__ = ("awareness_ids", "instance")

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.awareness_ids: set[int] = set()


class RoomAwareness:
    """The awareness table of one room. Pure state: the room decides when changes go out."""

    def __init__(self) -> None:
        self._entries: dict[int, AwarenessEntry] = {}
        self._owners: dict[int, Peer] = {}
        self._removed_clocks: dict[int, int] = {}
        self._dirty: set[int] = set()
        self._seen: dict[int, float] = {}  # client id -> time.monotonic() of its last change

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def has_changes(self) -> bool:
        return bool(self._dirty)

    def apply(self, peer: Peer | RemoteOwner, payload: bytes, *, local: bool = True) -> bool:
        """Apply an awareness update from ``peer``; return True if anything changed.

        Entries for client ids owned by another connection, and stale clocks, are ignored.
        Local changes are stamped with the peer's identity and batched (see
        :meth:`take_changes`); remote ones (``local=False``, from another instance, already
        stamped there) are applied as they are and not batched: the caller relays them.
        """
        changed = False
        user = peer.identity.awareness_user() if local else None
        now = time.monotonic()
        for client_id, clock, state in decode_awareness_update(payload):
            owner = self._owners.get(client_id)
            if owner is not None and owner is not peer:
                continue
            current = self._entries.get(client_id)
            current_clock = current.clock if current else self._removed_clocks.get(client_id, -1)
            if clock < current_clock or (clock == current_clock and state != NULL_STATE):
                continue
            if state == NULL_STATE:
                if current is None:
                    continue
                del self._entries[client_id]
                self._owners.pop(client_id, None)
                self._seen.pop(client_id, None)
                peer.awareness_ids.discard(client_id)
                if local:
                    self._removed_clocks[client_id] = clock
                    self._dirty.add(client_id)
                changed = True
                continue
            entry = AwarenessEntry(client_id, clock, _stamp(state, user) if local else state)
            self._entries[client_id] = entry
            self._owners[client_id] = peer
            self._seen[client_id] = now
            peer.awareness_ids.add(client_id)
            if local:
                self._dirty.add(client_id)
            changed = True
        return changed

    def remove_remote(self, owner: RemoteOwner, older_than: float | None = None) -> bytes | None:
        """Remove the states of a remote instance (all, or those not renewed since
        ``older_than``, a ``time.monotonic()`` value); the awareness update announcing it."""
        removed = []
        for client_id in list(owner.awareness_ids):
            if older_than is not None and self._seen.get(client_id, 0) >= older_than:
                continue
            entry = self._entries.pop(client_id, None)
            self._owners.pop(client_id, None)
            self._seen.pop(client_id, None)
            owner.awareness_ids.discard(client_id)
            if entry is not None:
                removed.append(AwarenessEntry(client_id, entry.clock + 1, NULL_STATE))
        return encode_awareness_update(removed) if removed else None

    def encode_owned_by(self, owners: set[Any]) -> bytes | None:
        """The awareness update of the states whose owner is in ``owners``."""
        entries = [e for cid, e in self._entries.items() if self._owners.get(cid) in owners]
        return encode_awareness_update(entries) if entries else None

    def remove_peer(self, peer: Peer) -> bool:
        """Remove every state ``peer`` announced; return True if any was removed."""
        changed = False
        for client_id in list(peer.awareness_ids):
            entry = self._entries.pop(client_id, None)
            self._owners.pop(client_id, None)
            self._seen.pop(client_id, None)
            if entry is not None:
                self._removed_clocks[client_id] = entry.clock + 1
                self._dirty.add(client_id)
                changed = True
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
                entries.append(
                    AwarenessEntry(client_id, self._removed_clocks[client_id], NULL_STATE)
                )
            else:
                entries.append(entry)
        self._dirty.clear()
        # Forget removal clocks once broadcast: a returning client id starts afresh.
        for client_id in [c for c, _, s in entries if s == NULL_STATE]:
            self._removed_clocks.pop(client_id, None)
        return encode_awareness_update(entries)

    def encode_all(self) -> bytes | None:
        """The awareness update of every current state, or None when there is none."""
        if not self._entries:
            return None
        return encode_awareness_update(self._entries.values())

    def states(self) -> dict[int, Any]:
        """Current states decoded, keyed by client id."""
        return {cid: json.loads(e.state) for cid, e in self._entries.items()}


def _stamp(state: str, user: dict[str, Any]) -> str:
    try:
        value = json.loads(state)
    except ValueError as e:
        raise MalformedMessage("awareness state is not valid JSON") from e
    if isinstance(value, dict):
        value["user"] = user
        return json.dumps(value, separators=(",", ":"))
    return state
