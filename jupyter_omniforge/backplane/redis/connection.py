"""Where the Redis is and how each part talks to it: clients, keys, retries and the epoch."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ...errors import BackplaneUnavailable
from . import entries
from .entries import MalformedCounts, MalformedEntry

#: How long one blocking XREAD waits for new entries, in milliseconds.
BLOCK_MS = 5000

#: Errors that mean "Redis is unreachable or refused this time": the caller tries again later.
TRANSIENT = (RedisError, OSError, asyncio.TimeoutError)

#: Errors redis-py retries a command on (with backoff) before giving up.
_RETRIED = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)

#: Commands retried this many times (with exponential backoff and jitter, 50 ms … 2 s) before
#: the caller sees the error.
COMMAND_RETRIES = 2

# Read the epoch, creating it, or replacing a value that is not an epoch (someone wrote over it:
# the instances then see a new epoch and republish their rooms, as after a data loss).
# KEYS: epoch; ARGV: a fresh epoch. Returns {epoch, 1 if a malformed value was replaced}.
_EPOCH = """
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'string' then
  local value = redis.call('GET', KEYS[1])
  if #value >= 1 and #value <= 64 and not string.find(value, '[^%w_%-]') then
    return {value, 0}
  end
end
local replaced = 0
if kind ~= 'none' then
  redis.call('DEL', KEYS[1])
  replaced = 1
end
redis.call('SET', KEYS[1], ARGV[1])
return {ARGV[1], replaced}
"""

# Delete a key holding another type than ARGV[1] (someone wrote over one of ours), so that our
# next write recreates it. KEYS: the key; returns 1 when it was deleted.
_DROP_UNLESS_TYPE = """
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= ARGV[1] and kind ~= 'none' then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


#: The key layout this release writes (``{prefix}:layout``): each room's keys carry the hash tag
#: ``{room}``. Older releases wrote no such key.
LAYOUT = "hashtags-1"

# What a sealed value starts with (a Yjs update or a JSON text never does).
_SEALED = b"\x00\xffOFS1"


def safe_url(url: str) -> str:
    """The URL without a password."""
    if "@" in url:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def is_wrong_type(error: BaseException) -> bool:
    """True for Redis's reply to a command on a key holding another kind of value."""
    return isinstance(error, ResponseError) and str(error).startswith("WRONGTYPE")


