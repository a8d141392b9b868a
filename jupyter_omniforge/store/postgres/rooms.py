"""The room store on PostgreSQL: an update log and one snapshot per room, shared by every
instance that uses the database."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial

from psycopg import AsyncConnection

from ...backoff import Backoff
from ...metrics import METRICS
from ...updates import MAX_DEPTH
from ..base import RoomStore, StoreClosedError, StoreWriteError
from ..compaction import CorruptUpdateError, fold_updates
from ..crypto import Cipher, CipherError
from ..sqlite.sealing import AD_VERSION, snapshot_ad, update_ad
from .database import Database

# Longest wait before retrying a failed group commit.
MAX_RETRY_DELAY = 5.0
# Updates one compaction may quarantine before it gives up on the room for now.
_MAX_QUARANTINED_PER_FOLD = 100

# (append id, room, update, author); ids grow by one per append and order the queue.
_Entry = tuple[int, str, bytes, str]


class PostgresRoomStore(RoomStore):
    """`RoomStore` on a PostgreSQL :class:`Database`, with the SQLite store's semantics.

    Appends are group-committed: they queue in memory and, `commit_interval` seconds after the
    first one, the whole queue is written in one transaction. At most one commit is in flight;
    appends made meanwhile form the next batch. A commit that fails (the server is restarting,
    unreachable) keeps its batch ahead of newer appends and is retried with a backoff of at most
    `MAX_RETRY_DELAY` seconds, so nothing appended is lost while PostgreSQL is away:
    :attr:`healthy` is False meanwhile.

    A room is compacted after `compact_idle` seconds without appends, or once
    `compact_max_updates` updates were appended since its last compaction. Several instances
    may compact one room at once: each folds what it read, and the write keeps the first
    (a fold whose rows were folded by someone else meanwhile writes nothing).

    Counters for tests and monitoring: `commits`, `compactions`, `compaction_failures`,
    `quarantined`.
    """

    #: Every instance naming the database reads the same rooms.
    shared = True

    def __init__(
        self,
        database: Database,
        *,
        commit_interval: float = 0.005,
        relaxed_commit_interval: float = 1.0,
        compact_idle: float = 5.0,
        compact_max_updates: int = 1000,
        max_depth: int = MAX_DEPTH,
        cipher: Cipher | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        if commit_interval < 0 or compact_idle < 0 or compact_max_updates < 1:
            raise ValueError("intervals must be >= 0 and compact_max_updates >= 1")
        self._db = database
        self._commit_interval = commit_interval
        self._relaxed_commit_interval = max(commit_interval, relaxed_commit_interval)
        self._compact_idle = compact_idle
        self._compact_max_updates = compact_max_updates
        self._max_depth = max_depth
        self._cipher = cipher
        self._log = log or logging.getLogger(__name__)

        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Future[None] | None = None

        # Group commit. Every entry in _in_flight has a smaller id than every entry in _pending.
        self._last_id = 0
        self._pending: list[_Entry] = []
        self._in_flight: list[_Entry] = []
        self._in_flight_done: asyncio.Future[BaseException | None] | None = None
        self._commit_task: asyncio.Task[None] | None = None
        self._commit_timer: asyncio.TimerHandle | None = None
        self._pending_since = 0.0
        first = min(max(commit_interval, 0.05) * 2, MAX_RETRY_DELAY)
        self._commit_backoff = Backoff(first, MAX_RETRY_DELAY, jitter=0)
        #: The last group commit failed (the database is away); cleared by the next success.
        self.commit_error: BaseException | None = None

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

    @property
    def healthy(self) -> bool:
        """False while appended updates cannot be committed (they stay queued)."""
        return self.commit_error is None

    # --- lifecycle ---

    async def start(self) -> None:
        if self._closing is not None:
            raise StoreClosedError("the store was closed")
        await self._db.start()
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
        await asyncio.gather(*compactions, return_exceptions=True)
        if self._fold_pool is not None:
            self._fold_pool.shutdown(wait=False, cancel_futures=True)
            self._fold_pool = None

    def _folder(self) -> ProcessPoolExecutor:
        """The one-process pool compactions fold in (started on first use)."""
        if self._fold_pool is None:
            self._fold_pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
        return self._fold_pool

    def _require_running(self) -> None:
        if self._loop is None or self._closing is not None:
            raise StoreClosedError("the store is not running")

    # --- group commit ---

    def append(self, room: str, update: bytes, *, author: str = "", relaxed: bool = False) -> None:
        """Queue ``update`` for the next group commit (see :class:`RoomStore`)."""
        self._require_running()
        assert self._loop is not None
        if not isinstance(update, bytes):
            update = bytes(update)
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

        count = self._since_compaction.get(room, 0) + 1
        self._since_compaction[room] = count
        self._last_append[room] = now
        if count >= self._compact_max_updates:
            self._start_compaction(room)
        if room not in self._idle_timers:
            self._idle_timers[room] = self._loop.call_later(
                self._compact_idle, self._check_idle, room
            )

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
        assert self._loop is not None
        now = time.time()
        rows = [(room, data, now, author) for _, room, data, author in self._pending]
        batch, self._pending = self._pending, []
        self._in_flight = batch
        self._in_flight_done = self._loop.create_future()
        self._commit_task = self._loop.create_task(self._write_batch(batch, rows))

    async def _write_batch(self, batch: list[_Entry], rows: list[tuple]) -> None:
        shipped = time.monotonic()
        error: BaseException | None = None
        try:
            await self._db.run(partial(_insert_updates, rows, self._cipher))
        except Exception as e:
            error = e
        self._batch_finished(batch, shipped, error)

    def _batch_finished(
        self, batch: list[_Entry], shipped: float, error: BaseException | None
    ) -> None:
        done = self._in_flight_done
        assert done is not None and self._loop is not None
        self._in_flight = []
        if error is None:
            METRICS.commit_seconds.observe(time.monotonic() - shipped)
            self.commits += 1
            if self.commit_error is not None:
                self._log.warning("Room updates are committed again (%d queued)", len(batch))
            self.commit_error = None
            self._commit_backoff.reset()
            if self._pending:
                delay = self._pending_since + self._commit_interval - self._loop.time()
                if delay <= 0:
                    self._ship()
                elif self._commit_timer is None:
                    self._commit_timer = self._loop.call_later(delay, self._ship)
        else:
            self.commit_error = error
            # Keep the batch ahead of newer appends (a room deleted meanwhile dropped its own).
            self._pending[:0] = batch
            delay = self._commit_backoff.delay()
            self._log.error(
                "Could not commit %d room updates to PostgreSQL, retrying in %.2f s: %s",
                len(self._pending),
                delay,
                error,
            )
            if self._commit_timer is None and self._closing is None:
                self._commit_timer = self._loop.call_later(delay, self._ship)
        done.set_result(error)

    async def _after_in_flight(self) -> None:
        """Return once the batch in flight (if any) has finished, committed or not."""
        if self._in_flight and self._in_flight_done is not None:
            await asyncio.shield(self._in_flight_done)

    # --- compaction ---

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
            self._log.error("Compaction of room %r failed: %s", room, e)
        finally:
            del self._compactions[room]
        count = self._since_compaction.get(room)
        if count == 0 and room not in self._idle_timers:
            del self._since_compaction[room]
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
        """Fold the room's snapshot and log into a new snapshot (in a separate process, as the
        SQLite store does); the logged rows folded."""
        for _ in range(_MAX_QUARANTINED_PER_FOLD):
            read = await self._db.read(partial(_read_for_fold, room, self._cipher))
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
                self._fold_pool = None
                raise
            return await self._db.run(
                partial(_write_fold, room, snapshot, upto, count, self._cipher)
            )
        raise CorruptUpdateError(-1, f"more than {_MAX_QUARANTINED_PER_FOLD} corrupt updates")

    async def quarantine(self, room: str, update: bytes, reason: str) -> None:
        self._require_running()
        await self.flush()
        moved = await self._db.run(partial(_quarantine, room, update, reason, self._cipher))
        if moved:
            self.quarantined += moved
            self._log.error(
                "Quarantined %d stored update(s) of room %r (%d bytes): %s",
                moved,
                room,
                len(update) if isinstance(update, bytes) else -1,
                reason,
            )

    # --- reading and forgetting ---

    async def load(self, room: str) -> list[bytes]:
        """See :class:`RoomStore`. While the database is away, the room's stored rows cannot be
        read: this raises (the room does not open) rather than serving a partial room."""
        self._require_running()
        await self.flush()
        return await self._db.read(partial(_rows_of, room, self._cipher))

    async def load_authored(self, room: str) -> list[tuple[bytes, str]]:
        self._require_running()
        await self.flush()
        return await self._db.read(partial(_authored_rows_of, room, self._cipher))

    async def delete(self, room: str) -> None:
        self._require_running()
        self._pending = [entry for entry in self._pending if entry[1] != room]
        timer = self._idle_timers.pop(room, None)
        if timer is not None:
            timer.cancel()
        self._since_compaction.pop(room, None)
        self._last_append.pop(room, None)
        # A batch in flight may hold the room's updates: delete after it, so they go too (a
        # failed batch goes back to the queue: drop the room's entries from it again).
        await self._after_in_flight()
        self._pending = [entry for entry in self._pending if entry[1] != room]
        await self._db.run(partial(_delete_room, room))

    async def stored_rooms(self) -> list[str]:
        self._require_running()
        await self.flush()
        return await self._db.run(_room_names)

    async def persist(
        self, room: str, updates: list[tuple[bytes, str]], marker: str, *, expected: str | None
    ) -> bool:
        self._require_running()
        assert self._loop is not None
        now = time.time()
        rows = [(room, bytes(data), now, author) for data, author in updates]
        done = await self._db.run(partial(_persist, room, rows, marker, expected, self._cipher))
        if done and rows:
            # Counted like appends: the log is folded by count, and when the room goes idle.
            count = self._since_compaction.get(room, 0) + len(rows)
            self._since_compaction[room] = count
            self._last_append[room] = self._loop.time()
            if count >= self._compact_max_updates:
                self._start_compaction(room)
            if room not in self._idle_timers:
                self._idle_timers[room] = self._loop.call_later(
                    self._compact_idle, self._check_idle, room
                )
        return done

    async def persisted_marker(self, room: str) -> str | None:
        self._require_running()
        return await self._db.run(partial(_persisted_marker, room))

    async def stats(self, room: str) -> dict[str, int]:
        self._require_running()
        stats = await self._db.run(partial(_room_stats, room))
        stats["pending_updates"] = sum(
            1 for entry in (*self._in_flight, *self._pending) if entry[1] == room
        )
        return stats


# --- in one transaction each (see Database.run) ---
#
# Sealed exactly as the SQLite store seals (see ..sqlite.sealing): an update with its room and
# seq, a snapshot with its room and the last seq it folds. A row's seq is taken from the
# identity's sequence before it is sealed and inserted.


def _open(cipher: Cipher | None, kid: str | None, data: bytes, ad: bytes) -> bytes:
    """A row's bytes in the clear; a row that does not open is returned as stored (it then
    fails the gate like any damaged row and is quarantined)."""
    if kid is None or cipher is None:
        return data
    try:
        return cipher.open(kid, data, ad)
    except CipherError:
        return data


def _open_snapshot(room: str, row: tuple, cipher: Cipher | None) -> bytes:
    data, kid, folded, version = row
    try:
        ad = snapshot_ad(room, folded, version)
    except CipherError:
        return bytes(data)
    return _open(cipher, kid, bytes(data), ad)


async def _lock_room(conn: AsyncConnection, room: str) -> None:
    """Serialize this transaction with others rewriting the same room (folds, deletes)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (room,))


