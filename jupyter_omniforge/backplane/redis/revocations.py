"""Revoked tokens between instances: a revocation made on one instance holds on every one.

- ``revoked`` — a hash, token id (``jti``) → when the token would have expired anyway (unix
  seconds). An instance reads it when it starts and after a loss of Redis; entries past their
  expiry are dropped then.
- a message of kind :data:`REVOKED` on the ``awareness`` channel tells the running instances at
  once; they close the connections that use the token.
"""

from __future__ import annotations

import logging
import math
import time

from ...errors import BackplaneUnavailable
from . import entries
from .awareness import REVOKED, AwarenessChannel
from .connection import TRANSIENT, RedisConnection
from .entries import MalformedCounts, MalformedEntry

#: The longest token id kept (what ``DELETE omniforge/api/tokens/{jti}`` accepts).
MAX_JTI = 200


def parse_expiry(value: object) -> float:
    """When a revoked token expires, as stored or announced; :class:`MalformedEntry` else."""
    try:
        expires = float(entries.text(value, "expiry"))
    except ValueError:
        raise MalformedEntry("a revocation's expiry is not a number") from None
    if not math.isfinite(expires):
        raise MalformedEntry("a revocation's expiry is not finite")
    return expires


def token_id(value: object) -> str:
    jti = entries.text(value, "token id")
    if not 1 <= len(jti) <= MAX_JTI:
        raise MalformedEntry(f"a token id of {len(jti)} characters")
    return jti


class SharedRevocations:
    """This instance's side of the shared revocations (see the module doc)."""

    def __init__(
        self,
        connection: RedisConnection,
        awareness: AwarenessChannel,
        *,
        malformed: MalformedCounts,
        log: logging.Logger,
    ) -> None:
        self._connection = connection
        self._awareness = awareness
        self._malformed = malformed
        self._log = log

    @property
    def _key(self) -> str:
        return self._connection.key("revoked")

    async def share(self, jti: str, expires: float) -> None:
        """Record the revocation for instances that start later, and tell the running ones.
        Raises :class:`BackplaneUnavailable` when Redis cannot be reached (the revocation then
        holds on this instance only: revoking again is harmless)."""
        try:
            await self._connection.redis.hset(self._key, jti, repr(expires))
        except TRANSIENT as e:
            raise BackplaneUnavailable(
                f"the token is revoked on this instance, but Redis is unreachable ({e}): "
                "revoke it again to revoke it on the others"
            ) from None
        self._awareness.publish(jti, REVOKED, repr(expires).encode())

    async def load(self) -> dict[str, float]:
        """Every revocation still in force; drops those past their expiry."""
        stored = await self._connection.redis.hgetall(self._key)
        now = time.time()
        found: dict[str, float] = {}
        stale: list[bytes | str] = []
        for field, value in stored.items():
            try:
                jti, expires = token_id(field), parse_expiry(value)
            except MalformedEntry as e:
                self._malformed.skip("revocation", f"{self._key} {field!r:.60}", e)
                stale.append(field)
                continue
            if expires <= now:
                stale.append(field)
            else:
                found[jti] = expires
        if stale:
            await self._connection.redis.hdel(self._key, *stale)
        return found

    def received(self, jti: str, payload: bytes) -> tuple[str, float] | None:
        """``(jti, expires)`` of another instance's announcement; None (counted) if malformed."""
        try:
            return token_id(jti), parse_expiry(payload)
        except MalformedEntry as e:
            self._malformed.skip("revocation", None, e)
            return None
