"""The room store on PostgreSQL: an update log and one snapshot per room, shared by every
instance that uses the database."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from functools import partial

import psycopg
from psycopg import AsyncConnection

from ...updates import MAX_DEPTH
from ..base import Persist
from ..batching import BatchingRoomStore, Entry, Row
from ..crypto import Cipher, CipherError
from ..sqlite.sealing import AD_VERSION, snapshot_ad, update_ad
from .database import Database


class PostgresRoomStore(BatchingRoomStore):
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
    (a fold whose rows were folded by someone else meanwhile writes nothing). The queue and the
    scheduling are :class:`BatchingRoomStore`'s; this class is the PostgreSQL I/O.

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
        super().__init__(
            commit_interval=commit_interval,
            relaxed_commit_interval=relaxed_commit_interval,
            compact_idle=compact_idle,
            compact_max_updates=compact_max_updates,
            max_depth=max_depth,
            log=log or logging.getLogger(__name__),
        )
        self._db = database
        self._cipher = cipher
        self._commit_task: asyncio.Task[None] | None = None
        #: The last group commit failed (the database is away); cleared by the next success.
        self.commit_error: BaseException | None = None

    @property
    def healthy(self) -> bool:
        """False while appended updates cannot be committed (they stay queued)."""
        return self.commit_error is None

    # --- lifecycle ---

    async def _open_storage(self) -> None:
        await self._db.start()

    # --- group commit ---

    def _send_batch(self, rows: list[Row]) -> None:
        assert self._loop is not None
        batch = self._take_batch(self._loop.create_future())
        self._commit_task = self._loop.create_task(self._write_batch(batch, rows))

    async def _write_batch(self, batch: list[Entry], rows: list[tuple]) -> None:
        shipped = time.monotonic()
        error: BaseException | None = None
        try:
            await self._db.run(partial(_insert_updates, rows, self._cipher))
        except Exception as e:
            error = e
        self._batch_finished(batch, shipped, error)

    # PostgreSQL being away is expected (a restart, a network cut): a failed commit is
    # reported on one line and in health(), and the recovery is logged too.

    def _batch_committed(self, batch: list[Entry]) -> None:
        if self.commit_error is not None:
            self._log.warning("Room updates are committed again (%d queued)", len(batch))
        self.commit_error = None

    def _batch_failed(self, batch: list[Entry], error: BaseException, delay: float) -> None:
        self.commit_error = error
        # Keep the batch ahead of newer appends (a room deleted meanwhile dropped its own).
        self._pending[:0] = batch
        self._log.error(
            "Could not commit %d room updates to PostgreSQL, retrying in %.2f s: %s",
            len(self._pending),
            delay,
            error,
        )

    def _compaction_failed(self, room: str, error: Exception) -> None:
        self._log.error("Compaction of room %r failed: %s", room, error)

    async def _after_in_flight(self) -> None:
        """Return once the batch in flight (if any) has finished, committed or not."""
        if self._in_flight and self._in_flight_done is not None:
            await asyncio.shield(self._in_flight_done)

    # --- the PostgreSQL I/O (see BatchingRoomStore) ---

    async def _fold_read(self, room: str) -> tuple[list[bytes], int, int] | None:
        return await self._db.read(partial(_read_for_fold, room, self._cipher))

    async def _fold_write(self, room: str, snapshot: bytes, upto: int, count: int) -> int:
        return await self._db.run(partial(_write_fold, room, snapshot, upto, count, self._cipher))

    async def _quarantine_rows(self, room: str, update: bytes, reason: str) -> int:
        return await self._db.run(partial(_quarantine, room, update, reason, self._cipher))

    async def _persist_rows(
        self, room: str, rows: list[Row], marker: str, expected: str | None
    ) -> bool:
        batch = [(room, rows, marker, expected)]
        (done,) = await self._db.run(partial(_persist_many, batch, self._cipher))
        return done

    async def _marker_of(self, room: str) -> str | None:
        return await self._db.run(partial(_persisted_marker, room))

    # --- persisting many rooms' streams at once ---

    async def persisted_markers(self, rooms: Iterable[str]) -> dict[str, str | None]:
        self._require_running()
        return await self._db.read(partial(_persisted_markers, list(rooms)))

    async def persist_many(self, persists: Sequence[Persist]) -> list[bool | Exception]:
        """All of ``persists`` in one transaction: the rooms' locks, one read of their
        markers, then the rows and markers of those whose marker is still the expected one.
        A persist costs its rooms' share of one commit instead of two round trips each.

        If the database refuses what one room holds (not a failed connection: that fails
        them all, and they are retried), they are persisted one by one instead, so that room
        alone fails."""
        self._require_running()
        assert self._loop is not None
        if not persists:
            return []
        now = time.time()
        batch = [
            (
                p.room,
                [(p.room, bytes(data), now, author) for data, author in p.updates],
                p.marker,
                p.expected,
            )
            for p in persists
        ]
        try:
            done = await self._db.run(partial(_persist_many, batch, self._cipher))
        except psycopg.OperationalError:
            raise  # the server is away (or restarting): every room is retried
        except psycopg.Error as e:
            self._log.warning(
                "A persist of %d rooms was refused (%s): persisting them one by one",
                len(persists),
                e,
            )
            return await super().persist_many(persists)
        results: list[bool | Exception] = []
        for p, ok in zip(persists, done, strict=True):
            if ok and p.updates:
                # Counted like appends: the log is folded by count, and when the room goes idle.
                self._count_appended(p.room, len(p.updates), self._loop.time())
            results.append(ok)
        return results

    async def _rows(self, room: str) -> list[bytes]:
        """While the database is away, the room's stored rows cannot be read: this raises (the
        room does not open) rather than serving a partial room."""
        return await self._db.read(partial(_rows_of, room, self._cipher))

    async def _authored_rows(self, room: str) -> list[tuple[bytes, str]]:
        return await self._db.read(partial(_authored_rows_of, room, self._cipher))

    async def _delete_rows(self, room: str) -> None:
        # A batch in flight may hold the room's updates: delete after it, so they go too (a
        # failed batch goes back to the queue: drop the room's entries from it again). Unlike
        # SQLite's, a job here is not ordered after the batch by a single database thread.
        await self._after_in_flight()
        self._pending = [entry for entry in self._pending if entry[1] != room]
        await self._db.run(partial(_delete_room, room))

    async def _room_names(self) -> list[str]:
        return await self._db.run(_room_names)

    async def _row_stats(self, room: str) -> dict[str, int]:
        return await self._db.run(partial(_room_stats, room))


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


async def _persisted_markers(rooms: list[str], conn: AsyncConnection) -> dict[str, str | None]:
    cursor = await conn.execute(
        "SELECT room, marker FROM room_persisted WHERE room = ANY(%s)", (rooms,)
    )
    found = dict(await cursor.fetchall())
    return {room: found.get(room) for room in rooms}


async def _persist_many(
    batch: list[tuple[str, list[tuple[str, bytes, float, str]], str, str | None]],
    cipher: Cipher | None,
    conn: AsyncConnection,
) -> list[bool]:
    """For each (room, rows, marker, expected) of ``batch``, in one transaction: insert
    ``rows`` and move the room's marker from ``expected`` to ``marker``, or nothing when the
    marker is not ``expected`` (someone persisted meanwhile); whether it was written. Under the
    rooms' advisory locks: two persists of a room take turns, the second sees the marker the
    first committed. A room listed twice sees the marker its first persist wrote."""
    rooms = sorted({room for room, _, _, _ in batch})
    # Every room's advisory lock, in one order (of the lock keys) whoever takes them: two
    # instances persisting overlapping sets of rooms wait for each other, never deadlock. A
    # transaction rewriting one room (a fold, a delete) takes that room's lock alone.
    await conn.execute(
        "SELECT pg_advisory_xact_lock(k) FROM ("
        "SELECT DISTINCT hashtextextended(r, 0) AS k FROM unnest(%s::text[]) AS r ORDER BY k"
        ") AS keys",
        (rooms,),
    )
    markers = await _persisted_markers(rooms, conn)
    rows: list[tuple[str, bytes, float, str]] = []
    moved: dict[str, str] = {}
    done = []
    for room, room_rows, marker, expected in batch:
        ok = markers[room] == expected
        if ok:
            rows += room_rows
            markers[room] = moved[room] = marker
        done.append(ok)
    if rows:
        await _insert_updates(rows, cipher, conn)
    if moved:
        now = time.time()
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO room_persisted (room, marker, updated) VALUES (%s, %s, %s) "
                "ON CONFLICT (room) DO UPDATE SET marker = excluded.marker, "
                "updated = excluded.updated",
                [(room, marker, now) for room, marker in moved.items()],
            )
    return done


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
