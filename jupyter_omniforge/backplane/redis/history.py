"""The version history of rooms in Redis, where every instance reads it.

With Redis and a store of each instance's own (SQLite journals), versions kept in that store
would differ from instance to instance: they live here instead (with a shared store, in that
store: see ``OmniForgeApp``). Keys of a room share the hash tag ``{room}``
(:meth:`~.connection.RedisConnection.room_key`), so every script below touches one Redis
Cluster slot:

- ``room:{room}:versions`` — a sorted set of version ids (score: the id);
- ``room:{room}:version`` — a hash: field ``{id}`` the version's metadata (JSON), ``{id}:s``
  its full document state, ``{id}:r`` its authorship runs (JSON); state and runs sealed (the
  room, id and part as associated data) when the deployment has a key;
- ``room:{room}:clients`` — a hash: Yjs client id -> ``[username, display name]``, the user
  whose connection first sent that client's updates, on whichever instance. An instance sees
  other instances' updates without their author; it finds them here.

Ids are microseconds since the epoch (by this instance's clock), made to grow per room: they
are decimal like the SQLite store's, order versions, and stay unique when a room is deleted
and made again. Redis persists these keys as it persists rooms (AOF); nothing here expires.

Whatever is read back is untrusted (:mod:`.entries`): a version whose metadata, state or runs
are not what we write is skipped (listed nowhere, not found), counted under ``versions``.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from redis.exceptions import ResponseError

from ...auth import is_safe_color
from ...store.base import HistoryStore
from ...updates import UpdateRefused, gate
from . import entries
from .connection import RedisConnection, is_wrong_type
from .entries import MalformedCounts, MalformedEntry

Runs = dict[str, list[list[Any]]]

_KINDS = ("auto", "named", "restored")
# Longest label, author name and number of authors read back (we write far less).
_MAX_TEXT = 1000
_MAX_AUTHORS = 10_000
# A version id: microseconds since the epoch, below 2**53 (a sorted set's score is a double).
_MAX_ID = 2**53 - 1

# Add a version if ``ARGV[1]`` (its id) is above every id of the room: {1, id}; else {0, the
# highest id} (the caller seals again with a higher id and retries). A key of another type
# than ours (someone wrote over it) is replaced. KEYS: versions, version; ARGV: id, meta,
# state, runs.
_ADD = """
if redis.call('TYPE', KEYS[1])['ok'] ~= 'zset' then redis.call('DEL', KEYS[1]) end
if redis.call('TYPE', KEYS[2])['ok'] ~= 'hash' then redis.call('DEL', KEYS[2]) end
local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if top[2] and tonumber(top[2]) >= tonumber(ARGV[1]) then
  return {0, top[2]}
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2], ARGV[1] .. ':s', ARGV[3], ARGV[1] .. ':r', ARGV[4])
return {1, ARGV[1]}
"""

# The newest ``ARGV[2]`` versions below ``ARGV[1]`` ('+inf': all): {id, meta, id, meta, ...}
# (meta false when missing); with ``ARGV[3]`` 1, also each one's state and runs after its meta.
# Keys of another type read as empty. KEYS: versions, version.
_LIST = """
if redis.call('TYPE', KEYS[1])['ok'] ~= 'zset' then return {} end
local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], '-inf', 'LIMIT', 0, ARGV[2])
local hash = redis.call('TYPE', KEYS[2])['ok'] == 'hash'
local reply = {}
for _, id in ipairs(ids) do
  reply[#reply + 1] = id
  local fields = {id}
  if ARGV[3] == '1' then fields = {id, id .. ':s', id .. ':r'} end
  for _, value in ipairs(hash and redis.call('HMGET', KEYS[2], unpack(fields)) or fields) do
    reply[#reply + 1] = hash and value or false
  end
end
return reply
"""

# Forget versions: KEYS: versions, version; ARGV: ids.
_FORGET = """
if redis.call('TYPE', KEYS[1])['ok'] == 'zset' then redis.call('ZREM', KEYS[1], unpack(ARGV)) end
if redis.call('TYPE', KEYS[2])['ok'] == 'hash' then
  for _, id in ipairs(ARGV) do
    redis.call('HDEL', KEYS[2], id, id .. ':s', id .. ':r')
  end
end
return 1
"""


class RedisHistoryStore(HistoryStore):
    """:class:`HistoryStore` over Redis (see the module's docstring for the keys)."""

    def __init__(self, connection: RedisConnection, malformed: MalformedCounts) -> None:
        self._connection = connection
        self._malformed = malformed
        self._scripts: dict[str, Any] = {}

    def _script(self, source: str) -> Any:
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self._connection.register_script(source)
        return script

    def _keys(self, room: str) -> list[str]:
        return [self._connection.room_key(room, "versions"), self._version_key(room)]

    def _version_key(self, room: str) -> str:
        return self._connection.room_key(room, "version")

    # -- versions --------------------------------------------------------------------------------

    async def add_version(
        self,
        room: str,
        state: bytes,
        runs: Runs,
        *,
        kind: str = "auto",
        label: str | None = None,
        authors: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        created = time.time()
        meta = {
            "time": created,
            "kind": kind,
            "label": label,
            "authors": authors or [],
            "size": len(state),
        }
        encoded_meta = json.dumps(meta, separators=(",", ":"))
        encoded_runs = json.dumps(runs, separators=(",", ":")).encode()
        candidate = int(created * 1_000_000)
        for _ in range(100):
            version_id = str(candidate)
            added, top = await self._script(_ADD)(
                keys=self._keys(room),
                args=[
                    version_id,
                    encoded_meta,
                    self._seal(bytes(state), room, version_id, "state"),
                    self._seal(encoded_runs, room, version_id, "runs"),
                ],
            )
            if added == 1:
                return {"id": version_id, **meta}
            # Another instance's clock is ahead, or two versions in one microsecond.
            candidate = int(float(top)) + 1
        raise RuntimeError(f"could not add a version to room {room!r}: ids kept colliding")

    async def list_versions(
        self, room: str, before: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        if before is None:
            below = "+inf"
        else:
            below_id = _version_id(before)
            if below_id is None:
                return []
            below = f"({below_id}"
        reply = await self._read(room, below, limit, with_data=False)
        return [version for version, _, _ in reply]

    async def get_version(
        self, room: str, version_id: str
    ) -> tuple[dict[str, Any], bytes, Runs] | None:
        number = _version_id(version_id)
        if number is None:
            return None
        found = await self._read(room, str(number), 1, with_data=True)
        if not found or found[0][0]["id"] != str(number):
            return None
        return found[0]

    async def latest(self, room: str) -> tuple[dict[str, Any], bytes, Runs] | None:
        found = await self._read(room, "+inf", 1, with_data=True)
        return found[0] if found else None

    async def _read(
        self, room: str, below: str, limit: int, *, with_data: bool
    ) -> list[tuple[dict[str, Any], bytes, Runs]]:
        """Up to ``limit`` valid versions with ids up to ``below`` (a score bound), newest
        first; state and runs only ``with_data`` (else empty). Skipped ones are reported."""
        reply = await self._script(_LIST)(
            keys=self._keys(room), args=[below, limit, "1" if with_data else "0"]
        )
        width = 4 if with_data else 2
        found = []
        for at in range(0, len(reply) - width + 1, width):
            raw_id = reply[at]
            where = f"{self._version_key(room)} {entries.stream_id(raw_id)[:40]}"
            try:
                version = _meta(raw_id, reply[at + 1])
                state, runs = b"", {}
                if with_data:
                    state = _state(self._unseal(reply[at + 2], room, version["id"], "state"))
                    runs = _runs(self._unseal(reply[at + 3], room, version["id"], "runs"))
            except MalformedEntry as e:
                self._malformed.skip("versions", where, e)
                continue
            found.append((version, state, runs))
        return found

    async def prune(self, room: str, *, older_than: float, keep: int) -> int:
        # Only the newest _MAX_AUTHORS-bounded page of metadata is needed: ids and kinds.
        versions = await self._read(room, "+inf", 1_000_000, with_data=False)
        if not versions:
            return 0
        # The newest stays whatever its age: the recorder builds the next one on it.
        autos = [v for v in versions[1:] if v[0]["kind"] == "auto"]
        doomed = {v[0]["id"] for v in autos if v[0]["time"] < older_than}
        excess = len(versions) - len(doomed) - keep
        if excess > 0:
            oldest_first = [v[0]["id"] for v in reversed(autos) if v[0]["id"] not in doomed]
            doomed.update(oldest_first[:excess])
        if doomed:
            await self._script(_FORGET)(keys=self._keys(room), args=sorted(doomed))
        return len(doomed)

    async def delete(self, room: str) -> None:
        await self._connection.redis.delete(*self._keys(room))

    # -- sealing ---------------------------------------------------------------------------------

    def _seal(self, data: bytes, room: str, version_id: str, part: str) -> bytes:
        return self._connection.seal(data, f"{room}\x00version\x00{version_id}\x00{part}")

    def _unseal(self, value: Any, room: str, version_id: str, part: str) -> bytes:
        if not isinstance(value, bytes):
            raise MalformedEntry(f"the version's {part} is missing")
        return self._connection.unseal(value, f"{room}\x00version\x00{version_id}\x00{part}")


class RedisClientAuthors:
    """Who sent each Yjs client's updates, shared by the instances (``room:{room}:clients``).

    An instance applies the updates other instances' clients sent without their author (they
    come through Redis); the instance that takes a version attributes them by their client.
    The first user recorded for a client keeps it."""

    def __init__(self, connection: RedisConnection, malformed: MalformedCounts) -> None:
        self._connection = connection
        self._malformed = malformed

    def _clients_key(self, room: str) -> str:
        return self._connection.room_key(room, "clients")

    async def forget(self, room: str) -> None:
        await self._connection.redis.delete(self._clients_key(room))

    async def note(self, room: str, clients: dict[int, tuple[str, str]]) -> None:
        """Record ``client -> (username, display name)``; a known client keeps its first user.
        A key someone overwrote with another type is replaced (what it held is lost)."""
        if not clients:
            return
        key = self._clients_key(room)
        redis = self._connection.redis
        for attempt in range(2):
            try:
                for client, (username, display_name) in clients.items():  # one, as a rule
                    await redis.hsetnx(key, str(client), json.dumps([username, display_name]))
                return
            except ResponseError as e:
                if not is_wrong_type(e) or attempt:
                    raise
                await self._connection.drop_unless_type(key, "hash")
                self._malformed.skip("versions", key, "the clients key is not a hash; replaced")

    async def lookup(self, room: str, clients: list[int]) -> dict[int, tuple[str, str]]:
        """The recorded users of these clients (those known and well-formed)."""
        if not clients:
            return {}
        key = self._clients_key(room)
        try:
            values = await self._connection.redis.hmget(key, [str(c) for c in clients])
        except ResponseError as e:
            if not is_wrong_type(e):
                raise
            self._malformed.skip("versions", key, "the clients key is not a hash")
            return {}
        known = {}
        for client, value in zip(clients, values, strict=True):
            if value is None:
                continue
            try:
                known[client] = _client_author(value)
            except MalformedEntry as e:
                self._malformed.skip("versions", f"{key} {client}", e)
        return known


# -- reading what Redis holds (untrusted) ------------------------------------------------------------


def _version_id(value: Any) -> int | None:
    """The number a version id names; None for anything we never hand out."""
    if not (isinstance(value, str) and value.isdecimal() and len(value) <= 16):
        return None
    number = int(value)
    return number if 0 < number <= _MAX_ID else None


def _text(value: Any, what: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > _MAX_TEXT:
        raise MalformedEntry(f"{what} is not a string of at most {_MAX_TEXT} characters")
    return value


def _count(value: Any, what: str) -> int:
    if type(value) is not int or value < 0:
        raise MalformedEntry(f"{what} is not a count")
    return value


def _meta(raw_id: Any, raw: Any) -> dict[str, Any]:
    """A VERSION from its id and stored metadata."""
    version_id = _version_id(entries.text(raw_id, "version id"))
    if version_id is None:
        raise MalformedEntry("not a version id")
    if raw is None or raw is False:
        raise MalformedEntry("the version's metadata is missing")
    meta = entries.json_value(raw, "version metadata")
    if not isinstance(meta, dict):
        raise MalformedEntry(f"version metadata is a JSON {type(meta).__name__}, not an object")
    created = meta.get("time")
    if not isinstance(created, int | float) or isinstance(created, bool):
        raise MalformedEntry("the version's time is not a number")
    if not math.isfinite(created):
        raise MalformedEntry("the version's time is not finite")
    if meta.get("kind") not in _KINDS:
        raise MalformedEntry(f"the version's kind is not one of {', '.join(_KINDS)}")
    authors = meta.get("authors")
    if not isinstance(authors, list) or len(authors) > _MAX_AUTHORS:
        raise MalformedEntry("the version's authors are not a list")
    checked = []
    for author in authors:
        if not isinstance(author, dict):
            raise MalformedEntry("a version's author is not an object")
        author_checked = {
            "username": _text(author.get("username"), "an author's username"),
            "display_name": _text(author.get("display_name"), "an author's display name"),
            "updates": _count(author.get("updates"), "an author's update count"),
        }
        if is_safe_color(author.get("color")):  # painted into pages: only a safe colour
            author_checked["color"] = author["color"]
        checked.append(author_checked)
    return {
        "id": str(version_id),
        "time": created,
        "label": _text(meta.get("label"), "the version's label", optional=True),
        "kind": meta["kind"],
        "authors": checked,
        "size": _count(meta.get("size"), "the version's size"),
    }


def _state(value: bytes) -> bytes:
    """A version's document state; it must pass the gate every stored update passes."""
    try:
        gate(value, limits=False)
    except UpdateRefused as e:
        raise MalformedEntry(f"the version's state is not a Yjs update: {e}") from None
    return value


def _runs(value: bytes) -> Runs:
    """A version's runs: an object of lists (each root's runs are checked against its text
    where they are used, :func:`~...history.authorship.replay`)."""
    runs = entries.json_value(value, "version runs")
    if not isinstance(runs, dict) or not all(isinstance(r, list) for r in runs.values()):
        raise MalformedEntry("the version's runs are not an object of lists")
    return runs


def _client_author(value: Any) -> tuple[str, str]:
    pair = entries.json_value(value, "a client's author")
    if not (isinstance(pair, list) and len(pair) == 2):
        raise MalformedEntry("a client's author is not [username, display name]")
    username = _text(pair[0], "a client's username")
    display_name = _text(pair[1], "a client's display name")
    assert username is not None and display_name is not None
    return username, display_name
