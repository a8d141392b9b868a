"""(c) Join: time for a fresh client to sync a room holding a 1 MB / 10 MB document —
``benchmarks.join`` itself, once per size (fresh clients one after another, each checked to
hold the whole text)."""

from __future__ import annotations

from ..join import JoinConfig, run_one, size_label
from ..loadgen.pool import SubscriberPool
from .config import CompareConfig
from .contenders import Running
from .outcome import Load, Outcome

COLUMNS = [
    "size",
    "step 2 bytes",
    "fill (s)",
    "joined p50 ms",
    "joined max ms",
    "step 2 received p50 ms",
    "content OK",
]


async def run(running: Running, pool: SubscriberPool, cfg: CompareConfig, run_id: str) -> Outcome:
    out = Outcome("join", running.contender.key)
    jcfg = JoinConfig(
        sizes=cfg.join_sizes,
        clients=cfg.join_clients,
        timeout=max(120.0, cfg.connect_timeout),
        room_prefix="idea:join",
        loop=cfg.loop,
    )
    for size in cfg.join_sizes:
        label = size_label(size)
        r = await run_one(running.server, jcfg, size, run_id)
        out.loads[f"{label} joins"] = Load.of(r.gen_cpu, [], r.server_cpu)
        out.rows.append(
            [
                label,
                f"{r.step2_bytes:,}",
                f"{r.fill_s:.2f}",
                f"{r.joined_ms.p50:.1f}",
                f"{r.joined_ms.max:.1f}",
                f"{r.received_ms.p50:.1f}",
                f"{r.content_ok}/{r.clients}",
            ]
        )
        if not r.ok:
            out.problems.append(f"{label}: {'; '.join(r.errors[:2]) or 'content incomplete'}")
            continue
        out.figures[f"join.{size}"] = r.joined_ms.p50
    return out
