"""Comment threads, comments, reactions and mention notifications in the SQLite store.

Four tables (migration 6): ``comment_threads`` (author, resolution, the anchor's two encoded
sticky indexes and the text it covered last), ``comments``, ``comment_reactions`` and
``notifications``. With a cipher, what people wrote is sealed (a comment's body, an anchor's
text, a notification's excerpt) with associated data naming its part, room and row; who wrote,
when, and the anchor's relative positions (ids and clocks, no content) are metadata in the
clear, like an update's author.

**Rows are read as untrusted.** Anything with the database file (another tool, an older
release, a damaged page) can write a row of any type into any column: every row is checked as
it is shaped (:class:`MalformedCommentRow` says what is wrong), and a list skips the bad ones, logs
each with its reason and counts them in :attr:`SQLiteCommentStore.malformed`, so one bad row
never fails a listing. A single read of a bad row raises :class:`MalformedCommentRow`.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from functools import lru_cache, partial
from typing import Any

from ... import strictjson
from ..base import CommentStore, MalformedCommentRow
from ..crypto import Cipher, CipherError
from .database import Database
from .sealing import comment_ad

_log = logging.getLogger(__name__)

User = dict[str, Any]

_THREAD_COLUMNS = (
    "id, room, author, created, resolved_by, resolved_at, orphaned, root, start, end_, text, kid"
)
_COMMENT_COLUMNS = "id, thread, room, author, created, edited, body, kid"
_NOTE_COLUMNS = 'id, "user", room, thread, comment, by, created, read, excerpt, kid'


#: Longest stored USER JSON, encoded relative position and root name read back.
_USER_MAX = 4096
_POSITION_MAX = 150
_ROOT = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


def _row_id(value: str) -> int | None:
    """The row id an opaque id names; None for anything we never handed out."""
    if not (isinstance(value, str) and value.isdecimal() and len(value) <= 18):
        return None
    return int(value)


def _user(text: Any, column: str, optional: bool = False) -> User | None:
    """A stored USER, checked: ``{"username": str, "name": str, "color": str | null}``."""
    if text is None and optional:
        return None
    if not isinstance(text, str):
        raise MalformedCommentRow(f"{column} is a {type(text).__name__}, not USER JSON")
    try:
        username, name, color = _parse_user(text)
    except MalformedCommentRow as e:
        raise MalformedCommentRow(f"{column}{e}") from None
    return {"username": username, "name": name, "color": color}


@lru_cache(maxsize=1024)
def _parse_user(text: str) -> tuple[str, str, str | None]:
    """The fields of USER JSON (cached: a room's threads have few authors, and a list reads
    every one); :class:`MalformedCommentRow` with what is wrong, after the column's name."""
    try:
        user = strictjson.loads(text, max_depth=2, max_bytes=_USER_MAX)
    except strictjson.InvalidJSON as e:
        raise MalformedCommentRow(f": {e}") from None
    if not isinstance(user, dict):
        raise MalformedCommentRow(" is not a JSON object")
    username, name, color = user.get("username"), user.get("name", ""), user.get("color")
    if not isinstance(username, str) or not username:
        raise MalformedCommentRow(".username is not a non-empty string")
    if not isinstance(name, str) or not (color is None or isinstance(color, str)):
        raise MalformedCommentRow(".name or .color is not a string")
    return username, name, color


def _int(value: Any, column: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedCommentRow(f"{column} is a {type(value).__name__}, not an integer")
    return value


def _time(value: Any, column: str, optional: bool = False) -> float | None:
    """A stored time: a finite number of seconds (or None where ``optional``)."""
    if value is None and optional:
        return None
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not 0 <= value < 1e11
    ):
        raise MalformedCommentRow(f"{column} is not a time ({str(value)[:40]!r})")
    return value


def _blob(value: Any, column: str, most: int | None = None) -> bytes:
    if isinstance(value, str):
        value = value.encode()
    elif isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value)
    else:
        raise MalformedCommentRow(f"{column} is a {type(value).__name__}, not bytes")
    if most is not None and len(value) > most:
        raise MalformedCommentRow(f"{column} of {len(value)} bytes is longer than {most}")
    return value


def _reactions_of(reactions: Any) -> dict[str, list[str]]:
    """Stored reactions, keeping only emoji and usernames that are strings."""
    return {
        emoji: [user for user in users if isinstance(user, str)]
        for emoji, users in reactions.items()
        if isinstance(emoji, str)
    }


