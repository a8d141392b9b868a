"""Server-to-client WebSocket frames, built once and written to many sockets.

Server frames are never masked, so the bytes of a frame are the same for every recipient: the
rooms and the gateway build each frame once and write it straight to each peer's stream.
"""

from __future__ import annotations

import struct

OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2

# Above this, header and payload are written separately instead of concatenated (no copy).
_SPLIT_AT = 65536


def ws_frame(payload: bytes, opcode: int = OPCODE_BINARY) -> tuple[bytes, bytes]:
    """The final, unmasked frame of ``payload``: ``(head, tail)``; ``tail`` is empty when small."""
    first = 0x80 | opcode
    n = len(payload)
    if n < 126:
        header = bytes((first, n))
    elif n <= 0xFFFF:
        header = struct.pack("!BBH", first, 126, n)
    else:
        header = struct.pack("!BBQ", first, 127, n)
    if n <= _SPLIT_AT:
        return header + payload, b""
    return header, payload
