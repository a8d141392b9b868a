"""CPU meters: this process (``time.process_time``) and any other pid (``/proc/PID/stat``)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_times(pid: int) -> tuple[float, float] | None:
    """(user, system) CPU seconds of ``pid``, all its threads (Linux ``/proc``), or None if it
    is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; fields after it start past the last ')'.
    fields = stat[stat.rindex(b")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return utime / _CLK_TCK, stime / _CLK_TCK


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (Linux ``/proc``), or None if it is gone."""
    times = proc_cpu_times(pid)
    return None if times is None else times[0] + times[1]


@dataclass
class CpuShare:
    """CPU seconds used over a wall-clock window; ``share`` is in units of one core (1.0 = 100%)."""

    cpu_s: float
    wall_s: float

    @property
    def share(self) -> float:
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0


class CpuMeter:
    """Measures one process's CPU between :meth:`start` and :meth:`stop`.

    ``pid=None`` means this process. A process that vanished mid-window reports what was read
    before it went away.
    """

    def __init__(self, pid: int | None = None) -> None:
        self.pid = pid
        self._cpu0 = 0.0
        self._wall0 = 0.0

    def _read(self) -> float:
        if self.pid is None:
            return time.process_time()
        value = proc_cpu_seconds(self.pid)
        return value if value is not None else self._cpu0

    def start(self) -> None:
        self._wall0 = time.perf_counter()
        self._cpu0 = self._read()

    def stop(self) -> CpuShare:
        return CpuShare(self._read() - self._cpu0, time.perf_counter() - self._wall0)
