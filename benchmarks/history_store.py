"""What reading version history costs in a history store: the first page of a room with
``--versions`` versions (issue 17: at most 50 ms for 10,000), and the content of an old version
(one row: a full state, no replay; issue 17: at most 300 ms). ``--engine sqlite`` (the embedded
store), ``redis`` (where versions live with Redis and a store of each instance's own; a fresh
``redis-server`` on a free port, never 6379), or ``http`` (end to end: the SQLite store filled
as above, then served by a spawned ``jupyter server``, read over REST as the History panel
does: ``GET …/versions?limit=50`` and ``GET …/versions/{id}``).

Each version holds a full document of about ``--doc-kb`` KiB of text with its authorship runs,
as the recorder writes them. Timings are the median and worst of ``--repeat`` reads.

Example::

    python -m benchmarks.history_store --versions 10000 --doc-kb 20 --engine sqlite,redis

Results are appended to ``benchmarks/results/history.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from pycrdt import Doc, Text

from jupyter_omniforge.backplane.redis.connection import RedisConnection
from jupyter_omniforge.backplane.redis.entries import MalformedCounts
from jupyter_omniforge.backplane.redis.history import RedisHistoryStore
from jupyter_omniforge.store import SQLiteStore, StoreSettings
from jupyter_omniforge.store.base import HistoryStore

from .history import Api
from .loadgen.report import RESULTS_DIR, append_run, command_line, environment
from .loadgen.servers import SpawnedOmniforge, SpawnedRedis


def document(kib: int, seed: int) -> bytes:
    doc = Doc()
    text = doc.get("code", type=Text)
    rng = random.Random(seed)
    text.insert(0, "".join(rng.choice("abcdefgh \n") for _ in range(kib * 1024)))
    return doc.get_update()


@contextlib.asynccontextmanager
async def history_store(engine: str) -> AsyncIterator[HistoryStore]:
    if engine == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            store = SQLiteStore(StoreSettings(path=str(Path(tmp) / "h.sqlite")))
            await store.start()
            try:
                yield store.history
            finally:
                await store.close()
        return
    async with SpawnedRedis() as redis:
        log = logging.getLogger("benchmarks.history_store")
        malformed = MalformedCounts(log)
        connection = RedisConnection(
            redis.url, prefix="b", connect_timeout=5, malformed=malformed, log=log
        )
        await connection.start()
        try:
            yield RedisHistoryStore(connection, malformed)
        finally:
            await connection.close()


async def measure(engine: str, versions: int, doc_kb: int, repeat: int) -> dict[str, float]:
    if engine == "http":
        return await measure_http(versions, doc_kb, repeat)
    async with history_store(engine) as history:
        state = document(doc_kb, 1)
        runs = {"code": [[doc_kb * 512, "alice"], [doc_kb * 512, "bob"]]}
        authors = [{"username": "alice", "display_name": "Alice", "updates": 300}]
        ids = []
        for _ in range(versions):
            made = await history.add_version("idea:b", state, runs, authors=authors)
            ids.append(made["id"])
        first_page, old_content = [], []
        for i in range(repeat):
            started = time.perf_counter()
            await history.list_versions("idea:b", None, 51)
            first_page.append(time.perf_counter() - started)
            started = time.perf_counter()
            await history.get_version("idea:b", ids[i % 10])  # among the oldest
            old_content.append(time.perf_counter() - started)
    return {
        "first page median ms": statistics.median(first_page) * 1000,
        "first page worst ms": max(first_page) * 1000,
        "old version median ms": statistics.median(old_content) * 1000,
        "old version worst ms": max(old_content) * 1000,
    }


async def fill(path: Path, versions: int, doc_kb: int) -> list[str]:
    """A SQLite store at ``path`` whose room ``idea:b`` has ``versions`` versions; their ids."""
    store = SQLiteStore(StoreSettings(path=str(path)))
    await store.start()
    try:
        state = document(doc_kb, 1)
        store.rooms.append("idea:b", state, author="alice")
        runs = {"code": [[doc_kb * 512, "alice"], [doc_kb * 512, "bob"]]}
        authors = [{"username": "alice", "display_name": "Alice", "updates": 300}]
        return [
            (await store.history.add_version("idea:b", state, runs, authors=authors))["id"]
            for _ in range(versions)
        ]
    finally:
        await store.close()


async def measure_http(versions: int, doc_kb: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "h.sqlite"
        ids = await fill(path, versions, doc_kb)
        spawner = SpawnedOmniforge(extra_args=[f"--OmniForgeApp.db_path={path}"])
        async with spawner:
            api = Api(spawner.port, spawner.token)
            try:
                first_page, old_content = [], []
                for i in range(repeat):
                    took, page = await api.json("GET", api.room("idea:b", "/versions?limit=50"))
                    assert len(page["versions"]) == 50 and page["next"], page
                    first_page.append(took)
                    took, _ = await api.json("GET", api.room("idea:b", f"/versions/{ids[i % 10]}"))
                    old_content.append(took)
            finally:
                await api.http.aclose()
    return {
        "first page median ms": statistics.median(first_page) * 1000,
        "first page worst ms": max(first_page) * 1000,
        "old version median ms": statistics.median(old_content) * 1000,
        "old version worst ms": max(old_content) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--doc-kb", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--engine", default="sqlite", help="sqlite, redis, http; several: a,b")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "history.md")
    args = parser.parse_args()
    facts = environment("asyncio (the store in this process)")
    rows = []
    for engine in args.engine.split(","):
        results = asyncio.run(measure(engine, args.versions, args.doc_kb, args.repeat))
        for name, value in results.items():
            print(f"{engine}: {name}: {value:.2f}")
        rows.append(
            [
                engine,
                f"{args.versions:,}",
                f"{results['first page median ms']:.1f} median, "
                f"{results['first page worst ms']:.1f} worst",
                f"{results['old version median ms']:.1f} median, "
                f"{results['old version worst ms']:.1f} worst",
            ]
        )
    facts.append(("command", f"`{command_line()}`"))
    columns = [
        "engine",
        "versions in the room",
        "first page (51 versions), ms (target ≤ 50)",
        "content of one of the oldest versions, ms (target ≤ 300)",
    ]
    notes = [
        f"each version: a full document of {args.doc_kb} KiB of text and its authorship runs, "
        f"as the recorder writes them; {args.repeat} reads each"
    ]
    append_run(args.out, "History: reading versions from the store", facts, columns, rows, notes)


if __name__ == "__main__":
    main()
