"""(f) Events: one emitter → N subscribers at a fixed rate; events/s delivered and p99.

- omniforge (both): its own event stream — ``benchmarks.events``'s live run: N clients of
  ``omniforge/realtime`` subscribed to ``build:*``, events POSTed to ``omniforge/api/events``;
  every subscriber must get every event once, in order.
- Hocuspocus: its application-event mechanism, *stateless* messages: the emitter sends one on a
  document (``MSG_STATELESS``), the peer server's ``onStateless`` hook broadcasts it to the
  document's connections; the fan-out machinery times them (``FanoutConfig.sender``); every
  subscriber must get every one.
- y-websocket and jupyter-server-ydoc have no event stream: skipped, with the reason.
"""

from __future__ import annotations

from .. import events as stream
from ..loadgen.pool import SubscriberPool
from .config import CompareConfig
from .contenders import Running
from .fanout import problems, run_metered
from .outcome import Load, Outcome

COLUMNS = [
    "mechanism",
    "N",
    "events/s sent",
    "p50 ms",
    "p99 ms",
    "max ms",
    "deliveries/s",
    "delivered/expected",
]


async def run(running: Running, pool: SubscriberPool, cfg: CompareConfig, run_id: str) -> Outcome:
    contender = running.contender
    out = Outcome("events", contender.key)
    n, rate = cfg.events_subscribers, cfg.events_rate
    if contender.events == "stateless":
        fcfg = cfg.fanout(
            duration=cfg.events_duration, sender="stateless", room_prefix="idea:events"
        )
        r, out.loads["events"] = await run_metered(running, pool, fcfg, n, rate, run_id)
        lat, dps, delivered, expected = r.latency_ms, r.deliveries_per_s, r.delivered, r.expected
        bad = problems(r)
        mechanism = "stateless messages, onStateless → broadcastStateless"
    elif contender.events == "gateway":
        assert running.http_base is not None
        args = stream.parse_args(
            [
                *("--url", running.http_base, "--token", running.token),
                *("--subscribers", str(n), "--rate", f"{rate:g}"),
                *("--duration", f"{cfg.events_duration:g}", "--warmup", f"{cfg.warmup:g}"),
                *("--drain-timeout", f"{cfg.drain_timeout:g}", "--replay", "0"),
                *("--connect-timeout", f"{cfg.connect_timeout:g}", "--quiet-wait", "0"),
                *("--timestamps", "kernel" if cfg.kernel_timestamps else "read"),
            ]
        )
        args.run_id = run_id
        server = stream.Server(
            running.http_base, running.token, running.server.label, running.server.pid
        )
        live = await stream.live_run(server, n, rate, args)
        assert live.latency_ms is not None
        lat, dps, delivered, expected = (
            live.latency_ms,
            live.deliveries_per_s,
            live.delivered,
            live.expected,
        )
        out.loads["events"] = Load(
            [live.gen_cpu.share] if live.gen_cpu else [],
            live.server_cpu.share if live.server_cpu else float("nan"),
            live.other_cpu,
        )
        bad = [] if live.ok else [_live_problem(live)]
        mechanism = "gateway omniforge/realtime, POST omniforge/api/events"
    else:
        out.skipped = contender.no_events
        return out
    out.rows.append(
        [
            mechanism,
            str(n),
            f"{rate:g}",
            f"{lat.p50:.1f}",
            f"{lat.p99:.1f}",
            f"{lat.max:.1f}",
            f"{dps:,.0f}",
            f"{delivered}/{expected}",
        ]
    )
    if bad:
        out.problems += bad
    else:
        out.figures["events.p99"] = lat.p99
        out.figures["events.dps"] = dps
    return out


def _live_problem(live: stream.LiveResult) -> str:
    return (
        f"connected {live.connected}/{live.n}, lost {live.lost}, duplicates {live.duplicates}, "
        f"out of order {live.out_of_order}, resets {live.resets}, emit errors "
        f"{len(live.emit_errors)}"
    )
