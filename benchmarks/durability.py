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
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from pycrdt import Doc, Text

from jupyter_omniforge.client.rooms import open_connection, room_url
from jupyter_omniforge.rooms.protocol import encode_update

from .loadgen.report import append_run, environment, markdown_table
from .loadgen.servers import free_port
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
    parser.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="omniforge-durability-"))
    db = tmp / "omniforge.sqlite"
    port, token = free_port(), secrets.token_hex(16)
    log = open(tmp / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={tmp}",
            f"--OmniForgeApp.db_path={db}",
            f"--OmniForgeApp.sqlite_synchronous={args.synchronous}",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(url + "omniforge/health/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                await asyncio.sleep(0.2)
        updates = single_char_updates(args.updates)
        times = [await one_run(url, token, db, f"idea:burst{i}", updates) for i in range(args.runs)]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        log.close()
    summary = Summary.of([t * 1000 for t in times])
    columns = ["updates", "runs", "synchronous", "durable after last p50 ms", "max ms", "≤ 1 s"]
    rows = [
        [
            args.updates,
            args.runs,
            args.synchronous,
            f"{summary.p50:.1f}",
            f"{summary.max:.1f}",
            "yes" if summary.max < 1000 else "NO",
        ]
    ]
    print(markdown_table(columns, rows))
    append_run(
        RESULTS, "Burst durability — jupyter_omniforge", environment("asyncio"), columns, rows
    )


if __name__ == "__main__":
    asyncio.run(main())
