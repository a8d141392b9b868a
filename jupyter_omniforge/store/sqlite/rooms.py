"""The embedded room store: an update log and snapshots in one SQLite database."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import sqlite3
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial

from ...backoff import Backoff
from ...metrics import METRICS
from ...updates import MAX_DEPTH
from ..base import RoomStore, StoreClosedError, StoreWriteError
from ..compaction import CorruptUpdateError, fold_updates
from ..crypto import Cipher, CipherError
from .database import Database
from .migrations import migrate
from .sealing import AD_VERSION, snapshot_ad, update_ad

# Longest wait before retrying a failed group commit.
MAX_RETRY_DELAY = 5.0
# Updates one compaction may quarantine before it gives up on the room for now.
_MAX_QUARANTINED_PER_FOLD = 100

# (append id, room, update, author); ids grow by one per append and order the queue.
_Entry = tuple[int, str, bytes, str]


class SQLiteRoomStore(RoomStore):
    """`RoomStore` on a shared `Database`: an append-only log plus one snapshot per room.

    Appends are group-committed: they queue in memory and, `commit_interval` seconds after the
    first one, the whole queue is written in one transaction. At most one commit is in flight;
    appends made meanwhile form the next batch, written once it finishes and their own
    `commit_interval` has passed. So an update is durable at most `commit_interval` plus two
    commit durations after `append()`, and a steady trickle costs one commit per interval.

    A room is compacted (log folded into its snapshot) after `compact_idle` seconds without
    appends, or as soon as `compact_max_updates` updates were appended since its last
    compaction.

    Counters for tests and monitoring: `commits` (group commits done), `compactions`,
    `compaction_failures`.
    """

    def __init__(
        self,
        database: Database,
        *,
        commit_interval: float = 0.005,
        relaxed_commit_interval: float = 1.0,
        compact_idle: float = 5.0,
        compact_max_updates: int = 1000,
        close_database: bool = True,
        max_depth: int = MAX_DEPTH,
        cipher: Cipher | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        """`close_database=False` leaves the `Database` open on `close()`, for when other
        modules share it and whoever created it closes it. `max_depth` is the gate's nesting
        limit for the updates compactions fold (see :mod:`jupyter_omniforge.updates`). With a
        `cipher`, every row is sealed (AES-256-GCM, the room and row id as associated data)."""
        if commit_interval < 0 or compact_idle < 0 or compact_max_updates < 1:
            raise ValueError("intervals must be >= 0 and compact_max_updates >= 1")
        self._db = database
        self._commit_interval = commit_interval
        self._relaxed_commit_interval = max(commit_interval, relaxed_commit_interval)
        self._compact_idle = compact_idle
        self._compact_max_updates = compact_max_updates
        self._close_database = close_database
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
        self._deleted_in_flight: set[str] = set()
        self._commit_timer: asyncio.TimerHandle | None = None
        self._pending_since = 0.0  # loop time of the oldest queued append
        first = min(max(commit_interval, 0.05) * 2, MAX_RETRY_DELAY)
        self._commit_backoff = Backoff(first, MAX_RETRY_DELAY, jitter=0)

        # Compaction, per room.
        self._since_compaction: dict[str, int] = {}
        self._last_append: dict[str, float] = {}
        self._idle_timers: dict[str, asyncio.TimerHandle] = {}
        self._compactions: dict[str, asyncio.Task[None]] = {}

        self.commits = 0
        self.compactions = 0
        self.compaction_failures = 0
        self.quarantined = 0

    # --- lifecycle ---

    _fold_pool: ProcessPoolExecutor | None = None

    async def start(self) -> None:
        if self._closing is not None:
            raise StoreClosedError("the store was closed")
        await self._db.start()
        await migrate(self._db)
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
        if self._close_database:
            await self._db.close()

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
        """Send the queued batch to the DB thread, unless a batch is already in flight."""
        if self._commit_timer is not None:
            self._commit_timer.cancel()
            self._commit_timer = None
        if self._in_flight or not self._pending:
            return
        now = time.time()
        rows = [(room, data, now, author) for _, room, data, author in self._pending]
        # Submitted right now, so any DB job submitted after this call (a delete, a
        # compaction) runs after this batch. If submitting fails, the queue is kept.
        job = self._db.submit(partial(_insert_updates, rows, self._cipher))
        batch, self._pending = self._pending, []
        self._in_flight = batch
        self._in_flight_done = job.get_loop().create_future()
        job.add_done_callback(partial(self._batch_finished, batch, time.monotonic()))

    def _batch_finished(
        self, batch: list[_Entry], shipped: float, job: asyncio.Future[None]
    ) -> None:
        error = job.exception()
        done = self._in_flight_done
        assert done is not None and self._loop is not None
        deleted, self._deleted_in_flight = self._deleted_in_flight, set()
        self._in_flight = []
        if error is None:
            METRICS.commit_seconds.observe(time.monotonic() - shipped)
            self.commits += 1
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
            # Keep the batch, minus rooms deleted meanwhile, ahead of newer appends.
            self._pending[:0] = [entry for entry in batch if entry[1] not in deleted]
            delay = self._commit_backoff.delay()
            self._log.error(
                "Could not commit %d room updates, retrying in %.2f s",
                len(batch),
                delay,
                exc_info=error,
            )
            if self._commit_timer is None and self._closing is None:
                self._commit_timer = self._loop.call_later(delay, self._ship)
        done.set_result(error)

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
        except Exception:
            self._log.exception("Compaction of room %r failed", room)
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

        Read and write in the database thread; fold in a separate process, so a large fold
        holds neither the database thread (event commits wait on it) nor the GIL (every room's
        fan-out waits on that), and a stored row that would crash pycrdt crashes that process
        only. Rows that fail the gate are quarantined and the fold tried again without them.
        """
        for _ in range(_MAX_QUARANTINED_PER_FOLD):
            read = await self._db.run(partial(_read_for_fold, room, self._cipher))
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

    # --- persisting a shared stream ---

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

    # --- reading and forgetting ---

    async def load(self, room: str) -> list[bytes]:
        self._require_running()
        await self.flush()
        return await self._db.run(partial(_load_room, room, self._cipher))

    async def load_authored(self, room: str) -> list[tuple[bytes, str]]:
        self._require_running()
        await self.flush()
        return await self._db.run(partial(_load_authored, room, self._cipher))

    async def delete(self, room: str) -> None:
        self._require_running()
        self._pending = [entry for entry in self._pending if entry[1] != room]
        if any(entry[1] == room for entry in self._in_flight):
            self._deleted_in_flight.add(room)
        timer = self._idle_timers.pop(room, None)
        if timer is not None:
            timer.cancel()
        self._since_compaction.pop(room, None)
        self._last_append.pop(room, None)
        # A batch in flight or a fold job already submitted runs before this job, so this
        # delete removes what it wrote; a fold submitted later finds nothing to fold.
        await self._db.run(partial(_delete_room, room))

    async def stored_rooms(self) -> list[str]:
        self._require_running()
        await self.flush()
        return await self._db.run(_room_names)

    async def stats(self, room: str) -> dict[str, int]:
        self._require_running()
        stats = await self._db.run(partial(_room_stats, room))
        stats["pending_updates"] = sum(
            1 for entry in (*self._in_flight, *self._pending) if entry[1] == room
        )
        return stats


