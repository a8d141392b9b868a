"""A subscriber worker process: holds light subscribers, driven over stdin/stdout.

Run by :class:`benchmarks.loadgen.pool.SubscriberPool` as ``python -m benchmarks.loadgen.worker``.
Requests and replies are one JSON object per line; every request gets exactly one reply, in
order. Commands:

- ``connect {url, count, concurrency, timeout, kernel_timestamps[, group, framing, document,
  timed]}`` → ``{connected, failed, errors, connect_s}``; ``group`` (optional) names these
  subscribers, e.g. by the server they connected to, so ``collect`` can report them apart;
  ``framing`` (``y-websocket`` or ``hocuspocus``) and ``document`` (the room) say how messages
  are framed; ``timed`` lists the message types whose markers are timed (default: sync).
- ``wait {count, timeout}`` → ``{complete, incomplete, closed}``: wait until every open subscriber
  has seen ``count`` distinct markers (rooms are fresh and markers numbered from 0, so that means
  "all of ``0..count-1``"); subscribers whose connection closed are not waited for.
- ``mark {}`` → ``{}``: start sampling event-loop lag.
- ``collect {lo, send_times}`` → latencies (ms, float64, base64) of markers ``lo..lo+len-1``
  against the writer's ``send_times``, counts, last arrival, closed connections, loop lag, and
  with kernel timestamps also the latencies as read by this process (``read_latencies_ms``).
  With ``group``, only the subscribers connected with that group count.
- ``storm {first_sender, senders, count, hz}`` → ``{sent, late_max_ms}``: subscriber ``i`` of
  this worker becomes sender ``first_sender + i`` of ``senders`` and announces ``count`` cursor
  states at ``hz``, phases spread evenly over all senders (``loadgen.awareness``); ``sent`` maps
  each marker to its send time.
- ``collect_storm {sent, senders, count, warm}`` → staleness (ms, float64, base64) of every
  announcement ``>= warm`` at every receiver of this worker (``loadgen.awareness.staleness``),
  ``lost``, ``stale_end`` (receiver, sender) pairs without the sender's last state, ``exact``,
  ``expected``, ``frames`` (awareness frames received, all told), loop lag.
- ``disconnect {}`` → ``{closed}``; ``exit {}`` → ``{}`` and the process ends (also on stdin EOF).

Timestamps are ``time.perf_counter()``, i.e. ``CLOCK_MONOTONIC`` on Linux, which is one clock
for every process on the machine — so the writer's send times and our arrival times compare.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
from array import array
from typing import Any

from .awareness import announce, staleness
from .eventloop import LOOPS, run
from .stats import percentile
from .subscriber import LightSubscriber
from .yprotocol import MSG_SYNC, Framing, framing_for

LAG_INTERVAL_S = 0.01
LAG_MAX_SAMPLES = 200_000


class Worker:
    def __init__(self) -> None:
        self.subscribers: list[LightSubscriber] = []
        self.group_of: dict[LightSubscriber, str | None] = {}
        #: Awareness storm: the sender index of each subscriber that announced.
        self.sender_of: dict[LightSubscriber, int] = {}
        self._lag: list[float] = []
        self._lag_task: asyncio.Task[None] | None = None

    async def connect(
        self,
        url: str,
        count: int,
        concurrency: int,
        timeout: float,
        kernel_timestamps: bool,
        group: str | None = None,
        framing: str = Framing.name,
        document: str = "",
        timed: list[int] | None = None,
    ) -> dict:
        gate = asyncio.Semaphore(max(1, concurrency))
        errors: list[str] = []
        frame = framing_for(framing, document)
        types = timed if timed is not None else [MSG_SYNC]

        async def one() -> float | None:
            async with gate:
                sub = LightSubscriber(kernel_timestamps, frame, types)
                try:
                    elapsed = await sub.start(url, timeout)
                except Exception as e:  # every failure is reported, none aborts the run
                    errors.append(f"{type(e).__name__}: {e}")
                    return None
                self.subscribers.append(sub)
                self.group_of[sub] = group
                return elapsed

        times = await asyncio.gather(*(one() for _ in range(count)))
        ok = [t for t in times if t is not None]
        return {
            "connected": len(ok),
            "failed": count - len(ok),
            "errors": errors[:5],
            "connect_s": ok,
        }

    def _open(self) -> list[LightSubscriber]:
        return [s for s in self.subscribers if s.conn is not None and not s.conn.closed.done()]

    async def wait(self, count: int, timeout: float) -> dict:
        deadline = time.perf_counter() + timeout
        while True:
            waiting = [s for s in self._open() if len(s.first_seen) < count]
            if not waiting or time.perf_counter() >= deadline:
                break
            await asyncio.sleep(0.01)
        return {
            "complete": not waiting,
            "incomplete": len(waiting),
            "closed": len(self.subscribers) - len(self._open()),
        }

    async def _sample_lag(self) -> None:
        while len(self._lag) < LAG_MAX_SAMPLES:
            t = time.perf_counter()
            await asyncio.sleep(LAG_INTERVAL_S)
            self._lag.append(time.perf_counter() - t - LAG_INTERVAL_S)

    def mark(self) -> dict:
        self._lag = []
        self._lag_task = asyncio.create_task(self._sample_lag())
        return {}

    def collect(self, lo: int, send_times: list[float], group: str | None = None) -> dict:
        lag = self._stop_lag()
        subscribers = [
            s for s in self.subscribers if group is None or self.group_of.get(s) == group
        ]
        latencies = array("d")
        read_latencies = array("d")
        last_arrival = 0.0
        for sub in subscribers:
            seen = sub.first_seen
            read = sub.first_read
            for i, sent in enumerate(send_times):
                arrived = seen.get(lo + i)
                if arrived is not None:
                    latencies.append((arrived - sent) * 1000.0)
                    if arrived > last_arrival:
                        last_arrival = arrived
                    read_at = read.get(lo + i)
                    if read_at is not None:
                        read_latencies.append((read_at - sent) * 1000.0)
        reasons: dict[str, int] = {}
        for sub in subscribers:
            if sub.conn is not None and sub.conn.closed.done():
                reason = sub.conn.closed.result()
                reasons[reason] = reasons.get(reason, 0) + 1
        return {
            "latencies_ms": base64.b64encode(latencies.tobytes()).decode(),
            "read_latencies_ms": base64.b64encode(read_latencies.tobytes()).decode(),
            "delivered": len(latencies),
            "expected": len(subscribers) * len(send_times),
            "last_arrival": last_arrival,
            "closed": reasons,
            "lag_p99_ms": percentile(lag, 99) * 1000 if lag else 0.0,
            "lag_max_ms": lag[-1] * 1000 if lag else 0.0,
        }

    def _stop_lag(self) -> list[float]:
        if self._lag_task is not None:
            self._lag_task.cancel()
            self._lag_task = None
        return sorted(self._lag)

    async def storm(self, first_sender: int, senders: int, count: int, hz: float) -> dict:
        subs = self.subscribers  # those closed since drop what they send
        # Start together a little later, phases spread over all senders of the room.
        start = time.perf_counter() + 0.2
        sent: dict[int, float] = {}
        calls = []
        for i, sub in enumerate(subs):
            sender = first_sender + i
            self.sender_of[sub] = sender
            calls.append(announce(sub, sender, count, hz, start + sender / senders / hz, sent))
        late = await asyncio.gather(*calls)
        return {"sent": sent, "late_max_ms": max(late, default=0.0) * 1000}

    def collect_storm(self, sent: dict[str, float], senders: int, count: int, warm: int) -> dict:
        lag = self._stop_lag()
        send_times = {int(seq): t for seq, t in sent.items()}
        everyone = range(senders)
        latencies = array("d")
        lost = stale_end = exact = expected = 0
        frames = sum(sub.timed_frames for sub in self.sender_of)
        for sub, receiver in self.sender_of.items():
            got = staleness(sub.first_seen, receiver, everyone, count, warm, send_times, latencies)
            lost += got[0]
            stale_end += got[1]
            exact += got[2]
            expected += (senders - 1) * (count - warm)
        return {
            "latencies_ms": base64.b64encode(latencies.tobytes()).decode(),
            "lost": lost,
            "stale_end": stale_end,
            "exact": exact,
            "expected": expected,
            "frames": frames,
            "lag_p99_ms": percentile(lag, 99) * 1000 if lag else 0.0,
        }

    async def disconnect(self) -> dict:
        subs, self.subscribers = self.subscribers, []
        self.group_of = {}
        self.sender_of = {}
        await asyncio.gather(*(s.conn.close(timeout=2.0) for s in subs if s.conn is not None))
        return {"closed": len(subs)}


async def serve(loop_name: str) -> None:
    worker = Worker()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    while True:
        line = await reader.readline()
        if not line:
            break
        request = json.loads(line)
        cmd = request.pop("cmd")
        reply: dict[str, Any]
        if cmd == "connect":
            reply = await worker.connect(**request)
        elif cmd == "wait":
            reply = await worker.wait(**request)
        elif cmd == "mark":
            reply = worker.mark()
        elif cmd == "collect":
            reply = worker.collect(**request)
        elif cmd == "storm":
            reply = await worker.storm(**request)
        elif cmd == "collect_storm":
            reply = worker.collect_storm(**request)
        elif cmd == "disconnect":
            reply = await worker.disconnect()
        elif cmd == "exit":
            await worker.disconnect()
            reply = {}
        else:
            reply = {"error": f"unknown command {cmd!r}"}
        reply["loop"] = loop_name
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()
        if cmd == "exit":
            break
    await worker.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop", choices=LOOPS, default="auto")
    args = parser.parse_args()
    from .eventloop import resolve_loop

    loop_name = resolve_loop(args.loop)
    run(serve(loop_name), loop_name)


if __name__ == "__main__":
    main()
