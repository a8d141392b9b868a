"""Join time: how long a new client takes to sync a room that already holds a large document.

For each size: a writer fills Text ``code`` of a fresh room with that much ASCII text, in chunks
(one update each, under any per-message limit); a checker client confirms the server holds all of
it; then ``--clients`` fresh pycrdt clients each time connect → server's sync step 2 received →
applied to their Doc, and check the content length.

Example::

    python -m benchmarks.join --url 'ws://127.0.0.1:1234/{room}' --size 1MB,10MB --clients 20
    python -m benchmarks.join --spawn-omniforge --size 1MB
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .loadgen.cpu import CpuMeter, CpuShare, format_share
from .loadgen.eventloop import LOOPS, resolve_loop, run
from .loadgen.fullclient import FullClient, Writer
from .loadgen.report import RESULTS_DIR, append_run, command_line, environment
from .loadgen.servers import ServerUnderTest, add_server_arguments, redact, server_from_args
from .loadgen.stats import Summary

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|KIB|MB|MIB|GB|GIB)?\s*$", re.IGNORECASE)
_UNITS = {"B": 1, "KB": 10**3, "KIB": 2**10, "MB": 10**6, "MIB": 2**20, "GB": 10**9, "GIB": 2**30}


def parse_size(text: str) -> int:
    """``"1MB"`` → 1,000,000; ``"64KiB"`` → 65,536; a bare number is bytes."""
    match = _SIZE_RE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "B").upper()])


def filler(start: int, length: int) -> str:
    """``length`` characters of code-like ASCII lines; position ``start`` in one endless text."""
    line = "value = compute(alpha, beta)  # filler line for the join benchmark\n"
    offset = start % len(line)
    repeats = (offset + length) // len(line) + 1
    return (line * repeats)[offset : offset + length]


@dataclass
class JoinConfig:
    sizes: list[int]
    clients: int = 20
    chunk: int = 64 * 1024
    concurrency: int = 1
    timeout: float = 120.0
    room_prefix: str = "idea:join"
    loop: str = "auto"


@dataclass
class JoinResult:
    size: int
    room: str
    fill_s: float = 0.0
    step2_bytes: int = 0
    received_ms: Summary = field(default_factory=lambda: Summary.of([]))
    joined_ms: Summary = field(default_factory=lambda: Summary.of([]))
    content_ok: int = 0
    clients: int = 0
    server_cpu: CpuShare | None = None
    #: The load generator's (this process's) CPU during the joins.
    gen_cpu: CpuShare | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and self.content_ok == self.clients


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _wait_length(client: FullClient, size: int, timeout: float) -> bool:
    """True once ``client`` holds exactly ``size`` characters (bounded by ``timeout``)."""
    reached = await client.wait_until(lambda: len(client.text) >= size, timeout)
    return reached and len(client.text) == size


async def _fill(writer: Writer, size: int, chunk: int) -> None:
    written = 0
    while written < size:
        n = min(chunk, size - written)
        writer.append(filler(written, n))
        written += n
        assert writer.conn is not None
        await writer.conn.drain()


async def run_one(server: ServerUnderTest, cfg: JoinConfig, size: int, run_id: str) -> JoinResult:
    room = f"{cfg.room_prefix}-{run_id}-{size}"
    url = server.url(room)
    framing = server.framing(room)
    result = JoinResult(size=size, room=room, clients=cfg.clients)
    writer, checker = Writer(framing), FullClient(framing)
    try:
        await writer.start(url, cfg.timeout)
        await checker.start(url, cfg.timeout)
        _log(f"[{size:,} B] filling in {cfg.chunk:,}-character updates")
        t0 = time.perf_counter()
        await _fill(writer, size, cfg.chunk)
        if not await _wait_length(checker, size, cfg.timeout):
            result.errors.append(f"checker has {len(checker.text):,} of {size:,} characters")
            return result
        result.fill_s = time.perf_counter() - t0
        if checker.content() != writer.content():
            result.errors.append("checker's content differs from the writer's")

        _log(f"[{size:,} B] {cfg.clients} joins, {cfg.concurrency} at a time")
        gate = asyncio.Semaphore(max(1, cfg.concurrency))
        received: list[float] = []
        joined: list[float] = []
        meter = CpuMeter(server.pid, tree=True) if server.pid else None
        gen_meter = CpuMeter()
        gen_meter.start()
        if meter:
            meter.start()

        async def join_one() -> None:
            async with gate:
                client = FullClient(framing)
                try:
                    joined.append(await client.start(url, cfg.timeout) * 1000)
                    received.append((client.step2_received_at - client.connect_started) * 1000)
                    result.step2_bytes = max(result.step2_bytes, client.step2_bytes)
                    if len(client.text) == size:
                        result.content_ok += 1
                except (TimeoutError, OSError, RuntimeError) as e:
                    result.errors.append(f"join failed: {type(e).__name__}: {e}")
                finally:
                    await client.close()

        await asyncio.gather(*(join_one() for _ in range(cfg.clients)))
        result.gen_cpu = gen_meter.stop()
        if meter:
            result.server_cpu = meter.stop()
        result.received_ms = Summary.of(received)
        result.joined_ms = Summary.of(joined)
    except (TimeoutError, OSError, RuntimeError) as e:
        result.errors.append(f"{type(e).__name__}: {e}")
    finally:
        await asyncio.gather(writer.close(), checker.close())
    return result


COLUMNS = [
    "size",
    "step 2 bytes",
    "fill (s)",
    "clients",
    "joined p50 ms",
    "joined p95 ms",
    "joined max ms",
    "step 2 received p50 ms",
    "content OK",
    "server CPU during joins",
]


def size_label(size: int) -> str:
    for unit, factor in (("MB", 10**6), ("KB", 10**3)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size:,} B"


def result_row(r: JoinResult) -> list[str]:
    return [
        size_label(r.size),
        f"{r.step2_bytes:,}",
        f"{r.fill_s:.2f}",
        str(r.clients),
        f"{r.joined_ms.p50:.1f}",
        f"{r.joined_ms.p95:.1f}",
        f"{r.joined_ms.max:.1f}",
        f"{r.received_ms.p50:.1f}",
        f"{r.content_ok}/{r.clients}",
        format_share(r.server_cpu),
    ]


async def run_join(server: ServerUnderTest, cfg: JoinConfig) -> list[JoinResult]:
    run_id = secrets.token_hex(3)
    results = []
    for size in cfg.sizes:
        result = await run_one(server, cfg, size, run_id)
        results.append(result)
        print(
            " | ".join(f"{c}: {v}" for c, v in zip(COLUMNS, result_row(result), strict=True)),
            flush=True,
        )
        for error in result.errors[:5]:
            print("  " + error, flush=True)
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.join",
        description="Join time of a fresh client into a room holding a large document.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_server_arguments(p)
    p.add_argument(
        "--size",
        default="1MB,10MB",
        help="document sizes, comma-separated (B, KB, KiB, MB, MiB; ASCII so chars = bytes)",
    )
    p.add_argument("--clients", type=int, default=20, help="fresh clients that join, per size")
    p.add_argument(
        "--concurrency", type=int, default=1, help="joins in flight at once (1 = one after another)"
    )
    p.add_argument(
        "--chunk", type=parse_size, default=64 * 1024, help="characters per filling update"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds allowed for each connect, fill or join",
    )
    p.add_argument("--room-prefix", default="idea:join", help="rooms are PREFIX-RUNID-SIZE")
    p.add_argument("--loop", choices=LOOPS, default="auto", help="event loop of the load generator")
    p.add_argument(
        "--results",
        type=Path,
        default=RESULTS_DIR / "join.md",
        help="Markdown file the run is appended to",
    )
    p.add_argument("--no-record", action="store_true", help="do not append to the results file")
    return p.parse_args(argv)


async def _main(args: argparse.Namespace) -> int:
    cfg = JoinConfig(
        sizes=[parse_size(s) for s in args.size.split(",") if s.strip()],
        clients=args.clients,
        chunk=args.chunk,
        concurrency=args.concurrency,
        timeout=args.timeout,
        room_prefix=args.room_prefix,
        loop=args.loop,
    )
    try:
        async with server_from_args(args) as server:
            results = await run_join(server, cfg)
    except RuntimeError as e:
        _log(f"could not run against the server: {e}")
        return 2
    notes = [f"{size_label(r.size)}: {'; '.join(r.errors[:3])}" for r in results if r.errors]
    for line in server.log_errors[:5]:
        _log(f"server log: {line}")
    if server.log_errors:
        notes.append(
            f"server log had {len(server.log_errors)} error line(s), first: {server.log_errors[0][:300]!r}"
        )
    if not args.no_record:
        facts = [
            ("server", server.label),
            ("url", redact(server.url_template)),
            *environment(resolve_loop(cfg.loop)),
            ("command", f"`{command_line()}`"),
            (
                "settings",
                f"chunk {cfg.chunk:,} chars, {cfg.clients} joins per size, {cfg.concurrency} at a time; "
                "joined = connect start → server's step 2 applied to a pycrdt Doc",
            ),
        ]
        append_run(
            args.results,
            f"Join — {server.label}",
            facts,
            COLUMNS,
            [result_row(r) for r in results],
            notes,
        )
        _log(f"appended to {args.results}")
    return 0 if all(r.ok for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run(_main(args), resolve_loop(args.loop))


if __name__ == "__main__":
    sys.exit(main())
