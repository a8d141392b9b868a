"""A connection storm, measured by what it costs the server: N clients join one room at once.

Each round, against every server in turn (interleaved, the servers kept running between
rounds): ``--clients`` light y-websocket clients open a WebSocket to a fresh room all at once,
send sync step 1 and wait for the server's step 2; then all close. Two figures per storm:

- *connect all*: wall time from the first connect to the last step 2 (what a user waits);
- *server CPU per join*: the server process's CPU time (user + system, ``/proc``) over the
  storm, divided by N. On a machine shared with other work the wall time moves with everyone
  else's load; the CPU a join costs the server much less, which is why this benchmark exists
  (issue 15: "say what each change bought").

Servers: ``omniforge`` (this checkout), ``omniforge-baseline`` (the checkout named by
``$OMNIFORGE_BASELINE``, e.g. ``git worktree add /tmp/base HEAD``), ``y-websocket`` and
``hocuspocus`` (``npm ci --prefix benchmarks/peers``), and the floors of ``benchmarks/floors``
(the least a join can cost, one layer at a time; each but the last also as ``NAME-uvloop``):

- ``asyncio-raw``: no Tornado, an ``asyncio.Protocol`` parsing the upgrade and frames itself;
- ``tornado-delegate``: Tornado's HTTP server, the upgrade answered by a delegate of our own
  below ``RequestHandler``;
- ``tornado-bare``: one Tornado ``WebSocketHandler``, on asyncio as ``jupyter server`` runs;
- ``jupyter-bare``: one ``JupyterHandler`` WebSocket route in a ``jupyter server`` started as
  ours, the token in the URL; ``jupyter-bare-lean`` the same without a keep-alive timer per
  connection and the login cookie on the upgrade, two costs ours leaves out.

Example::

    OMNIFORGE_BASELINE=/tmp/base python -m benchmarks.connectstorm \\
        --servers omniforge-baseline,omniforge,y-websocket --clients 1000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Callable
from contextlib import AsyncExitStack

from jupyter_omniforge.rooms import protocol as p

from .compare.contenders import BASELINE_ENV, OMNIFORGE_ARGS
from .loadgen.cpu import proc_cpu_seconds
from .loadgen.report import RESULTS_DIR, append_run, command_line, environment
from .loadgen.servers import (
    ServerProcess,
    SpawnedHocuspocus,
    SpawnedJupyterBare,
    SpawnedJupyterBareLean,
    SpawnedOmniforge,
    SpawnedTornadoFloor,
    SpawnedYWebsocket,
    free_port,
)
from .loadgen.wsclient import WebSocketClientProtocol, connect

STEP2 = bytes([p.MESSAGE_SYNC, p.SYNC_STEP2])


def _baseline() -> str:
    path = os.environ.get(BASELINE_ENV)
    if not path:
        raise SystemExit(f"omniforge-baseline runs the checkout named by ${BASELINE_ENV}")
    return path


SERVERS: dict[str, Callable[[], ServerProcess]] = {
    "omniforge": lambda: SpawnedOmniforge(extra_args=OMNIFORGE_ARGS),
    "omniforge-baseline": lambda: SpawnedOmniforge(
        extra_args=OMNIFORGE_ARGS, pythonpath=_baseline()
    ),
    "y-websocket": SpawnedYWebsocket,
    "hocuspocus": SpawnedHocuspocus,
    # The floors (benchmarks/floors): Python alone, Tornado's HTTP, its handlers, Jupyter's.
    "tornado-bare": SpawnedTornadoFloor,
    "tornado-bare-uvloop": lambda: SpawnedTornadoFloor(loop="uvloop"),
    "tornado-delegate": lambda: SpawnedTornadoFloor("tornado_delegate"),
    "tornado-delegate-uvloop": lambda: SpawnedTornadoFloor("tornado_delegate", "uvloop"),
    "jupyter-bare": SpawnedJupyterBare,
    "jupyter-bare-lean": SpawnedJupyterBareLean,
    "asyncio-raw": lambda: SpawnedTornadoFloor("asyncio_raw"),
    "asyncio-raw-uvloop": lambda: SpawnedTornadoFloor("asyncio_raw", "uvloop"),
}


def _cpu(server: ServerProcess) -> float:
    """The server's CPU seconds so far; it must still run: a server that died (its port taken,
    say) would otherwise read as 0 ms per join while another answered its clients."""
    assert server.proc is not None
    cpu = proc_cpu_seconds(server.proc.pid)
    if cpu is None or server.proc.returncode is not None:
        raise RuntimeError(f"{server.what} {server.proc.pid} is gone:\n{server._read_log_tail()}")
    return cpu


async def storm(
    server: ServerProcess, room: str, clients: int, timeout: float
) -> tuple[float, float]:
    """(wall seconds until every client has its step 2, server CPU seconds meanwhile)."""
    assert server.server is not None and server.proc is not None
    url = server.server.url(room)
    framing = server.server.framing(room)
    synced = 0
    everyone = asyncio.get_running_loop().create_future()

    def on_message(data: bytes, _arrived: float) -> None:
        nonlocal synced
        offset = framing.body_offset(data)
        if offset >= 0 and data[offset : offset + 2] == STEP2:
            synced += 1
            if synced == clients and not everyone.done():
                everyone.set_result(None)

    async def join() -> WebSocketClientProtocol:
        conn = await connect(url, on_message, timeout=timeout)
        for message in framing.opening():
            conn.send_binary(message)
        conn.send_binary(framing.wrap(p.encode_sync_step1(b"\x00")))
        return conn

    cpu_before = _cpu(server)
    started = time.perf_counter()
    conns = await asyncio.gather(*(join() for _ in range(clients)), return_exceptions=True)
    try:
        await asyncio.wait_for(everyone, timeout)
        wall = time.perf_counter() - started
        cpu = _cpu(server) - cpu_before
    finally:
        for conn in conns:
            if isinstance(conn, WebSocketClientProtocol):
                conn.abort()
    failed = [c for c in conns if isinstance(c, BaseException)]
    if failed:
        raise RuntimeError(f"{len(failed)} of {clients} did not connect: {failed[0]!r}")
    return wall, cpu


async def main_async(args: argparse.Namespace) -> None:
    for checkout in args.checkout:  # NAME=PATH: one more omniforge, from another checkout
        name, _, path = checkout.partition("=")
        SERVERS[name] = lambda path=path: SpawnedOmniforge(
            extra_args=OMNIFORGE_ARGS, pythonpath=path
        )
    names = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = set(names) - set(SERVERS)
    if unknown:
        raise SystemExit(
            f"unknown --servers {', '.join(sorted(unknown))}; known: {', '.join(SERVERS)}"
        )
    facts = [*environment("asyncio"), ("command", f"`{command_line()}`")]  # the load before
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    async with AsyncExitStack() as stack:
        servers = {name: SERVERS[name]() for name in names}
        # Each picked a free port, closed it again: two may have been given the same one.
        ports: set[int] = set()
        for server in servers.values():
            while server.port in ports:
                server.port = free_port()
            ports.add(server.port)
        for server in servers.values():
            await stack.enter_async_context(server)
        for number in range(args.warmup + args.rounds):
            for name in names:
                wall, cpu = await storm(
                    servers[name], f"idea:storm-{number}", args.clients, args.timeout
                )
                await asyncio.sleep(args.settle)  # the closes are handled before the next storm
                if number >= args.warmup:
                    results[name].append((wall, cpu))
                    print(
                        f"{name:20} round {number - args.warmup + 1}: {wall:.3f} s, {cpu * 1000 / args.clients:.3f} ms CPU/join",
                        flush=True,
                    )
    columns = [
        "server",
        "N",
        "rounds",
        "connect all: median (min to max) s",
        "server CPU per join: median (min to max) ms",
    ]
    rows = []
    for name in names:
        walls = [w for w, _ in results[name]]
        cpus = [c * 1000 / args.clients for _, c in results[name]]
        rows.append(
            [
                name,
                args.clients,
                len(walls),
                f"{statistics.median(walls):.3f} ({min(walls):.3f} to {max(walls):.3f})",
                f"{statistics.median(cpus):.3f} ({min(cpus):.3f} to {max(cpus):.3f})",
            ]
        )
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(c) for c in row))
    if not args.no_record:
        append_run(
            RESULTS_DIR / "connect.md",
            f"Connection storm: {args.clients} clients join one room at once",
            facts,
            columns,
            rows,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.connectstorm",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--servers", default="omniforge", help=f"comma-separated, from {', '.join(SERVERS)}"
    )
    parser.add_argument(
        "--checkout",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a server NAME running the jupyter_omniforge of the checkout at PATH (repeatable)",
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="rounds not counted (default 1)")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds after each storm")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--no-record", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
