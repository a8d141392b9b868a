"""The versions of each room in the PostgreSQL store, as the SQLite store keeps them
(``store/sqlite/history.py``): one row per version holding a full document state and its
authorship runs, sealed with the room, id and part as associated data."""

from __future__ import annotations

import json
import time
from typing import Any

from psycopg import AsyncConnection

from ..base import HistoryStore
from ..crypto import Cipher
from ..sqlite.history import _open, _row_id, _version
from ..sqlite.sealing import version_ad
from .database import Database
from .events import _next_ids

Runs = dict[str, list[list[Any]]]

_COLUMNS = "id, time, kind, label, authors, size"


class PostgresHistoryStore(HistoryStore):
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
        state = bytes(state)
        cipher = self._cipher

        async def insert(conn: AsyncConnection) -> int:
            (version_id,) = await _next_ids(conn, "room_versions", "id", 1)
            kid, sealed_state, sealed_runs = None, state, encoded_runs
            if cipher is not None:
                kid, sealed_state = cipher.seal(state, version_ad(room, version_id, "state"))
                _, sealed_runs = cipher.seal(encoded_runs, version_ad(room, version_id, "runs"))
            await conn.execute(
                "INSERT INTO room_versions "
                "(id, room, time, kind, label, authors, size, state, runs, kid) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (version_id, *row, sealed_state, sealed_runs, kid),
            )
            return version_id

        version_id = await self._db.run(insert)
        return _version((version_id, *row[1:]))

    async def list_versions(
        self, room: str, before: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        below = _row_id(before) if before is not None else None
        if before is not None and below is None:
            return []

        async def read(conn: AsyncConnection) -> list[tuple]:
            cursor = await conn.execute(
                f"SELECT {_COLUMNS} FROM room_versions WHERE room = %s AND id < %s "
                "ORDER BY id DESC LIMIT %s",
                (room, 2**63 - 1 if below is None else below, limit),
            )
            return await cursor.fetchall()

        return [_version(row) for row in await self._db.run(read)]

    async def get_version(
        self, room: str, version_id: str
    ) -> tuple[dict[str, Any], bytes, Runs] | None:
        row_id = _row_id(version_id)
        if row_id is None:
            return None

        async def read(conn: AsyncConnection) -> tuple | None:
            cursor = await conn.execute(
                f"SELECT {_COLUMNS}, state, runs, kid FROM room_versions "
                "WHERE room = %s AND id = %s",
                (room, row_id),
            )
            return await cursor.fetchone()

        row = await self._db.run(read)
        if row is None:
            return None
        *meta, state, runs, kid = row
        state = _open(self._cipher, kid, bytes(state), version_ad(room, row_id, "state"))
        runs = _open(self._cipher, kid, bytes(runs), version_ad(room, row_id, "runs"))
        try:
            decoded = json.loads(runs)
        except ValueError:
            decoded = {}
        return _version(tuple(meta)), state, decoded if isinstance(decoded, dict) else {}

    async def prune(self, room: str, *, older_than: float, keep: int) -> int:
        async def prune(conn: AsyncConnection) -> int:
            # The newest version stays whatever its age: the recorder builds the next one on it.
            cursor = await conn.execute(
                "SELECT max(id), count(*) FROM room_versions WHERE room = %s", (room,)
            )
            newest, _ = await cursor.fetchone()
            if newest is None:
                return 0
            cursor = await conn.execute(
                "DELETE FROM room_versions WHERE room = %s AND kind = 'auto' AND time < %s "
                "AND id < %s",
                (room, older_than, newest),
            )
            deleted = cursor.rowcount
            cursor = await conn.execute(
                "SELECT count(*) FROM room_versions WHERE room = %s", (room,)
            )
            (count,) = await cursor.fetchone()
            if count > keep:
                cursor = await conn.execute(
                    "DELETE FROM room_versions WHERE id IN (SELECT id FROM room_versions "
                    "WHERE room = %s AND kind = 'auto' AND id < %s ORDER BY id LIMIT %s)",
                    (room, newest, count - keep),
                )
                deleted += cursor.rowcount
            return deleted

        return await self._db.run(prune)

    async def delete(self, room: str) -> None:
        await self._db.run(
            lambda conn: conn.execute("DELETE FROM room_versions WHERE room = %s", (room,))
        )