async def _insert_updates(
    rows: list[tuple[str, bytes, float, str]], cipher: Cipher | None, conn: AsyncConnection
) -> None:
    async with conn.cursor() as cur:
        if cipher is None:
            await cur.executemany(
                "INSERT INTO room_updates (room, data, created, author) VALUES (%s, %s, %s, %s)",
                rows,
            )
            return
        await cur.execute(
            "SELECT nextval(pg_get_serial_sequence('room_updates', 'seq')) "
            "FROM generate_series(1, %s)",
            (len(rows),),
        )
        seqs = sorted(seq for (seq,) in await cur.fetchall())
        sealed = []
        for seq, (room, data, created, author) in zip(seqs, rows, strict=True):
            kid, blob = cipher.seal(data, update_ad(room, seq))
            sealed.append((seq, room, blob, created, kid, author))
        await cur.executemany(
            "INSERT INTO room_updates (seq, room, data, created, kid, author) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            sealed,
        )


async def _read_room(
    room: str, cipher: Cipher | None, conn: AsyncConnection
) -> tuple[list[tuple[bytes, str]], int | None, int]:
    """The room's snapshot (first, author "") and logged updates in the clear, each with its
    author; the last logged seq (None: an empty log) and how many logged rows there are.

    One statement, so one view of the database: a fold committed by another connection (or
    instance) between a read of the snapshot and a read of the log would otherwise lose the
    updates it folded. Binary results: a snapshot of a megabyte comes as its bytes, not twice
    as many hex digits."""
    cursor = await conn.execute(
        "SELECT 0 AS part, 0 AS seq, data, kid, folded, ad, '' AS author "
        "FROM room_snapshots WHERE room = %s "
        "UNION ALL "
        "SELECT 1, seq, data, kid, NULL, NULL, author FROM room_updates WHERE room = %s "
        "ORDER BY part, seq",
        (room, room),
        binary=True,
    )
    updates: list[tuple[bytes, str]] = []
    upto, count = None, 0
    for part, seq, data, kid, folded, version, author in await cursor.fetchall():
        if part == 0:
            updates.append((_open_snapshot(room, (data, kid, folded, version), cipher), ""))
        else:
            updates.append((_open(cipher, kid, bytes(data), update_ad(room, seq)), author or ""))
            upto, count = seq, count + 1
    return updates, upto, count


