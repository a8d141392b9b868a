"""Comment threads, comments, reactions and mention notifications in the SQLite store: the
SQL and transactions of :class:`..comments.CommentRows`, which has the row shapes, the
sealing and the checks on reading (rows are read as untrusted)."""

from __future__ import annotations

import sqlite3
import time
from functools import partial
from typing import Any

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


class SQLiteCommentStore(CommentRows):
    """:class:`CommentStore` in four tables of a shared :class:`Database`."""

    def __init__(self, database: Database, *, cipher: Cipher | None = None) -> None:
        self._db = database
        self._cipher = cipher

    # -- threads ---------------------------------------------------------------------------------

    async def add_thread(
        self, room: str, author: User, body: str, anchor: dict[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        tid, cid = await self._db.run(
            partial(
                _insert_thread, room, dump_user(author), body, anchor, time.time(), self._cipher
            )
        )
        thread = await self.thread(room, str(tid))
        comment = await self.comment(room, str(cid))
        assert thread is not None and comment is not None
        return thread, comment

    async def threads(self, room: str, resolved: bool | None = None) -> list[dict[str, Any]]:
        where = "room = ?"
        if resolved is True:
            where += " AND resolved_at IS NOT NULL"
        elif resolved is False:
            where += " AND resolved_at IS NULL"
        rows = await self._db.run(
            lambda conn: conn.execute(
                f"SELECT {THREAD_COLUMNS} FROM comment_threads WHERE {where} ORDER BY id",
                (room,),
            ).fetchall()
        )
        return self._checked("thread", rows, self._thread)

    async def thread(self, room: str, thread_id: str) -> dict[str, Any] | None:
        tid = row_id(thread_id)
        if tid is None:
            return None
        row = await self._db.run(partial(_select_thread, room, tid))
        return None if row is None else self._one("thread", row, self._thread)

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
        changed = await self._db.run(
            lambda conn: (
                conn.execute(
                    "UPDATE comment_threads SET resolved_by = ?, resolved_at = ? "
                    "WHERE id = ? AND room = ?",
                    (*values, tid, room),
                ).rowcount
            )
        )
        return await self.thread(room, thread_id) if changed else None

    async def set_anchor_text(self, room: str, thread_id: str, text: str, orphaned: bool) -> None:
        tid = row_id(thread_id)
        if tid is None:
            return
        await self._db.run(partial(_set_text, room, tid, text, orphaned, self._cipher))

    # -- comments --------------------------------------------------------------------------------

    async def comments(self, room: str, thread_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        tids = [tid for tid in map(row_id, thread_ids) if tid is not None]
        if not tids:
            return {}
        rows, reactions = await self._db.run(partial(_select_comments, room, tids))
        return self._by_thread(tids, rows, reactions)

    async def comment(self, room: str, comment_id: str) -> dict[str, Any] | None:
        cid = row_id(comment_id)
        if cid is None:
            return None
        found = await self._db.run(partial(_select_comment, room, cid))
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
        cid = await self._db.run(
            partial(_insert_comment, room, tid, dump_user(author), body, time.time(), self._cipher)
        )
        return None if cid is None else await self.comment(room, str(cid))

    async def edit_comment(self, room: str, comment_id: str, body: str) -> dict[str, Any] | None:
        cid = row_id(comment_id)
        if cid is None:
            return None
        changed = await self._db.run(partial(_edit_comment, room, cid, body, self._cipher))
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
        ids = await self._db.run(partial(_insert_notes, notifications, time.time(), self._cipher))
        rows = await self._db.run(
            lambda conn: conn.execute(
                f"SELECT {NOTE_COLUMNS} FROM notifications WHERE id IN "
                f"({','.join('?' * len(ids))}) ORDER BY id",
                ids,
            ).fetchall()
        )
        return self._checked("notification", rows, self._note)

    async def notifications(
        self, user: str, *, unread: bool = False, limit: int = 50
    ) -> tuple[list[dict[str, Any]], int]:
        rows, count = await self._db.run(partial(_select_notes, user, unread, limit))
        return self._checked("notification", rows, self._note), count

    async def mark_read(self, user: str, ids: list[str] | None) -> int:
        row_ids = None if ids is None else [i for i in map(row_id, ids) if i is not None]
        return await self._db.run(partial(_mark_read, user, row_ids))

    async def prune_notifications(self, older_than: float) -> int:
        return await self._db.run(
            lambda conn: (
                conn.execute(
                    "DELETE FROM notifications WHERE read = 1 AND created < ?", (older_than,)
                ).rowcount
            )
        )

    async def delete(self, room: str) -> None:
        await self._db.run(partial(_delete_room, room))


# --- run on the DB thread, inside a transaction (see Database.run) ---


def _seal(
    conn: sqlite3.Connection,
    cipher: Cipher | None,
    table: str,
    column: str,
    part: str,
    room: str,
    row: int,
    clear: str,
) -> None:
    """Write ``clear`` into the row's ``column``, sealed when there is a cipher (the row's id is
    part of the associated data, so this runs after the insert, in the same transaction)."""
    data, kid = seal(cipher, clear, part, room, row)
    conn.execute(f"UPDATE {table} SET {column} = ?, kid = ? WHERE id = ?", (data, kid, row))


def _insert_thread(
    room: str,
    author: str,
    body: str,
    anchor: dict[str, Any] | None,
    now: float,
    cipher: Cipher | None,
    conn: sqlite3.Connection,
) -> tuple[int, int]:
    if anchor is None:
        root = start = end = None
    else:
        root, start, end = anchor["root"], bytes(anchor["start"]), bytes(anchor["end"])
    tid = conn.execute(
        "INSERT INTO comment_threads (room, author, created, root, start, end_) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (room, author, now, root, start, end),
    ).lastrowid
    assert tid is not None
    if anchor is not None:
        _seal(conn, cipher, "comment_threads", "text", "text", room, tid, anchor.get("text", ""))
    cid = _insert_comment(room, tid, author, body, now, cipher, conn)
    assert cid is not None
    return tid, cid


def _select_thread(room: str, tid: int, conn: sqlite3.Connection) -> tuple | None:
    return conn.execute(
        f"SELECT {THREAD_COLUMNS} FROM comment_threads WHERE id = ? AND room = ?", (tid, room)
    ).fetchone()


def _set_text(
    room: str, tid: int, text: str, orphaned: bool, cipher: Cipher | None, conn: sqlite3.Connection
) -> None:
    found = conn.execute(
        "SELECT 1 FROM comment_threads WHERE id = ? AND room = ? AND root IS NOT NULL", (tid, room)
    ).fetchone()
    if found is None:
        return
    conn.execute("UPDATE comment_threads SET orphaned = ? WHERE id = ?", (int(orphaned), tid))
    _seal(conn, cipher, "comment_threads", "text", "text", room, tid, text)


def _delete_thread(room: str, tid: int, conn: sqlite3.Connection) -> bool:
    if not conn.execute(
        "DELETE FROM comment_threads WHERE id = ? AND room = ?", (tid, room)
    ).rowcount:
        return False
    conn.execute(
        "DELETE FROM comment_reactions WHERE comment IN (SELECT id FROM comments WHERE thread = ?)",
        (tid,),
    )
    conn.execute("DELETE FROM comments WHERE thread = ?", (tid,))
    conn.execute("DELETE FROM notifications WHERE thread = ?", (tid,))
    return True


def _insert_comment(
    room: str,
    tid: int,
    author: str,
    body: str,
    now: float,
    cipher: Cipher | None,
    conn: sqlite3.Connection,
) -> int | None:
    if (
        conn.execute(
            "SELECT 1 FROM comment_threads WHERE id = ? AND room = ?", (tid, room)
        ).fetchone()
        is None
    ):
        return None
    cid = conn.execute(
        "INSERT INTO comments (thread, room, author, created, body) VALUES (?, ?, ?, ?, x'')",
        (tid, room, author, now),
    ).lastrowid
    assert cid is not None
    _seal(conn, cipher, "comments", "body", "body", room, cid, body)
    return cid


def _reactions(conn: sqlite3.Connection, cids: list[int]) -> dict[int, dict[str, list[str]]]:
    found: dict[int, dict[str, list[str]]] = {}
    for start in range(0, len(cids), 500):
        chunk = cids[start : start + 500]
        for cid, emoji, username in conn.execute(
            "SELECT comment, emoji, username FROM comment_reactions WHERE comment IN "
            f"({','.join('?' * len(chunk))}) ORDER BY id",
            chunk,
        ):
            found.setdefault(cid, {}).setdefault(emoji, []).append(username)
    return found


def _select_comments(
    room: str, tids: list[int], conn: sqlite3.Connection
) -> tuple[list[tuple], dict[int, dict[str, list[str]]]]:
    rows: list[tuple] = []
    for start in range(0, len(tids), 500):
        chunk = tids[start : start + 500]
        rows.extend(
            conn.execute(
                f"SELECT {COMMENT_COLUMNS} FROM comments WHERE room = ? AND thread IN "
                f"({','.join('?' * len(chunk))}) ORDER BY id",
                (room, *chunk),
            )
        )
    rows.sort(key=lambda row: row[0])
    return rows, _reactions(conn, [row[0] for row in rows])


def _select_comment(
    room: str, cid: int, conn: sqlite3.Connection
) -> tuple[tuple, dict[str, list[str]]] | None:
    row = conn.execute(
        f"SELECT {COMMENT_COLUMNS} FROM comments WHERE id = ? AND room = ?", (cid, room)
    ).fetchone()
    if row is None:
        return None
    return row, _reactions(conn, [cid]).get(cid, {})


def _edit_comment(
    room: str, cid: int, body: str, cipher: Cipher | None, conn: sqlite3.Connection
) -> bool:
    if not conn.execute(
        "UPDATE comments SET edited = ? WHERE id = ? AND room = ?", (time.time(), cid, room)
    ).rowcount:
        return False
    _seal(conn, cipher, "comments", "body", "body", room, cid, body)
    return True


def _delete_comment(room: str, cid: int, conn: sqlite3.Connection) -> int | None:
    row = conn.execute(
        "SELECT thread FROM comments WHERE id = ? AND room = ?", (cid, room)
    ).fetchone()
    if row is None:
        return None
    (tid,) = row
    conn.execute("DELETE FROM comments WHERE id = ?", (cid,))
    conn.execute("DELETE FROM comment_reactions WHERE comment = ?", (cid,))
    conn.execute("DELETE FROM notifications WHERE comment = ?", (cid,))
    if conn.execute("SELECT 1 FROM comments WHERE thread = ? LIMIT 1", (tid,)).fetchone() is None:
        _delete_thread(room, tid, conn)
    return tid


def _react(
    room: str, cid: int, emoji: str, username: str, on: bool, conn: sqlite3.Connection
) -> bool:
    if (
        conn.execute("SELECT 1 FROM comments WHERE id = ? AND room = ?", (cid, room)).fetchone()
        is None
    ):
        return False
    if on:
        conn.execute(
            "INSERT OR IGNORE INTO comment_reactions (comment, emoji, username) VALUES (?, ?, ?)",
            (cid, emoji, username),
        )
    else:
        conn.execute(
            "DELETE FROM comment_reactions WHERE comment = ? AND emoji = ? AND username = ?",
            (cid, emoji, username),
        )
    return True


def _insert_notes(
    notes: list[dict[str, Any]], now: float, cipher: Cipher | None, conn: sqlite3.Connection
) -> list[int]:
    ids = []
    for note in notes:
        nid = conn.execute(
            'INSERT INTO notifications ("user", room, thread, comment, by, created, read, excerpt) '
            "VALUES (?, ?, ?, ?, ?, ?, 0, x'')",
            (
                note["user"],
                note["room"],
                int(note["thread"]),
                int(note["comment"]),
                dump_user(note["by"]),
                now,
            ),
        ).lastrowid
        assert nid is not None
        _seal(
            conn, cipher, "notifications", "excerpt", "excerpt", note["room"], nid, note["excerpt"]
        )
        ids.append(nid)
    return ids


def _unread(user: str, conn: sqlite3.Connection) -> int:
    (count,) = conn.execute(
        'SELECT count(*) FROM notifications WHERE "user" = ? AND read = 0', (user,)
    ).fetchone()
    return count


def _select_notes(
    user: str, unread: bool, limit: int, conn: sqlite3.Connection
) -> tuple[list[tuple], int]:
    where = '"user" = ?' + (" AND read = 0" if unread else "")
    rows = conn.execute(
        f"SELECT {NOTE_COLUMNS} FROM notifications WHERE {where} ORDER BY id DESC LIMIT ?",
        (user, limit),
    ).fetchall()
    return rows, _unread(user, conn)


def _mark_read(user: str, ids: list[int] | None, conn: sqlite3.Connection) -> int:
    if ids is None:
        conn.execute('UPDATE notifications SET read = 1 WHERE "user" = ?', (user,))
    else:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            conn.execute(
                f'UPDATE notifications SET read = 1 WHERE "user" = ? AND id IN '
                f"({','.join('?' * len(chunk))})",
                (user, *chunk),
            )
    return _unread(user, conn)


def _delete_room(room: str, conn: sqlite3.Connection) -> None:
    conn.execute(
        "DELETE FROM comment_reactions WHERE comment IN (SELECT id FROM comments WHERE room = ?)",
        (room,),
    )
    conn.execute("DELETE FROM comments WHERE room = ?", (room,))
    conn.execute("DELETE FROM comment_threads WHERE room = ?", (room,))
    conn.execute("DELETE FROM notifications WHERE room = ?", (room,))
