"""Comment threads, comments, reactions and mention notifications in the PostgreSQL store: the
SQL and transactions of :class:`..comments.CommentRows`, which has the row shapes, the sealing
(what people wrote is sealed with associated data naming its part, room and row) and the checks
on reading, as the SQLite store shares them."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from psycopg import AsyncConnection

from ..comments import (
    COMMENT_COLUMNS,
    NOTE_COLUMNS,
    THREAD_COLUMNS,
    CommentRows,
    User,
    dump_user,
    row_id,
    seal,
)
from ..crypto import Cipher
from .database import Database
from .events import _next_ids


class PostgresCommentStore(CommentRows):
    """:class:`CommentStore` in four tables of a shared PostgreSQL :class:`Database`."""

    def __init__(self, database: Database, *, cipher: Cipher | None = None) -> None:
        self._db = database
        self._cipher = cipher

    async def _rows(self, sql: str, params: tuple | list) -> list[tuple]:
        async def read(conn: AsyncConnection) -> list[tuple]:
            return await (await conn.execute(sql, params)).fetchall()

        return await self._db.run(read)

    # -- threads ---------------------------------------------------------------------------------

    async def add_thread(
        self, room: str, author: User, body: str, anchor: dict[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        now = time.time()

        async def insert(conn: AsyncConnection) -> tuple[int, int]:
            (tid,) = await _next_ids(conn, "comment_threads", "id", 1)
            root = start = end = text = kid = None
            if anchor is not None:
                root, start, end = anchor["root"], bytes(anchor["start"]), bytes(anchor["end"])
                text, kid = seal(self._cipher, anchor.get("text", ""), "text", room, tid)
            await conn.execute(
                "INSERT INTO comment_threads (id, room, author, created, root, start, end_, "
                "text, kid) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (tid, room, dump_user(author), now, root, start, end, text, kid),
            )
            cid = await self._insert_comment(conn, room, tid, dump_user(author), body, now)
            assert cid is not None
            return tid, cid

        tid, cid = await self._db.run(insert)
        thread = await self.thread(room, str(tid))
        comment = await self.comment(room, str(cid))
        assert thread is not None and comment is not None
        return thread, comment

    async def threads(self, room: str, resolved: bool | None = None) -> list[dict[str, Any]]:
        where = "room = %s"
        if resolved is True:
            where += " AND resolved_at IS NOT NULL"
        elif resolved is False:
            where += " AND resolved_at IS NULL"
        rows = await self._rows(
            f"SELECT {THREAD_COLUMNS} FROM comment_threads WHERE {where} ORDER BY id", (room,)
        )
        return self._checked("thread", rows, self._thread)

    async def thread(self, room: str, thread_id: str) -> dict[str, Any] | None:
        tid = row_id(thread_id)
        if tid is None:
            return None
        rows = await self._rows(
            f"SELECT {THREAD_COLUMNS} FROM comment_threads WHERE id = %s AND room = %s",
            (tid, room),
        )
        return self._one("thread", rows[0], self._thread) if rows else None

    async def delete_thread(self, room: str, thread_id: str) -> bool:
        tid = row_id(thread_id)
        if tid is None:
            return False
        return await self._db.run(partial(_delete_thread, room, tid))

    async def set_resolved(
        self, room: str, thread_id: str, resolved: bool, by: User | None
    ) -> dict[str, Any] | None:
        tid = row_id(thread_id)
        if tid is None:
            return None
        values = (dump_user(by), time.time()) if resolved else (None, None)

        async def update(conn: AsyncConnection) -> int:
            cursor = await conn.execute(
                "UPDATE comment_threads SET resolved_by = %s, resolved_at = %s "
                "WHERE id = %s AND room = %s",
                (*values, tid, room),
            )
            return cursor.rowcount

        changed = await self._db.run(update)
        return await self.thread(room, thread_id) if changed else None

    async def set_anchor_text(self, room: str, thread_id: str, text: str, orphaned: bool) -> None:
        tid = row_id(thread_id)
        if tid is None:
            return
        data, kid = seal(self._cipher, text, "text", room, tid)
        await self._db.run(
            lambda conn: conn.execute(
                "UPDATE comment_threads SET orphaned = %s, text = %s, kid = %s "
                "WHERE id = %s AND room = %s AND root IS NOT NULL",
                (orphaned, data, kid, tid, room),
            )
        )

    # -- comments --------------------------------------------------------------------------------

    async def _insert_comment(
        self, conn: AsyncConnection, room: str, tid: int, author: str, body: str, now: float
    ) -> int | None:
        cursor = await conn.execute(
            "SELECT 1 FROM comment_threads WHERE id = %s AND room = %s", (tid, room)
        )
        if await cursor.fetchone() is None:
            return None
        (cid,) = await _next_ids(conn, "comments", "id", 1)
        data, kid = seal(self._cipher, body, "body", room, cid)
        await conn.execute(
            "INSERT INTO comments (id, thread, room, author, created, body, kid) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (cid, tid, room, author, now, data, kid),
        )
        return cid

    async def comments(self, room: str, thread_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        tids = [tid for tid in map(row_id, thread_ids) if tid is not None]
        if not tids:
            return {}

        async def read(conn: AsyncConnection) -> tuple[list[tuple], dict]:
            cursor = await conn.execute(
                f"SELECT {COMMENT_COLUMNS} FROM comments WHERE room = %s AND thread = ANY(%s) "
                "ORDER BY id",
                (room, tids),
            )
            rows = await cursor.fetchall()
            return rows, await _reactions(conn, [row[0] for row in rows])

        rows, reactions = await self._db.run(read)
        return self._by_thread(tids, rows, reactions)

    async def comment(self, room: str, comment_id: str) -> dict[str, Any] | None:
        cid = row_id(comment_id)
        if cid is None:
            return None

        async def read(conn: AsyncConnection) -> tuple[tuple, dict] | None:
            cursor = await conn.execute(
                f"SELECT {COMMENT_COLUMNS} FROM comments WHERE id = %s AND room = %s",
                (cid, room),
            )
            row = await cursor.fetchone()
            if row is None:
                return None
            return row, (await _reactions(conn, [cid])).get(cid, {})

        found = await self._db.run(read)
        if found is None:
            return None
        row, reactions = found
        return self._one("comment", row, lambda row: self._comment(row, reactions))

    async def add_comment(
        self, room: str, thread_id: str, author: User, body: str
    ) -> dict[str, Any] | None:
        tid = row_id(thread_id)
        if tid is None:
            return None
        now = time.time()
        cid = await self._db.run(
            lambda conn: self._insert_comment(conn, room, tid, dump_user(author), body, now)
        )
        return None if cid is None else await self.comment(room, str(cid))

    async def edit_comment(self, room: str, comment_id: str, body: str) -> dict[str, Any] | None:
        cid = row_id(comment_id)
        if cid is None:
            return None
        data, kid = seal(self._cipher, body, "body", room, cid)

        async def update(conn: AsyncConnection) -> int:
            cursor = await conn.execute(
                "UPDATE comments SET edited = %s, body = %s, kid = %s WHERE id = %s AND room = %s",
                (time.time(), data, kid, cid, room),
            )
            return cursor.rowcount

        changed = await self._db.run(update)
        return await self.comment(room, comment_id) if changed else None

    async def delete_comment(self, room: str, comment_id: str) -> str | None:
        cid = row_id(comment_id)
        if cid is None:
            return None
        tid = await self._db.run(partial(_delete_comment, room, cid))
        return None if tid is None else str(tid)

    async def react(
        self, room: str, comment_id: str, emoji: str, username: str, on: bool
    ) -> dict[str, Any] | None:
        cid = row_id(comment_id)
        if cid is None:
            return None
        known = await self._db.run(partial(_react, room, cid, emoji, username, on))
        return await self.comment(room, comment_id) if known else None

    # -- notifications ---------------------------------------------------------------------------

    async def notify(self, notifications: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not notifications:
            return []
        now = time.time()

        async def insert(conn: AsyncConnection) -> list[tuple]:
            ids = await _next_ids(conn, "notifications", "id", len(notifications))
            rows = []
            for nid, note in zip(ids, notifications, strict=True):
                data, kid = seal(self._cipher, note["excerpt"], "excerpt", note["room"], nid)
                rows.append(
                    (
                        nid,
                        note["user"],
                        note["room"],
                        int(note["thread"]),
                        int(note["comment"]),
                        dump_user(note["by"]),
                        now,
                        data,
                        kid,
                    )
                )
            async with conn.cursor() as cur:
                await cur.executemany(
                    'INSERT INTO notifications (id, "user", room, thread, comment, "by", '
                    "created, read, excerpt, kid) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, FALSE, %s, %s)",
                    rows,
                )
            cursor = await conn.execute(
                f"SELECT {NOTE_COLUMNS} FROM notifications WHERE id = ANY(%s) ORDER BY id",
                (ids,),
            )
            return await cursor.fetchall()

        return self._checked("notification", await self._db.run(insert), self._note)

    async def notifications(
        self, user: str, *, unread: bool = False, limit: int = 50
    ) -> tuple[list[dict[str, Any]], int]:
        where = '"user" = %s' + (" AND NOT read" if unread else "")

        async def read(conn: AsyncConnection) -> tuple[list[tuple], int]:
            cursor = await conn.execute(
                f"SELECT {NOTE_COLUMNS} FROM notifications WHERE {where} ORDER BY id DESC LIMIT %s",
                (user, limit),
            )
            return await cursor.fetchall(), await _unread(conn, user)

        rows, count = await self._db.run(read)
        return self._checked("notification", rows, self._note), count

    async def mark_read(self, user: str, ids: list[str] | None) -> int:
        row_ids = None if ids is None else [i for i in map(row_id, ids) if i is not None]

        async def mark(conn: AsyncConnection) -> int:
            if row_ids is None:
                await conn.execute(
                    'UPDATE notifications SET read = TRUE WHERE "user" = %s', (user,)
                )
            elif row_ids:
                await conn.execute(
                    'UPDATE notifications SET read = TRUE WHERE "user" = %s AND id = ANY(%s)',
                    (user, row_ids),
                )
            return await _unread(conn, user)

        return await self._db.run(mark)

    async def prune_notifications(self, older_than: float) -> int:
        async def prune(conn: AsyncConnection) -> int:
            cursor = await conn.execute(
                "DELETE FROM notifications WHERE read AND created < %s", (older_than,)
            )
            return cursor.rowcount

        return await self._db.run(prune)

    async def delete(self, room: str) -> None:
        await self._db.run(partial(_delete_room, room))


# --- in one transaction each (see Database.run) ---


async def _reactions(conn: AsyncConnection, cids: list[int]) -> dict[int, dict[str, list[str]]]:
    found: dict[int, dict[str, list[str]]] = {}
    if not cids:
        return found
    cursor = await conn.execute(
        "SELECT comment, emoji, username FROM comment_reactions WHERE comment = ANY(%s) "
        "ORDER BY id",
        (cids,),
    )
    for cid, emoji, username in await cursor.fetchall():
        found.setdefault(cid, {}).setdefault(emoji, []).append(username)
    return found


async def _delete_thread(room: str, tid: int, conn: AsyncConnection) -> bool:
    cursor = await conn.execute(
        "DELETE FROM comment_threads WHERE id = %s AND room = %s", (tid, room)
    )
    if not cursor.rowcount:
        return False
    await conn.execute(
        "DELETE FROM comment_reactions WHERE comment IN "
        "(SELECT id FROM comments WHERE thread = %s)",
        (tid,),
    )
    await conn.execute("DELETE FROM comments WHERE thread = %s", (tid,))
    await conn.execute("DELETE FROM notifications WHERE thread = %s", (tid,))
    return True


async def _delete_comment(room: str, cid: int, conn: AsyncConnection) -> int | None:
    cursor = await conn.execute(
        "SELECT thread FROM comments WHERE id = %s AND room = %s", (cid, room)
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    (tid,) = row
    await conn.execute("DELETE FROM comments WHERE id = %s", (cid,))
    await conn.execute("DELETE FROM comment_reactions WHERE comment = %s", (cid,))
    await conn.execute("DELETE FROM notifications WHERE comment = %s", (cid,))
    cursor = await conn.execute("SELECT 1 FROM comments WHERE thread = %s LIMIT 1", (tid,))
    if await cursor.fetchone() is None:
        await _delete_thread(room, tid, conn)
    return tid


async def _react(
    room: str, cid: int, emoji: str, username: str, on: bool, conn: AsyncConnection
) -> bool:
    cursor = await conn.execute("SELECT 1 FROM comments WHERE id = %s AND room = %s", (cid, room))
    if await cursor.fetchone() is None:
        return False
    if on:
        await conn.execute(
            "INSERT INTO comment_reactions (comment, emoji, username) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (cid, emoji, username),
        )
    else:
        await conn.execute(
            "DELETE FROM comment_reactions WHERE comment = %s AND emoji = %s AND username = %s",
            (cid, emoji, username),
        )
    return True


async def _unread(conn: AsyncConnection, user: str) -> int:
    cursor = await conn.execute(
        'SELECT count(*) FROM notifications WHERE "user" = %s AND NOT read', (user,)
    )
    (count,) = await cursor.fetchone()
    return int(count)


async def _delete_room(room: str, conn: AsyncConnection) -> None:
    await conn.execute(
        "DELETE FROM comment_reactions WHERE comment IN (SELECT id FROM comments WHERE room = %s)",
        (room,),
    )
    await conn.execute("DELETE FROM comments WHERE room = %s", (room,))
    await conn.execute("DELETE FROM comment_threads WHERE room = %s", (room,))
    await conn.execute("DELETE FROM notifications WHERE room = %s", (room,))