async def _rows_of(room: str, cipher: Cipher | None, conn: AsyncConnection) -> list[bytes]:
    return [update for update, _ in (await _read_room(room, cipher, conn))[0]]


async def _authored_rows_of(
    room: str, cipher: Cipher | None, conn: AsyncConnection
) -> list[tuple[bytes, str]]:
    return (await _read_room(room, cipher, conn))[0]


async def _read_for_fold(
    room: str, cipher: Cipher | None, conn: AsyncConnection
) -> tuple[list[bytes], int, int] | None:
    """Snapshot and log of ``room`` up to the log's current end: (updates, last seq, rows)."""
    updates, upto, count = await _read_room(room, cipher, conn)
    if upto is None:
        return None
    return [update for update, _ in updates], upto, count


async def _write_fold(
    room: str,
    snapshot: bytes,
    upto: int,
    count: int,
    cipher: Cipher | None,
    conn: AsyncConnection,
) -> int:
    """Replace the snapshot and the folded log rows, unless the room changed meanwhile (deleted,
    or compacted by another instance): then nothing is written. Returns the rows folded."""
    await _lock_room(conn, room)
    cursor = await conn.execute(
        "SELECT count(*) FROM room_updates WHERE room = %s AND seq <= %s", (room, upto)
    )
    (still,) = await cursor.fetchone()
    if still != count:
        return 0
    kid = version = None
    if cipher is not None:
        kid, snapshot = cipher.seal(snapshot, snapshot_ad(room, upto, AD_VERSION))
        version = AD_VERSION
    await conn.execute(
        "INSERT INTO room_snapshots (room, data, updated, kid, folded, ad) "
        "VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (room) DO UPDATE SET data = excluded.data, updated = excluded.updated, "
        "kid = excluded.kid, folded = excluded.folded, ad = excluded.ad",
        (room, snapshot, time.time(), kid, upto, version),
    )
    await conn.execute("DELETE FROM room_updates WHERE room = %s AND seq <= %s", (room, upto))
    return count


