"""Half-open connections (a slow-loris crowd) against honest joins.

``--sockets`` TCP connections open and send the first line of a WebSocket upgrade, then nothing
more: what a slow-loris attack, or clients that vanished mid-handshake, leave behind. Against a
spawned server, per ``--rounds``:

1. the time for ``--clients`` honest y-websocket clients to join a room at once (connect, send
   sync step 1, receive the server's step 2), with nobody else connected (the median of
   ``--repeats`` such joins, after one to warm up);
2. the crowd connects; the server's RSS growth once it has settled;
3. the same honest joins, with the crowd connected;
4. how long until the server has closed every socket of the crowd (``handshake_timeout``), or
   how many are still open after ``--wait`` seconds.

Example::

    python -m benchmarks.loris --sockets 2000 --clients 100 --rounds 3
    python -m benchmarks.loris --server-arg=--OmniForgeApp.handshake_timeout=0  # Tornado's 1 h
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from jupyter_omniforge.client.rooms import open_connection
from jupyter_omniforge.rooms import protocol as p

from .loadgen.memory import settled_rss
from .loadgen.report import RESULTS_DIR, append_run, command_line, environment
from .loadgen.servers import spawn_omniforge_servers

STEP2 = bytes([p.MESSAGE_SYNC, p.SYNC_STEP2])


async def honest_joins(port: int, token: str, room: str, clients: int) -> float:
    """Seconds until ``clients`` joining at once have all received the server's sync step 2."""

    async def join() -> object:
        conn = await open_connection(f"ws://127.0.0.1:{port}/omniforge/rooms/{room}?token={token}")
        await conn.write_message(p.encode_sync_step1(b"\x00"), binary=True)
        while True:
            frame = await conn.read_message()
            if frame is None:
                raise RuntimeError("closed before its sync step 2")
            if frame[:2] == STEP2:
                return conn

    start = time.perf_counter()
    conns = await asyncio.wait_for(asyncio.gather(*(join() for _ in range(clients))), 120)
    elapsed = time.perf_counter() - start
    for conn in conns:
        conn.close()  # type: ignore[attr-defined]
    return elapsed


async def median_joins(port: int, token: str, name: str, args: argparse.Namespace) -> float:
    """The median of ``--repeats`` honest joins (each into a room of its own)."""
    times = [
        await honest_joins(port, token, f"idea:{name}-{i}", args.clients)
        for i in range(args.repeats)
    ]
    return statistics.median(times)


async def open_crowd(
    port: int, sockets: int
) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    request_line = b"GET /omniforge/rooms/idea:loris HTTP/1.1\r\nHost: 127.0.0.1\r\n"

    async def one() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request_line)  # and never the rest of the headers
        return reader, writer

    crowd = []
    for start in range(0, sockets, 200):  # within the listen backlog, whatever it is
        crowd += await asyncio.gather(*(one() for _ in range(min(200, sockets - start))))
    return crowd


async def closed_by_server(
    crowd: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]], wait: float
) -> tuple[int, float]:
    """How many sockets of ``crowd`` the server closed within ``wait`` s, and when the last
    of those closed."""
    start = time.perf_counter()
    last = 0.0

    async def until_eof(reader: asyncio.StreamReader) -> bool:
        nonlocal last
        try:
            await asyncio.wait_for(reader.read(), wait)
        except (TimeoutError, ConnectionError):
            return False
        last = max(last, time.perf_counter() - start)
        return True

    closed = await asyncio.gather(*(until_eof(reader) for reader, _ in crowd))
    return sum(closed), last


async def round_(args: argparse.Namespace, number: int) -> list[object]:
    async with spawn_omniforge_servers(1, args.server_arg) as (spawner,):
        port, token, pid = spawner.port, spawner.token, spawner.server.pid
        await honest_joins(
            port, token, f"idea:warm-{number}", args.clients
        )  # first joins cost more
        alone = await median_joins(port, token, f"alone-{number}", args)
        (before,) = await settled_rss([pid])
        crowd = await open_crowd(port, args.sockets)
        (after,) = await settled_rss([pid])
        crowded = await median_joins(port, token, f"crowded-{number}", args)
        closed, last = await closed_by_server(crowd, args.wait)
        for _, writer in crowd:
            writer.close()
        mib = (after - before) / 2**20
        return [
            number,
            f"{alone * 1000:.0f}",
            f"{crowded * 1000:.0f}",
            f"{(crowded / alone - 1) * 100:+.0f}%",
            f"{mib:.1f}",
            f"{(after - before) / args.sockets / 1024:.1f}",
            f"{closed}/{args.sockets}",
            f"{last:.1f}" if closed else "-",
        ]


async def main_async(args: argparse.Namespace) -> None:
    rows = [await round_(args, n + 1) for n in range(args.rounds)]
    columns = [
        "round",
        f"{args.clients} honest joins, alone (ms)",
        "with the crowd (ms)",
        "slower by",
        "crowd RSS (MiB)",
        "KiB per socket",
        f"closed by the server within {args.wait:g} s",
        "last closed after (s)",
    ]
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(c) for c in row))
    alone = statistics.median(float(r[1]) for r in rows)  # type: ignore[arg-type]
    crowded = statistics.median(float(r[2]) for r in rows)  # type: ignore[arg-type]
    print(f"median: {alone:.0f} ms alone, {crowded:.0f} ms with {args.sockets} half-open sockets")
    if not args.no_record:
        append_run(
            RESULTS_DIR / "loris.md",
            f"{args.sockets} half-open sockets, {args.clients} honest joins",
            [
                *environment("asyncio"),
                ("command", f"`{command_line()}`"),
                ("server arguments", " ".join(args.server_arg) or "(defaults)"),
            ],
            columns,
            rows,
            [f"median of the rounds: {alone:.0f} ms alone, {crowded:.0f} ms with the crowd"],
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loris", description=__doc__)
    parser.add_argument("--sockets", type=int, default=2000, help="half-open connections")
    parser.add_argument("--clients", type=int, default=100, help="honest clients joining at once")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--repeats", type=int, default=5, help="honest joins per condition (their median counts)"
    )
    parser.add_argument(
        "--wait", type=float, default=20.0, help="seconds to wait for the server to close them"
    )
    parser.add_argument(
        "--server-arg", action="append", default=[], help="a jupyter server argument (repeat)"
    )
    parser.add_argument("--no-record", action="store_true", help="do not append to the results")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
