"""Redis memory bounded by the active rooms: with a shared store behind Redis, rooms touched once
and then idle past ``redis_room_ttl`` leave Redis entirely.

Issue 19's target: 10,000 rooms touched once, then idle past the TTL, leave Redis within 5% of
its empty size (``INFO memory`` ``used_memory``).

One instance in this process: a fresh ``redis-server`` on a free port (no persistence), a shared
SQLite store in a temporary directory, and the Redis backplane with ``use_shared_store``. Each
room gets one real Yjs update through the backplane's hot path (as a client's edit would), its
lease holder persists it into the store, and the sweep lets it leave Redis once idle. Every
room is then read back from the store to check nothing was lost.

Example::

    python -m benchmarks.redis_ttl --rooms 10000 --ttl 5
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis
from pycrdt import Doc, Text

from jupyter_omniforge.backplane.redis import RedisBackplane
from jupyter_omniforge.store.base import StoreSettings
from jupyter_omniforge.store.sqlite import SQLiteStore

from .loadgen.report import RESULTS_DIR, append_section, command_line, environment
from .loadgen.servers import SpawnedRedis, redis_server_version


class NoRooms:
    """The backplane's sink: no room is open in this process (the rooms are only touched)."""

    rooms: dict = {}

    def apply_remote_update(self, room, update):
        return True

    def apply_remote_awareness(self, room, instance, update):
        return True

    def forget_remote_instance(self, instance):
        pass

    def expire_remote_awareness(self, older_than):
        pass

    def remote_instances(self):
        return set()

    def local_awareness(self, room):
        return None

    def sync_remote_state(self, room, shared):
        return None


def one_update(i: int) -> bytes:
    doc = Doc()
    doc.get("code", type=Text).insert(0, f"room {i} touched once")
    return doc.get_update()


async def used_memory(client: aioredis.Redis) -> int:
    return int((await client.info("memory"))["used_memory"])


async def connected_clients(client: aioredis.Redis) -> int:
    return int((await client.info("clients"))["connected_clients"])


async def room_keys(client: aioredis.Redis) -> int:
    return sum([1 async for _ in client.scan_iter(match="*:room:*", count=1000)])


async def touch_and_wait(
    backplane: RedisBackplane, client: aioredis.Redis, names: list[str], args: argparse.Namespace
) -> tuple[float, int, int, int]:
    """One update to each room; then wait until every room left Redis. Returns the time to
    touch them, Redis's used memory and room keys once touched, and the room keys left."""
    started = time.monotonic()
    for i, room in enumerate(names):
        backplane.publish_update(room, one_update(i))
        if i % 500 == 499:
            await backplane.outbox.drained(30)
    await backplane.outbox.drained(60)
    touched_s = time.monotonic() - started
    peak, peak_keys = await used_memory(client), await room_keys(client)
    # Persisted (each room's idle fold), then idle past the TTL: the sweep removes them.
    deadline = time.monotonic() + args.ttl + args.timeout
    while time.monotonic() < deadline:
        if not await room_keys(client):
            break
        await asyncio.sleep(0.5)
    return touched_s, peak, peak_keys, await room_keys(client)


