"""What Redis holds, read as untrusted input: parsers that refuse, and a count of what was skipped.

Anything that can reach the Redis can write our keys, so every value read back is checked here
before the rest of the backplane uses it. A parser raises :class:`MalformedEntry` saying what is
wrong; the caller skips the entry and reports it to :class:`MalformedCounts`, which logs it and
counts it under one of :data:`KINDS` (shown by ``GET omniforge/api/cluster``). One bad entry never
fails a read, a room open, a fold, the heartbeat or a background loop.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ... import strictjson

#: What a malformed entry can be: an event, a room stream entry or its author (or a room
#: stream key that is not a stream), an awareness message, an instance heartbeat, a room
#: snapshot, a member of a room's writers set, the epoch key, a lease (a room's fold, the
#: webhook sender) or its value, a room's version (history.py) or the author of one of its Yjs
#: clients.
KINDS = (
    "events",
    "room_updates",
    "awareness",
    "instances",
    "snapshots",
    "writers",
    "epoch",
    "leases",
    "versions",
)

#: Longest author (a username, in UTF-8) a room stream entry carries.
MAX_AUTHOR_BYTES = 1024

#: Longest JSON accepted from Redis (an event envelope, an instance heartbeat, a snapshot's
#: cursors). Events are bounded when emitted far below this.
MAX_JSON_BYTES = 16 * 1024 * 1024

# An instance id as it appears in keys and messages: printable, no spaces, not too long.
_NAME = re.compile(r"[!-~]{1,200}")
# Control characters (C0, DEL, C1): no username holds one; PostgreSQL text refuses a NUL.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# A stream entry id: two unsigned 64-bit integers.
_STREAM_ID = re.compile(r"(\d{1,20})-(\d{1,20})")
# An epoch: a short token (we write eight hex digits).
_EPOCH = re.compile(r"[0-9A-Za-z_-]{1,64}")
_MAX_U64 = 2**64 - 1
# How far Redis's clock (which stream ids come from) may be ahead of ours, in seconds.
_CLOCK_SKEW = 24 * 3600


class MalformedEntry(ValueError):
    """A value read from Redis that is not what we write; ``str(error)`` says why."""


class MalformedCounts:
    """The malformed entries this instance skipped, per kind; each is logged once.

    An entry met again (the same stream entry read by another history request, the same bad
    key on the next heartbeat) is not counted or logged again, as long as it is among the
    last ``remember`` entries reported.
    """

    def __init__(self, log: logging.Logger, remember: int = 10_000) -> None:
        self.log = log
        self.counts = dict.fromkeys(KINDS, 0)
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._remember = remember

    def skip(self, kind: str, where: str | None, reason: object) -> None:
        """Report a skipped entry of ``kind`` found at ``where`` (a key and entry id; None for
        what has no identity, like a pub/sub message: each such report counts)."""
        if where is not None:
            seen = (kind, where)
            if seen in self._seen:
                self._seen.move_to_end(seen)
                return
            self._seen[seen] = None
            if len(self._seen) > self._remember:
                self._seen.popitem(last=False)
        self.counts[kind] += 1
        self.log.warning(
            "skipped a malformed Redis entry (%s) at %s: %s", kind, where or "pub/sub", reason
        )

    def as_dict(self) -> dict[str, int]:
        return dict(self.counts)


# -- plain values ----------------------------------------------------------------------------------


def text(value: Any, what: str = "value") -> str:
    """A Redis string as text; it must be UTF-8."""
    if isinstance(value, str):
        return value
    if not isinstance(value, bytes | bytearray):
        raise MalformedEntry(f"{what} is not a string ({type(value).__name__})")
    try:
        return bytes(value).decode()
    except UnicodeDecodeError:
        raise MalformedEntry(f"{what} is not UTF-8") from None


def stream_id(value: Any) -> str:
    """A stream entry id as text (Redis itself assigns these)."""
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def parse_stream_id(value: str) -> tuple[int, int]:
    """``"1700000000000-3"`` as ``(1700000000000, 3)``; raises :class:`MalformedEntry`."""
    match = _STREAM_ID.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise MalformedEntry(f"{str(value)[:40]!r} is not a stream entry id")
    ms, seq = int(match.group(1)), int(match.group(2))
    if ms > _MAX_U64 or seq > _MAX_U64:
        raise MalformedEntry(f"{value[:45]!r} is out of range for a stream entry id")
    return ms, seq


def instance_name(value: Any, what: str = "instance id") -> str:
    """An instance id (a writer of a room, the sender of a message)."""
    name = text(value, what)
    if not _NAME.fullmatch(name):
        raise MalformedEntry(f"{what} {name[:40]!r} is not a printable name of 1-200 characters")
    return name


def epoch(value: Any) -> str:
    """The deployment's epoch token."""
    token = text(value, "epoch")
    if not _EPOCH.fullmatch(token):
        raise MalformedEntry(f"epoch {token[:40]!r} is not a short token")
    return token


def fields(raw: Any) -> dict[bytes, Any]:
    """A stream entry's fields (a flat ``[field, value, …]`` list, or a dict) as a dict."""
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, list) or len(raw) % 2:
        raise MalformedEntry("stream entry fields are not field/value pairs")
    return dict(zip(raw[::2], raw[1::2], strict=True))


