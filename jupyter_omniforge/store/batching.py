"""What every room store engine does the same way: the group-commit queue of appended updates
and the scheduling of compactions. An engine subclasses :class:`BatchingRoomStore` and supplies
only its I/O (send a batch, read and write a fold, load, delete, ...)."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from abc import abstractmethod
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ..backoff import Backoff
from ..metrics import METRICS
from .base import RoomStore, StoreClosedError, StoreWriteError
from .compaction import CorruptUpdateError, fold_updates

# Longest wait before retrying a failed group commit.
MAX_RETRY_DELAY = 5.0
# Updates one compaction may quarantine before it gives up on the room for now.
_MAX_QUARANTINED_PER_FOLD = 100

# (append id, room, update, author); ids grow by one per append and order the queue.
Entry = tuple[int, str, bytes, str]
# A row as an engine writes it: (room, update, created, author).
Row = tuple[str, bytes, float, str]


class BatchingRoomStore(RoomStore):
    """A `RoomStore` that group-commits appends and compacts rooms in the background.

    Appends queue in memory and, `commit_interval` seconds after the first one, the whole queue
    is written in one transaction. At most one commit is in flight; appends made meanwhile form
    the next batch, written once it finishes and their own `commit_interval` has passed. A
    commit that fails keeps its batch ahead of newer appends and is retried with a backoff of at
    most `MAX_RETRY_DELAY` seconds.

    A room is compacted (log folded into its snapshot, in a separate process) after
    `compact_idle` seconds without appends, or as soon as `compact_max_updates` updates were
    appended since its last compaction.

    The engine's I/O is the abstract methods below, plus :meth:`_send_batch`, which starts
    writing a batch and calls :meth:`_batch_finished` when it is done.
    """

    def __init__(
        self,
        *,
        commit_interval: float,
        relaxed_commit_interval: float,
        compact_idle: float,
        compact_max_updates: int,
        max_depth: int,
        log: logging.Logger,
    ) -> None:
        if commit_interval < 0 or compact_idle < 0 or compact_max_updates < 1:
            raise ValueError("intervals must be >= 0 and compact_max_updates >= 1")
        self._commit_interval = commit_interval
        self._relaxed_commit_interval = max(commit_interval, relaxed_commit_interval)
        self._compact_idle = compact_idle
        self._compact_max_updates = compact_max_updates
        self._max_depth = max_depth
        self._log = log

        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Future[None] | None = None

        # Group commit. Every entry in _in_flight has a smaller id than every entry in _pending.
        self._last_id = 0
        self._pending: list[Entry] = []
        self._in_flight: list[Entry] = []
        self._in_flight_done: asyncio.Future[BaseException | None] | None = None
        self._commit_timer: asyncio.TimerHandle | None = None
        self._pending_since = 0.0  # loop time of the oldest queued append
        first = min(max(commit_interval, 0.05) * 2, MAX_RETRY_DELAY)
        self._commit_backoff = Backoff(first, MAX_RETRY_DELAY, jitter=0)

        # Compaction, per room.
        self._since_compaction: dict[str, int] = {}
        self._last_append: dict[str, float] = {}
        self._idle_timers: dict[str, asyncio.TimerHandle] = {}
        self._compactions: dict[str, asyncio.Task[None]] = {}
        self._fold_pool: ProcessPoolExecutor | None = None

        self.commits = 0
        self.compactions = 0
        self.compaction_failures = 0
        self.quarantined = 0

    # --- the engine's I/O ---

    @abstractmethod
    async def _open_storage(self) -> None:
        """Open the database (and bring its schema up to date, where the engine does that)."""

    async def _close_storage(self) -> None:
        """Release what :meth:`_open_storage` opened, last thing on `close()`. Default: nothing
        (the database is someone else's to close)."""

    @abstractmethod
    def _send_batch(self, rows: list[Row]) -> None:
        """Start writing ``rows`` (the queued batch) in one transaction: move the queue in
        flight with :meth:`_take_batch` and, once the write is done, call
        :meth:`_batch_finished`. Called on the loop, nothing in flight."""

    @abstractmethod
    async def _fold_read(self, room: str) -> tuple[list[bytes], int, int] | None:
        """Snapshot and log of ``room`` to fold: (updates in the clear, last seq, rows), or None
        when the log is empty."""

    @abstractmethod
    async def _fold_write(self, room: str, snapshot: bytes, upto: int, count: int) -> int:
        """Replace the snapshot and the ``count`` log rows through ``upto``, unless they changed
        meanwhile (then write nothing); the rows folded."""

    @abstractmethod
    async def _quarantine_rows(self, room: str, update: bytes, reason: str) -> int:
        """Move the stored rows of ``room`` holding ``update`` aside; the rows moved."""

    @abstractmethod
    async def _persist_rows(
        self, room: str, rows: list[Row], marker: str, expected: str | None
    ) -> bool:
        """Insert ``rows`` and move the room's marker from ``expected`` to ``marker`` in one
        transaction, or nothing when the marker is not ``expected``."""

    @abstractmethod
    async def _marker_of(self, room: str) -> str | None:
        """The room's persisted marker."""

    @abstractmethod
    async def _rows(self, room: str) -> list[bytes]:
        """The room's snapshot and logged updates in the clear."""

    @abstractmethod
    async def _authored_rows(self, room: str) -> list[tuple[bytes, str]]:
        """As :meth:`_rows`, each with its author (the snapshot's: "")."""

    @abstractmethod
    async def _delete_rows(self, room: str) -> None:
        """Delete the room's stored rows and marker. Called once the room's queued entries and
        counters are dropped; a batch in flight may still hold some of its updates."""

    @abstractmethod
    async def _room_names(self) -> list[str]:
        """Names of the rooms with stored rows, sorted."""

    @abstractmethod
    async def _row_stats(self, room: str) -> dict[str, int]:
        """``log_updates``, ``log_bytes`` and ``snapshot_bytes`` of the room."""

    # --- what differs in how engines report (hooks with a default) ---

    def _batch_committed(self, batch: list[Entry]) -> None:
        """Called after a batch committed. Default: nothing."""

    def _batch_failed(self, batch: list[Entry], error: BaseException, delay: float) -> None:
        """Put a batch that failed back at the head of the queue and log it; retried in
        ``delay`` seconds."""
        self._pending[:0] = batch
        self._log.error(
            "Could not commit %d room updates, retrying in %.2f s",
            len(batch),
            delay,
            exc_info=error,
        )

    def _compaction_failed(self, room: str, error: Exception) -> None:
        """Called in the ``except`` of a background compaction that raised (a fold's own error
        is handled in :meth:`_compact`; this is one before it, e.g. the flush)."""
        self._log.exception("Compaction of room %r failed", room)

    # --- lifecycle ---

    async def start(self) -> None:
        if self._closing is not None:
            raise StoreClosedError("the store was closed")
        await self._open_storage()
        self._loop = asyncio.get_running_loop()

    async def close(self) -> None:
        if self._closing is not None:
            await asyncio.shield(self._closing)
            return
        self._closing = asyncio.get_running_loop().create_future()
        try:
            await self._shut_down()
        finally:
            self._closing.set_result(None)

    async def _shut_down(self) -> None:
        for timer in self._idle_timers.values():
            timer.cancel()
        self._idle_timers.clear()
        if self._loop is not None:
            try:
                await self.flush()
            except StoreWriteError:
                lost = len(self._pending) + len(self._in_flight)
                self._log.error("Closing the room store: %d updates could not be written", lost)
        if self._commit_timer is not None:
            self._commit_timer.cancel()
            self._commit_timer = None
        compactions = list(self._compactions.values())
        for task in compactions:
            task.cancel()
        # A cancelled compaction's DB job still runs to its commit or rollback, before the
        # database's close job.
        await asyncio.gather(*compactions, return_exceptions=True)
        if self._fold_pool is not None:
            self._fold_pool.shutdown(wait=False, cancel_futures=True)
            self._fold_pool = None
        await self._close_storage()

    def _folder(self) -> ProcessPoolExecutor:
        """The one-process pool compactions fold in (started on first use)."""
        if self._fold_pool is None:
            # "spawn": forking a process that runs threads (SQLite's, Tornado's) is unsafe.
            self._fold_pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
        return self._fold_pool

    def _require_running(self) -> None:
        if self._loop is None or self._closing is not None:
            raise StoreClosedError("the store is not running")

    # --- group commit ---

    def append(self, room: str, update: bytes, *, author: str = "", relaxed: bool = False) -> None:
        """Queue ``update`` for the next group commit, with the username that sent it.

        ``relaxed`` updates are durable elsewhere already (another instance applied them and
        Redis holds them), so they may wait ``relaxed_commit_interval`` for company: one commit
        per second instead of one per update. Any plain append ships them sooner."""
        self._require_running()
        assert self._loop is not None
        if not isinstance(update, bytes):
            update = bytes(update)  # the caller may reuse a bytearray or memoryview
        now = self._loop.time()
        if not self._pending:
            self._pending_since = now
        self._last_id += 1
        self._pending.append((self._last_id, room, update, author))
        if not self._in_flight:
            deadline = now + (self._relaxed_commit_interval if relaxed else self._commit_interval)
            if self._commit_timer is None or deadline < self._commit_timer.when():
                if self._commit_timer is not None:
                    self._commit_timer.cancel()
                self._commit_timer = self._loop.call_at(deadline, self._ship)
        self._count_appended(room, 1, now)

    async def flush(self) -> None:
        target = self._last_id
        while not self._committed_through(target):
            if not self._in_flight:
                self._ship()
            assert self._in_flight_done is not None
            error = await asyncio.shield(self._in_flight_done)
            if error is not None:
                raise StoreWriteError("could not commit appended updates") from error

    def _committed_through(self, append_id: int) -> bool:
        oldest = self._in_flight or self._pending
        return not oldest or oldest[0][0] > append_id

    def _ship(self) -> None:
        """Start writing the queued batch, unless a batch is already in flight."""
        if self._commit_timer is not None:
            self._commit_timer.cancel()
            self._commit_timer = None
        if self._in_flight or not self._pending:
            return
        now = time.time()
        self._send_batch([(room, data, now, author) for _, room, data, author in self._pending])

    def _take_batch(self, done: asyncio.Future[BaseException | None]) -> list[Entry]:
        """Move the queue in flight, ``done`` to be resolved by :meth:`_batch_finished`."""
        batch, self._pending = self._pending, []
        self._in_flight = batch
        self._in_flight_done = done
        return batch

    def _batch_finished(
        self, batch: list[Entry], shipped: float, error: BaseException | None
    ) -> None:
        done = self._in_flight_done
        assert done is not None and self._loop is not None
        self._in_flight = []
        if error is None:
            METRICS.commit_seconds.observe(time.monotonic() - shipped)
            self.commits += 1
            self._batch_committed(batch)
            self._commit_backoff.reset()
            if self._pending:
                # Appends that arrived during the commit wait out the rest of their window, so
                # a steady trickle still makes one commit per interval, not one per update.
                delay = self._pending_since + self._commit_interval - self._loop.time()
                if delay <= 0:
                    self._ship()
                elif self._commit_timer is None:
                    self._commit_timer = self._loop.call_later(delay, self._ship)
        else:
            delay = self._commit_backoff.delay()
            self._batch_failed(batch, error, delay)
            if self._commit_timer is None and self._closing is None:
                self._commit_timer = self._loop.call_later(delay, self._ship)
        done.set_result(error)

    # --- compaction ---

    def _count_appended(self, room: str, updates: int, now: float) -> None:
        """Count ``updates`` appended to ``room`` at loop time ``now``: compact by count, and
        when the room goes idle."""
        assert self._loop is not None
        count = self._since_compaction.get(room, 0) + updates
        self._since_compaction[room] = count
        self._last_append[room] = now
        if count >= self._compact_max_updates:
            self._start_compaction(room)
        if room not in self._idle_timers:
            self._idle_timers[room] = self._loop.call_later(
                self._compact_idle, self._check_idle, room
            )

    def _check_idle(self, room: str) -> None:
        del self._idle_timers[room]
        assert self._loop is not None
        if room not in self._last_append:
            return  # deleted
        remaining = self._last_append[room] + self._compact_idle - self._loop.time()
        if remaining > 0 or room in self._compactions:
            delay = remaining if remaining > 0 else self._compact_idle
            self._idle_timers[room] = self._loop.call_later(delay, self._check_idle, room)
            return
        # Idle: forget the room's timers and counters (they would pile up over many rooms).
        del self._last_append[room]
        if self._since_compaction.get(room, 0) > 0:
            self._start_compaction(room)
        else:
            self._since_compaction.pop(room, None)

    def _start_compaction(self, room: str) -> None:
        if room in self._compactions or self._closing is not None:
            return
        if self.defer_compaction is not None and self.defer_compaction(room):
            return  # the history compacts it once a version holds what would be folded
        assert self._loop is not None
        self._compactions[room] = self._loop.create_task(self._compact_in_background(room))

    async def _compact_in_background(self, room: str) -> None:
        try:
            await self._compact(room)
        except Exception as e:
            self._compaction_failed(room, e)
        finally:
            del self._compactions[room]
        count = self._since_compaction.get(room)
        if count == 0 and room not in self._idle_timers:
            del self._since_compaction[room]  # idle and folded: nothing left to track
        elif count is not None and count >= self._compact_max_updates:
            self._start_compaction(room)

    async def compact(self, room: str) -> None:
        self._require_running()
        await self._compact(room)

    async def _compact(self, room: str) -> None:
        if self.before_compaction is not None:
            try:
                await self.before_compaction(room)
            except Exception:
                self._log.exception(
                    "Before compacting room %r: the history checkpoint failed", room
                )
        await self.flush()
        # Everything appended until now is committed and gets folded; count from here.
        if room in self._since_compaction:
            self._since_compaction[room] = 0
        try:
            folded = await self._fold(room)
        except Exception:
            self.compaction_failures += 1
            self._log.exception(
                "Could not compact room %r; its stored updates are left as they were", room
            )
            return
        if folded:
            self.compactions += 1
            self._log.debug("Compacted room %r: folded %d logged updates", room, folded)

    async def _fold(self, room: str) -> int:
        """Fold the room's snapshot and log into a new snapshot; the logged rows folded.

        Read and write through the engine; fold in a separate process, so a large fold holds
        neither a database thread nor the GIL (every room's fan-out waits on that), and a stored
        row that would crash pycrdt crashes that process only. Rows that fail the gate are
        quarantined and the fold tried again without them.
        """
        for _ in range(_MAX_QUARANTINED_PER_FOLD):
            read = await self._fold_read(room)
            if read is None:
                return 0
            updates, upto, count = read
            try:
                snapshot = await asyncio.get_running_loop().run_in_executor(
                    self._folder(), fold_updates, updates, self._max_depth
                )
            except CorruptUpdateError as e:
                await self.quarantine(room, updates[e.index], e.reason or str(e))
                continue
            except BrokenProcessPool:
                self._fold_pool = None  # the next compaction starts a new one
                raise
            return await self._fold_write(room, snapshot, upto, count)
        raise CorruptUpdateError(-1, f"more than {_MAX_QUARANTINED_PER_FOLD} corrupt updates")

    async def quarantine(self, room: str, update: bytes, reason: str) -> None:
        self._require_running()
        await self.flush()
        moved = await self._quarantine_rows(room, update, reason)
        if moved:
            self.quarantined += moved
            self._log.error(
                "Quarantined %d stored update(s) of room %r (%d bytes): %s",
                moved,
                room,
                len(update) if isinstance(update, bytes) else -1,
                reason,
            )

    # --- persisting a shared stream ---

    async def persist(
        self, room: str, updates: list[tuple[bytes, str]], marker: str, *, expected: str | None
    ) -> bool:
        self._require_running()
        assert self._loop is not None
        now = time.time()
        rows = [(room, bytes(data), now, author) for data, author in updates]
        done = await self._persist_rows(room, rows, marker, expected)
        if done and rows:
            # Counted like appends: the log is folded by count, and when the room goes idle.
            self._count_appended(room, len(rows), self._loop.time())
        return done

    async def persisted_marker(self, room: str) -> str | None:
        self._require_running()
        return await self._marker_of(room)

    # --- reading and forgetting ---

    async def load(self, room: str) -> list[bytes]:
        self._require_running()
        await self.flush()
        return await self._rows(room)

    async def load_authored(self, room: str) -> list[tuple[bytes, str]]:
        self._require_running()
        await self.flush()
        return await self._authored_rows(room)

    async def delete(self, room: str) -> None:
        self._require_running()
        self._pending = [entry for entry in self._pending if entry[1] != room]
        timer = self._idle_timers.pop(room, None)
        if timer is not None:
            timer.cancel()
        self._since_compaction.pop(room, None)
        self._last_append.pop(room, None)
        await self._delete_rows(room)

    async def stored_rooms(self) -> list[str]:
        self._require_running()
        await self.flush()
        return await self._room_names()

    async def stats(self, room: str) -> dict[str, int]:
        self._require_running()
        stats = await self._row_stats(room)
        stats["pending_updates"] = sum(
            1 for entry in (*self._in_flight, *self._pending) if entry[1] == room
        )
        return stats
