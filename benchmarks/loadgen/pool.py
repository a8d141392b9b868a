"""Light subscribers spread over worker processes, driven from the main process."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cpu import CpuMeter, CpuShare
from .yprotocol import MSG_SYNC, Framing

_REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Collected:
    """What all workers observed over one measured phase."""

    latencies_ms: array
    #: Per delivery, read time minus send time (empty without kernel timestamps, where
    #: ``latencies_ms`` already are read times).
    read_latencies_ms: array
    delivered: int
    expected: int
    last_arrival: float
    closed: dict[str, int] = field(default_factory=dict)
    lag_p99_ms: float = 0.0
    lag_max_ms: float = 0.0


@dataclass
class StormCollected:
    """What all receivers saw of an awareness storm."""

    #: Staleness of every (receiver, announcement) pair that arrived, ms.
    latencies_ms: array
    lost: int
    #: (receiver, sender) pairs where the receiver does not hold the sender's last state.
    stale_end: int
    exact: int
    expected: int
    #: Frames the receivers got (a server batching states into one frame sends fewer).
    frames: int
    lag_p99_ms: float


class WorkerProcess:
    """One ``benchmarks.loadgen.worker`` subprocess and its request/reply pipe."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.cpu = CpuMeter(proc.pid)

    @classmethod
    async def start(cls, loop: str) -> WorkerProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO_ROOT), env.get("PYTHONPATH")]))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.loadgen.worker",
            "--loop",
            loop,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=_REPO_ROOT,
            env=env,
            limit=1 << 28,
        )
        return cls(proc)

    async def request(self, cmd: str, reply_timeout: float, /, **args: Any) -> dict[str, Any]:
        """Send one command (``args`` are its JSON fields); wait ``reply_timeout`` s for the reply."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), reply_timeout)
        if not line:
            raise RuntimeError(
                f"subscriber worker {self.proc.pid} exited (code {self.proc.returncode})"
            )
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"subscriber worker {self.proc.pid}: {reply['error']}")
        return reply

    async def stop(self, timeout: float = 10.0) -> None:
        if self.proc.returncode is None:
            try:
                await self.request("exit", timeout)
                await asyncio.wait_for(self.proc.wait(), timeout)
            except (TimeoutError, RuntimeError, BrokenPipeError, ConnectionResetError):
                self.proc.kill()
                await self.proc.wait()


class SubscriberPool:
    """``procs`` worker processes; ``n`` subscribers are split evenly between them.

    Every call waits on all workers at once and is bounded by a timeout.
    """

    def __init__(self, workers: list[WorkerProcess], loop: str) -> None:
        self.workers = workers
        self.loop = loop
        #: Subscribers connected in each worker (since the last :meth:`disconnect`).
        self.connected = [0] * len(workers)

    @classmethod
    async def start(cls, procs: int, loop: str) -> SubscriberPool:
        workers = await asyncio.gather(*(WorkerProcess.start(loop) for _ in range(max(1, procs))))
        return cls(list(workers), loop)

    async def stop(self) -> None:
        await asyncio.gather(*(w.stop() for w in self.workers))

    async def _all(
        self, cmd: str, reply_timeout: float, per_worker: list[dict] | None = None, /, **args: Any
    ) -> list[dict[str, Any]]:
        calls = []
        for i, w in enumerate(self.workers):
            extra = per_worker[i] if per_worker is not None else {}
            calls.append(w.request(cmd, reply_timeout, **args, **extra))
        return await asyncio.gather(*calls)

    async def connect(
        self,
        url: str,
        n: int,
        concurrency: int,
        timeout: float,
        kernel_timestamps: bool,
        group: str | None = None,
        *,
        framing: str = Framing.name,
        document: str = "",
        timed: Sequence[int] = (MSG_SYNC,),
    ) -> tuple[list[float], int, list[str], float]:
        """Connect ``n`` subscribers; return (per-connection seconds, failed, errors, wall seconds).

        ``timeout`` bounds each connection; the whole call is bounded by enough of those for
        ``n`` connections at ``concurrency`` in flight. Calling it again adds subscribers (to
        another URL, say); ``group`` names them for :meth:`collect`. ``framing`` names the
        message framing (``loadgen.yprotocol.FRAMINGS``) for room ``document``; ``timed``, the
        message types whose markers are timed.
        """
        k = len(self.workers)
        counts = [n // k + (1 if i < n % k else 0) for i in range(k)]
        per_worker = [{"count": c, "concurrency": max(1, concurrency // k)} for c in counts]
        rounds = max(1, -(-n // max(1, concurrency)))
        t0 = time.perf_counter()
        replies = await self._all(
            "connect",
            timeout * rounds + 10,
            per_worker,
            url=url,
            timeout=timeout,
            kernel_timestamps=kernel_timestamps,
            framing=framing,
            document=document,
            timed=list(timed),
            **({"group": group} if group is not None else {}),
        )
        wall = time.perf_counter() - t0
        for i, r in enumerate(replies):
            self.connected[i] += r["connected"]
        times = [t for r in replies for t in r["connect_s"]]
        failed = sum(r["failed"] for r in replies)
        errors = [e for r in replies for e in r["errors"]]
        return times, failed, errors, wall

    async def wait(self, count: int, timeout: float) -> tuple[bool, int]:
        """Wait until every open subscriber saw ``count`` markers; return (complete, closed)."""
        replies = await self._all("wait", timeout + 10, count=count, timeout=timeout)
        return all(r["complete"] for r in replies), sum(r["closed"] for r in replies)

    async def mark(self) -> None:
        """Start the measured window: event-loop lag sampling and worker CPU meters."""
        for w in self.workers:
            w.cpu.start()
        await self._all("mark", 10)

    def cpu(self) -> list[CpuShare]:
        """CPU of each worker since :meth:`mark`."""
        return [w.cpu.stop() for w in self.workers]

    async def collect(
        self, lo: int, send_times: list[float], group: str | None = None
    ) -> Collected:
        """Deliveries of markers ``lo..`` by every subscriber (or those connected with ``group``)."""
        extra = {"group": group} if group is not None else {}
        replies = await self._all("collect", 120, lo=lo, send_times=send_times, **extra)
        latencies = array("d")
        read_latencies = array("d")
        closed: dict[str, int] = {}
        for r in replies:
            latencies.frombytes(base64.b64decode(r["latencies_ms"]))
            read_latencies.frombytes(base64.b64decode(r["read_latencies_ms"]))
            for reason, count in r["closed"].items():
                closed[reason] = closed.get(reason, 0) + count
        return Collected(
            latencies_ms=latencies,
            read_latencies_ms=read_latencies,
            delivered=sum(r["delivered"] for r in replies),
            expected=sum(r["expected"] for r in replies),
            last_arrival=max(r["last_arrival"] for r in replies),
            closed=closed,
            lag_p99_ms=max(r["lag_p99_ms"] for r in replies),
            lag_max_ms=max(r["lag_max_ms"] for r in replies),
        )

    async def storm(self, count: int, hz: float, timeout: float) -> tuple[dict[str, float], float]:
        """Every open subscriber announces ``count`` cursor states at ``hz`` (see
        ``loadgen.awareness``); return (send time of every marker, worst lateness in ms)."""
        per_worker, first = [], 0
        for c in self.connected:
            per_worker.append({"first_sender": first})
            first += c
        replies = await self._all("storm", timeout, per_worker, senders=first, count=count, hz=hz)
        sent: dict[str, float] = {}
        for r in replies:
            sent.update(r["sent"])
        return sent, max(r["late_max_ms"] for r in replies)

    async def collect_storm(
        self, sent: dict[str, float], senders: int, count: int, warm: int
    ) -> StormCollected:
        """What every receiver saw of the storm (see :meth:`Worker.collect_storm`)."""
        replies = await self._all(
            "collect_storm", 120, sent=sent, senders=senders, count=count, warm=warm
        )
        latencies = array("d")
        for r in replies:
            latencies.frombytes(base64.b64decode(r["latencies_ms"]))
        return StormCollected(
            latencies_ms=latencies,
            lost=sum(r["lost"] for r in replies),
            stale_end=sum(r["stale_end"] for r in replies),
            exact=sum(r["exact"] for r in replies),
            expected=sum(r["expected"] for r in replies),
            frames=sum(r["frames"] for r in replies),
            lag_p99_ms=max(r["lag_p99_ms"] for r in replies),
        )

    async def disconnect(self) -> None:
        await self._all("disconnect", 60)
        self.connected = [0] * len(self.workers)
