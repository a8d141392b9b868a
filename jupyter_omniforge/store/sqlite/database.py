"""An async facade over one SQLite connection owned by one dedicated thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ...backoff import Backoff

T = TypeVar("T")

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


class DatabaseClosedError(RuntimeError):
    """The database is not open: `start()` was not awaited yet, or `close()` was."""


class Database:
    """One SQLite file, one connection, one thread.

    Every piece of database work runs, one job at a time and in submission order, on a single
    worker thread that owns the connection, so the event loop never blocks on SQLite and no
    two jobs ever interleave. Several modules may share one `Database`: each creates its own
    tables with `migrate()` and works on them with `run()`.

    The connection uses WAL journaling, so other processes (or a second plain `sqlite3`
    connection) can read the file while we write.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        busy_timeout: float = 5.0,
        log: logging.Logger | None = None,
    ) -> None:
        """`synchronous` is SQLite's `PRAGMA synchronous`: with WAL, "NORMAL" survives a killed
        process but may lose the last commits on power loss; "FULL" (default) survives both.
        `busy_timeout` is how many seconds a write waits for another process's lock."""
        synchronous = synchronous.upper()
        if synchronous not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS_MODES}, not {synchronous!r}")
        self._path = Path(path)
        self._synchronous = synchronous
        self._busy_timeout = busy_timeout
        self._log = log or logging.getLogger(__name__)
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        # Written by one thread each (submitted: the event loop, finished: the DB thread), so
        # reading their difference needs no lock.
        self._submitted = 0
        self._finished = 0

    @property
    def path(self) -> Path:
        return self._path

    @property
    def is_open(self) -> bool:
        return self._executor is not None and not self._closed

    @property
    def pending_jobs(self) -> int:
        """Jobs submitted to the DB thread that have not finished yet (queued or running)."""
        return self._submitted - self._finished

    async def start(self) -> None:
        """Create the parent directories, open the file and configure the connection.

        Idempotent while open. A closed `Database` cannot be started again; make a new one."""
        if self._closed:
            raise DatabaseClosedError(f"{self._path} was closed")
        if self._executor is not None:
            return
        executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="omniforge-sqlite"
        )
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._open)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        self._executor = executor
        self._log.debug("Opened SQLite database %s", self._path)

    async def close(self) -> None:
        """Wait for the jobs already submitted, close the connection and stop the thread.

        Idempotent. After `close()`, `run()` raises `DatabaseClosedError`."""
        if self._closed:
            return
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is None:
            return
        try:
            # Queued behind every job already submitted, so those finish first.
            await asyncio.get_running_loop().run_in_executor(executor, self._close_connection)
        finally:
            executor.shutdown(wait=False)
        self._log.debug("Closed SQLite database %s", self._path)

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue `fn(connection)` to run in one transaction, as `run()` does, and return a
        future of its result without waiting.

        Call from the event loop. Jobs run in the order they were submitted, so a job submitted
        by a synchronous caller is ordered before anything submitted after it returns.
        Cancelling the future does not stop the job: it still runs to its commit or rollback."""
        return self._submit(self._transact, fn)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(connection)` on the DB thread inside one transaction and return its result.

        The transaction commits if `fn` returns and rolls back if it raises; the exception is
        re-raised here. Jobs run one at a time in the order they were submitted (`run()` submits
        before its first suspension). `fn` must not commit, roll back or keep the connection.
        Cancelling the caller does not stop `fn`: it still runs to its commit or rollback."""
        return await self.submit(fn)

    async def migrate(self, script: str) -> None:
        """Run an SQL script (several statements) in one transaction, e.g. to create tables.

        Meant to be called by each module at start-up with idempotent statements
        (`CREATE TABLE IF NOT EXISTS ...`). On error nothing of the script is applied."""
        if not sqlite3.complete_statement(script):
            raise ValueError("the migration script does not end with a complete statement")
        await self.run_without_transaction(lambda conn: _run_script(conn, script))

    async def run_without_transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Like `run()` but `fn` manages transactions itself (needed for scripts and PRAGMAs
        that SQLite refuses inside a transaction)."""
        return await self._submit(self._call, fn)

    def _submit(
        self,
        runner: Callable[[Callable[[sqlite3.Connection], T]], T],
        fn: Callable[[sqlite3.Connection], T],
    ) -> asyncio.Future[T]:
        executor = self._executor
        if executor is None or self._closed:
            raise DatabaseClosedError(f"{self._path} is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def report(job: concurrent.futures.Future[T]) -> None:  # on the DB thread
            try:
                loop.call_soon_threadsafe(_settle, future, job)
            except RuntimeError:
                pass  # the loop is closed; nobody is waiting any more

        # Not asyncio.wrap_future: cancelling that would cancel a job still queued.
        self._submitted += 1
        executor.submit(runner, fn).add_done_callback(report)
        return future

    # --- on the DB thread only ---

    def _open(self) -> None:
        # Rooms and events are private to the server's user: the directory we create is 0700,
        # and the file is created 0600 before SQLite opens it (its -wal and -shm files take
        # the database file's permissions).
        if not self._path.parent.exists():
            self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600))
        # isolation_level=None: the sqlite3 module never opens transactions behind our back;
        # _transact issues BEGIN/COMMIT/ROLLBACK explicitly.
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=self._busy_timeout)
        try:
            mode = self._enable_wal(conn)
            if mode.lower() != "wal":
                raise sqlite3.OperationalError(f"could not enable WAL on {self._path}: {mode}")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _enable_wal(self, conn: sqlite3.Connection) -> str:
        """Switch to WAL, waiting up to `busy_timeout` for other processes doing the same.

        Leaving a rollback journal needs an exclusive lock. When two connections read the file
        and then both ask for it, SQLite breaks the deadlock by failing one of them at once
        with "database is locked", without calling the busy handler; so we retry here."""
        deadline = time.monotonic() + self._busy_timeout
        # Jittered, so that servers starting together on one file do not collide again in step.
        backoff = Backoff(0.005, 0.1)
        while True:
            try:
                return conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            except sqlite3.OperationalError as error:
                pause = backoff.delay()
                if "locked" not in str(error) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)  # on the database's own thread

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _transact(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            conn = self._connection()
            # IMMEDIATE takes the write lock up front, so busy_timeout applies to it instead
            # of failing later on a read-to-write upgrade if another process writes.
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result
        finally:
            self._finished += 1

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return fn(self._connection())
        finally:
            self._finished += 1

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise DatabaseClosedError(f"{self._path} is not open")
        return self._conn


def _settle(future: asyncio.Future[T], job: concurrent.futures.Future[T]) -> None:
    if future.cancelled():
        return
    error = job.exception()
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(job.result())


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would commit a statement at a time; wrap the script in one transaction.
    try:
        conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nCOMMIT;")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
