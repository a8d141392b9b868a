"""The y-websocket room a floor serves: just enough of the protocol for a client to sync.

A room is a pycrdt ``Doc`` and the set of its connections; it exists while it has one (as in
y-websocket's server). On open a connection gets the room's sync step 1 (what ours and
y-websocket's server send too); a client's sync step 1 is answered with step 2, updates are
applied, everything else (awareness) is ignored: the storm's clients send nothing more.
"""

from __future__ import annotations

from pycrdt import Doc, YMessageType, create_sync_message, handle_sync_message

#: The listen backlog of every floor: ours widens Jupyter's 128 to this (``listen_backlog``),
#: Node listens with 511. With Tornado's 128 a storm of 1,000 overflows the accept queue and the
#: wall time measures TCP's one-second SYN retry, not the server.
LISTEN_BACKLOG = 4096


class Rooms:
    """Docs by room name, each alive while a connection is in it."""

    def __init__(self) -> None:
        self._docs: dict[str, Doc] = {}
        self._members: dict[str, set[object]] = {}

    def join(self, room: str, member: object) -> bytes:
        """Add ``member`` to ``room`` (made if new); return the sync step 1 to send it."""
        doc = self._docs.get(room)
        if doc is None:
            doc = self._docs[room] = Doc()
            self._members[room] = set()
        self._members[room].add(member)
        return create_sync_message(doc)

    def receive(self, room: str, message: bytes) -> bytes | None:
        """Handle one y-websocket message of a member of ``room``; the reply to send, if any."""
        doc = self._docs.get(room)
        if doc is None or not message or message[0] != YMessageType.SYNC:
            return None
        return handle_sync_message(message[1:], doc)

    def leave(self, room: str, member: object) -> None:
        members = self._members.get(room)
        if members is None:
            return
        members.discard(member)
        if not members:
            del self._members[room], self._docs[room]
