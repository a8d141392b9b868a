"""Fan-out latency: one writer, N light subscribers, a few full clients checking convergence.

For each N (and each rate): connect N light subscribers (in ``--procs`` worker processes), one
pycrdt writer and ``--full-clients`` pycrdt readers to a fresh room; warm up; append one marked
update to Text ``code`` ``rate`` times a second for ``duration`` seconds; wait (bounded) for every
subscriber to receive every update; report delivery latency percentiles, deliveries/s, connect
time, convergence, and the CPU share of the load generator and (with ``--server-pid``) the server.

Example::

    python -m benchmarks.fanout --url 'ws://127.0.0.1:8888/omniforge/rooms/{room}?token=T' \\
        --subscribers 10,100,500 --rate 20 --duration 10
    python -m benchmarks.fanout --spawn-omniforge --subscribers 100 --rate 20
"""

from __future__ import annotations

import argparse
import asyncio
import math
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .loadgen.cpu import CpuMeter, CpuShare, format_share
from .loadgen.eventloop import LOOPS, resolve_loop, run
from .loadgen.fullclient import FullClient, Writer
from .loadgen.pool import SubscriberPool
from .loadgen.report import RESULTS_DIR, append_run, command_line, environment
from .loadgen.servers import ServerUnderTest, add_server_arguments, redact, server_from_args
from .loadgen.settings import LoadSettings
from .loadgen.stats import Summary
from .loadgen.subscriber import StatelessSender
from .loadgen.yprotocol import MSG_STATELESS, MSG_SYNC, update_text


@dataclass(kw_only=True)
class FanoutConfig(LoadSettings):
    subscribers: list[int]
    rates: list[float]
    room_prefix: str = "idea:bench"
    #: What the writer sends: ``update`` (Yjs updates to Text ``code``, full clients check
    #: convergence) or ``stateless`` (Hocuspocus stateless messages carrying the marker, an
    #: event stream's equivalent: nothing to converge, every subscriber must get every one).
    sender: str = "update"


@dataclass
class FanoutResult:
    n: int
    rate: float
    room: str
    sent: int = 0
    expected: int = 0
    delivered: int = 0
    latency_ms: Summary = field(default_factory=lambda: Summary.of([]))
    #: Same deliveries timed when the load generator read them (kernel timestamps only).
    read_latency_ms: Summary = field(default_factory=lambda: Summary.of([]))
    deliveries_per_s: float = 0.0
    connect_all_s: float = 0.0
    connect_ms: Summary = field(default_factory=lambda: Summary.of([]))
    connect_failed: int = 0
    converged: bool = False
    drained: bool = False
    closed: dict[str, int] = field(default_factory=dict)
    writer_late_max_ms: float = 0.0
    #: Updates per second the writer actually sent over the measured phase (below ``rate`` when
    #: the load generator could not keep up).
    offered_rate: float = 0.0
    worker_cpu: list[CpuShare] = field(default_factory=list)
    main_cpu: CpuShare | None = None
    server_cpu: CpuShare | None = None
    worker_lag_p99_ms: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.converged and self.delivered == self.expected and not self.errors


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _send_paced(
    writer: Writer | StatelessSender, first_seq: int, count: int, rate: float, size: int
):
    """Send ``count`` updates at ``rate``/s on an absolute schedule (late sends do not shift it).

    Every update is encoded before the first is sent, so that at high rates the schedule is not
    held up by the generator's own pycrdt work. Returns the send times and the worst lateness
    against the schedule, in seconds.
    """
    messages = [writer.encode_append(update_text(first_seq + i, size)) for i in range(count)]
    times: list[float] = []
    worst_late = 0.0
    start = time.perf_counter()
    for i, message in enumerate(messages):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        t = writer.send_encoded(message)
        times.append(t)
        worst_late = max(worst_late, t - due)
    return times, worst_late


async def _converged(writer: Writer, readers: list[FullClient], timeout: float) -> bool:
    """True once every reader's text equals the writer's (each waits up to ``timeout``)."""
    expected = writer.content()
    checks = await asyncio.gather(
        *(r.wait_until(lambda r=r: r.content() == expected, timeout) for r in readers)
    )
    return all(checks)


