"""Leases: one instance at a time does something (folds a room, sends webhooks).

A lease is a key holding its holder's random token, with a time to live: the holder renews it
before it expires, and when the holder dies it expires and another instance takes it. A lease
may carry a value its holders pass on to each other (how far the last one got), and a hash of
named positions (how far each part got), both written only while the lease is held.
"""

from __future__ import annotations

import uuid
from typing import Any

from redis.exceptions import ResponseError

from ..base import Lease
from .connection import RedisConnection, is_wrong_type
from .entries import MalformedCounts

# Take a lease: 1 if taken; 0 if someone holds it; -1 if the key never expires (someone wrote
# over it), which it now does, in ARGV[2] ms. KEYS: lease; ARGV: token, time to live in ms.
TAKE_LEASE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return -1
end
return 0
"""

# Release a lease if it is still ours. KEYS: lease; ARGV: token.
RELEASE_LEASE = """
if redis.call('TYPE', KEYS[1])['ok'] == 'string' and redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_HELD = """
if redis.call('TYPE', KEYS[1])['ok'] == 'string' and redis.call('GET', KEYS[1]) == ARGV[1] then
"""

# Renew a lease we hold (1), else take it as TAKE_LEASE does. KEYS: lease; ARGV: as TAKE_LEASE.
_HOLD_LEASE = _HELD + "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n  return 1\nend\n" + TAKE_LEASE

# Set the lease's value if we hold it: 1, else 0. KEYS: lease, value; ARGV: token, value.
_SAVE_IF_HELD = _HELD + "  redis.call('SET', KEYS[2], ARGV[2])\n  return 1\nend\nreturn 0\n"

# Set fields of the lease's positions if we hold it: 1, else 0. A key that is not a hash
# (someone wrote over it) is replaced. KEYS: lease, positions; ARGV: token, name, value, ...
_SAVE_POSITIONS_IF_HELD = (
    _HELD
    + """  if redis.call('TYPE', KEYS[2])['ok'] ~= 'hash' then redis.call('DEL', KEYS[2]) end
  redis.call('HSET', KEYS[2], unpack(ARGV, 2))
  return 1
end
return 0
"""
)

#: Longest value read back (anything longer was not written by us).
_MAX_VALUE = 1024


class RedisLease(Lease):
    """The lease ``{prefix}:lease:{{name}}``, its value in ``{prefix}:lease:{{name}}:value``,
    its positions in the hash ``{prefix}:lease:{{name}}:positions``: one hash tag, so the
    scripts that check the lease and write its value touch one Redis Cluster slot. A value
    or positions saved under the names of older releases (without the braces) are still
    read until the first save. A name with a hash tag of its own keeps it (no braces added)."""

    def __init__(
        self, connection: RedisConnection, name: str, ttl: float, malformed: MalformedCounts
    ) -> None:
        self._connection = connection
        # A name that carries a hash tag of its own (a room's: ``history:{room}``) keeps it.
        tagged = name if "{" in name and "}" in name else "{" + name + "}"
        self._key = connection.key("lease", tagged)
        self._value_key = connection.key("lease", tagged, "value")
        self._positions_key = connection.key("lease", tagged, "positions")
        self._old_value_key = connection.key("lease", name, "value")
        self._old_positions_key = connection.key("lease", name, "positions")
        self._token = uuid.uuid4().hex
        self.ttl = ttl
        self._ttl_ms = max(1, int(ttl * 1000))
        self._malformed = malformed
        self._scripts: dict[str, Any] = {}

    def _script(self, source: str) -> Any:
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self._connection.register_script(source)
        return script

    async def hold(self) -> bool:
        taken = await self._script(_HOLD_LEASE)(keys=[self._key], args=[self._token, self._ttl_ms])
        if taken == -1:
            self._malformed.skip("leases", None, f"{self._key} never expired; it now does")
        return taken == 1

    async def release(self) -> None:
        await self._script(RELEASE_LEASE)(keys=[self._key], args=[self._token])

    async def load(self) -> str | None:
        key = self._value_key
        value = await self._connection.redis.get(key)
        if value is None:
            key = self._old_value_key
            value = await self._connection.redis.get(key)
        if value is None:
            return None
        if not isinstance(value, bytes) or len(value) > _MAX_VALUE:
            self._malformed.skip("leases", key, "not a value we write")
            return None
        return value.decode(errors="replace")

    async def save(self, value: str) -> bool:
        saved = await self._script(_SAVE_IF_HELD)(
            keys=[self._key, self._value_key], args=[self._token, value]
        )
        return saved == 1

    async def load_positions(self) -> dict[str, str]:
        redis = self._connection.redis
        fields: dict[bytes, bytes] = {}
        for key in (self._positions_key, self._old_positions_key):
            try:
                fields = await redis.hgetall(key)
            except ResponseError as e:
                if not is_wrong_type(e):
                    raise
                self._malformed.skip("leases", key, "not a hash")
                return {}
            if fields:
                break
        positions = {}
        for name, value in fields.items():
            if len(name) > _MAX_VALUE or len(value) > _MAX_VALUE:
                self._malformed.skip("leases", key, "not a position we write")
                continue
            positions[name.decode(errors="replace")] = value.decode(errors="replace")
        return positions

    async def save_positions(self, positions: dict[str, str]) -> bool:
        if not positions:
            return True
        args: list[str] = [self._token]
        for name, value in positions.items():
            args += (name, value)
        saved = await self._script(_SAVE_POSITIONS_IF_HELD)(
            keys=[self._key, self._positions_key], args=args
        )
        return saved == 1
