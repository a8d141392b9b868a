"""The versions of each room in the SQLite store: one row per version, holding a full document
state (so a version's content is one read, never a replay) and its authorship runs."""

from __future__ import annotations

import json
import sqlite3
import time
from functools import partial
from typing import Any

from ..base import HistoryStore
from ..crypto import Cipher, CipherError
from .database import Database
from .sealing import version_ad

Runs = dict[str, list[list[Any]]]

_COLUMNS = "id, time, kind, label, authors, size"


class SQLiteHistoryStore(HistoryStore):
    """:class:`HistoryStore` in the table ``room_versions`` of a shared :class:`Database`.

    With a cipher, a version's state and runs are sealed (its room, id and part as associated
    data); its time, kind, label, authors and size are metadata, kept in the clear like an
    update's author."""

    def __init__(self, database: Database, *, cipher: Cipher | None = None) -> None:
        self._db = database
        self._cipher = cipher

    async def add_version(
        self,
        room: str,
        state: bytes,
        runs: Runs,
        *,
        kind: str = "auto",
        label: str | None = None,
        authors: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        row = (room, time.time(), kind, label, json.dumps(authors or []), len(state))
        encoded_runs = json.dumps(runs, separators=(",", ":")).encode()
        version_id = await self._db.run(
            partial(_insert_version, row, bytes(state), encoded_runs, self._cipher)
        )
        return _version((version_id, *row[1:]))

    async def list_versions(
        self, room: str, before: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        below = _row_id(before) if before is not None else None
        if before is not None and below is None:
            return []
        rows = await self._db.run(partial(_list_versions, room, below, limit))
        return [_version(row) for row in rows]

    async def get_version(
        self, room: str, version_id: str
    ) -> tuple[dict[str, Any], bytes, Runs] | None:
        row_id = _row_id(version_id)
        if row_id is None:
            return None
        row = await self._db.run(partial(_get_version, room, row_id))
        if row is None:
            return None
        return self._opened(room, row)

    def _opened(self, room: str, row: tuple) -> tuple[dict[str, Any], bytes, Runs]:
        """(VERSION, state, runs) of a row read by :func:`_get_version`."""
        *meta, state, runs, kid = row
        row_id = meta[0]
        state = _open(self._cipher, kid, state, version_ad(room, row_id, "state"))
        runs = _open(self._cipher, kid, runs, version_ad(room, row_id, "runs"))
        try:
            decoded = json.loads(runs)
        except ValueError:
            decoded = {}  # unreadable runs: authors unknown, the content is still served
        return _version(tuple(meta)), state, decoded if isinstance(decoded, dict) else {}

    async def latest(self, room: str) -> tuple[dict[str, Any], bytes, Runs] | None:
        row = await self._db.run(partial(_latest_version, room))
        return self._opened(room, row) if row is not None else None

    async def prune(self, room: str, *, older_than: float, keep: int) -> int:
        return await self._db.run(partial(_prune, room, older_than, keep))

    async def delete(self, room: str) -> None:
        await self._db.run(partial(_delete, room))


def _row_id(version_id: str) -> int | None:
    """The row id an opaque version id names; None for anything we never handed out."""
    if not (isinstance(version_id, str) and version_id.isdecimal() and len(version_id) <= 18):
        return None
    return int(version_id)


def _version(row: tuple) -> dict[str, Any]:
    version_id, created, kind, label, authors, size = row
    return {
        "id": str(version_id),
        "time": created,
        "label": label,
        "kind": kind,
        "authors": json.loads(authors),
        "size": size,
    }


def _open(cipher: Cipher | None, kid: str | None, data: bytes, ad: bytes) -> bytes:
    if kid is None:
        return data
    if cipher is None:
        raise CipherError(f"a version is sealed with key {kid} and no key is set")
    return cipher.open(kid, data, ad)


# --- run on the DB thread, inside a transaction (see Database.run) ---


def _insert_version(
    row: tuple, state: bytes, runs: bytes, cipher: Cipher | None, conn: sqlite3.Connection
) -> int:
    cursor = conn.execute(
        "INSERT INTO room_versions (room, time, kind, label, authors, size, state, runs) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (*row, b"" if cipher else state, b"" if cipher else runs),
    )
    version_id = cursor.lastrowid
    assert version_id is not None
    if cipher is not None:
        # Sealing needs the row's id: the same transaction, so nobody reads it half-written.
        room = row[0]
        kid, sealed_state = cipher.seal(state, version_ad(room, version_id, "state"))
        _, sealed_runs = cipher.seal(runs, version_ad(room, version_id, "runs"))
        conn.execute(
            "UPDATE room_versions SET state = ?, runs = ?, kid = ? WHERE id = ?",
            (sealed_state, sealed_runs, kid, version_id),
        )
    return version_id


def _list_versions(
    room: str, below: int | None, limit: int, conn: sqlite3.Connection
) -> list[tuple]:
    if below is None:
        below = 2**63 - 1
    return conn.execute(
        f"SELECT {_COLUMNS} FROM room_versions WHERE room = ? AND id < ? ORDER BY id DESC LIMIT ?",
        (room, below, limit),
    ).fetchall()


def _get_version(room: str, row_id: int, conn: sqlite3.Connection) -> tuple | None:
    return conn.execute(
        f"SELECT {_COLUMNS}, state, runs, kid FROM room_versions WHERE room = ? AND id = ?",
        (room, row_id),
    ).fetchone()


def _latest_version(room: str, conn: sqlite3.Connection) -> tuple | None:
    return conn.execute(
        f"SELECT {_COLUMNS}, state, runs, kid FROM room_versions WHERE room = ? "
        "ORDER BY id DESC LIMIT 1",
        (room,),
    ).fetchone()


def _prune(room: str, older_than: float, keep: int, conn: sqlite3.Connection) -> int:
    # The newest version stays whatever its age: the recorder builds the next one on it.
    (newest,) = conn.execute("SELECT max(id) FROM room_versions WHERE room = ?", (room,)).fetchone()
    if newest is None:
        return 0
    deleted = conn.execute(
        "DELETE FROM room_versions WHERE room = ? AND kind = 'auto' AND time < ? AND id < ?",
        (room, older_than, newest),
    ).rowcount
    (count,) = conn.execute("SELECT count(*) FROM room_versions WHERE room = ?", (room,)).fetchone()
    if count > keep:
        deleted += conn.execute(
            "DELETE FROM room_versions WHERE id IN (SELECT id FROM room_versions "
            "WHERE room = ? AND kind = 'auto' AND id < ? ORDER BY id LIMIT ?)",
            (room, newest, count - keep),
        ).rowcount
    return deleted


def _delete(room: str, conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM room_versions WHERE room = ?", (room,))
