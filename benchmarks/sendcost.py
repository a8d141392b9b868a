"""What one broadcast costs below the server: a small frame ``send`` to N loopback sockets.

No WebSocket server is involved: this process accepts N TCP connections from a reader process
(which drains them with a selector, as a load generator would), then times writing one 40-byte
frame to every socket, ``--rounds`` times, from one thread and split over two threads (the GIL
is released during ``send``). It bounds what any server's fan-out p99 can be on this machine:
a broadcast cannot be faster than N of these sends.

Example::

    python -m benchmarks.sendcost --subscribers 100,500 --rounds 200
"""

from __future__ import annotations

import argparse
import os
import platform
import selectors
import socket
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

FRAME = b"\x82\x26" + b"x" * 38  # an unmasked binary frame of 38 bytes, as a server sends


def _drain_forever(port: int, n: int) -> None:
    """The reader process: connect ``n`` sockets and read whatever arrives until closed."""
    selector = selectors.DefaultSelector()
    for _ in range(n):
        conn = socket.create_connection(("127.0.0.1", port))
        conn.setblocking(False)
        selector.register(conn, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            try:
                if not key.fileobj.recv(65536):  # type: ignore[union-attr]
                    os._exit(0)
            except BlockingIOError:
                pass


def _accept(n: int) -> tuple[list[socket.socket], int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(n)
    port = listener.getsockname()[1]
    pid = os.fork()
    if pid == 0:
        listener.close()
        _drain_forever(port, n)
    socks = []
    for _ in range(n):
        conn, _ = listener.accept()
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(conn)
    listener.close()
    return socks, pid


def _send_all(socks: list[socket.socket]) -> None:
    for conn in socks:
        conn.send(FRAME)


class _Helper:
    """A second thread that sends to its half of the sockets when told to."""

    def __init__(self, socks: list[socket.socket]) -> None:
        self.socks = socks
        self.go = threading.Event()
        self.done = threading.Event()
        self.stopping = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            self.go.wait()
            self.go.clear()
            if self.stopping:
                return
            _send_all(self.socks)
            self.done.set()

    def stop(self) -> None:
        self.stopping = True
        self.go.set()


def _time(broadcast: Callable[[], None], rounds: int, pause: float) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        broadcast()
        times.append((time.perf_counter() - start) * 1e3)
        time.sleep(pause)
    return sorted(times)


def measure(n: int, rounds: int, pause: float) -> list[tuple[str, list[float]]]:
    socks, pid = _accept(n)
    half = n // 2
    helper = _Helper(socks[half:])

    def one_thread() -> None:
        _send_all(socks)

    def two_threads() -> None:
        helper.go.set()
        _send_all(socks[:half])
        helper.done.wait()
        helper.done.clear()

    results: list[tuple[str, list[float]]] = []
    try:
        for name, fn in [("one thread", one_thread), ("two threads", two_threads)] * 2:
            results.append((name, _time(fn, rounds, pause)))
    finally:
        helper.stop()
        for conn in socks:
            conn.close()
        os.waitpid(pid, 0)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", default="100,500", help="comma-separated N")
    parser.add_argument("--rounds", type=int, default=200, help="broadcasts per measurement")
    parser.add_argument("--pause", type=float, default=0.01, help="seconds between broadcasts")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "sendcost.md"
    )
    args = parser.parse_args()
    lines = [
        f"## Send cost — {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC",
        "",
        f"- machine: {platform.machine()}, nproc={os.cpu_count()}, Linux {platform.release()}",
        f"- load average before the run: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- command: `python -m benchmarks.sendcost --subscribers {args.subscribers} "
        f"--rounds {args.rounds} --pause {args.pause:g}`",
        "",
        "| N | sender | median ms | p90 ms | µs per send (median) |",
        "|---|---|---|---|---|",
    ]
    for n in (int(x) for x in args.subscribers.split(",")):
        for name, times in measure(n, args.rounds, args.pause):
            median = statistics.median(times)
            row = (
                f"| {n} | {name} | {median:.2f} | {times[int(len(times) * 0.9)]:.2f} "
                f"| {median / n * 1e3:.1f} |"
            )
            print(row, flush=True)
            lines.append(row)
    lines.append("")
    with args.out.open("a") as f:
        f.write("\n".join(lines) + "\n")
    print(f"appended to {args.out}")


if __name__ == "__main__":
    main()
