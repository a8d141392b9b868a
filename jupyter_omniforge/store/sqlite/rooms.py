"""The embedded room store: an update log and snapshots in one SQLite database."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from functools import partial

from ...updates import MAX_DEPTH
from ..batching import BatchingRoomStore, Entry, Row
from ..crypto import Cipher, CipherError
from .database import Database
from .migrations import migrate
from .sealing import AD_VERSION, snapshot_ad, update_ad


class SQLiteRoomStore(BatchingRoomStore):
    """`RoomStore` on a shared `Database`: an append-only log plus one snapshot per room.

    Appends are group-committed: they queue in memory and, `commit_interval` seconds after the
    first one, the whole queue is written in one transaction. At most one commit is in flight;
    appends made meanwhile form the next batch, written once it finishes and their own
    `commit_interval` has passed. So an update is durable at most `commit_interval` plus two
    commit durations after `append()`, and a steady trickle costs one commit per interval.

    A room is compacted (log folded into its snapshot) after `compact_idle` seconds without
    appends, or as soon as `compact_max_updates` updates were appended since its last
    compaction. The queue and the scheduling are :class:`BatchingRoomStore`'s; this class is
    the SQLite I/O.

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
        super().__init__(
            commit_interval=commit_interval,
            relaxed_commit_interval=relaxed_commit_interval,
            compact_idle=compact_idle,
            compact_max_updates=compact_max_updates,
            max_depth=max_depth,
            log=log or logging.getLogger(__name__),
        )
        self._db = database
        self._close_database = close_database
        self._cipher = cipher
        # Rooms deleted while a batch holding their updates was in flight: if that batch fails,
        # their entries are not queued again. (PostgreSQL's delete waits for the batch instead:
        # its jobs are not ordered by one thread as SQLite's are.)
        self._deleted_in_flight: set[str] = set()

    # --- lifecycle ---

    async def _open_storage(self) -> None:
        await self._db.start()
        await migrate(self._db)

    async def _close_storage(self) -> None:
        if self._close_database:
            await self._db.close()

    # --- group commit ---

    def _send_batch(self, rows: list[Row]) -> None:
        """Send the batch to the DB thread. Submitted right now, so any DB job submitted after
        this call (a delete, a compaction) runs after this batch. If submitting fails, the
        queue is kept."""
        job = self._db.submit(partial(_insert_updates, rows, self._cipher))
        batch = self._take_batch(job.get_loop().create_future())
        job.add_done_callback(partial(self._job_finished, batch, time.monotonic()))

    def _job_finished(self, batch: list[Entry], shipped: float, job: asyncio.Future[None]) -> None:
        self._batch_finished(batch, shipped, job.exception())

    def _batch_committed(self, batch: list[Entry]) -> None:
        self._deleted_in_flight = set()

    def _batch_failed(self, batch: list[Entry], error: BaseException, delay: float) -> None:
        # Keep the batch, minus rooms deleted meanwhile, ahead of newer appends.
        deleted, self._deleted_in_flight = self._deleted_in_flight, set()
        super()._batch_failed([entry for entry in batch if entry[1] not in deleted], error, delay)

    # --- the SQLite I/O (see BatchingRoomStore) ---

    async def _fold_read(self, room: str) -> tuple[list[bytes], int, int] | None:
        return await self._db.run(partial(_read_for_fold, room, self._cipher))

    async def _fold_write(self, room: str, snapshot: bytes, upto: int, count: int) -> int:
        return await self._db.run(partial(_write_fold, room, snapshot, upto, count, self._cipher))

    async def _quarantine_rows(self, room: str, update: bytes, reason: str) -> int:
        return await self._db.run(partial(_quarantine, room, update, reason, self._cipher))

    async def _persist_rows(
        self, room: str, rows: list[Row], marker: str, expected: str | None
    ) -> bool:
        return await self._db.run(partial(_persist, room, rows, marker, expected, self._cipher))

    async def _marker_of(self, room: str) -> str | None:
        return await self._db.run(partial(_persisted_marker, room))

    async def _rows(self, room: str) -> list[bytes]:
        return await self._db.run(partial(_load_room, room, self._cipher))

    async def _authored_rows(self, room: str) -> list[tuple[bytes, str]]:
        return await self._db.run(partial(_load_authored, room, self._cipher))

    async def _delete_rows(self, room: str) -> None:
        if any(entry[1] == room for entry in self._in_flight):
            self._deleted_in_flight.add(room)
        # A batch in flight or a fold job already submitted runs before this job, so this
        # delete removes what it wrote; a fold submitted later finds nothing to fold.
        await self._db.run(partial(_delete_room, room))

    async def _room_names(self) -> list[str]:
        return await self._db.run(_room_names)

    async def _row_stats(self, room: str) -> dict[str, int]:
        return await self._db.run(partial(_room_stats, room))


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
