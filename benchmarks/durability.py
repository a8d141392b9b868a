"""Burst durability: how long after the last of N single-character updates is all of it on disk?

    python -m benchmarks.durability --updates 1000 --runs 5

Spawns a Jupyter server with the extension (its own SQLite file), sends N single-character Yjs
updates as fast as one WebSocket allows, then polls the database file through a separate SQLite
connection until the room's stored updates rebuild the whole text. The figure is the time from
the last update leaving the client to the text being committed on disk (a committed WAL
transaction: with the default ``sqlite_synchronous=FULL`` it has also been fsynced).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import time
from pathlib import Path

from pycrdt import Doc, Text

from jupyter_omniforge.client.rooms import open_connection, room_url
from jupyter_omniforge.rooms.protocol import encode_update

from .loadgen.report import append_run, command_line, environment, markdown_table
from .loadgen.servers import SpawnedOmniforge
from .loadgen.stats import Summary

RESULTS = Path(__file__).parent / "results" / "durability.md"


def single_char_updates(n: int) -> list[bytes]:
    doc = Doc()
    text = doc.get("code", type=Text)
    updates = []
    for i in range(n):
        before = doc.get_state()
        text.insert(len(text), chr(ord("a") + i % 26))
        updates.append(doc.get_update(before))
    return updates


def stored_text_length(db: Path, room: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT data FROM room_snapshots WHERE room = ?", (room,)).fetchall()
        rows += conn.execute(
            "SELECT data FROM room_updates WHERE room = ? ORDER BY seq", (room,)
        ).fetchall()
    except sqlite3.OperationalError:
        return 0  # tables not created yet
    finally:
        conn.close()
    doc = Doc()
    for (data,) in rows:
        doc.apply_update(data)
    return len(doc.get("code", type=Text))


async def one_run(url: str, token: str, db: Path, room: str, updates: list[bytes]) -> float:
    conn = await open_connection(room_url(url, room, token))
    frames = [encode_update(u) for u in updates]
    for frame in frames:
        conn.write_message(frame, binary=True)
    # Every frame is in the socket buffer once the last write's future resolves.
    await conn.write_message(b"\x01\x01\x00", binary=True)  # an empty awareness update
    sent = time.perf_counter()
    deadline = sent + 10
    while stored_text_length(db, room) < len(updates):
        if time.perf_counter() > deadline:
            raise RuntimeError("not durable within 10 s")
        await asyncio.sleep(0.002)
    durable = time.perf_counter() - sent
    conn.close()
    return durable


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    spawner = SpawnedOmniforge()
    async with spawner:
        # The spawner points JUPYTER_DATA_DIR at its temp dir: the store's default place.
        db = Path(spawner.tmpdir) / "data" / "omniforge" / "omniforge.sqlite"
        url = f"http://127.0.0.1:{spawner.port}/"
        updates = single_char_updates(args.updates)
        times = [
            await one_run(url, spawner.token, db, f"idea:burst{i}", updates)
            for i in range(args.runs)
        ]
    summary = Summary.of([t * 1000 for t in times])
    columns = ["updates", "runs", "durable after last p50 ms", "max ms", "≤ 1 s"]
    rows = [
        [
            args.updates,
            args.runs,
            f"{summary.p50:.1f}",
            f"{summary.max:.1f}",
            "yes" if summary.max < 1000 else "NO",
        ]
    ]
    print(markdown_table(columns, rows))
    append_run(
        RESULTS,
        "Burst durability — jupyter_omniforge",
        [*environment("asyncio"), ("command", f"`{command_line()}`")],
        columns,
        rows,
    )


if __name__ == "__main__":
    asyncio.run(main())