async def run_one(
    server: ServerUnderTest,
    pool: SubscriberPool,
    cfg: FanoutConfig,
    n: int,
    rate: float,
    run_id: str,
) -> FanoutResult:
    """One measurement: N subscribers at ``rate`` updates/s, in a room of its own."""
    room = f"{cfg.room_prefix}-{run_id}-n{n}-r{rate:g}"
    url = server.url(room)
    framing = server.framing(room)
    result = FanoutResult(n=n, rate=rate, room=room)
    writer: Writer | StatelessSender
    if cfg.sender == "stateless":
        writer, readers, timed = StatelessSender(framing=framing), [], (MSG_STATELESS,)
    else:
        writer = Writer(framing)
        readers = [FullClient(framing) for _ in range(cfg.full_clients)]
        timed = (MSG_SYNC,)
    try:
        await writer.start(url, cfg.connect_timeout)
        await asyncio.gather(*(r.start(url, cfg.connect_timeout) for r in readers))

        _log(f"[N={n} rate={rate:g}] connecting {n} subscribers in {len(pool.workers)} process(es)")
        times, failed, errors, wall = await pool.connect(
            url,
            n,
            cfg.connect_concurrency,
            cfg.connect_timeout,
            cfg.kernel_timestamps,
            framing=server.protocol,
            document=room,
            timed=timed,
        )
        result.connect_all_s = wall
        result.connect_ms = Summary.of([t * 1000 for t in times])
        result.connect_failed = failed
        if failed:
            result.errors.append(f"{failed} subscribers failed to connect, e.g. {errors[:2]}")

        warm = max(3, math.ceil(rate * cfg.warmup))
        _log(f"[N={n} rate={rate:g}] warm-up: {warm} updates")
        await _send_paced(writer, 0, warm, rate, cfg.update_size)
        warm_ok, _ = await pool.wait(warm, cfg.drain_timeout)
        if not warm_ok:
            result.errors.append("warm-up updates not delivered to every subscriber")

        count = max(1, round(rate * cfg.duration))
        main_cpu = CpuMeter()
        # With its child processes: work a server hands to them is the server's work.
        server_cpu = CpuMeter(server.pid, tree=True) if server.pid else None
        await pool.mark()
        main_cpu.start()
        if server_cpu:
            server_cpu.start()
        _log(f"[N={n} rate={rate:g}] measuring: {count} updates over {count / rate:.1f} s")
        send_times, late = await _send_paced(writer, warm, count, rate, cfg.update_size)
        result.sent = count
        result.writer_late_max_ms = late * 1000
        if count > 1 and send_times[-1] > send_times[0]:
            result.offered_rate = (count - 1) / (send_times[-1] - send_times[0])
        result.drained, _ = await pool.wait(warm + count, cfg.drain_timeout)
        result.worker_cpu = pool.cpu()
        result.main_cpu = main_cpu.stop()
        if server_cpu:
            result.server_cpu = server_cpu.stop()

        collected = await pool.collect(warm, send_times)
        result.expected = collected.expected
        result.delivered = collected.delivered
        result.closed = collected.closed
        result.worker_lag_p99_ms = collected.lag_p99_ms
        result.latency_ms = Summary.of(collected.latencies_ms)
        result.read_latency_ms = Summary.of(collected.read_latencies_ms)
        span = collected.last_arrival - send_times[0]
        result.deliveries_per_s = collected.delivered / span if span > 0 else 0.0
        if readers:
            assert isinstance(writer, Writer)
            result.converged = await _converged(writer, readers, cfg.drain_timeout)
        else:  # nothing to converge: every delivery arrived, or the run fails on those counts
            result.converged = True
    except (TimeoutError, OSError, RuntimeError) as e:
        result.errors.append(f"{type(e).__name__}: {e}")
    finally:
        await pool.disconnect()
        await asyncio.gather(writer.close(), *(r.close() for r in readers))
    return result


COLUMNS = [
    "N",
    "rate/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "as read p50/p99 ms",
    "deliveries/s",
    "delivered/expected",
    "connect all N (s)",
    "connect p50/p99 ms",
    "converged",
    "gen CPU subscriber procs: sum (busiest)",
    "gen CPU main",
    "server CPU",
    "gen loop lag p99 ms",
]


def result_row(r: FanoutResult) -> list[str]:
    lat = r.latency_ms
    workers = "-"
    if r.worker_cpu:
        workers = f"{sum(s.share for s in r.worker_cpu) * 100:.0f}% ({max(s.share for s in r.worker_cpu) * 100:.0f}%)"
    return [
        str(r.n),
        f"{r.rate:g}",
        f"{lat.p50:.1f}",
        f"{lat.p95:.1f}",
        f"{lat.p99:.1f}",
        f"{lat.max:.1f}",
        f"{r.read_latency_ms.p50:.1f}/{r.read_latency_ms.p99:.1f}"
        if r.read_latency_ms.count
        else "-",
        f"{r.deliveries_per_s:,.0f}",
        f"{r.delivered}/{r.expected}",
        f"{r.connect_all_s:.2f}",
        f"{r.connect_ms.p50:.0f}/{r.connect_ms.p99:.0f}",
        "OK" if r.converged else "FAILED",
        workers,
        format_share(r.main_cpu),
        format_share(r.server_cpu),
        f"{r.worker_lag_p99_ms:.1f}",
    ]


