"""How the load generator runs a room benchmark: the settings fan-out, scale-out and the
side-by-side comparison share (each adds its own)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(kw_only=True)
class LoadSettings:
    #: Measured seconds per run, and warm-up seconds before it (at least 3 updates).
    duration: float = 10.0
    warmup: float = 1.0
    #: Characters per update (marker + padding).
    update_size: int = 32
    #: pycrdt clients checking convergence.
    full_clients: int = 3
    #: Worker processes for light subscribers.
    procs: int = 1
    connect_concurrency: int = 100
    #: Seconds per connection.
    connect_timeout: float = 30.0
    #: Seconds to wait for late deliveries and convergence after the last send.
    drain_timeout: float = 10.0
    #: The generator's event loop (``eventloop.LOOPS``).
    loop: str = "auto"
    #: Time arrivals by the kernel's receive timestamp (True) or when the generator read them.
    kernel_timestamps: bool = True
