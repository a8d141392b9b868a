"""An async pool of PostgreSQL connections, and the one way the store's parts use it."""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

T = TypeVar("T")


class DatabaseClosedError(RuntimeError):
    """The pool is not open: ``start()`` was not awaited yet, or ``close()`` was."""


def describe(url: str) -> str:
    """Where ``url`` points, for a log line: never its password."""
    try:
        info = conninfo_to_dict(url)
    except Exception:
        return "a PostgreSQL database (its URL does not parse)"
    host = info.get("host") or "localhost"
    port = info.get("port") or "5432"
    where = f"{host}:{port}" if not str(host).startswith("/") else f"{host} (port {port})"
    user = f" as {info['user']}" if info.get("user") else ""
    return f"PostgreSQL database {info.get('dbname') or '(default)'} on {where}{user}"


class Database:
    """A pool of connections to one PostgreSQL database (psycopg 3, ``AsyncConnectionPool``).

    Every piece of work runs in one transaction on a connection borrowed for it
    (:meth:`run`): it commits if the function returns and rolls back if it raises. A connection
    that broke (the server restarted) is checked and replaced before it is lent again, so work
    after an outage needs no special care: it fails while the server is away and succeeds once
    it is back. Several parts of the store share one ``Database``.
    """

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 4,
        timeout: float = 5.0,
        log: logging.Logger | None = None,
    ) -> None:
        """``timeout``: seconds to wait for a connection (at start, and for each job) before
        the work fails; it is then retried by whoever asked (a group commit, a reconnect)."""
        self.url = url
        self.timeout = timeout
        self._log = log or logging.getLogger(__name__)
        self._pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            open=False,
            kwargs={"autocommit": True},
            check=self._check,
            reset=self._returned,
            # Keep trying to refill the pool while the server is away (5 min by default).
            reconnect_timeout=24 * 3600,
            name="omniforge",
        )
        self._opened = False
        self._closed = False
        # When each pooled connection was last given back (loop time), for _check.
        self._last_used: weakref.WeakKeyDictionary[AsyncConnection, float] = (
            weakref.WeakKeyDictionary()
        )

    #: A connection idle longer than this is checked (one empty query) before it is lent:
    #: after a restart of the server, pooled connections are dead and are replaced there.
    CHECK_AFTER_IDLE = 1.0

    async def _returned(self, conn: AsyncConnection) -> None:
        self._last_used[conn] = time.monotonic()

    async def _check(self, conn: AsyncConnection) -> None:
        # A connection used a moment ago is alive (or its job fails and is retried): skip the
        # round trip, which would otherwise precede every group commit.
        if time.monotonic() - self._last_used.get(conn, 0.0) < self.CHECK_AFTER_IDLE:
            return
        await AsyncConnectionPool.check_connection(conn)

    @property
    def description(self) -> str:
        return describe(self.url)

    async def start(self) -> None:
        """Open the pool and wait for a connection (``timeout`` at most): raises when the
        server does not answer, and may be called again (the pool keeps connecting in the
        background meanwhile), so a server started while its database is away becomes
        ready once it is back."""
        if self._closed:
            raise DatabaseClosedError("the database pool was closed")
        if not self._opened:
            # Not open(wait=True): a pool that times out there is closed for good.
            await self._pool.open(wait=False)
            self._opened = True
        async with self._pool.connection(timeout=self.timeout):
            pass

    async def close(self) -> None:
        """Close the pool. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection of the pool (autocommit: open a transaction with ``transaction()``)."""
        if not self._opened or self._closed:
            raise DatabaseClosedError("the database pool is not open")
        async with self._pool.connection() as conn:
            yield conn

    async def run(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``await fn(connection)`` inside one transaction; its result."""
        async with self.connection() as conn, conn.transaction():
            return await fn(conn)

    async def read(self, fn: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``await fn(connection)`` outside a transaction (no BEGIN and COMMIT round trips):
        for one statement, which sees one view of the database by itself."""
        async with self.connection() as conn:
            return await fn(conn)

    async def ping(self, timeout: float = 2.0) -> None:
        """Raise unless the server answers a query within ``timeout`` seconds."""
        if not self._opened or self._closed:
            raise DatabaseClosedError("the database pool is not open")
        async with self._pool.connection(timeout=timeout) as conn:
            await conn.execute("SELECT 1")
