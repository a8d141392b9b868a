"""Re-sealing a SQLite store with a new key (``jupyter omniforge rotate-key``).

What is re-sealed, and how, is the engines' common part (``..rotation``); here each batch is
one ``BEGIN IMMEDIATE`` transaction, which keeps the server's writers out while it runs.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from ..crypto import Cipher
from ..rotation import BATCH, TABLES, Dialect, Progress, Table, opening, record
from .migrations import _migrate
from .sealing import AD_VERSION

_SQLITE = Dialect(param="?", stale_ad=f"ad IS NOT {AD_VERSION}")


def rotate(
    path: str | Path,
    old: Cipher | None,
    new: Cipher,
    *,
    batch: int = BATCH,
    progress: Progress = lambda table, done: None,
) -> dict[str, int]:
    """Re-seal every row of the store at ``path`` with ``new``'s current key; rows sealed
    with another key must open with ``old``. Returns the rows re-sealed per table."""
    keys = opening(old, new)
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        conn.execute("PRAGMA busy_timeout=30000")
        _migrate(conn)  # a store of an older release: to the schema this one seals for
        done = {table.name: _rotate(conn, keys, new, batch, progress, table) for table in TABLES}
        conn.execute("BEGIN IMMEDIATE")
        cursor = conn.execute(
            "INSERT INTO audit (time, action, user, room, details, kid) VALUES (?, ?, ?, ?, ?, ?)",
            (time.time(), "key.rotated", "", "", b"", None),
        )
        assert cursor.lastrowid is not None
        kid, sealed = record(new, cursor.lastrowid, done)
        conn.execute(
            "UPDATE audit SET details = ?, kid = ?, ad = ? WHERE id = ?",
            (sealed, kid, AD_VERSION, cursor.lastrowid),
        )
        conn.execute("COMMIT")
        return done
    finally:
        conn.close()


def _rotate(
    conn: sqlite3.Connection,
    keys: Cipher,
    new: Cipher,
    batch: int,
    progress: Progress,
    table: Table,
) -> int:
    select = table.select(_SQLITE)
    done = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = conn.execute(select, (new.current, batch)).fetchall()
            for row in rows:
                conn.execute(*table.update(_SQLITE, keys, new, row))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        done += len(rows)
        progress(table.name, done)
        if len(rows) < batch:
            return done
