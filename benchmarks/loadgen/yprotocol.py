"""The y-websocket frames light clients need, update markers, and the Hocuspocus framing.

A y-websocket message is ``varuint type`` then, for type 0 (sync), ``varuint subtype`` and a
var-length byte string: step 1 carries a state vector, step 2 and update carry a Yjs update.
Type 1 is awareness (a var-length awareness update). Light clients only look at the first two
bytes.

Markers: the writer inserts ``~#<seq>;`` into Text ``code`` with every update. Yjs encodes
string content as UTF-8 verbatim, so the marker appears unchanged in the update bytes — also
when a server merges several queued updates into one frame, or sends them in a sync step 2 —
and a regex over raw frame bytes tells which updates a frame carried, without decoding it. The
same holds for an awareness state (JSON text) or a Hocuspocus stateless payload carrying one.

Framing: a plain y-websocket server exchanges these messages as they are, one room per
WebSocket (the room is in the URL). Hocuspocus multiplexes documents over one WebSocket: every
message in both directions starts with the document name (``varString``), and a client must
send an auth message for a document before anything else of it is handled (see
:class:`HocuspocusFraming`). Clients take a :class:`Framing` and stay otherwise the same.
"""

from __future__ import annotations

import re

from jupyter_omniforge.rooms.protocol import (
    AwarenessEntry,
    encode_awareness,
    encode_awareness_update,
    write_var_bytes,
)

MSG_SYNC = 0
MSG_AWARENESS = 1
MSG_AUTH = 2
#: Hocuspocus only: a string payload the server hands to its ``onStateless`` hook.
MSG_STATELESS = 5
SYNC_STEP1 = 0
SYNC_STEP2 = 1
SYNC_UPDATE = 2
#: Hocuspocus auth sub-type a client sends its token with.
AUTH_TOKEN = 0

#: Sync step 1 with an empty state vector (no clients): "send me everything".
EMPTY_STEP1 = bytes((MSG_SYNC, SYNC_STEP1, 1, 0))
#: Sync step 2 carrying an empty Yjs v1 update (0 structs, empty delete set): "I have nothing".
EMPTY_STEP2 = bytes((MSG_SYNC, SYNC_STEP2, 2, 0, 0))

MARKER_RE = re.compile(rb"~#(\d+);")


def marker(seq: int) -> str:
    """The ASCII marker identifying update ``seq``."""
    return f"~#{seq};"


def update_text(seq: int, size: int) -> str:
    """Text for update ``seq``: its marker padded to ``size`` characters, ending in a newline."""
    head = marker(seq)
    pad = max(0, size - len(head) - 1)
    return head + "x" * pad + "\n"


# -- encoding (lib0's, as y-protocols and Hocuspocus write it; the server's own helpers) -------


def var_string(text: str) -> bytes:
    """lib0 ``writeVarString``: UTF-8 byte length, then the UTF-8 bytes."""
    return write_var_bytes(text.encode())


def awareness_message(client_id: int, clock: int, state_json: str) -> bytes:
    """A y-websocket awareness message announcing one client's state (JSON text)."""
    return encode_awareness(encode_awareness_update([AwarenessEntry(client_id, clock, state_json)]))


# -- framing ----------------------------------------------------------------------------------


class Framing:
    """Plain y-websocket: a WebSocket message is one y-protocol message, nothing around it."""

    #: The name servers and results use for it.
    name = "y-websocket"

    def opening(self) -> list[bytes]:
        """Messages a client sends right after the WebSocket opened, before its sync step 1."""
        return []

    def wrap(self, message: bytes) -> bytes:
        """The WebSocket message carrying the y-protocol ``message``."""
        return message

    def body_offset(self, data: bytes) -> int:
        """Where the y-protocol message starts in a received WebSocket message; -1 if it is
        not for this client's document."""
        return 0


class HocuspocusFraming(Framing):
    """Hocuspocus (``@hocuspocus/server``): every message starts with the document name.

    What ``@hocuspocus/provider`` sends when its socket opens is what :meth:`opening` returns:
    ``varString(document) varUint(2: Auth) varUint(0: Token) varString(token)
    varString(provider version)``; the server answers ``… Auth, Authenticated, scope`` and only
    then handles the document's other messages (it queues them until then, so the sync step 1
    may follow at once, as the provider's does). Updates a client sends are acknowledged with a
    ``SyncStatus`` (type 8) message, which clients here ignore.
    """

    name = "hocuspocus"
    #: Sent in the auth message where the provider puts its own version.
    PROVIDER_VERSION = "4.7.0"

    def __init__(self, document: str, token: str = "") -> None:
        self.document = document
        self.token = token
        self._prefix = var_string(document)

    def opening(self) -> list[bytes]:
        auth = (
            bytes((MSG_AUTH, AUTH_TOKEN))
            + var_string(self.token)
            + var_string(self.PROVIDER_VERSION)
        )
        return [self._prefix + auth]

    def wrap(self, message: bytes) -> bytes:
        return self._prefix + message

    def body_offset(self, data: bytes) -> int:
        if data.startswith(self._prefix):
            return len(self._prefix)
        return -1  # another document multiplexed on this socket (never, here), or garbage


#: Framing names (as workers receive them) → how to frame a client of ``document``.
FRAMINGS = {
    Framing.name: lambda document: Framing(),
    HocuspocusFraming.name: HocuspocusFraming,
}


def framing_for(name: str, document: str) -> Framing:
    """The framing called ``name`` for a client of ``document`` (the room)."""
    try:
        return FRAMINGS[name](document)
    except KeyError:
        raise ValueError(f"unknown framing {name!r}; known: {', '.join(FRAMINGS)}") from None
