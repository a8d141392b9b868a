"""Re-sealing a SQLite store with a new key (``jupyter omniforge rotate-key``).

Rows are re-sealed in batches, one transaction each: a rotation killed at any point leaves every
row sealed with the old key or the new one (or still in the clear), never half-written, and
running it again carries on where it stopped. Rows stored in the clear are sealed too, which is
how an existing store starts being encrypted. Quarantined rows are left as they are (they are
kept for investigation, not read).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from ... import strictjson
from ..crypto import Cipher
from .rooms import _log_ad, _snapshot_ad

#: Rows re-sealed per transaction.
BATCH = 500


def _event_ad(event_id: int) -> bytes:
    return f"event\0{event_id}".encode()


def _audit_ad(entry_id: int) -> bytes:
    return f"audit\0{entry_id}".encode()


def rotate(
    path: str | Path,
    old: Cipher | None,
    new: Cipher,
    *,
    batch: int = BATCH,
    progress: Callable[[str, int], None] = lambda table, done: None,
) -> dict[str, int]:
    """Re-seal every row of the store at ``path`` with ``new``'s current key; rows sealed
    with another key must open with ``old``. Returns the rows re-sealed per table."""
    keys = new if old is None else new.merged(old)
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        conn.execute("PRAGMA busy_timeout=30000")
        done = {
            "room_updates": _rotate(conn, keys, new, batch, progress, _Updates),
            "room_snapshots": _rotate(conn, keys, new, batch, progress, _Snapshots),
            "events": _rotate(conn, keys, new, batch, progress, _Events),
            "audit": _rotate(conn, keys, new, batch, progress, _Audit),
        }
        conn.execute("BEGIN IMMEDIATE")
        cursor = conn.execute(
            "INSERT INTO audit (time, action, user, room, details, kid) VALUES (?, ?, ?, ?, ?, ?)",
            (time.time(), "key.rotated", "", "", b"", None),
        )
        kid, sealed = new.seal(
            strictjson.dumps({"rows": sum(done.values()), "key": new.current}).encode(),
            _audit_ad(cursor.lastrowid),
        )
        conn.execute(
            "UPDATE audit SET details = ?, kid = ? WHERE id = ?", (sealed, kid, cursor.lastrowid)
        )
        conn.execute("COMMIT")
        return done
    finally:
        conn.close()


class _Updates:
    table = "room_updates"
    select = (
        "SELECT seq, room, data, kid FROM room_updates WHERE kid IS NULL OR kid != ? "
        "ORDER BY seq LIMIT ?"
    )

    @staticmethod
    def reseal(conn: sqlite3.Connection, keys: Cipher, new: Cipher, row: tuple) -> None:
        seq, room, data, kid = row
        ad = _log_ad(room, seq)
        clear = data if kid is None else keys.open(kid, data, ad)
        kid, sealed = new.seal(clear, ad)
        conn.execute("UPDATE room_updates SET data = ?, kid = ? WHERE seq = ?", (sealed, kid, seq))


class _Snapshots:
    table = "room_snapshots"
    select = (
        "SELECT room, data, kid FROM room_snapshots WHERE kid IS NULL OR kid != ? "
        "ORDER BY room LIMIT ?"
    )

    @staticmethod
    def reseal(conn: sqlite3.Connection, keys: Cipher, new: Cipher, row: tuple) -> None:
        room, data, kid = row
        ad = _snapshot_ad(room)
        clear = data if kid is None else keys.open(kid, data, ad)
        kid, sealed = new.seal(clear, ad)
        conn.execute(
            "UPDATE room_snapshots SET data = ?, kid = ? WHERE room = ?", (sealed, kid, room)
        )


class _Events:
    table = "events"
    select = (
        "SELECT id, source, data, kid, sealed FROM events WHERE kid IS NULL OR kid != ? "
        "ORDER BY id LIMIT ?"
    )

    @staticmethod
    def reseal(conn: sqlite3.Connection, keys: Cipher, new: Cipher, row: tuple) -> None:
        event_id, source, data, kid, sealed = row
        ad = _event_ad(event_id)
        if kid is None:
            clear = f'{{"source":{source},"data":{data}}}'.encode()
        else:
            clear = keys.open(kid, sealed, ad)
        kid, sealed = new.seal(clear, ad)
        conn.execute(
            "UPDATE events SET source = '', data = '', kid = ?, sealed = ? WHERE id = ?",
            (kid, sealed, event_id),
        )


class _Audit:
    table = "audit"
    select = "SELECT id, details, kid FROM audit WHERE kid IS NULL OR kid != ? ORDER BY id LIMIT ?"

    @staticmethod
    def reseal(conn: sqlite3.Connection, keys: Cipher, new: Cipher, row: tuple) -> None:
        entry_id, details, kid = row
        ad = _audit_ad(entry_id)
        clear = details if kid is None else keys.open(kid, details, ad)
        kid, sealed = new.seal(clear, ad)
        conn.execute("UPDATE audit SET details = ?, kid = ? WHERE id = ?", (sealed, kid, entry_id))


def _rotate(
    conn: sqlite3.Connection,
    keys: Cipher,
    new: Cipher,
    batch: int,
    progress: Callable[[str, int], None],
    kind: type,
) -> int:
    done = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = conn.execute(kind.select, (new.current, batch)).fetchall()
            for row in rows:
                kind.reseal(conn, keys, new, row)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        done += len(rows)
        progress(kind.table, done)
        if len(rows) < batch:
            return done
