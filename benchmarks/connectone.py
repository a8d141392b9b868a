"""One client's connect and first sync, on an otherwise idle server, into a room of ``--size``.

Against a spawned server: a writer fills ``idea:one`` with ``--size`` bytes of text and leaves;
then ``--joins`` clients, one after the other, each open a WebSocket (TCP connect, upgrade with
the token), send sync step 1 with an empty state vector and wait for the server's step 2 (the
whole room). The time of one join is from before the TCP connect to the step 2 received, read
on the client's monotonic clock. The server's own view of the same joins, its
``omniforge_connect_seconds`` histogram (request to step 2 sent), is read from ``/metrics``.

Example::

    python -m benchmarks.connectone --size 10KB --joins 500
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import struct
import time
import urllib.request

from pycrdt import Doc, Text

from jupyter_omniforge.client import connect_room
from jupyter_omniforge.metrics import samples
from jupyter_omniforge.rooms import protocol as p

from .loadgen.report import RESULTS_DIR, append_run, command_line, environment
from .loadgen.servers import spawn_omniforge_servers
from .loadgen.wsclient import OP_BINARY, OP_CLOSE, encode_client_frame

STEP2 = bytes([p.MESSAGE_SYNC, p.SYNC_STEP2])


def parse_size(text: str) -> int:
    units = {"KB": 1000, "MB": 1000**2, "B": 1}
    for unit, factor in units.items():
        if text.upper().endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """One server frame's payload (server frames are not masked)."""
    head = await reader.readexactly(2)
    n = head[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    return await reader.readexactly(n)


async def join(port: int, path: str) -> float:
    """Seconds from before the TCP connect to the server's sync step 2, with a minimal client
    on asyncio streams (so that the figure is the server's: ``loadgen.wsclient.connect`` adds a
    task and a few loop turns before the first frame, ~0.5-1 ms here)."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    start = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    response = await reader.readuntil(b"\r\n\r\n")
    if not response.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(response.split(b"\r\n", 1)[0].decode())
    writer.write(encode_client_frame(OP_BINARY, p.encode_sync_step1(b"\x00")))
    while (await read_frame(reader))[:2] != STEP2:
        pass
    elapsed = time.monotonic() - start
    writer.write(encode_client_frame(OP_CLOSE, struct.pack("!H", 1000)))
    writer.close()
    return elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def server_view(port: int, token: str) -> tuple[float, float]:
    """(count, sum) of the server's omniforge_connect_seconds histogram."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"token {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        values = samples(response.read().decode(), ["omniforge_connect_seconds"])
    return values["omniforge_connect_seconds_count"], values["omniforge_connect_seconds_sum"]


async def main_async(args: argparse.Namespace) -> None:
    size = parse_size(args.size)
    async with spawn_omniforge_servers(1, args.server_arg) as (spawner,):
        port, token = spawner.port, spawner.token
        base = f"http://127.0.0.1:{port}/"
        doc = Doc()
        async with connect_room(base, "idea:one", doc, token=token):
            doc.get("code", type=Text).insert(0, "x" * size)
        path = f"/omniforge/rooms/idea:one?token={token}"
        for _ in range(args.warmup):
            await join(port, path)
        count0, sum0 = server_view(port, token)
        times = []
        for _ in range(args.joins):
            times.append(await join(port, path))
            await asyncio.sleep(args.pause)
        count1, sum1 = server_view(port, token)
    ms = [t * 1000 for t in times]
    server_mean = (sum1 - sum0) / (count1 - count0) * 1000 if count1 > count0 else float("nan")
    columns = ["room", "joins", "p50 ms", "p99 ms", "max ms", "mean ms", "server mean ms"]
    row = [
        args.size,
        args.joins,
        f"{statistics.median(ms):.2f}",
        f"{percentile(ms, 0.99):.2f}",
        f"{max(ms):.2f}",
        f"{statistics.fmean(ms):.2f}",
        f"{server_mean:.2f}",
    ]
    print(" | ".join(columns))
    print(" | ".join(str(c) for c in row))
    if not args.no_record:
        append_run(
            RESULTS_DIR / "connectone.md",
            f"One client's connect and first sync, {args.size} room",
            [*environment("asyncio"), ("command", f"`{command_line()}`")],
            columns,
            [row],
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.connectone", description=__doc__)
    parser.add_argument("--size", default="10KB", help="text in the room (B, KB, MB)")
    parser.add_argument("--joins", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--pause", type=float, default=0.01, help="seconds between joins")
    parser.add_argument(
        "--server-arg", action="append", default=[], help="a jupyter server argument (repeat)"
    )
    parser.add_argument("--no-record", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
