"""The backplane's Lua scripts on a Redis Cluster (issue 19): a cluster routes a script by the
keys it declares (KEYS), so every key a script touches must be among them, and all of one
room's keys share the room's hash tag. Checked on a real redis-server run as a one-node
cluster (it refuses cross-slot commands) with MONITOR, which shows every command a script
runs right after the script's own call."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis.asyncio as aioredis
from pycrdt import Doc, Text

from jupyter_omniforge.backplane.redis import RedisBackplane
from jupyter_omniforge.store.base import StoreSettings
from jupyter_omniforge.store.sqlite import SQLiteStore

from .cluster import RedisProcess
from .conftest import wait_for
from .test_shared_store import NoRoomsOpen

pytestmark = pytest.mark.timeout(120)


class ScriptKeys:
    """Follows MONITOR: for each script call, the keys it declared and those its commands
    touched."""

    #: Commands scripts run whose every argument is a key; for the others, the first one is.
    ALL_KEYS = {"DEL", "EXISTS", "UNLINK"}

    def __init__(self, url: str) -> None:
        self._client = aioredis.Redis.from_url(url)
        self._monitor = self._client.monitor()
        self.calls: list[tuple[list[str], list[str]]] = []  # (declared, touched)
        self._ended = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ScriptKeys:
        await self._monitor.__aenter__()
        self._task = asyncio.ensure_future(self._follow())
        return self

    async def _follow(self) -> None:
        async for seen in self._monitor.listen():
            words = seen["command"].split(" ")
            name = words[0].upper()
            if seen["client_type"] == "lua":
                if self.calls:
                    touched = words[1:] if name in self.ALL_KEYS else words[1:2]
                    self.calls[-1][1].extend(touched)
            elif name in ("EVAL", "EVALSHA"):
                count = int(words[2])
                self.calls.append((words[3 : 3 + count], []))
            elif words == ["ECHO", "end-of-story"]:
                self._ended.set()

    async def __aexit__(self, *exc) -> None:
        assert self._task is not None
        try:
            # Every command before this one has been seen once it is.
            await self._client.echo("end-of-story")
            await asyncio.wait_for(self._ended.wait(), 10)
        finally:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            await self._monitor.__aexit__()
            await self._client.aclose()

    def undeclared(self) -> list[tuple[list[str], list[str]]]:
        return [
            (declared, [key for key in touched if key not in declared])
            for declared, touched in self.calls
            if not set(touched) <= set(declared)
        ]


def _typed(text: str) -> bytes:
    doc = Doc()
    doc.get("code", type=Text).insert(0, text)
    return doc.get_update()


async def test_every_key_a_room_script_touches_is_declared_on_a_redis_cluster(tmp_path, caplog):
    """Two instances write to one room, a writer joins after the room was first read, the
    instances catch each other's writers, the room is persisted and leaves Redis once idle:
    every script call touched only keys it declared, and the cluster refused nothing."""
    redis = RedisProcess(tmp_path / "cluster", cluster=True).start()
    store = SQLiteStore(StoreSettings(path=str(tmp_path / "store.sqlite"), shared=True))
    await store.start()
    one, two = (
        RedisBackplane(
            redis.url, instance_id=name, compact_idle=0.2, trim_grace=0, heartbeat_interval=0.2
        )
        for name in ("one", "two")
    )
    for backplane in (one, two):
        backplane.use_shared_store(store.rooms, ttl=0.5, persist_interval=0.2)
        backplane.attach(NoRoomsOpen())
    caplog.set_level(logging.INFO)
    room = "idea:tagged"
    try:
        async with ScriptKeys(redis.url) as scripts:
            await one.start()
            await two.start()
            one.publish_update(room, _typed("one "))
            await one.outbox.drained(10)
            # Read with one writer, then again once a second writer joined the room: the read
            # learns the new writer (its stream must be declared too) and returns both.
            _, _, streams = await one.rooms.read(room)
            assert set(streams) == {"one"}
            two.publish_update(room, _typed("two "))
            await two.outbox.drained(10)
            _, _, streams = await one.rooms.read(room)
            assert set(streams) == {"one", "two"}
            assert await one.open_room(room) is not None
            await one.rooms.refresh_writers()

            async def left_redis():
                client = one.connection.redis
                return not [key async for key in client.scan_iter("*:room:*")]

            one.close_room(room)
            await wait_for(left_redis, timeout=30, interval=0.1)
        assert len(await store.rooms.load(room)) == 2
        assert len(scripts.calls) >= 5
        assert not scripts.undeclared(), scripts.undeclared()
    finally:
        await one.close()
        await two.close()
        await store.close()
        redis.stop()
    refused = [r.getMessage() for r in caplog.records if "CROSSSLOT" in r.getMessage()]
    assert not refused, refused