def json_value(raw: Any, what: str) -> Any:
    """Strict JSON (no NaN or infinities, bounded nesting and size)."""
    if not isinstance(raw, bytes | bytearray | str):
        raise MalformedEntry(f"{what} is not a string")
    try:
        return strictjson.loads(raw, max_bytes=MAX_JSON_BYTES)
    except strictjson.InvalidJSON as e:
        raise MalformedEntry(f"{what}: {e}") from None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# -- what the backplane stores ---------------------------------------------------------------------


def room_update(raw_fields: Any) -> bytes:
    """The Yjs update of a room stream entry (field ``u``)."""
    if type(raw_fields) is list and len(raw_fields) in (2, 4) and raw_fields[0] == b"u":
        update = raw_fields[1]  # what we write (``u``, then ``a`` if known): the hot path
    else:
        update = fields(raw_fields).get(b"u")
    if update is None:
        raise MalformedEntry("room stream entry without its update field u")
    if not isinstance(update, bytes):
        raise MalformedEntry("room stream entry's update is not a string")
    return update


def is_author(name: str) -> bool:
    """Whether ``name`` can travel as a room stream entry's author: what :func:`room_author`
    accepts (a username longer than that, or holding control characters, travels as unknown)."""
    return (
        len(name) <= MAX_AUTHOR_BYTES
        and len(name.encode()) <= MAX_AUTHOR_BYTES
        and not _CONTROL.search(name)
    )


def room_author(raw_fields: Any) -> str:
    """The author of a room stream entry (field ``a``: the username of whoever sent the update
    to the instance that wrote it); "" when it has none. It becomes the author of the row a
    shared store persists, so it must be text a database column takes: UTF-8, at most
    :data:`MAX_AUTHOR_BYTES` bytes, no control characters (PostgreSQL refuses a NUL)."""
    if type(raw_fields) is list and len(raw_fields) == 4 and raw_fields[2] == b"a":
        value = raw_fields[3]  # what we write: the hot path
    elif type(raw_fields) is list and len(raw_fields) == 2 and raw_fields[0] == b"u":
        return ""
    else:
        value = fields(raw_fields).get(b"a")
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray) and len(value) > MAX_AUTHOR_BYTES:
        raise MalformedEntry(f"the entry's author is longer than {MAX_AUTHOR_BYTES} bytes")
    author = text(value, "the entry's author")
    if not is_author(author):
        raise MalformedEntry("the entry's author is too long or holds control characters")
    return author


def event(
    raw_fields: Any, event_id: str, unseal: Callable[[bytes], bytes] = lambda payload: payload
) -> dict[str, Any]:
    """The envelope of an event stream entry (field ``e``, opened by ``unseal``) with its
    ``id``."""
    payload = fields(raw_fields).get(b"e")
    if payload is None:
        raise MalformedEntry("event entry without its payload field e")
    if isinstance(payload, bytes):
        payload = unseal(payload)
    body = json_value(payload, "event payload")
    if not isinstance(body, dict):
        raise MalformedEntry(f"event payload is a JSON {type(body).__name__}, not an object")
    if not isinstance(body.get("channel"), str) or not isinstance(body.get("type"), str):
        raise MalformedEntry("event payload has no channel or type string")
    if not _number(body.get("time")):
        raise MalformedEntry("event payload has no finite time")
    if not isinstance(body.get("source"), dict) or "data" not in body:
        raise MalformedEntry("event payload has no source object or no data")
    body.pop("id", None)  # the id is the stream's, never the payload's
    return {"id": event_id, **body}


def instance(raw: Any) -> dict[str, Any]:
    """An instance's heartbeat, as :meth:`Backplane.cluster` lists it."""
    info = json_value(raw, "instance heartbeat")
    if not isinstance(info, dict):
        raise MalformedEntry(f"instance heartbeat is a JSON {type(info).__name__}")
    instance_name(info.get("id"))
    if not _number(info.get("started")) or not _number(info.get("seen", 0)):
        raise MalformedEntry("instance heartbeat has no finite started/seen times")
    rooms = info.get("rooms", [])
    if not isinstance(rooms, list) or not all(isinstance(room, str) for room in rooms):
        raise MalformedEntry("instance heartbeat's rooms are not a list of names")
    peers = info.get("peers", 0)
    if not isinstance(peers, int) or isinstance(peers, bool) or peers < 0:
        raise MalformedEntry("instance heartbeat's peers is not a count")
    return info


def snapshot_cursors(raw: Any) -> tuple[dict[str, str], list[str]]:
    """A snapshot's ``last`` (writer -> stream id it is folded through): the valid cursors, and
    the reasons for those dropped. Raises :class:`MalformedEntry` when it is not an object."""
    last = json_value(raw, "snapshot cursors")
    if not isinstance(last, dict):
        raise MalformedEntry(f"snapshot cursors are a JSON {type(last).__name__}, not an object")
    cursors: dict[str, str] = {}
    dropped = []
    # A cursor ahead of time would hide every entry the writer appends from then on.
    latest_ms = (time.time() + _CLOCK_SKEW) * 1000
    for writer, sid in last.items():
        try:
            instance_name(writer, "snapshot writer")
            if parse_stream_id(sid)[0] > latest_ms:
                raise MalformedEntry(f"snapshot cursor {sid[:45]!r} lies in the future")
        except MalformedEntry as e:
            dropped.append(str(e))
            continue
        cursors[writer] = sid
    return cursors, dropped