async def _quarantine(
    room: str, update: bytes, reason: str, cipher: Cipher | None, conn: AsyncConnection
) -> int:
    """Move the rows of ``room`` holding ``update`` (in the clear) into ``room_quarantine``,
    as they are stored; rows moved."""
    await _lock_room(conn, room)
    moved: list[tuple[bytes, str | None, bytes | None]] = []
    cursor = await conn.execute(
        "SELECT data, kid, folded, ad FROM room_snapshots WHERE room = %s", (room,)
    )
    snapshot = await cursor.fetchone()
    if snapshot is not None and _open_snapshot(room, snapshot, cipher) == update:
        await conn.execute("DELETE FROM room_snapshots WHERE room = %s", (room,))
        data, kid, folded, version = snapshot
        try:
            ad = snapshot_ad(room, folded, version) if kid is not None else None
        except CipherError:
            ad = None
        moved.append((bytes(data), kid, ad))
    cursor = await conn.execute(
        "SELECT seq, data, kid FROM room_updates WHERE room = %s ORDER BY seq", (room,)
    )
    for seq, data, kid in await cursor.fetchall():
        if _open(cipher, kid, bytes(data), update_ad(room, seq)) == update:
            await conn.execute("DELETE FROM room_updates WHERE seq = %s", (seq,))
            moved.append((bytes(data), kid, update_ad(room, seq) if kid is not None else None))
    for data, kid, ad in moved:
        await conn.execute(
            "INSERT INTO room_quarantine (room, data, reason, created, kid, ad) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (room, data, reason[:1000], time.time(), kid, ad),
        )
    return len(moved)