class RedisConnection:
    """The Redis of a deployment, as every part of the backplane reaches it.

    :attr:`redis` is the shared command client (redis-py retries its commands with backoff);
    :meth:`client` makes a client of one's own (a blocking reader, a pub/sub listener);
    :meth:`pool` a pool for the hot paths that bypass redis-py's client layer. :attr:`epoch`
    names Redis's current data: :meth:`check_epoch` tells when it changed.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        connect_timeout: float,
        malformed: MalformedCounts,
        log: logging.Logger,
        cipher: Any = None,
    ) -> None:
        if "{" in prefix or "}" in prefix:
            raise ValueError(
                f"redis_prefix {prefix!r}: no braces (they mark Redis Cluster hash tags)"
            )
        self.url = url
        #: Seals what goes to Redis (a :class:`~jupyter_omniforge.store.crypto.Cipher`), or None.
        self.cipher = cipher
        self.prefix = prefix
        self.connect_timeout = connect_timeout
        self.malformed = malformed
        self.log = log
        #: The epoch of Redis's data; None until started.
        self.epoch: str | None = None
        #: Set when :meth:`check_epoch` finds that Redis lost its data, whichever reader asked;
        #: cleared once the backplane has merged its rooms into Redis again.
        self.data_lost = False
        #: False while this instance cannot reach Redis or is catching up after that.
        self.healthy = False
        self._redis: aioredis.Redis | None = None
        self._epoch_script: Any = None
        self._fresh_epoch: bool | None = None  # whether the first epoch read created it

    # -- keys ------------------------------------------------------------------------------------

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def room_key(self, room: str, *parts: str) -> str:
        """A key of ``room``: every key of one room carries the hash tag ``{room}``, so they
        all live in one slot of a Redis Cluster and a script may read or write them together.
        (Room names never hold braces; :attr:`prefix` may not either.)"""
        return self.key("room", "{" + room + "}", *parts)

    def room_log(self, room: str, writer: str) -> str:
        """The stream of the updates ``writer`` applied to ``room`` for its own clients."""
        return self.room_key(room, "log", writer)

    def room_writers(self, room: str) -> str:
        return self.room_key(room, "writers")

    # -- sealing ---------------------------------------------------------------------------------

    def seal(self, data: bytes, about: str) -> bytes:
        """``data`` as it goes to Redis: sealed (AES-256-GCM, ``about`` — a room, ``event`` —
        as associated data) when a key is set, else as it is."""
        if self.cipher is None:
            return data
        kid, blob = self.cipher.seal(data, about.encode())
        return _SEALED + bytes((len(kid),)) + kid.encode() + blob

    def unseal(self, value: bytes, about: str) -> bytes:
        """What :meth:`seal` made of ``value``; :class:`MalformedEntry` when it is not sealed
        with a key we have (or sealed while we have none)."""
        sealed = value[: len(_SEALED)] == _SEALED
        if self.cipher is None:
            if sealed:
                raise MalformedEntry("sealed, and this instance has no encryption key")
            return value
        if not sealed:
            raise MalformedEntry("not sealed, and this deployment seals what it writes")
        size = value[len(_SEALED)] if len(value) > len(_SEALED) else 0
        start = len(_SEALED) + 1
        kid = value[start : start + size].decode(errors="replace")
        try:
            return self.cipher.open(kid, value[start + size :], about.encode())
        except ValueError as e:
            raise MalformedEntry(str(e)) from None

    # -- clients ---------------------------------------------------------------------------------

    @property
    def blocking_read_timeout(self) -> float:
        """Socket timeout of a client that blocks in XREAD for :data:`BLOCK_MS`."""
        return BLOCK_MS / 1000 + self.connect_timeout

    @staticmethod
    def retry(retries: int = COMMAND_RETRIES) -> Retry:
        """redis-py's retry policy of our clients: exponential backoff with jitter."""
        return Retry(
            ExponentialWithJitterBackoff(cap=2.0, base=0.05), retries, supported_errors=_RETRIED
        )

    def client(self, *, read_timeout: float | None = -1, retries: int = COMMAND_RETRIES):
        """A client of one's own. redis-py uses one socket timeout for every read: a reader
        blocking on XREAD needs :attr:`blocking_read_timeout`, a pub/sub listener none at all
        (``None``); -1 is the connect timeout."""
        return aioredis.Redis.from_url(
            self.url,
            socket_connect_timeout=self.connect_timeout,
            socket_timeout=self.connect_timeout if read_timeout == -1 else read_timeout,
            health_check_interval=10,
            retry=self.retry(retries),
        )

    def pool(self) -> aioredis.ConnectionPool:
        """Connections for a loop that sends packed commands itself (no socket timeout: it sets
        its own deadlines) and waits between attempts itself (redis-py does not retry)."""
        return aioredis.ConnectionPool.from_url(
            self.url,
            socket_connect_timeout=self.connect_timeout,
            socket_timeout=None,
            retry=Retry(NoBackoff(), 0),
        )

    @property
    def redis(self) -> aioredis.Redis:
        """The shared command client; raises :class:`BackplaneUnavailable` before start."""
        if self._redis is None:
            raise BackplaneUnavailable("Redis backplane not started")
        return self._redis

    def register_script(self, source: str) -> Any:
        return self.redis.register_script(source)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and read the epoch; :class:`BackplaneUnavailable` if Redis is unreachable."""
        self._redis = self.client()
        self._epoch_script = self._redis.register_script(_EPOCH)
        try:
            await asyncio.wait_for(self._redis.ping(), self.connect_timeout)
            await asyncio.wait_for(self.check_epoch(), self.connect_timeout)
            await asyncio.wait_for(self._check_layout(), self.connect_timeout)
        except TRANSIENT as e:
            await self._redis.aclose()
            self._redis = None
            raise BackplaneUnavailable(f"Redis at {safe_url(self.url)} is unreachable: {e}") from e
        self.healthy = True

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    async def _check_layout(self) -> None:
        """Say it clearly when Redis holds rooms of the layout before hash tags: a deployment
        that ran an older release has an epoch but no ``layout`` key. Those keys are not read
        (the instances republish their open rooms; the rest comes back from the stores), and
        stay until Redis is flushed."""
        key = self.key("layout")
        found = await self.redis.set(key, LAYOUT, nx=True, get=True)
        if found is None and self._fresh_epoch is False:
            self.log.warning(
                "Redis %s holds rooms of an older key layout (before hash tags), which this "
                "release does not read: once every instance runs this release, FLUSHDB it "
                "(rooms come back from the instances and stores)",
                safe_url(self.url),
            )
        elif found is not None and found != LAYOUT.encode():
            self.log.warning(
                "Redis key %s holds %r, not %r: left as it is", key, found[:40], LAYOUT
            )

    async def drop_unless_type(self, key: str, kind: str) -> bool:
        """Delete ``key`` if it holds another type than ``kind`` (someone wrote over one of our
        keys), so that our next write recreates it. True when it was deleted."""
        return bool(await self.redis.eval(_DROP_UNLESS_TYPE, 1, key, kind))

    async def check_epoch(self) -> bool:
        """Read (or create) the epoch; True when Redis lost its data since we last looked."""
        key = self.key("epoch")
        fresh = uuid.uuid4().hex[:8]
        reply = await self._epoch_script(keys=[key], args=[fresh])
        current = entries.epoch(reply[0])
        if self._fresh_epoch is None:
            self._fresh_epoch = current == fresh  # created now: nothing older was there
        if reply[1]:
            self.malformed.skip("epoch", None, f"{key} held no epoch token: replaced it")
        lost = self.epoch is not None and current != self.epoch
        if lost:
            self.data_lost = True
            self.log.warning(
                "Redis lost its data (epoch %s -> %s): republishing the open rooms",
                self.epoch,
                current,
            )
        self.epoch = current
        return lost
