"""Version history side by side with the peer that has it: jupyter-collaboration's timeline
(jupyter-server-ydoc 3's ``api/collaboration/timeline``) against our versions, on the same
typed document, in the same run (issue 17: "side by side where a peer has the operation").

One pycrdt client types ``--updates`` keystrokes, one update each, into a text document on each
server: a file ``bench.txt`` (a jupyter-server-ydoc document room, its updates kept in its
SQLite YStore), and the room ``idea:timeline`` here. Then, ``--repeat`` times each:

- **open the history**: theirs, ``GET api/collaboration/timeline/bench.txt`` (it replays every
  stored update into a fork document with an undo manager, and answers with the timestamps the
  slider steps through); ours, ``GET …/versions?limit=50`` (the first page of versions);
- **the oldest state**: theirs, ``PUT api/collaboration/undo_redo/…?action=undo&steps=N`` on
  the fork (undoing every step there is); ours, ``GET …/versions/{oldest}`` (one stored state).

Example::

    python -m benchmarks.history_timeline --updates 5000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from pycrdt import (
    Doc,
    Text,
    YMessageType,
    YSyncMessageType,
    create_sync_message,
    create_update_message,
    handle_sync_message,
)
from tornado.websocket import websocket_connect

from .loadgen.report import RESULTS_DIR, append_run, command_line, environment
from .loadgen.servers import SpawnedJupyterYdoc, SpawnedOmniforge, dist_version


class Typist:
    """A pycrdt client that types into Text ``root``, one update per keystroke."""

    def __init__(self, root: str) -> None:
        self.doc = Doc()
        self.text = self.doc.get(root, type=Text)
        self.synced = asyncio.Event()
        self.conn: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, url: str) -> None:
        self.conn = await websocket_connect(url, max_message_size=256 * 1024 * 1024)
        self._reader = asyncio.ensure_future(self._read())
        self.conn.write_message(create_sync_message(self.doc), binary=True)
        await asyncio.wait_for(self.synced.wait(), 30)

    async def _read(self) -> None:
        while (message := await self.conn.read_message()) is not None:
            if isinstance(message, str) or not message or message[0] != YMessageType.SYNC:
                continue
            if message[1] == YSyncMessageType.SYNC_STEP2:
                self.synced.set()
            reply = handle_sync_message(message[1:], self.doc)
            if reply is not None:
                self.conn.write_message(reply, binary=True)

    async def type(self, count: int, rate: float) -> None:
        started = time.perf_counter()
        for i in range(count):
            state = self.doc.get_state()
            self.text += "abcdefghij\n"[i % 11]
            update = self.doc.get_update(state)
            self.conn.write_message(create_update_message(update), binary=True)
            ahead = started + (i + 1) / rate - time.perf_counter()
            if ahead > 0:
                await asyncio.sleep(ahead)

    async def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


async def _timed(http: httpx.AsyncClient, method: str, url: str, **kw: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    response = await http.request(method, url, **kw)
    took = time.perf_counter() - started
    response.raise_for_status()
    return took, response.json()


async def _until(check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout} s")
        await asyncio.sleep(0.5)


async def theirs(args: argparse.Namespace) -> dict[str, Any]:
    spawner = SpawnedJupyterYdoc()
    async with spawner:
        base = f"http://127.0.0.1:{spawner.port}/"
        headers = {"Authorization": f"token {spawner.token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=600) as http:
            body = {"type": "file", "format": "text", "content": ""}
            (await http.put("api/contents/bench.txt", json=body)).raise_for_status()
            session = (
                await http.put(
                    "api/collaboration/session/bench.txt", json={"format": "text", "type": "file"}
                )
            ).json()
            typist = Typist("source")
            await typist.connect(
                f"ws://127.0.0.1:{spawner.port}/api/collaboration/room/text:file:"
                f"{session['fileId']}?sessionId={session['sessionId']}&token={spawner.token}"
            )
            # Connected until the end: its room (and its YStore's timeline) closes with the last
            # client.
            await typist.type(args.updates, args.rate)
            query = "?format=text&type=file"

            async def saved_all() -> bool:
                # The room writes each update to its YStore as it applies it, and saves the
                # file a moment later: once the file holds every key, so does the YStore.
                _, model = await _timed(http, "GET", "api/contents/bench.txt?content=1")
                return len(model["content"] or "") >= args.updates

            await _until(saved_all, 300)
            await asyncio.sleep(2)
            opened, oldest, steps = [], [], []
            for _ in range(args.repeat):
                took, found = await _timed(
                    http, "GET", f"api/collaboration/timeline/bench.txt{query}"
                )
                opened.append(took)
                n = len(found["timestamps"])
                steps.append(n)
                took, _ = await _timed(
                    http,
                    "PUT",
                    f"api/collaboration/undo_redo/{found['roomId']}"
                    f"?action=undo&steps={n}&forkRoom={found['forkRoom']}",
                    content=b"",
                )
                oldest.append(took)
            await typist.close()
    return {"open": opened, "oldest": oldest, "steps": steps}


async def ours(args: argparse.Namespace) -> dict[str, Any]:
    spawner = SpawnedOmniforge(
        extra_args=[
            "--OmniForgeApp.max_messages_per_second=1000000",
            "--OmniForgeApp.max_message_burst=1000000",
            # Automatic versions every 500 updates (the default) and after 2 s of quiet.
            "--OmniForgeApp.history_checkpoint_idle=2",
        ]
    )
    room = "idea:timeline"
    async with spawner:
        base = f"http://127.0.0.1:{spawner.port}/"
        headers = {"Authorization": f"token {spawner.token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=600) as http:
            typist = Typist("code")
            await typist.connect(
                f"ws://127.0.0.1:{spawner.port}/omniforge/rooms/{room}?token={spawner.token}"
            )
            try:
                await typist.type(args.updates, args.rate)
            finally:
                await typist.close()
            versions = f"omniforge/api/rooms/{room}/versions"

            async def all_kept() -> bool:
                # A version every 500 updates, and one after a quiet minute: ask for one now.
                _, page = await _timed(http, "GET", f"{versions}?limit=1")
                return bool(page["versions"]) and page["versions"][0]["size"] > 0

            await _until(all_kept, 120)
            (await http.post(versions, json={"label": "end"})).raise_for_status()
            opened, oldest, counts = [], [], []
            for _ in range(args.repeat):
                took, page = await _timed(http, "GET", f"{versions}?limit=50")
                opened.append(took)
                first = page["versions"][-1]["id"]
                before = page["next"]
                while before:  # the oldest version's id (not timed: the panel pages lazily)
                    _, older = await _timed(http, "GET", f"{versions}?limit=1000&before={before}")
                    first, before = older["versions"][-1]["id"], older["next"]
                took, _ = await _timed(http, "GET", f"{versions}/{first}")
                oldest.append(took)
                counts.append(len(page["versions"]))
    return {"open": opened, "oldest": oldest, "steps": counts}


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} median, {max(values) * 1000:.1f} worst"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=5000, help="keystrokes typed")
    parser.add_argument("--rate", type=float, default=500.0, help="keystrokes per second")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "history.md")
    args = parser.parse_args(argv)
    facts = environment("asyncio (spawned jupyter servers)")
    peer = asyncio.run(theirs(args))
    print("jupyter-server-ydoc:", peer, flush=True)
    mine = asyncio.run(ours(args))
    print("omniforge:", mine, flush=True)
    rows = [
        [
            f"jupyter-server-ydoc {dist_version('jupyter-server-ydoc')} timeline",
            _ms(peer["open"]),
            _ms(peer["oldest"]),
            f"{statistics.median(peer['steps']):.0f} timestamps",
        ],
        [
            "omniforge versions",
            _ms(mine["open"]),
            _ms(mine["oldest"]),
            f"{statistics.median(mine['steps']):.0f} versions on the first page",
        ],
    ]
    facts.append(("command", f"`{command_line()}`"))
    facts.append(
        ("workload", f"{args.updates} keystrokes typed at {args.rate:g}/s, one update each")
    )
    columns = ["server", "open the history, ms", "reach the oldest state, ms", "steps"]
    notes = [
        "theirs: GET timeline replays the whole stored log into a fork with an undo manager; "
        "the oldest state is an undo of every step on that fork. Ours: the first page of "
        "versions, then one stored state (the ids of older pages are read untimed)",
        "the two servers run one after the other on the same machine (not interleaved); "
        "their timeline steps through every stored update, our versions are checkpoints "
        "(every 500 updates, after a quiet spell, named): coarser steps, each one read",
    ]
    append_run(
        args.out,
        "History: side by side with jupyter-server-ydoc's timeline",
        facts,
        columns,
        rows,
        notes,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