# --- run on the DB thread, inside a transaction (see Database.run) ---
#
# With a cipher, a logged update is sealed with its room and seq as associated data, a snapshot
# with its room and the last seq it folds (see sealing.py): a row copied elsewhere does not
# open. A row stored in the clear (kid NULL: written before encryption was turned on) is read as
# it is.


def _open_snapshot(room: str, row: tuple, cipher: Cipher | None) -> bytes:
    """A snapshot's bytes in the clear (``row``: data, kid, folded, ad), as :func:`_open`."""
    data, kid, folded, version = row
    try:
        ad = snapshot_ad(room, folded, version)
    except CipherError:
        return data
    return _open(cipher, kid, data, ad)


def _open(cipher: Cipher | None, kid: str | None, data: bytes, ad: bytes) -> bytes:
    """A row's bytes in the clear. A row that does not open is returned as stored: it then
    fails the gate like any damaged row and is quarantined."""
    if kid is None or cipher is None:
        return data
    try:
        return cipher.open(kid, data, ad)
    except CipherError:
        return data


def _insert_updates(
    rows: list[tuple[str, bytes, float, str]], cipher: Cipher | None, conn: sqlite3.Connection
) -> None:
    if cipher is None:
        conn.executemany(
            "INSERT INTO room_updates (room, data, created, author) VALUES (?, ?, ?, ?)", rows
        )
        return
    # Sealing needs each row's seq first: one transaction, so nobody else takes them.
    (last,) = conn.execute("SELECT coalesce(max(seq), 0) FROM room_updates").fetchone()
    (counted,) = conn.execute(
        "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'room_updates'"
    ).fetchone()
    first = max(last, counted) + 1
    sealed = []
    for offset, (room, data, created, author) in enumerate(rows):
        seq = first + offset
        kid, blob = cipher.seal(data, update_ad(room, seq))
        sealed.append((seq, room, blob, created, kid, author))
    conn.executemany(
        "INSERT INTO room_updates (seq, room, data, created, kid, author) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        sealed,
    )