def result_notes(results: list[FanoutResult]) -> list[str]:
    notes = []
    for r in results:
        if r.closed:
            notes.append(f"N={r.n} rate={r.rate:g}: connections closed during the run: {r.closed}")
        if r.errors:
            notes.append(f"N={r.n} rate={r.rate:g}: {'; '.join(r.errors)}")
        if r.writer_late_max_ms > 5:
            notes.append(
                f"N={r.n} rate={r.rate:g}: writer ran up to {r.writer_late_max_ms:.0f} ms behind schedule"
            )
    return notes


async def run_fanout(server: ServerUnderTest, cfg: FanoutConfig) -> list[FanoutResult]:
    """Run every (rate, N) combination against ``server``; return the results in that order."""
    run_id = secrets.token_hex(3)
    loop = resolve_loop(cfg.loop)
    pool = await SubscriberPool.start(cfg.procs, loop)
    results = []
    try:
        for rate in cfg.rates:
            for n in cfg.subscribers:
                result = await run_one(server, pool, cfg, n, rate, run_id)
                results.append(result)
                print(
                    " | ".join(
                        f"{c}: {v}" for c, v in zip(COLUMNS, result_row(result), strict=True)
                    ),
                    flush=True,
                )
                for note in result_notes([result]):
                    print("  " + note, flush=True)
                await asyncio.sleep(0.5)  # let the server settle between runs
    finally:
        await pool.stop()
    return results


def _csv(kind: type, text: str) -> list:
    return [kind(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.fanout",
        description="Fan-out latency of a y-websocket room: 1 writer -> N light subscribers.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_server_arguments(p)
    p.add_argument("--subscribers", default="10,100,500", help="comma-separated N values")
    p.add_argument("--rate", default="20", help="updates per second; comma-separated for several")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds (at least 3 updates)")
    p.add_argument(
        "--update-size", type=int, default=32, help="characters per update (marker + padding)"
    )
    p.add_argument(
        "--full-clients", type=int, default=3, help="pycrdt clients checking convergence"
    )
    p.add_argument("--procs", type=int, default=1, help="worker processes for light subscribers")
    p.add_argument(
        "--connect-concurrency", type=int, default=100, help="connections in flight at once"
    )
    p.add_argument("--connect-timeout", type=float, default=30.0, help="seconds per connection")
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for late deliveries and convergence after the last send",
    )
    p.add_argument("--room-prefix", default="idea:bench", help="rooms are PREFIX-RUNID-nN-rRATE")
    p.add_argument("--loop", choices=LOOPS, default="auto", help="event loop of the load generator")
    p.add_argument(
        "--timestamps",
        choices=("kernel", "read"),
        default="kernel",
        help="time arrivals by the kernel receive timestamp (SO_TIMESTAMPNS) or when "
        "the load generator read them",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=RESULTS_DIR / "fanout.md",
        help="Markdown file the run is appended to",
    )
    p.add_argument("--no-record", action="store_true", help="do not append to the results file")
    return p.parse_args(argv)


async def _main(args: argparse.Namespace) -> int:
    cfg = FanoutConfig(
        subscribers=_csv(int, args.subscribers),
        rates=_csv(float, args.rate),
        duration=args.duration,
        warmup=args.warmup,
        update_size=args.update_size,
        full_clients=args.full_clients,
        procs=args.procs,
        connect_concurrency=args.connect_concurrency,
        connect_timeout=args.connect_timeout,
        drain_timeout=args.drain_timeout,
        room_prefix=args.room_prefix,
        loop=args.loop,
        kernel_timestamps=args.timestamps == "kernel",
    )
    notes: list[str] = []
    try:
        async with server_from_args(args) as server:
            results = await run_fanout(server, cfg)
    except RuntimeError as e:
        _log(f"could not run against the server: {e}")
        return 2
    for line in server.log_errors[:5]:
        _log(f"server log: {line}")
    if server.log_errors:
        notes.append(
            f"server log had {len(server.log_errors)} error line(s), first: {server.log_errors[0][:300]!r}"
        )
    notes += result_notes(results)
    if not args.no_record:
        facts = [
            ("server", server.label),
            ("url", redact(server.url_template)),
            *environment(resolve_loop(cfg.loop)),
            ("command", f"`{command_line()}`"),
            (
                "settings",
                f"duration {cfg.duration:g} s, warm-up {cfg.warmup:g} s, update {cfg.update_size} chars, "
                f"{cfg.full_clients} full clients, {cfg.procs} subscriber process(es), "
                f"arrival = {'kernel receive timestamp' if cfg.kernel_timestamps else 'read time'}",
            ),
        ]
        append_run(
            args.results,
            f"Fan-out — {server.label}",
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
