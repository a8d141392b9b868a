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

``--servers`` runs the same storm against the peers too (``y-websocket``, its reference server,
and ``hocuspocus``: ``npm ci --prefix benchmarks/peers``) and against ``omniforge-baseline``
(the checkout named by ``$OMNIFORGE_BASELINE``), one round of each in turn. The peers keep
documents in memory: what they hold after the restart is what the clients sent again, as with
a stock provider (which sends its whole document). What a peer's room holds afterwards is read
by a fresh client's sync; ours, through the REST API (what it stored).

Example::

    python -m benchmarks.reconnect --clients 1000 --rooms 100 --rounds 3
    python -m benchmarks.reconnect --servers omniforge,y-websocket,hocuspocus --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import urllib.request

from pycrdt import Doc, Text

from jupyter_omniforge.rooms import protocol as p

from .compare.contenders import BASELINE_ENV
from .loadgen.report import RESULTS_DIR, append_run, command_line, environment
from .loadgen.servers import (
    ServerProcess,
    SpawnedHocuspocus,
    SpawnedOmniforge,
    SpawnedYWebsocket,
)
from .loadgen.wsclient import WebSocketClientProtocol, connect
from .loadgen.yprotocol import Framing

STEP2 = bytes([p.MESSAGE_SYNC, p.SYNC_STEP2])
STEP1 = bytes([p.MESSAGE_SYNC, p.SYNC_STEP1])
MAX_BACKOFF = 2.5  # y-websocket's maxBackoffTime
EMPTY_STEP2 = p.encode_sync_step2(b"\x00\x00")


#: ``--servers`` names → a server to spawn (``server_arg``: more ``jupyter server`` arguments).
SERVERS = {
    "omniforge": lambda server_arg: SpawnedOmniforge(extra_args=server_arg),
    # The checkout named by $OMNIFORGE_BASELINE (as benchmarks.compare), for a before/after.
    "omniforge-baseline": lambda server_arg: SpawnedOmniforge(
        extra_args=server_arg, pythonpath=os.environ[BASELINE_ENV]
    ),
    "y-websocket": lambda server_arg: SpawnedYWebsocket(),
    "hocuspocus": lambda server_arg: SpawnedHocuspocus(),
}


def room_url(server: ServerProcess, room: str) -> str:
    assert server.server is not None
    return server.server.url(room)


def framing_of(server: ServerProcess, room: str) -> Framing:
    assert server.server is not None
    return server.server.framing(room)


def room_text(server: SpawnedOmniforge, room: str) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/omniforge/api/rooms/{room}",
        headers={"Authorization": f"token {server.token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["content"].get("code", "")


async def synced_text(server: ServerProcess, room: str, timeout: float = 30) -> str:
    """What ``room`` holds on ``server``, as a fresh client's sync reads it."""
    framing = framing_of(server, room)
    received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def on_message(data: bytes, _arrived: float) -> None:
        offset = framing.body_offset(data)
        if offset >= 0 and data[offset : offset + 2] == STEP2 and not received.done():
            received.set_result(data[offset:])

    conn = await connect(room_url(server, room), on_message)
    try:
        for message in framing.opening():
            conn.send_binary(message)
        conn.send_binary(framing.wrap(p.encode_sync_step1(b"\x00")))
        step2 = await asyncio.wait_for(received, timeout)
    finally:
        conn.abort()
    doc = Doc()
    doc.apply_update(p.parse_message(step2).payload)
    return str(doc.get("code", type=Text))


class Client:
    """A minimal y-websocket client with the stock provider's reconnect backoff."""

    def __init__(self, url: str, room: str, marker: str, framing: Framing) -> None:
        self.url, self.room, self.marker, self.framing = url, room, marker, framing
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
        wrap = self.framing.wrap
        for message in self.framing.opening():
            conn.send_binary(message)
        conn.send_binary(wrap(p.encode_sync_step1(b"\x00")))
        if self.offline_update is not None:  # what y-websocket sends: its state, as an update
            conn.send_binary(wrap(p.encode_sync_step2(self.offline_update)))
        if self._owes_step2:
            conn.send_binary(wrap(EMPTY_STEP2))
        await conn.closed

    def _on_message(self, data: bytes, _arrived: float) -> None:
        offset = self.framing.body_offset(data)
        if offset < 0:
            return
        kind = data[offset : offset + 2]
        if kind == STEP2 and self.synced_at is None:
            self.synced_at = time.monotonic()
        elif kind == STEP1:  # nothing new here: answer with an empty step 2
            if self._conn is None:
                self._owes_step2 = True
            else:
                self._conn.send_binary(self.framing.wrap(EMPTY_STEP2))

    def stop(self) -> None:
        self.stopping = True
        if self._conn is not None:
            self._conn.abort()
        if self.task is not None:
            self.task.cancel()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def round_(args: argparse.Namespace, name: str, number: int) -> list[object]:
    server = SERVERS[name](args.server_arg)
    async with server:
        clients = [
            Client(room_url(server, room), room, f"<{number}:{i}>", framing_of(server, room))
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
        rooms = sorted({c.room for c in clients})
        if isinstance(server, SpawnedOmniforge):  # what it stored, through its REST API
            texts = {room: await asyncio.to_thread(room_text, server, room) for room in rooms}
        else:
            texts = {room: await synced_text(server, room) for room in rooms}
        lost = sum(texts[c.room].count(c.marker) != 1 for c in clients)
        for client in clients:
            client.stop()
        await asyncio.gather(*(c.task for c in clients if c.task), return_exceptions=True)
    return [
        name,
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
    names = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = set(names) - set(SERVERS)
    if unknown:
        raise SystemExit(
            f"unknown --servers {', '.join(sorted(unknown))}; known: {', '.join(SERVERS)}"
        )
    # Interleaved: round 1 of every server, then round 2 of every server, ...
    rows = [await round_(args, name, n + 1) for n in range(args.rounds) for name in names]
    columns = [
        "server",
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
        notes = []
        for name in names:
            p99s = [float(r[5]) for r in rows if r[0] == name and r[5] != "-"]  # type: ignore[arg-type]
            if p99s:
                notes.append(f"{name}: median p99 of the rounds: {statistics.median(p99s):.0f} ms")
        append_run(
            RESULTS_DIR / "reconnect.md",
            f"Reconnect storm: {args.clients} clients over {args.rooms} rooms",
            [*environment("asyncio"), ("command", f"`{command_line()}`")],
            columns,
            rows,
            notes,
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reconnect", description=__doc__)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--servers",
        default="omniforge",
        help=f"comma-separated, from {', '.join(SERVERS)}; rounds interleaved (default omniforge)",
    )
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