async def _delete_room(room: str, conn: AsyncConnection) -> None:
    await _lock_room(conn, room)
    await conn.execute("DELETE FROM room_updates WHERE room = %s", (room,))
    await conn.execute("DELETE FROM room_snapshots WHERE room = %s", (room,))
    await conn.execute("DELETE FROM room_persisted WHERE room = %s", (room,))


async def _persisted_marker(room: str, conn: AsyncConnection) -> str | None:
    cursor = await conn.execute("SELECT marker FROM room_persisted WHERE room = %s", (room,))
    row = await cursor.fetchone()
    return row[0] if row else None


async def _persist(
    room: str,
    rows: list[tuple[str, bytes, float, str]],
    marker: str,
    expected: str | None,
    cipher: Cipher | None,
    conn: AsyncConnection,
) -> bool:
    """Insert ``rows`` and move the room's marker from ``expected`` to ``marker``, or nothing
    when the marker is not ``expected`` (someone persisted meanwhile). One transaction, under
    the room's advisory lock: two persists of one room take turns, the second sees the marker
    the first committed."""
    await _lock_room(conn, room)
    if await _persisted_marker(room, conn) != expected:
        return False
    if rows:
        await _insert_updates(rows, cipher, conn)
    await conn.execute(
        "INSERT INTO room_persisted (room, marker, updated) VALUES (%s, %s, %s) "
        "ON CONFLICT (room) DO UPDATE SET marker = excluded.marker, updated = excluded.updated",
        (room, marker, time.time()),
    )
    return True


async def _room_names(conn: AsyncConnection) -> list[str]:
    cursor = await conn.execute(
        "SELECT room FROM room_snapshots UNION SELECT room FROM room_updates ORDER BY room"
    )
    return [room for (room,) in await cursor.fetchall()]


async def _room_stats(room: str, conn: AsyncConnection) -> dict[str, int]:
    cursor = await conn.execute(
        "SELECT count(*), coalesce(sum(length(data)), 0) FROM room_updates WHERE room = %s",
        (room,),
    )
    log_updates, log_bytes = await cursor.fetchone()
    cursor = await conn.execute(
        "SELECT coalesce(sum(length(data)), 0) FROM room_snapshots WHERE room = %s", (room,)
    )
    (snapshot_bytes,) = await cursor.fetchone()
    return {
        "log_updates": int(log_updates),
        "log_bytes": int(log_bytes),
        "snapshot_bytes": int(snapshot_bytes),
    }