async def run(args: argparse.Namespace) -> list[str]:
    log = logging.getLogger("redis_ttl")
    async with SpawnedRedis() as redis_server:
        client = aioredis.Redis.from_url(redis_server.url)
        workdir = Path(tempfile.mkdtemp(prefix="omniforge-bench-ttl-"))
        store = SQLiteStore(StoreSettings(path=str(workdir / "omniforge.sqlite"), shared=True))
        await store.start()
        backplane = RedisBackplane(
            redis_server.url,
            instance_id="bench",
            compact_idle=args.persist_after,
            trim_grace=0,
            log=log,
        )
        backplane.use_shared_store(store.rooms, ttl=args.ttl)
        backplane.attach(NoRooms())
        await backplane.start()
        try:
            await asyncio.sleep(1)
            fresh = await used_memory(client)
            # Warm-up: a few rooms touched and gone, so that what a running deployment holds
            # once (connection pools, Redis's own structures after its first keys came and
            # went) is in the baseline, and the measured rounds show what rooms leave behind.
            await touch_and_wait(
                backplane, client, [f"idea:warm{i}" for i in range(args.warmup)], args
            )
            await asyncio.sleep(1)
            empty = await used_memory(client)
            empty_clients = await connected_clients(client)
            if args.explain:
                print("keys:", [key async for key in client.scan_iter(count=1000)])
                print(await client.memory_stats())
            started = time.monotonic()
            names = [f"idea:ttl{i}" for i in range(args.rooms)]
            touched_s, peak, peak_keys, left_keys = await touch_and_wait(
                backplane, client, names, args
            )
            drained_s = time.monotonic() - started
            await asyncio.sleep(1)  # let the allocator settle
            after = await used_memory(client)
            after_clients = await connected_clients(client)
            if args.explain:
                print("keys:", [key async for key in client.scan_iter(count=1000)])
                print(await client.memory_stats())
            persister = backplane.persister
            assert persister is not None
            stored = await store.rooms.stored_rooms()
            lost = 0
            for i, room in enumerate(names):
                doc = Doc()
                for update in await store.rooms.load(room):
                    doc.apply_update(update)
                if str(doc.get("code", type=Text)) != f"room {i} touched once":
                    lost += 1
        finally:
            await backplane.close()
            await store.close()
            await client.aclose()
        version = redis_server_version("redis-server")
    ratio = after / empty
    ok = ratio <= 1.05 and lost == 0 and left_keys == 0
    return [
        "",
        "## Redis memory after idle rooms leave (shared store behind Redis)",
        "",
        *(f"- {name}: {value}" for name, value in environment("asyncio")),
        f"- redis-server {version}; store: SQLite file (shared=True) on local disk",
        f"- command: `{command_line()}`",
        f"- settings: {args.rooms} rooms, one update each; persist {args.persist_after} s after "
        f"a room's last update; redis_room_ttl {args.ttl} s; sweep every "
        f"{max(0.5, min(args.ttl / 2, 60)):g} s",
        "",
        "| | value |",
        "|---|---|",
        f"| used_memory, fresh (instance started, nothing touched yet) | {fresh:,} B |",
        f"| used_memory, empty (after a warm-up of {args.warmup} rooms touched and gone) "
        f"| {empty:,} B |",
        f"| used_memory, {args.rooms:,} rooms touched | {peak:,} B ({peak_keys:,} room keys) |",
        f"| used_memory, after the TTL | {after:,} B ({left_keys:,} room keys left) |",
        f"| after / empty | {ratio:.3f} |",
        f"| Redis clients connected, empty / after | {empty_clients} / {after_clients} |",
        f"| time to touch every room | {touched_s:.1f} s |",
        f"| time until every room left Redis | {drained_s:.1f} s |",
        f"| updates persisted / rooms in the store | {persister.persisted_updates:,} / "
        f"{len(stored):,} |",
        f"| rooms whose stored document differs | {lost} |",
        "",
        f"**Target — after the TTL, Redis within 5% of its empty size, nothing lost: "
        f"{'PASS' if ok else 'FAIL'}** ({ratio:.3f} x empty).",
        "",
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rooms", type=int, default=10_000, help="rooms touched once")
    p.add_argument("--warmup", type=int, default=100, help="rooms touched and gone first")
    p.add_argument("--ttl", type=float, default=5.0, help="redis_room_ttl, seconds")
    p.add_argument(
        "--persist-after", type=float, default=1.0, help="idle seconds before a room persists"
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait past the TTL")
    p.add_argument("--explain", action="store_true", help="print Redis's keys and MEMORY STATS")
    p.add_argument("--no-record", action="store_true", help="print, do not append the results")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    lines = asyncio.run(run(args))
    print("\n".join(lines))
    if not args.no_record:
        append_section(RESULTS_DIR / "redis-ttl.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
