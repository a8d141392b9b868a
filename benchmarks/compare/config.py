"""Sizes and settings of a comparison: the defaults of a full run, and the ``--quick`` ones."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ..fanout import FanoutConfig
from ..join import parse_size
from ..loadgen.settings import LoadSettings


@dataclass(kw_only=True)
class CompareConfig(LoadSettings):
    contenders: list[str]
    workloads: list[str]
    # (a) fan-out at a fixed rate (``duration``, ``warmup`` and the generator's settings are
    # LoadSettings')
    #: Every workload runs this many times against every server, rounds interleaved; each
    #: figure is the median of its rounds (loopback latency tails on a shared 2-core VM vary
    #: by tens of percent between identical runs).
    rounds: int = 1
    subscribers: list[int] = field(default_factory=lambda: [10, 100, 500, 1000])
    rate: float = 20.0
    duration: float = 6.0
    # (a) the highest rate with p99 <= search_p99 at search_subscribers
    search_subscribers: int = 100
    search_p99: float = 100.0
    search_start: float = 100.0
    search_max: float = 3200.0
    search_min: float = 5.0
    search_steps: int = 2
    search_duration: float = 3.0
    search_drain: float = 3.0
    # (b) many rooms
    rooms: int = 500
    rooms_rate: float = 1.0
    rooms_duration: float = 10.0
    # (c) join
    join_sizes: list[int] = field(default_factory=lambda: [parse_size("1MB"), parse_size("10MB")])
    join_clients: int = 5
    # (d) memory
    memory_connections: int = 1000
    memory_rooms: int = 500
    # (e) awareness storm
    awareness_clients: int = 50
    awareness_hz: float = 10.0
    awareness_duration: float = 10.0
    awareness_drain: float = 1.0
    # (f) events
    events_subscribers: int = 100
    events_rate: float = 100.0
    events_duration: float = 10.0
    # the runs
    settle: float = 1.0
    quiet_wait: float = 60.0
    quiet_cpu: float = 0.15
    server_args: list[str] = field(default_factory=list)
    #: ``--profile``: py-spy the Python servers into this directory.
    profile_dir: str | None = None
    profile_rate: int = 200

    def fanout(self, **changes: Any) -> FanoutConfig:
        """The fan-out benchmark's configuration: this run's generator settings, N values and
        fixed rate, and ``changes``."""
        shared = {f.name: getattr(self, f.name) for f in fields(LoadSettings)}
        return FanoutConfig(
            **{**shared, "subscribers": self.subscribers, "rates": [self.rate], **changes}
        )


#: What ``--quick`` changes: small sizes and short phases, a smoke run of every workload in a
#: few minutes. Options given on the command line still win.
QUICK = {
    "subscribers": [10, 50],
    "duration": 3.0,
    "search_subscribers": 20,
    "search_max": 400.0,
    "search_steps": 1,
    "search_duration": 2.0,
    "search_drain": 2.0,
    "rooms": 20,
    "rooms_duration": 3.0,
    "join_sizes": [parse_size("200KB")],
    "join_clients": 2,
    "memory_connections": 100,
    "memory_rooms": 50,
    "awareness_clients": 10,
    "awareness_duration": 3.0,
    "events_subscribers": 20,
    "events_rate": 50.0,
    "events_duration": 3.0,
    "drain_timeout": 5.0,
    "quiet_wait": 0.0,
}
