"""The live instances of a deployment: each writes a heartbeat key with a TTL."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from typing import Any

from ... import strictjson
from . import entries
from .connection import RedisConnection
from .entries import MalformedCounts, MalformedEntry


class Instances:
    """This instance's heartbeat (``instance:{id}``) and the list of every live one."""

    def __init__(
        self,
        connection: RedisConnection,
        instance_id: str,
        *,
        rooms_info: Callable[[], dict[str, Any]],
        malformed: MalformedCounts,
        ttl: int,
    ) -> None:
        self._connection = connection
        self._instance = instance_id
        self._rooms_info = rooms_info
        self._malformed = malformed
        self._ttl = ttl
        self.started_at = time.time()

    async def beat(self) -> None:
        """Say that this instance is alive, with its rooms and peers, for the next ``ttl`` s."""
        info = {
            "id": self._instance,
            "started": self.started_at,
            "seen": time.time(),
            **self._rooms_info(),
        }
        await self._connection.redis.set(
            self._connection.key("instance", self._instance), strictjson.dumps(info), ex=self._ttl
        )

    async def leave(self) -> None:
        await self._connection.redis.delete(self._connection.key("instance", self._instance))

    async def list(self) -> list[dict[str, Any]]:
        """The live instances' heartbeats, oldest first; malformed ones are skipped."""
        redis = self._connection.redis
        pattern = self._connection.key("instance", "*")
        keys = [k async for k in redis.scan_iter(match=pattern, count=1000)]
        # One GET per key in a pipeline, not an MGET: heartbeats of different instances lie in
        # different Redis Cluster slots. A key holding another type answers an error: None.
        values: list[Any] = []
        if keys:
            async with redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.get(key)
                values = await pipe.execute(raise_on_error=False)
            values = [None if isinstance(v, Exception) else v for v in values]
        instances = []
        for raw_key, value in zip(keys, values, strict=True):
            if value is None:
                continue  # expired meanwhile, or not a string (MGET answers nil for those)
            key = raw_key.decode(errors="replace") if isinstance(raw_key, bytes) else raw_key
            try:
                info = entries.instance(value)
                if key != self._connection.key("instance", info["id"]):
                    raise MalformedEntry(f"heartbeat of {info['id']!r} under another key")
            except MalformedEntry as e:
                self._malformed.skip("instances", f"{key} {zlib.crc32(value):08x}", e)
                continue
            instances.append(info)
        return sorted(instances, key=lambda i: i["started"])

    async def live(self) -> set[str]:
        return {info["id"] for info in await self.list()}
