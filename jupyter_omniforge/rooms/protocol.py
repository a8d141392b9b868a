"""The y-websocket wire protocol: parsing incoming frames and encoding outgoing ones.

A frame is one message: ``varuint type`` then a type-specific body.

=======  ======================  ==========================================
type     name                    body
=======  ======================  ==========================================
0        sync                    ``varuint subtype`` + ``varbytes``: 0 step 1 (state vector),
                                 1 step 2 (update), 2 update
1        awareness               ``varbytes`` awareness update
2        auth                    ``varuint`` (0 = permission denied) + ``varstring`` reason;
                                 from a client, 1 = a fresh token + ``varstring`` token
3        query awareness         empty
=======  ======================  ==========================================

An awareness update is ``varuint count`` then ``count`` times
``varuint client_id, varuint clock, varstring state_json``.

Everything here is pure and synchronous; nothing knows about sockets.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from ..errors import MalformedMessage, UnsupportedMessage

MESSAGE_SYNC = 0
MESSAGE_AWARENESS = 1
MESSAGE_AUTH = 2
MESSAGE_QUERY_AWARENESS = 3

SYNC_STEP1 = 0
SYNC_STEP2 = 1
SYNC_UPDATE = 2

AUTH_PERMISSION_DENIED = 0
#: A client's auth message carrying a fresh room-scoped token (ours: y-protocols defines 0 only).
AUTH_REFRESH = 1

# Client ids are uint32 in Yjs; clocks are counters. Anything wider than 53 bits is not a JS number.
_MAX_VARUINT_BYTES = 8


class Message(NamedTuple):
    """One parsed frame. ``payload`` is the body after the type (and subtype) headers."""

    type: int
    subtype: int  # sync subtype, auth type, or -1
    payload: bytes


def read_var_uint(buf: bytes, pos: int) -> tuple[int, int]:
    """Read a variable-length unsigned int at ``pos``; return ``(value, next_pos)``."""
    value = 0
    shift = 0
    end = min(len(buf), pos + _MAX_VARUINT_BYTES)
    while pos < end:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise MalformedMessage("truncated or oversized variable-length integer")


def read_var_bytes(buf: bytes, pos: int) -> tuple[bytes, int]:
    """Read a length-prefixed byte string at ``pos``; return ``(bytes, next_pos)``."""
    length, pos = read_var_uint(buf, pos)
    end = pos + length
    if end > len(buf):
        raise MalformedMessage(f"length prefix {length} runs past the end of the frame")
    return buf[pos:end], end


def write_var_uint(value: int) -> bytes:
    """Encode ``value`` as a variable-length unsigned int."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def write_var_bytes(data: bytes) -> bytes:
    return write_var_uint(len(data)) + data


def parse_message(frame: bytes) -> Message:
    """Parse one y-websocket frame.

    Raises :class:`MalformedMessage` when the frame is not well formed (truncated, trailing bytes,
    unknown sync subtype) and :class:`UnsupportedMessage` for a message type we do not speak.
    The payload of a sync message is returned without its length prefix.
    """
    if not frame:
        raise MalformedMessage("empty frame")
    msg_type, pos = read_var_uint(frame, 0)
    if msg_type == MESSAGE_SYNC:
        subtype, pos = read_var_uint(frame, pos)
        if subtype > SYNC_UPDATE:
            raise MalformedMessage(f"unknown sync message subtype {subtype}")
        payload, pos = read_var_bytes(frame, pos)
    elif msg_type == MESSAGE_AWARENESS:
        subtype = -1
        payload, pos = read_var_bytes(frame, pos)
    elif msg_type == MESSAGE_QUERY_AWARENESS:
        subtype, payload = -1, b""
    elif msg_type == MESSAGE_AUTH:
        subtype, pos = read_var_uint(frame, pos)
        payload, pos = read_var_bytes(frame, pos)
    else:
        raise UnsupportedMessage(f"unknown message type {msg_type}")
    if pos != len(frame):
        raise MalformedMessage(f"{len(frame) - pos} unexpected trailing bytes")
    return Message(msg_type, subtype, payload)


def encode_sync_step1(state_vector: bytes) -> bytes:
    return b"\x00\x00" + write_var_bytes(state_vector)


def encode_sync_step2(update: bytes) -> bytes:
    return b"\x00\x01" + write_var_bytes(update)


def encode_update(update: bytes) -> bytes:
    return b"\x00\x02" + write_var_bytes(update)


def encode_awareness(awareness_update: bytes) -> bytes:
    return b"\x01" + write_var_bytes(awareness_update)


def encode_permission_denied(reason: str) -> bytes:
    return b"\x02" + write_var_uint(AUTH_PERMISSION_DENIED) + write_var_bytes(reason.encode())


class AwarenessEntry(NamedTuple):
    client_id: int
    clock: int
    state: str  # JSON text; "null" means the client went away


def decode_awareness_update(payload: bytes) -> list[AwarenessEntry]:
    """Decode an awareness update into its entries; raise :class:`MalformedMessage` if invalid."""
    count, pos = read_var_uint(payload, 0)
    entries = []
    for _ in range(count):
        client_id, pos = read_var_uint(payload, pos)
        clock, pos = read_var_uint(payload, pos)
        raw, pos = read_var_bytes(payload, pos)
        try:
            state = raw.decode()
        except UnicodeDecodeError as e:
            raise MalformedMessage("awareness state is not UTF-8") from e
        entries.append(AwarenessEntry(client_id, clock, state))
    if pos != len(payload):
        raise MalformedMessage("trailing bytes after awareness entries")
    return entries


def encode_awareness_update(entries: Iterable[AwarenessEntry]) -> bytes:
    """Encode entries as an awareness update (the body of an awareness message)."""
    parts = []
    count = 0
    for client_id, clock, state in entries:
        parts.append(
            write_var_uint(client_id) + write_var_uint(clock) + write_var_bytes(state.encode())
        )
        count += 1
    return write_var_uint(count) + b"".join(parts)
