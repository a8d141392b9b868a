"""PostgreSQL beside SQLite as the store: opening a cold room, and how soon an appended update
is committed.

- **Cold open**: ``--rooms`` rooms of about ``--room-kb`` KiB each (a compacted snapshot plus
  ``--tail`` logged updates, what a room looks like between compactions) are written, the store
  is closed and opened again, then each room is read and applied to a fresh document (what a
  join of a room nobody has open waits for), ``--opens`` times in all across the rooms. Issue 19:
  p99 at most 30 ms for 1 MB from PostgreSQL.
- **Commit latency**: a writer appends one update every ``1/--rate`` seconds for
  ``--seconds``; each append's time until the group commit holding it has returned (it is
  durable) is recorded, with the default ``commit_interval`` (5 ms): the distribution, per
  engine.

PostgreSQL is the URL ``--url``, or a server this benchmark starts (tests/postgres.py: initdb
and pg_ctl on a free port, fsync on).

Example::

    python -m benchmarks.store_pg --rooms 20 --room-kb 1024 --opens 200 --rate 200 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from pycrdt import Doc, Text

from jupyter_omniforge.store import SQLiteStore, Store, StoreSettings
from jupyter_omniforge.store.postgres import PostgresStore

from .loadgen.report import RESULTS_DIR, append_run, command_line, environment, markdown_table


def room_updates(kib: int, tail: int, seed: int) -> list[bytes]:
    """A room of about ``kib`` KiB of text: one big update, then ``tail`` small edits."""
    doc = Doc()
    text = doc.get("code", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    rng = random.Random(seed)
    text.insert(0, "".join(rng.choice("abcdefgh \n") for _ in range(kib * 1024)))
    for i in range(tail):
        text.insert(rng.randrange(len(text) // 2), f"edit {i};")
    return updates


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def cold_open(
    make: callable, rooms: int, kib: int, tail: int, opens: int
) -> tuple[list[float], int]:
    """Milliseconds per open, and the bytes one room's rows hold."""
    store: Store = make()
    await store.start()
    size = 0
    for r in range(rooms):
        updates = room_updates(kib, tail, r)
        store.rooms.append(f"idea:cold-{r}", updates[0])
        await store.rooms.compact(f"idea:cold-{r}")  # the big insert becomes the snapshot
        for update in updates[1:]:
            store.rooms.append(f"idea:cold-{r}", update)
        await store.rooms.flush()
        size = sum(map(len, await store.rooms.load(f"idea:cold-{r}")))
    await store.close()
    store = make()
    await store.start()
    timings = []
    try:
        for i in range(opens):
            started = time.perf_counter()
            doc = Doc()
            for row in await store.rooms.load(f"idea:cold-{i % rooms}"):
                doc.apply_update(row)
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        await store.close()
    return timings, size


async def commit_latency(make: callable, rate: float, seconds: float) -> list[float]:
    """Milliseconds from each append until the group commit holding it returned, nobody
    calling ``flush()`` (the store's own timer ships it, as in a server)."""
    store: Store = make()
    await store.start()
    rooms = store.rooms
    doc = Doc()
    text = doc.get("code", type=Text)
    appended: dict[int, float] = {}
    latencies: list[float] = []
    # Both engines finish a batch in ``_batch_finished(batch, …)``; a failed one goes back to
    # the queue. Watching it there is the benchmark's business only.
    finish = rooms._batch_finished

    def finished(batch, *rest) -> None:
        finish(batch, *rest)
        now = time.perf_counter()
        if batch and batch[0] not in rooms._pending:
            latencies.extend((now - appended.pop(entry[0])) * 1000 for entry in batch)

    rooms._batch_finished = finished

    def append(event) -> None:
        rooms.append("idea:rate", event.update)
        appended[rooms._last_id] = time.perf_counter()

    subscription = doc.observe(append)
    try:
        deadline = time.perf_counter() + seconds
        tick = 1 / rate
        next_at = time.perf_counter()
        while next_at < deadline:
            text.insert(len(text), "x")
            next_at += tick
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await rooms.flush()
    finally:
        doc.unobserve(subscription)
        await store.close()
    return latencies


async def measure(args: argparse.Namespace, url: str, tmp: Path) -> list[tuple]:
    def settings(engine: str, name: str) -> StoreSettings:
        common = {"compact_idle": 3600, "compact_max_updates": 10**9}
        if engine == "sqlite":
            return StoreSettings(path=str(tmp / f"{name}.sqlite"), **common)
        return StoreSettings(url=url, **common)

    rows = []
    for engine, cls in (("SQLite", SQLiteStore), ("PostgreSQL", PostgresStore)):
        key = engine.lower()
        opens, size = await cold_open(
            lambda cls=cls, key=key: cls.from_settings(settings(key, "cold")),
            args.rooms,
            args.room_kb,
            args.tail,
            args.opens,
        )
        commits = await commit_latency(
            lambda cls=cls, key=key: cls.from_settings(settings(key, "rate")),
            args.rate,
            args.seconds,
        )
        rows.append(
            (
                engine,
                f"{size / 1e6:.2f}",
                f"{statistics.median(opens):.1f}",
                f"{percentile(opens, 0.99):.1f}",
                f"{statistics.median(commits):.1f}",
                f"{percentile(commits, 0.9):.1f}",
                f"{percentile(commits, 0.99):.1f}",
                f"{max(commits):.1f}",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="", help="a PostgreSQL database (default: start one)")
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--room-kb", type=int, default=1024)
    parser.add_argument("--tail", type=int, default=100)
    parser.add_argument("--opens", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200.0, help="appends per second")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "postgres.md")
    args = parser.parse_args()

    server = None
    url = args.url
    if not url:
        from tests.postgres import PostgresProcess

        server = PostgresProcess().start()
        url = server.create_database()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rows = asyncio.run(measure(args, url, Path(tmp)))
    finally:
        if server is not None:
            server.remove()
    facts = [
        *environment("asyncio"),
        ("command", f"`{command_line()}`"),
        (
            "workload",
            f"{args.rooms} rooms of {args.room_kb} KiB (snapshot + {args.tail} logged updates), "
            f"{args.opens} cold opens; {args.rate:g} appends/s for {args.seconds:g} s",
        ),
        ("postgres", "its own server (tests/postgres.py), fsync on" if server else "--url"),
    ]
    columns = (
        "store",
        "room MB",
        "cold open median ms",
        "cold open p99 ms",
        "commit median ms",
        "commit p90 ms",
        "commit p99 ms",
        "commit max ms",
    )
    append_run(args.out, "Cold open and commit latency", facts, columns, rows)
    print(markdown_table(columns, rows))


if __name__ == "__main__":
    main()
