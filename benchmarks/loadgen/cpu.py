"""CPU meters: this process (``time.process_time``), any other pid (``/proc/PID/stat``), and
the rest of the machine (``/proc/stat``)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_times(pid: int) -> tuple[float, float] | None:
    """(user, system) CPU seconds of ``pid``, all its threads (Linux ``/proc``), or None if it
    is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return int(fields[11]) / _CLK_TCK, int(fields[12]) / _CLK_TCK


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (Linux ``/proc``), or None if it is gone."""
    times = proc_cpu_times(pid)
    return None if times is None else times[0] + times[1]


def _stat_fields(pid: int) -> list[bytes] | None:
    """``/proc/PID/stat`` fields after the command name (field 3 onwards), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2 :].split()


def descendants(pid: int) -> list[int]:
    """Live processes below ``pid`` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU seconds of ``pid`` and everything it started: its own, its live descendants', and
    those of the children they already waited for (``cutime``, ``cstime``); None if it is gone.

    A server that hands work to child processes (a compaction process pool, say) is charged
    for it; the total never goes down when a child ends.
    """
    total = 0.0
    for i, p in enumerate([pid, *descendants(pid)]):
        fields = _stat_fields(p)
        if fields is None:
            if i == 0:
                return None
            continue
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / _CLK_TCK


@dataclass
class CpuShare:
    """CPU seconds used over a wall-clock window; ``share`` is in units of one core (1.0 = 100%)."""

    cpu_s: float
    wall_s: float

    @property
    def share(self) -> float:
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0


def format_share(share: CpuShare | None) -> str:
    """``share`` as a percentage of one core for a results table; ``-`` when not measured."""
    return f"{share.share * 100:.0f}%" if share is not None else "-"


class CpuMeter:
    """Measures one process's CPU between :meth:`start` and :meth:`stop`.

    ``pid=None`` means this process. With ``tree``, the process and everything it started
    (:func:`tree_cpu_seconds`). A process that vanished mid-window reports what was read before
    it went away.
    """

    def __init__(self, pid: int | None = None, tree: bool = False) -> None:
        self.pid = pid
        self.tree = tree
        self._cpu0 = 0.0
        self._wall0 = 0.0

    def _read(self) -> float:
        if self.pid is None:
            return time.process_time()
        value = tree_cpu_seconds(self.pid) if self.tree else proc_cpu_seconds(self.pid)
        return value if value is not None else self._cpu0

    def start(self) -> None:
        self._wall0 = time.perf_counter()
        self._cpu0 = self._read()

    def stop(self) -> CpuShare:
        return CpuShare(self._read() - self._cpu0, time.perf_counter() - self._wall0)


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (``/proc/stat``), for the machine's other load."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / _CLK_TCK


async def other_cpu_share(pids: Iterable[int], seconds: float = 1.0) -> float:
    """CPU share (of one core) used over ``seconds`` by anything but this process and ``pids``."""
    meters = [CpuMeter(), *(CpuMeter(pid) for pid in pids)]
    busy0 = machine_busy_seconds()
    for m in meters:
        m.start()
    await asyncio.sleep(seconds)
    ours = sum(m.stop().cpu_s for m in meters)
    return max(0.0, machine_busy_seconds() - busy0 - ours) / seconds


async def wait_for_quiet(pids: Iterable[int], wait: float, quiet: float) -> str | None:
    """Wait (at most ``wait`` s) until other work uses less than ``quiet`` of a core.

    "Other" is anything but this process and ``pids`` (the server, the generator's workers).
    This machine may be shared with other benchmarks; a run that starts while they are busy
    measures them too. Returns a note when the machine never became quiet.
    """
    if wait <= 0:
        return None
    pids = list(pids)
    deadline = time.perf_counter() + wait
    share = await other_cpu_share(pids)
    while share > quiet and time.perf_counter() < deadline:
        print(f"  (other processes use {share * 100:.0f}% of a core; waiting)", flush=True)
        await asyncio.sleep(5)
        share = await other_cpu_share(pids)
    if share > quiet:
        return f"started while other processes used {share * 100:.0f}% of a core"
    return None
