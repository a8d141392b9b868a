"""What counting costs on the hot paths, in nanoseconds, against what the server spends per
delivery.

Times, with the real counters of :mod:`jupyter_omniforge.metrics`, what the server adds:

- per delivery (each recipient of each broadcast): the two additions ``SocketTransport.write``
  makes;
- per update received: counting the frame, timing its apply (two monotonic clock reads and a
  bisect), counting the update applied.

Then, for a fan-out of ``--subscribers`` recipients, the cost per delivery (the per-update part
shared by the recipients), as a share of ``--server-us-per-delivery``, the server's whole CPU
time per delivery measured by ``benchmarks.compare`` (server CPU share ÷ deliveries/s).

Example::

    python -m benchmarks.metricscost --subscribers 100 --server-us-per-delivery 24.5
"""

from __future__ import annotations

import argparse
import statistics
import timeit

from jupyter_omniforge.metrics import Metrics, Timer

from .loadgen.report import RESULTS_DIR, append_run, command_line, environment


def per_call_ns(statement: str, namespace: dict[str, object], number: int, rounds: int) -> float:
    """Median over ``rounds`` of the time of ``statement``, minus an empty statement's."""
    timer = timeit.Timer(statement, globals=namespace)
    empty = timeit.Timer("pass", globals=namespace)
    samples = []
    for _ in range(rounds):
        samples.append((timer.timeit(number) - empty.timeit(number)) / number * 1e9)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metricscost", description=__doc__)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--server-us-per-delivery", type=float, required=True)
    parser.add_argument("--number", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    metrics = Metrics()
    sent, sent_bytes = metrics.sent_counters("rooms")
    frame = b"\x00\x02" + b"x" * 40
    namespace: dict[str, object] = {
        "metrics": metrics,
        "SENT": sent,
        "SENT_BYTES": sent_bytes,
        "kind": "update",
        "head": frame,
        "tail": b"",
        "frame": frame,
        "Timer": Timer,
    }
    delivery = per_call_ns(
        "SENT[kind] += 1; SENT_BYTES[kind] += len(head) + len(tail)",
        namespace,
        args.number,
        args.rounds,
    )
    update = per_call_ns(
        "metrics.room_frame_in(frame)\n"
        "with Timer(metrics.apply_seconds):\n    pass\n"
        "metrics.updates_applied += 1",
        namespace,
        args.number,
        args.rounds,
    )
    shared = delivery + update / args.subscribers
    share = shared / (args.server_us_per_delivery * 1000) * 100
    columns = [
        "per delivery (ns)",
        "per update (ns)",
        f"per delivery at N={args.subscribers} (ns)",
        "server CPU per delivery (µs)",
        "share",
    ]
    row = [
        f"{delivery:.0f}",
        f"{update:.0f}",
        f"{shared:.0f}",
        f"{args.server_us_per_delivery:g}",
        f"{share:.2f}%",
    ]
    print(" | ".join(columns))
    print(" | ".join(row))
    if not args.no_record:
        append_run(
            RESULTS_DIR / "metrics.md",
            "Counting on the hot paths",
            [*environment("asyncio"), ("command", f"`{command_line()}`")],
            columns,
            [row],
        )


if __name__ == "__main__":
    main()