def _rows_of(
    room: str, cipher: Cipher | None, conn: sqlite3.Connection, upto: int | None = None
) -> list[bytes]:
    """The room's snapshot (first) and logged updates (through ``upto``), in the clear."""
    snapshot = conn.execute(
        "SELECT data, kid, folded, ad FROM room_snapshots WHERE room = ?", (room,)
    ).fetchone()
    updates = [_open_snapshot(room, snapshot, cipher)] if snapshot else []
    query = "SELECT seq, data, kid FROM room_updates WHERE room = ?"
    params: tuple[object, ...] = (room,)
    if upto is not None:
        query += " AND seq <= ?"
        params = (room, upto)
    for seq, data, kid in conn.execute(query + " ORDER BY seq", params):
        updates.append(_open(cipher, kid, data, update_ad(room, seq)))
    return updates


def _read_for_fold(
    room: str, cipher: Cipher | None, conn: sqlite3.Connection
) -> tuple[list[bytes], int, int] | None:
    """Snapshot and log of ``room`` up to the log's current end: (updates, last seq, rows)."""
    (upto,) = conn.execute("SELECT max(seq) FROM room_updates WHERE room = ?", (room,)).fetchone()
    if upto is None:
        return None
    (count,) = conn.execute(
        "SELECT count(*) FROM room_updates WHERE room = ? AND seq <= ?", (room, upto)
    ).fetchone()
    return _rows_of(room, cipher, conn, upto), upto, count


def _write_fold(
    room: str,
    snapshot: bytes,
    upto: int,
    count: int,
    cipher: Cipher | None,
    conn: sqlite3.Connection,
) -> int:
    """Replace the snapshot and the folded log rows, unless the room changed meanwhile (deleted,
    or compacted by someone else): then nothing is written. Returns the rows folded."""
    (still,) = conn.execute(
        "SELECT count(*) FROM room_updates WHERE room = ? AND seq <= ?", (room, upto)
    ).fetchone()
    if still != count:
        return 0
    kid = version = None
    if cipher is not None:
        kid, snapshot = cipher.seal(snapshot, snapshot_ad(room, upto, AD_VERSION))
        version = AD_VERSION
    conn.execute(
        "INSERT INTO room_snapshots (room, data, updated, kid, folded, ad) "
        "VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (room) DO UPDATE SET data = excluded.data, updated = excluded.updated, "
        "kid = excluded.kid, folded = excluded.folded, ad = excluded.ad",
        (room, snapshot, time.time(), kid, upto, version),
    )
    conn.execute("DELETE FROM room_updates WHERE room = ? AND seq <= ?", (room, upto))
    return count


