"""A reconnect storm: every client of a restarted server comes back, with its offline edit.

``--clients`` y-websocket clients spread over ``--rooms`` rooms connect and sync. The server is
stopped (SIGTERM) and started again on the same port and database. Each client, as the stock
y-websocket provider does, retries after ``min(2^failures * 100 ms, 2,500 ms)``; while the
server is down each makes an edit (an insert of its own marker), which it sends with its sync
once it is back. Measured, from the moment the new server answers ``/omniforge/health/ready``
(polled every 20 ms):

- when each client has its sync step 2 again (p50, p99, the last), and how many did within 2 s;
  with the stock backoff a client may wait up to 2.5 s after the server is back before it
  tries, so also the server's part: from the start of the attempt that succeeded to its step 2;
- nothing lost: every marker is in its room afterwards (REST), exactly once.

The clients are the load generator's minimal ones (``loadgen.wsclient``, no Yjs decoding except
each client's one edit), so the figures are the server's and the backoff's.

Example::

    python -m benchmarks.reconnect --clients 1000 --rooms 100 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import urllib.request

from pycrdt import Doc, Text

from jupyter_omniforge.rooms import protocol as p

from .loadgen.report import RESULTS_DIR, append_run, command_line, environment
from .loadgen.servers import SpawnedOmniforge
from .loadgen.wsclient import WebSocketClientProtocol, connect

STEP2 = bytes([p.MESSAGE_SYNC, p.SYNC_STEP2])
STEP1 = bytes([p.MESSAGE_SYNC, p.SYNC_STEP1])
MAX_BACKOFF = 2.5  # y-websocket's maxBackoffTime
EMPTY_STEP2 = p.encode_sync_step2(b"\x00\x00")


def room_text(server: SpawnedOmniforge, room: str) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/omniforge/api/rooms/{room}",
        headers={"Authorization": f"token {server.token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["content"].get("code", "")


class Client:
    """A minimal y-websocket client with the stock provider's reconnect backoff."""

    def __init__(self, url: str, room: str, marker: str) -> None:
        self.url, self.room, self.marker = url, room, marker
        self.failures = 0
        self.opened = False
        self.attempt_at = 0.0  # when its latest connection attempt began
        self.synced_at: float | None = None
        self.offline_update: bytes | None = None
        self.stopping = False
        self.task: asyncio.Task[None] | None = None
        self._conn: WebSocketClientProtocol | None = None
        self._owes_step2 = False  # the server's step 1 came before connect() returned

    def go_offline_edit(self) -> None:
        doc = Doc()
        doc.get("code", type=Text).insert(0, self.marker)
        self.offline_update = doc.get_update()
        self.synced_at = None

    async def run(self) -> None:
        while not self.stopping:
            self.opened = False
            try:
                await self._session()
            except (OSError, TimeoutError):
                pass
            if self.stopping:
                return
            # y-websocket: a connection that opened resets the count; one that did not adds one.
            if not self.opened:
                self.failures += 1
            await asyncio.sleep(min(2**self.failures * 0.1, MAX_BACKOFF))

    async def _session(self) -> None:
        self.attempt_at = time.monotonic()
        self._conn, self._owes_step2 = None, False
        conn = await connect(self.url, self._on_message)
        self._conn = conn
        self.opened, self.failures = True, 0
        conn.send_binary(p.encode_sync_step1(b"\x00"))
        if self.offline_update is not None:  # what y-websocket sends: its state, as an update
            conn.send_binary(p.encode_sync_step2(self.offline_update))
        if self._owes_step2:
            conn.send_binary(EMPTY_STEP2)
        await conn.closed

    def _on_message(self, data: bytes, _arrived: float) -> None:
        if data[:2] == STEP2 and self.synced_at is None:
            self.synced_at = time.monotonic()
        elif data[:2] == STEP1:  # nothing new here: answer with an empty step 2
            if self._conn is None:
                self._owes_step2 = True
            else:
                self._conn.send_binary(EMPTY_STEP2)

    def stop(self) -> None:
        self.stopping = True
        if self._conn is not None:
            self._conn.abort()
        if self.task is not None:
            self.task.cancel()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def round_(args: argparse.Namespace, number: int) -> list[object]:
    server = SpawnedOmniforge(extra_args=args.server_arg)
    async with server:
        url = f"ws://127.0.0.1:{server.port}/omniforge/rooms/{{room}}?token={server.token}"
        clients = [
            Client(url.format(room=room), room, f"<{number}:{i}>")
            for i in range(args.clients)
            for room in [f"idea:storm-{number}-{i % args.rooms}"]
        ]
        for client in clients:
            client.task = asyncio.ensure_future(client.run())
        deadline = time.monotonic() + 60
        while sum(c.synced_at is not None for c in clients) < len(clients):
            if time.monotonic() > deadline:
                raise RuntimeError("not every client connected before the restart")
            await asyncio.sleep(0.05)
        for client in clients:
            client.go_offline_edit()
        stopped = time.monotonic()
        await server.restart(poll=0.02)
        ready = time.monotonic()
        deadline = ready + args.timeout
        while sum(c.synced_at is not None for c in clients) < len(clients):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.01)
        after = [c.synced_at - ready for c in clients if c.synced_at is not None]
        # The server's part: from the attempt that succeeded to its sync step 2.
        served = [c.synced_at - c.attempt_at for c in clients if c.synced_at is not None]
        await asyncio.sleep(1.0)  # the last offline edits reach the store
        texts = {
            room: await asyncio.to_thread(room_text, server, room)
            for room in {c.room for c in clients}
        }
        lost = sum(texts[c.room].count(c.marker) != 1 for c in clients)
        for client in clients:
            client.stop()
        await asyncio.gather(*(c.task for c in clients if c.task), return_exceptions=True)
    return [
        number,
        f"{ready - stopped:.1f}",
        f"{len(after)}/{len(clients)}",
        f"{percentile(after, 0.5) * 1000:.0f}" if after else "-",
        f"{percentile(after, 0.99) * 1000:.0f}" if after else "-",
        f"{max(after) * 1000:.0f}" if after else "-",
        f"{sum(t <= 2.0 for t in after)}/{len(clients)}",
        f"{percentile(served, 0.5) * 1000:.0f} / {percentile(served, 0.99) * 1000:.0f}"
        if served
        else "-",
        f"{len(clients) - lost}/{len(clients)}",
    ]


async def main_async(args: argparse.Namespace) -> None:
    rows = [await round_(args, n + 1) for n in range(args.rounds)]
    columns = [
        "round",
        "down (s)",
        "resynced",
        "p50 ms after ready",
        "p99 ms",
        "last ms",
        "within 2 s",
        "last attempt to synced, p50 / p99 ms",
        "offline edits kept",
    ]
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(c) for c in row))
    if not args.no_record:
        p99s = [float(r[4]) for r in rows if r[4] != "-"]  # type: ignore[arg-type]
        append_run(
            RESULTS_DIR / "reconnect.md",
            f"Reconnect storm: {args.clients} clients over {args.rooms} rooms",
            [*environment("asyncio"), ("command", f"`{command_line()}`")],
            columns,
            rows,
            [f"median p99 of the rounds: {statistics.median(p99s):.0f} ms"] if p99s else [],
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reconnect", description=__doc__)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds after ready to wait for everyone"
    )
    parser.add_argument(
        "--server-arg", action="append", default=[], help="a jupyter server argument (repeat)"
    )
    parser.add_argument("--no-record", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
