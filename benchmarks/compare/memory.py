"""(d) Memory: server RSS per idle connection and per open room, each on a fresh server.

- ``conn-memory``: after a warm-up (a few connections opened and closed, so first-use costs are
  not charged to connections), N light subscribers join one room and stay idle; per connection
  = RSS growth ÷ N.
- ``room-memory``: after a warm-up room, R rooms are opened, each by one idle light subscriber
  (an empty document); per room = RSS growth ÷ R, which includes that connection — the table
  also shows it minus the per-connection figure of the same run.

RSS is read once it stopped moving (``loadgen.memory.settled_rss``). With Redis, redis-server's
growth is reported beside the server's (not in the figure).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..loadgen.memory import settled_rss
from ..loadgen.pool import SubscriberPool
from .config import CompareConfig
from .contenders import Running
from .outcome import LoadMeter, Outcome

COLUMNS = ["what", "count", "server RSS before MiB", "after MiB", "per item KiB", "helpers KiB"]
WARMUP_CONNECTIONS = 20
MiB = 1024 * 1024


def _record(
    out: Outcome,
    running: Running,
    what: str,
    key: str,
    count: int,
    before: list[int],
    after: list[int],
) -> None:
    """One row and the figure ``key`` (KiB per item) from RSS ``before`` and ``after``
    (server first, then ``running.helpers``)."""
    per = (after[0] - before[0]) / count / 1024
    helpers = ", ".join(
        f"{name} {(b - a) / count / 1024:+.1f}"
        for name, a, b in zip(running.helpers, before[1:], after[1:], strict=True)
    )
    out.rows.append(
        [
            what,
            str(count),
            f"{before[0] / MiB:.1f}",
            f"{after[0] / MiB:.1f}",
            f"{per:.1f}",
            helpers or "-",
        ]
    )
    out.figures[key] = per


async def _growth(
    out: Outcome,
    running: Running,
    pool: SubscriberPool,
    what: str,
    key: str,
    count: int,
    open_all: Callable[[], Awaitable[tuple[int, list[str]]]],
) -> None:
    """RSS before and after ``open_all()`` opened ``count`` items; figure ``key`` per item."""
    before = await settled_rss(running.pids)
    meter = LoadMeter(pool, running.pids)
    meter.start()
    failed, errors = await open_all()
    after = await settled_rss(running.pids)
    out.loads[f"{count} {what}"] = meter.stop()
    await pool.disconnect()
    if failed:
        out.problems.append(f"{failed} of {count} {what} failed, e.g. {errors[:2]}")
    else:
        _record(out, running, what, key, count, before, after)


async def connections(
    running: Running, pool: SubscriberPool, cfg: CompareConfig, run_id: str
) -> Outcome:
    out = Outcome("conn-memory", running.contender.key)
    n = cfg.memory_connections
    await running.subscribe(pool, cfg, f"idea:memwarm-{run_id}", WARMUP_CONNECTIONS)
    await pool.disconnect()
    room = f"idea:memconn-{run_id}"
    await _growth(
        out,
        running,
        pool,
        "idle connections in one room",
        "memory.conn",
        n,
        lambda: running.subscribe(pool, cfg, room, n),
    )
    return out


async def rooms(running: Running, pool: SubscriberPool, cfg: CompareConfig, run_id: str) -> Outcome:
    out = Outcome("room-memory", running.contender.key)
    r = cfg.memory_rooms
    await running.subscribe(pool, cfg, f"idea:memwarm-{run_id}", 1)

    async def open_rooms() -> tuple[int, list[str]]:
        failed, errors = 0, []
        # One worker request per room: pool requests are answered in order, one at a time.
        for i in range(r):
            f, e = await running.subscribe(pool, cfg, f"idea:memroom-{run_id}-{i}", 1)
            failed += f
            errors += e
        return failed, errors

    await _growth(
        out, running, pool, "rooms with one idle connection", "memory.room_conn", r, open_rooms
    )
    return out