def _quarantine(
    room: str, update: bytes, reason: str, cipher: Cipher | None, conn: sqlite3.Connection
) -> int:
    """Move the rows of ``room`` holding ``update`` (in the clear, as loaded) into
    ``room_quarantine``, as they are stored; rows moved."""
    # (data, kid, the associated data it is sealed with)
    moved: list[tuple[bytes, str | None, bytes | None]] = []
    snapshot = conn.execute(
        "SELECT data, kid, folded, ad FROM room_snapshots WHERE room = ?", (room,)
    ).fetchone()
    if snapshot is not None and _open_snapshot(room, snapshot, cipher) == update:
        conn.execute("DELETE FROM room_snapshots WHERE room = ?", (room,))
        data, kid, folded, version = snapshot
        try:
            ad = snapshot_ad(room, folded, version) if kid is not None else None
        except CipherError:
            ad = None
        moved.append((data, kid, ad))
    for seq, data, kid in conn.execute(
        "SELECT seq, data, kid FROM room_updates WHERE room = ? ORDER BY seq", (room,)
    ).fetchall():
        if _open(cipher, kid, data, update_ad(room, seq)) == update:
            conn.execute("DELETE FROM room_updates WHERE seq = ?", (seq,))
            moved.append((data, kid, update_ad(room, seq) if kid is not None else None))
    for data, kid, ad in moved:
        conn.execute(
            "INSERT INTO room_quarantine (room, data, reason, created, kid, ad) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (room, data, reason[:1000], time.time(), kid, ad),
        )
    return len(moved)


def _load_room(room: str, cipher: Cipher | None, conn: sqlite3.Connection) -> list[bytes]:
    return _rows_of(room, cipher, conn)


def _load_authored(
    room: str, cipher: Cipher | None, conn: sqlite3.Connection
) -> list[tuple[bytes, str]]:
    """As :func:`_load_room`, each update with its author (the snapshot's: "")."""
    updates = _rows_of(room, cipher, conn)
    authors = [
        author or ""
        for (author,) in conn.execute(
            "SELECT author FROM room_updates WHERE room = ? ORDER BY seq", (room,)
        )
    ]
    # The snapshot, if any, comes first: the log's rows are the last len(authors).
    snapshot = len(updates) - len(authors)
    return [(update, "") for update in updates[:snapshot]] + list(
        zip(updates[snapshot:], authors, strict=True)
    )


def _delete_room(room: str, conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM room_updates WHERE room = ?", (room,))
    conn.execute("DELETE FROM room_snapshots WHERE room = ?", (room,))
    conn.execute("DELETE FROM room_persisted WHERE room = ?", (room,))


def _persisted_marker(room: str, conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT marker FROM room_persisted WHERE room = ?", (room,)).fetchone()
    return row[0] if row else None


def _persist(
    room: str,
    rows: list[tuple[str, bytes, float, str]],
    marker: str,
    expected: str | None,
    cipher: Cipher | None,
    conn: sqlite3.Connection,
) -> bool:
    """Insert ``rows`` and move the room's marker from ``expected`` to ``marker``, or (when the
    marker is not ``expected``: someone else persisted meanwhile) nothing. One transaction
    (``Database.run``), taken with the write lock: another process persisting the same room
    waits, then finds the marker moved."""
    if _persisted_marker(room, conn) != expected:
        return False
    if rows:
        _insert_updates(rows, cipher, conn)
    conn.execute(
        "INSERT INTO room_persisted (room, marker, updated) VALUES (?, ?, ?) "
        "ON CONFLICT (room) DO UPDATE SET marker = excluded.marker, updated = excluded.updated",
        (room, marker, time.time()),
    )
    return True


def _room_names(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT room FROM room_snapshots UNION SELECT room FROM room_updates ORDER BY room"
    )
    return [room for (room,) in rows]


def _room_stats(room: str, conn: sqlite3.Connection) -> dict[str, int]:
    log_updates, log_bytes = conn.execute(
        "SELECT count(*), coalesce(sum(length(data)), 0) FROM room_updates WHERE room = ?",
        (room,),
    ).fetchone()
    (snapshot_bytes,) = conn.execute(
        "SELECT coalesce(sum(length(data)), 0) FROM room_snapshots WHERE room = ?", (room,)
    ).fetchone()
    return {"log_updates": log_updates, "log_bytes": log_bytes, "snapshot_bytes": snapshot_bytes}