def _dump(user: User | None) -> str | None:
    return None if user is None else json.dumps(user, ensure_ascii=False, separators=(",", ":"))


class SQLiteCommentStore(CommentStore):
    """:class:`CommentStore` in four tables of a shared :class:`Database`."""

    def __init__(self, database: Database, *, cipher: Cipher | None = None) -> None:
        self._db = database
        self._cipher = cipher

    # -- sealing ---------------------------------------------------------------------------------

    #: Stored rows skipped (or refused) because they are not ones we could have written.
    malformed = 0

    def _open(self, kid: Any, data: Any, part: str, room: str, row: int) -> str:
        """The clear text of a (possibly sealed) column; :class:`MalformedCommentRow` if it cannot be
        opened or is not UTF-8."""
        if data is None:
            return ""
        data = _blob(data, part)
        try:
            if kid is None:
                return data.decode()
            if not isinstance(kid, str):
                raise MalformedCommentRow(f"{part}: kid is a {type(kid).__name__}")
            if self._cipher is None:
                raise CipherError(f"a comment row is sealed with key {kid} and no key is set")
            return self._cipher.open(kid, data, comment_ad(part, room, row)).decode()
        except UnicodeDecodeError:
            raise MalformedCommentRow(f"{part} is not UTF-8") from None
        except CipherError as e:
            raise MalformedCommentRow(f"{part}: {e}") from None

    def _checked(self, what: str, rows: Iterable[Any], shape: Callable[[Any], Any]) -> list[Any]:
        """``shape`` of each row, skipping (logged, counted) those it finds malformed."""
        found = []
        for row in rows:
            try:
                found.append(shape(row))
            except MalformedCommentRow as e:
                self._bad(what, row, e)
        return found

    def _bad(self, what: str, row: Any, error: Exception) -> None:
        self.malformed += 1
        row_id = row[0] if isinstance(row, tuple) and row else "?"
        _log.error("skipped stored %s %s: %s", what, str(row_id)[:40], error)

    def _thread(self, row: tuple) -> dict[str, Any]:
        (tid, room, author, created, by, at, orphaned, root, start, end, text, kid) = row
        tid = _int(tid, "id")
        if not isinstance(room, str):
            raise MalformedCommentRow("room is not a string")
        anchor = None
        if root is not None:
            if not isinstance(root, str) or not _ROOT.fullmatch(root):
                raise MalformedCommentRow("root is not the name of a root")
            anchor = {
                "root": root,
                "start": _blob(start, "start", _POSITION_MAX),
                "end": _blob(end, "end", _POSITION_MAX),
                "text": self._open(kid, text, "text", room, tid),
            }
        if orphaned not in (0, 1):  # False and True too
            raise MalformedCommentRow("orphaned is not 0 or 1")
        at = _time(at, "resolved_at", optional=True)
        return {
            "id": str(tid),
            "room": room,
            "author": _user(author, "author"),
            "created": _time(created, "created"),
            "resolved": at is not None,
            "resolved_by": _user(by, "resolved_by", optional=True),
            "resolved_at": at,
            "orphaned": bool(orphaned),
            "anchor": anchor,
        }

    def _comment(self, row: tuple, reactions: dict[str, list[str]]) -> dict[str, Any]:
        cid, tid, room, author, created, edited, body, kid = row
        cid = _int(cid, "id")
        if not isinstance(room, str):
            raise MalformedCommentRow("room is not a string")
        return {
            "id": str(cid),
            "thread": str(_int(tid, "thread")),
            "room": room,
            "author": _user(author, "author"),
            "created": _time(created, "created"),
            "edited": _time(edited, "edited", optional=True),
            "body": self._open(kid, body, "body", room, cid),
            "reactions": _reactions_of(reactions),
        }

    def _note(self, row: tuple) -> dict[str, Any]:
        nid, user, room, tid, cid, by, created, read, excerpt, kid = row
        nid = _int(nid, "id")
        if not isinstance(room, str) or not isinstance(user, str):
            raise MalformedCommentRow("room or user is not a string")
        if read not in (0, 1):
            raise MalformedCommentRow("read is not 0 or 1")
        return {
            "id": str(nid),
            "user": user,
            "room": room,
            "thread": str(_int(tid, "thread")),
            "comment": str(_int(cid, "comment")),
            "by": _user(by, "by"),
            "created": _time(created, "created"),
            "read": bool(read),
            "excerpt": self._open(kid, excerpt, "excerpt", room, nid),
        }

    def _one(self, what: str, row: Any, shape: Callable[[Any], Any]) -> Any:
        """``shape(row)``; a malformed row is logged and counted, and raised."""
        try:
            return shape(row)
        except MalformedCommentRow as e:
            self._bad(what, row, e)
            raise

    # -- threads ---------------------------------------------------------------------------------

    async def add_thread(
        self, room: str, author: User, body: str, anchor: dict[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        tid, cid = await self._db.run(
            partial(_insert_thread, room, _dump(author), body, anchor, time.time(), self._cipher)
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
                f"SELECT {_THREAD_COLUMNS} FROM comment_threads WHERE {where} ORDER BY id",
                (room,),
            ).fetchall()
        )
        return self._checked("thread", rows, self._thread)

    async def thread(self, room: str, thread_id: str) -> dict[str, Any] | None:
        tid = _row_id(thread_id)
        if tid is None:
            return None
        row = await self._db.run(partial(_select_thread, room, tid))
        return None if row is None else self._one("thread", row, self._thread)

    async def delete_thread(self, room: str, thread_id: str) -> bool:
        tid = _row_id(thread_id)
        if tid is None:
            return False
        return await self._db.run(partial(_delete_thread, room, tid))

    async def set_resolved(
        self, room: str, thread_id: str, resolved: bool, by: User | None
    ) -> dict[str, Any] | None:
        tid = _row_id(thread_id)
        if tid is None:
            return None
        values = (_dump(by), time.time()) if resolved else (None, None)
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
        tid = _row_id(thread_id)
        if tid is None:
            return
        await self._db.run(partial(_set_text, room, tid, text, orphaned, self._cipher))

    # -- comments --------------------------------------------------------------------------------

    async def comments(self, room: str, thread_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        tids = [tid for tid in map(_row_id, thread_ids) if tid is not None]
        if not tids:
            return {}
        rows, reactions = await self._db.run(partial(_select_comments, room, tids))
        found: dict[str, list[dict[str, Any]]] = {str(tid): [] for tid in tids}
        shaped = self._checked(
            "comment", rows, lambda row: self._comment(row, reactions.get(row[0], {}))
        )
        for comment in shaped:
            found.setdefault(comment["thread"], []).append(comment)
        return found

    async def comment(self, room: str, comment_id: str) -> dict[str, Any] | None:
        cid = _row_id(comment_id)
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
        tid = _row_id(thread_id)
        if tid is None:
            return None
        cid = await self._db.run(
            partial(_insert_comment, room, tid, _dump(author), body, time.time(), self._cipher)
        )
        return None if cid is None else await self.comment(room, str(cid))

    async def edit_comment(self, room: str, comment_id: str, body: str) -> dict[str, Any] | None:
        cid = _row_id(comment_id)
        if cid is None:
            return None
        changed = await self._db.run(partial(_edit_comment, room, cid, body, self._cipher))
        return await self.comment(room, comment_id) if changed else None

    async def delete_comment(self, room: str, comment_id: str) -> str | None:
        cid = _row_id(comment_id)
        if cid is None:
            return None
        tid = await self._db.run(partial(_delete_comment, room, cid))
        return None if tid is None else str(tid)

    async def react(
        self, room: str, comment_id: str, emoji: str, username: str, on: bool
    ) -> dict[str, Any] | None:
        cid = _row_id(comment_id)
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
                f"SELECT {_NOTE_COLUMNS} FROM notifications WHERE id IN "
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
        row_ids = None if ids is None else [i for i in map(_row_id, ids) if i is not None]
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
    row_id: int,
    clear: str,
) -> None:
    """Write ``clear`` into the row's ``column``, sealed when there is a cipher (the row's id is
    part of the associated data, so this runs after the insert, in the same transaction)."""
    data = clear.encode()
    kid = None
    if cipher is not None:
        kid, data = cipher.seal(data, comment_ad(part, room, row_id))
    conn.execute(f"UPDATE {table} SET {column} = ?, kid = ? WHERE id = ?", (data, kid, row_id))


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
        f"SELECT {_THREAD_COLUMNS} FROM comment_threads WHERE id = ? AND room = ?", (tid, room)
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
                f"SELECT {_COMMENT_COLUMNS} FROM comments WHERE room = ? AND thread IN "
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
        f"SELECT {_COMMENT_COLUMNS} FROM comments WHERE id = ? AND room = ?", (cid, room)
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
                _dump(note["by"]),
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
        f"SELECT {_NOTE_COLUMNS} FROM notifications WHERE {where} ORDER BY id DESC LIMIT ?",
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
