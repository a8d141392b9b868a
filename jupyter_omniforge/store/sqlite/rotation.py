"""Re-sealing a SQLite store with a new key (``jupyter omniforge rotate-key``).

Rows are re-sealed in batches, one transaction each: a rotation killed at any point leaves every
row sealed with the old key or the new one (or still in the clear), never half-written, and
running it again carries on where it stopped. Rows stored in the clear are sealed too, which is
how an existing store starts being encrypted, and so are rows sealed with an older associated
data (see sealing.py), even with the same key. Quarantined rows are left as they are (they are
kept for investigation, not read).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from ... import strictjson
from ..crypto import Cipher
from .migrations import _migrate
from .sealing import AD_VERSION, audit_ad, comment_ad, event_ad, snapshot_ad, update_ad, version_ad
from .webhooks import delivery_ad

#: Rows re-sealed per transaction.
BATCH = 500


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
        _migrate(conn)  # a store of an older release: to the schema this one seals for
        done = {
            "room_updates": _rotate(conn, keys, new, batch, progress, _Updates),
            "room_snapshots": _rotate(conn, keys, new, batch, progress, _Snapshots),
            "events": _rotate(conn, keys, new, batch, progress, _Events),
            "audit": _rotate(conn, keys, new, batch, progress, _Audit),
            "webhook_deliveries": _rotate(conn, keys, new, batch, progress, _Deliveries),
            "room_versions": _rotate(conn, keys, new, batch, progress, _Versions),
            "comment_threads": _rotate(conn, keys, new, batch, progress, _ThreadTexts),
            "comments": _rotate(conn, keys, new, batch, progress, _CommentBodies),
            "notifications": _rotate(conn, keys, new, batch, progress, _Excerpts),
        }
        conn.execute("BEGIN IMMEDIATE")
        cursor = conn.execute(
            "INSERT INTO audit (time, action, user, room, details, kid) VALUES (?, ?, ?, ?, ?, ?)",
            (time.time(), "key.rotated", "", "", b"", None),
        )
        kid, sealed = new.seal(
            strictjson.dumps({"rows": sum(done.values()), "key": new.current}).encode(),
            audit_ad(cursor.lastrowid, "key.rotated", "", "", AD_VERSION),
        )
        conn.execute(
            "UPDATE audit SET details = ?, kid = ?, ad = ? WHERE id = ?",
            (sealed, kid, AD_VERSION, cursor.lastrowid),
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
        ad = update_ad(room, seq)
        clear = data if kid is None else keys.open(kid, data, ad)
        kid, sealed = new.seal(clear, ad)
        conn.execute("UPDATE room_updates SET data = ?, kid = ? WHERE seq = ?", (sealed, kid, seq))


# A row is re-sealed when it is in the clear, sealed with another key, or sealed with an older
# associated data than sealing.py's (`ad` not AD_VERSION).
_STALE = f"kid IS NULL OR kid != ? OR ad IS NOT {AD_VERSION}"


class _Snapshots:
    table = "room_snapshots"
    select = (
        f"SELECT room, data, kid, folded, ad FROM room_snapshots WHERE {_STALE} "
        "ORDER BY room LIMIT ?"
    )

    @staticmethod
    def reseal(conn: sqlite3.Connection, keys: Cipher, new: Cipher, row: tuple) -> None:
        room, data, kid, folded, version = row
        clear = data if kid is None else keys.open(kid, data, snapshot_ad(room, folded, version))
        folded = folded or 0
        kid, sealed = new.seal(clear, snapshot_ad(room, folded, AD_VERSION))
        conn.execute(
            "UPDATE room_snapshots SET data = ?, kid = ?, folded = ?, ad = ? WHERE room = ?",
            (sealed, kid, folded, AD_VERSION, room),
        )


class _Events:
    table = "events"
    select = (
        f"SELECT id, channel, type, source, data, kid, sealed, ad FROM events WHERE {_STALE} "
        "ORDER BY id LIMIT ?"
    )

    @staticmethod
    def reseal(conn: sqlite3.Connection, keys: Cipher, new: Cipher, row: tuple) -> None:
        event_id, channel, event_type, source, data, kid, sealed, version = row
        if kid is None:
            clear = f'{{"source":{source},"data":{data}}}'.encode()
        else:
            clear = keys.open(kid, sealed, event_ad(channel, event_type, event_id, version))
        kid, sealed = new.seal(clear, event_ad(channel, event_type, event_id, AD_VERSION))
        conn.execute(
            "UPDATE events SET source = '', data = '', kid = ?, sealed = ?, ad = ? WHERE id = ?",
            (kid, sealed, AD_VERSION, event_id),
        )


class _Audit:
    table = "audit"
    select = (
        f"SELECT id, action, user, room, details, kid, ad FROM audit WHERE {_STALE} "
        "ORDER BY id LIMIT ?"
    )

    @staticmethod
    def reseal(conn: sqlite3.Connection, keys: Cipher, new: Cipher, row: tuple) -> None:
        entry_id, action, user, room, details, kid, version = row
        if kid is None:
            clear = details
        else:
            clear = keys.open(kid, details, audit_ad(entry_id, action, user, room, version))
        kid, sealed = new.seal(clear, audit_ad(entry_id, action, user, room, AD_VERSION))
        conn.execute(
            "UPDATE audit SET details = ?, kid = ?, ad = ? WHERE id = ?",
            (sealed, kid, AD_VERSION, entry_id),
        )


class _Deliveries:
    table = "webhook_deliveries"
    select = (
        "SELECT id, endpoint, event_id, body, kid FROM webhook_deliveries "
        "WHERE kid IS NULL OR kid != ? ORDER BY id LIMIT ?"
    )

    @staticmethod
    def reseal(conn: sqlite3.Connection, keys: Cipher, new: Cipher, row: tuple) -> None:
        row_id, endpoint, event_id, body, kid = row
        ad = delivery_ad(endpoint, event_id)
        clear = body if kid is None else keys.open(kid, body, ad)
        kid, sealed = new.seal(clear, ad)
        conn.execute(
            "UPDATE webhook_deliveries SET body = ?, kid = ? WHERE id = ?", (sealed, kid, row_id)
        )


class _Versions:
    table = "room_versions"
    select = (
        "SELECT id, room, state, runs, kid FROM room_versions WHERE kid IS NULL OR kid != ? "
        "ORDER BY id LIMIT ?"
    )

    @staticmethod
    def reseal(conn: sqlite3.Connection, keys: Cipher, new: Cipher, row: tuple) -> None:
        row_id, room, state, runs, kid = row
        parts = []
        for part, data in (("state", state), ("runs", runs)):
            ad = version_ad(room, row_id, part)
            clear = data if kid is None else keys.open(kid, data, ad)
            parts.append(new.seal(clear, ad))
        (new_kid, sealed_state), (_, sealed_runs) = parts
        conn.execute(
            "UPDATE room_versions SET state = ?, runs = ?, kid = ? WHERE id = ?",
            (sealed_state, sealed_runs, new_kid, row_id),
        )


def _comment_select(table: str, column: str) -> str:
    return (
        f"SELECT id, room, {column}, kid FROM {table} "
        f"WHERE {column} IS NOT NULL AND (kid IS NULL OR kid != ?) ORDER BY id LIMIT ?"
    )


class _CommentPart:
    """A comment's body, a thread's anchor text, a notification's excerpt: one sealed column
    (a thread without an anchor has none: left as it is)."""

    table = column = part = ""

    @classmethod
    def reseal(cls, conn: sqlite3.Connection, keys: Cipher, new: Cipher, row: tuple) -> None:
        row_id, room, data, kid = row
        ad = comment_ad(cls.part, room, row_id)
        clear = data if kid is None else keys.open(kid, data, ad)
        kid, sealed = new.seal(clear, ad)
        conn.execute(
            f"UPDATE {cls.table} SET {cls.column} = ?, kid = ? WHERE id = ?", (sealed, kid, row_id)
        )


class _ThreadTexts(_CommentPart):
    table, column, part = "comment_threads", "text", "text"
    select = _comment_select(table, column)


class _CommentBodies(_CommentPart):
    table, column, part = "comments", "body", "body"
    select = _comment_select(table, column)


class _Excerpts(_CommentPart):
    table, column, part = "notifications", "excerpt", "excerpt"
    select = _comment_select(table, column)


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
