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

The clients are minimal (asyncio streams, no Yjs decoding except each client's one edit), so
the figures are the server's and the backoff's.

Example::

    python -m benchmarks.reconnect --clients 1000 --rooms 100 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pycrdt import Doc, Text

from jupyter_omniforge.rooms import protocol as p

from .loadgen.report import RESULTS_DIR, append_run, command_line, environment
from .loadgen.servers import free_port

STEP2 = bytes([p.MESSAGE_SYNC, p.SYNC_STEP2])
MAX_BACKOFF = 2.5  # y-websocket's maxBackoffTime


def masked_frame(payload: bytes, opcode: int = 0x2) -> bytes:
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        length = bytes([0x80 | n])
    elif n < 1 << 16:
        length = bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        length = bytes([0x80 | 127]) + struct.pack("!Q", n)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode]) + length + mask + body


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readexactly(2)
    n = head[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    return await reader.readexactly(n)


class Server:
    """``jupyter server`` with the extension on a fixed port and database, restartable."""

    def __init__(self, directory: Path, args: list[str]) -> None:
        self.directory = directory
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        (directory / "root").mkdir(exist_ok=True)

    def start(self) -> None:
        env = {
            **os.environ,
            "JUPYTER_RUNTIME_DIR": str(self.directory / "runtime"),
            "JUPYTER_DATA_DIR": str(self.directory / "data"),
        }
        self._log = open(self.directory / "server.log", "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={self.port}",
                "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
                f"--ServerApp.token={self.token}",
                f"--ServerApp.root_dir={self.directory / 'root'}",
                *(["--allow-root"] if os.geteuid() == 0 else []),
                "--OmniForgeApp.max_connections_per_user=1000000",
                "--OmniForgeApp.rooms_per_minute=0",
                *self.args,
            ],
            env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def ready(self) -> bool:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/omniforge/health/ready",
            headers={"Authorization": f"token {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=1) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    async def wait_ready(self, timeout: float = 60) -> float:
        """Poll every 20 ms; the monotonic time it answered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await asyncio.to_thread(self.ready):
                return time.monotonic()
            await asyncio.sleep(0.02)
        raise RuntimeError("the server did not become ready")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def room_text(self, room: str) -> str:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/omniforge/api/rooms/{room}",
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["content"].get("code", "")


class Client:
    """A minimal y-websocket client with the stock provider's reconnect backoff."""

    def __init__(self, server: Server, room: str, marker: str) -> None:
        self.server, self.room, self.marker = server, room, marker
        self.failures = 0
        self.opened = False
        self.attempt_at = 0.0  # when its latest connection attempt began
        self.synced_at: float | None = None
        self.offline_update: bytes | None = None
        self.stopping = False
        self.task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None

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
            except (OSError, asyncio.IncompleteReadError, RuntimeError):
                pass
            if self.stopping:
                return
            # y-websocket: a connection that opened resets the count; one that did not adds one.
            if not self.opened:
                self.failures += 1
            await asyncio.sleep(min(2**self.failures * 0.1, MAX_BACKOFF))

    async def _session(self) -> None:
        self.attempt_at = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", self.server.port)
        self._writer = writer
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /omniforge/rooms/{self.room}?token={self.server.token} HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{self.server.port}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Key: {key}\r\n\r\n"
            ).encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            writer.close()
            return
        self.opened, self.failures = True, 0
        writer.write(masked_frame(p.encode_sync_step1(b"\x00")))
        if self.offline_update is not None:  # what y-websocket sends: its state, as an update
            writer.write(masked_frame(p.encode_sync_step2(self.offline_update)))
        while True:
            payload = await read_frame(reader)
            if payload[:2] == STEP2 and self.synced_at is None:
                self.synced_at = time.monotonic()
            elif payload[:1] == bytes([p.MESSAGE_SYNC]) and payload[1:2] == b"\x00":
                writer.write(masked_frame(p.encode_sync_step2(b"\x00\x00")))  # nothing new

    def stop(self) -> None:
        self.stopping = True
        if self._writer is not None:
            self._writer.close()
        if self.task is not None:
            self.task.cancel()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def round_(args: argparse.Namespace, number: int) -> list[object]:
    with tempfile.TemporaryDirectory(prefix="omniforge-reconnect-") as tmp:
        server = Server(Path(tmp), args.server_arg)
        server.start()
        await server.wait_ready()
        clients = [
            Client(server, f"idea:storm-{number}-{i % args.rooms}", f"<{number}:{i}>")
            for i in range(args.clients)
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
        await asyncio.to_thread(server.stop)
        server.start()
        ready = await server.wait_ready()
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
            room: await asyncio.to_thread(server.room_text, room)
            for room in {c.room for c in clients}
        }
        lost = sum(texts[c.room].count(c.marker) != 1 for c in clients)
        for client in clients:
            client.stop()
        await asyncio.gather(*(c.task for c in clients if c.task), return_exceptions=True)
        server.stop()
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
