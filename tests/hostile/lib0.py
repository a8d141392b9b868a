"""Crafting hostile Yjs updates and awareness frames byte by byte (lib0 encoding, Yjs update v1).

Only what the tests need: a stock client will not produce these, which is the point.
"""

from __future__ import annotations

import json

from jupyter_omniforge.rooms import protocol as p


def var_uint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def var_string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return var_uint(len(data)) + data


ARRAY, OBJECT, NULL = 0x75, 0x76, 0x7E


def nested_any(depth: int, kind: str = "array") -> bytes:
    """A lib0 Any value: ``depth`` arrays (or objects) inside each other around a null."""
    if kind == "array":
        return bytes((ARRAY, 1)) * depth + bytes((NULL,))
    level = bytes((OBJECT, 1)) + var_string("k")
    return level * depth + bytes((NULL,))


def map_set_update(
    value: bytes,
    *,
    client: int = 4242,
    clock: int = 0,
    root: str = "tokens",
    key: str = "k",
    count: int = 1,
) -> bytes:
    """An update setting ``root[key]`` to the Any ``value`` (ContentAny with ``count``
    values claimed), with an empty delete set."""
    struct = bytes((0x28,)) + var_uint(1) + var_string(root) + var_string(key)
    struct += var_uint(count) + value
    return var_uint(1) + var_uint(1) + var_uint(client) + var_uint(clock) + struct + var_uint(0)


def deep_update(depth: int, kind: str = "array", **kwargs) -> bytes:
    return map_set_update(nested_any(depth, kind), **kwargs)


def awareness_frame(entries: list[tuple[int, int, object]]) -> bytes:
    """A y-websocket awareness message of ``(client id, clock, state)`` entries (state: a JSON
    value, or a ready ``str`` of JSON text)."""
    encoded = [
        p.AwarenessEntry(cid, clock, state if isinstance(state, str) else json.dumps(state))
        for cid, clock, state in entries
    ]
    return p.encode_awareness(p.encode_awareness_update(encoded))


def item(
    content: bytes,
    *,
    ref: int,
    origin: tuple[int, int] | None = None,
    right: tuple[int, int] | None = None,
    root: str | None = None,
    parent: tuple[int, int] | None = None,
    key: str | None = None,
) -> bytes:
    """One item struct: with an origin and/or a right origin, or else a parent (a root's name,
    or a type's ID) and maybe a map key."""
    if origin is not None or right is not None:
        head = bytes(((0x80 if origin else 0) | (0x40 if right else 0) | ref,))
        for id_ in (origin, right):
            if id_ is not None:
                head += var_uint(id_[0]) + var_uint(id_[1])
        return head + content
    head = bytes(((0x20 if key is not None else 0) | ref,))
    if parent is not None:
        head += var_uint(0) + var_uint(parent[0]) + var_uint(parent[1])
    else:
        head += var_uint(1) + var_string(root or "x")
    return head + (var_string(key) if key is not None else b"") + content


def update_of(blocks: list[tuple[int, int, list[bytes]]], deletes: bytes = b"\x00") -> bytes:
    """An update of ``(client, clock, structs)`` blocks and an encoded delete set."""
    out = var_uint(len(blocks))
    for client, clock, structs in blocks:
        out += var_uint(len(structs)) + var_uint(client) + var_uint(clock) + b"".join(structs)
    return out + deletes


STRING, ANY = 4, 8
