"""The servers compared: how to start each one on loopback, and what it is called in the tables."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..loadgen.pool import SubscriberPool
from ..loadgen.servers import (
    ServerProcess,
    ServerUnderTest,
    SpawnedHocuspocus,
    SpawnedJupyterServer,
    SpawnedJupyterYdoc,
    SpawnedOmniforge,
    SpawnedRedis,
    SpawnedYWebsocket,
)
from ..loadgen.yprotocol import MSG_SYNC

if TYPE_CHECKING:
    from .config import CompareConfig

#: Arguments every omniforge instance of a comparison gets. The per-connection message-rate
#: limit (500/s sustained, a burst of 2000) protects a real deployment from a runaway client;
#: the rate search's one writer legitimately sends faster, and no peer has such a limit.
OMNIFORGE_ARGS = (
    "--OmniForgeApp.max_messages_per_second=1000000",
    "--OmniForgeApp.max_message_burst=1000000",
)

#: A checkout of an earlier commit (``git worktree add /tmp/base COMMIT``) that the
#: ``omniforge-baseline`` contender runs, to measure a change before/after in one run.
BASELINE_ENV = "OMNIFORGE_BASELINE"
#: More ``jupyter server`` arguments for the ``omniforge-variant`` contender (space-separated),
#: to measure a setting's cost in one run: ``OMNIFORGE_VARIANT_ARGS=--OmniForgeApp.x=y``.
VARIANT_ENV = "OMNIFORGE_VARIANT_ARGS"
#: The token its clients use (default: a random Jupyter token, i.e. the owner). A room-scoped
#: token here makes every load-generator connection a user the room policy decides for.
VARIANT_TOKEN_ENV = "OMNIFORGE_VARIANT_TOKEN"


@dataclass(frozen=True)
class Contender:
    """One server of the comparison."""

    key: str
    #: Column title in the tables and the plot.
    title: str
    #: Ours (compared with the best peer) or a peer.
    ours: bool
    make: Callable[[Sequence[str]], ServerProcess]
    #: Runs next to the server and counts with it (memory, CPU): a Redis.
    redis: bool = False
    #: Serves an event stream of its own (workload f), and how it is driven there.
    events: str | None = None
    #: Why it has no event stream, for the results.
    no_events: str = ""


CONTENDERS = {
    c.key: c
    for c in (
        Contender(
            "y-websocket",
            "y-websocket",
            ours=False,
            make=lambda args: SpawnedYWebsocket(),
            no_events="the reference server relays Yjs documents and awareness only",
        ),
        Contender(
            "hocuspocus",
            "Hocuspocus",
            ours=False,
            make=lambda args: SpawnedHocuspocus(),
            events="stateless",
        ),
        Contender(
            "ydoc",
            "jupyter-server-ydoc",
            ours=False,
            make=lambda args: SpawnedJupyterYdoc(),
            no_events="its rooms have no event stream (jupyter_events has no client-facing "
            "subscription)",
        ),
        Contender(
            "omniforge",
            "omniforge",
            ours=True,
            make=lambda args: SpawnedOmniforge(extra_args=(*OMNIFORGE_ARGS, *args)),
            events="gateway",
        ),
        Contender(
            "omniforge-baseline",
            "omniforge (baseline)",
            ours=True,
            make=lambda args: SpawnedOmniforge(
                extra_args=(*OMNIFORGE_ARGS, *args), pythonpath=_baseline()
            ),
            events="gateway",
        ),
        Contender(
            "omniforge-variant",
            "omniforge (variant)",
            ours=True,
            make=lambda args: SpawnedOmniforge(
                extra_args=(*OMNIFORGE_ARGS, *args, *os.environ.get(VARIANT_ENV, "").split()),
                token=os.environ.get(VARIANT_TOKEN_ENV) or None,
            ),
            events="gateway",
        ),
        Contender(
            "omniforge-redis",
            "omniforge+Redis",
            ours=True,
            make=lambda args: SpawnedOmniforge(extra_args=(*OMNIFORGE_ARGS, *args)),
            redis=True,
            events="gateway",
        ),
    )
}


def _baseline() -> str:
    path = os.environ.get(BASELINE_ENV)
    if not path or not Path(path, "jupyter_omniforge").is_dir():
        raise RuntimeError(
            f"omniforge-baseline runs the checkout named by {BASELINE_ENV} "
            "(git worktree add /tmp/base COMMIT)"
        )
    return path


@dataclass
class Running:
    """A started contender: the server under test and what else a workload may need."""

    contender: Contender
    server: ServerUnderTest
    #: ``http://127.0.0.1:PORT/`` and the token of a Jupyter server (the events API), else None.
    http_base: str | None = None
    token: str = ""
    #: Processes that count with the server (redis-server), by name.
    helpers: dict[str, int] = field(default_factory=dict)
    #: The spawner: once stopped, whether it had to be killed (``killed``).
    process: ServerProcess | None = None

    @property
    def pids(self) -> list[int]:
        """The server's pid and its helpers'."""
        return [p for p in (self.server.pid, *self.helpers.values()) if p]

    async def subscribe(
        self,
        pool: SubscriberPool,
        cfg: CompareConfig,
        room: str,
        n: int,
        timed: Sequence[int] = (MSG_SYNC,),
    ) -> tuple[int, list[str]]:
        """Connect ``n`` light subscribers of the pool to ``room``, framed for this server;
        (failed, a few errors)."""
        _, failed, errors, _ = await pool.connect(
            self.server.url(room),
            n,
            cfg.connect_concurrency,
            cfg.connect_timeout,
            cfg.kernel_timestamps,
            framing=self.server.protocol,
            document=room,
            timed=timed,
        )
        return failed, errors


@asynccontextmanager
async def start(contender: Contender, server_args: Sequence[str] = ()) -> AsyncIterator[Running]:
    """Start ``contender`` (and its Redis) fresh; stop everything on leaving.

    ``server_args`` are extra ``jupyter server`` arguments for ours. Raises RuntimeError (with
    the log's tail) if a process never became ready.
    """
    async with AsyncExitStack() as stack:
        args = list(server_args)
        helpers: dict[str, int] = {}
        if contender.redis:
            redis = await stack.enter_async_context(SpawnedRedis())
            args.append(f"--OmniForgeApp.redis_url={redis.url}")
            assert redis.pid is not None
            helpers["redis-server"] = redis.pid
        spawner = contender.make(args)
        server = await stack.enter_async_context(spawner)
        running = Running(contender, server, helpers=helpers, process=spawner)
        if isinstance(spawner, SpawnedJupyterServer):
            running.http_base = f"http://127.0.0.1:{spawner.port}/"
            running.token = spawner.token
        yield running
