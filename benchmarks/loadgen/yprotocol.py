"""The y-websocket frames light clients need, and the update markers the writer embeds.

A y-websocket message is ``varuint type`` then, for type 0 (sync), ``varuint subtype`` and a
var-length byte string: step 1 carries a state vector, step 2 and update carry a Yjs update.
Type 1 is awareness. Light clients only look at the first two bytes.

Markers: the writer inserts ``~#<seq>;`` into Text ``code`` with every update. Yjs encodes
string content as UTF-8 verbatim, so the marker appears unchanged in the update bytes — also
when a server merges several queued updates into one frame, or sends them in a sync step 2 —
and a regex over raw frame bytes tells which updates a frame carried, without decoding it.
"""

from __future__ import annotations

import re

MSG_SYNC = 0
MSG_AWARENESS = 1
SYNC_STEP1 = 0
SYNC_STEP2 = 1
SYNC_UPDATE = 2

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
