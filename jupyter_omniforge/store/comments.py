"""Comment rows as both engines keep them: the shapes, the sealing, and the checks on reading.

Four tables (SQLite migration 6, the PostgreSQL schema alike): ``comment_threads`` (author,
resolution, the anchor's two encoded sticky indexes and the text it covered last),
``comments``, ``comment_reactions`` and ``notifications``. With a cipher, what people wrote is
sealed (a comment's body, an anchor's text, a notification's excerpt) with associated data
naming its part, room and row; who wrote, when, and the anchor's relative positions (ids and
clocks, no content) are metadata in the clear, like an update's author.

**Rows are read as untrusted.** Anything with the database (another tool, an older release, a
damaged page) can write a row of any type into any column: every row is checked as it is
shaped (:class:`MalformedCommentRow` says what is wrong), and a list skips the bad ones, logs
each with its reason and counts them in :attr:`CommentRows.malformed`, so one bad row never
fails a listing. A single read of a bad row raises :class:`MalformedCommentRow`.

An engine's store inherits :class:`CommentRows` and keeps only its SQL and transactions.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from .. import strictjson
from .base import CommentStore, MalformedCommentRow
from .crypto import Cipher, CipherError
from .sqlite.sealing import comment_ad

_log = logging.getLogger(__name__)

User = dict[str, Any]

#: The columns a thread, a comment and a notification are shaped from, in the order read.
THREAD_COLUMNS = (
    "id, room, author, created, resolved_by, resolved_at, orphaned, root, start, end_, text, kid"
)
COMMENT_COLUMNS = "id, thread, room, author, created, edited, body, kid"
NOTE_COLUMNS = 'id, "user", room, thread, comment, "by", created, read, excerpt, kid'

#: Longest stored USER JSON, encoded relative position and root name read back.
_USER_MAX = 4096
_POSITION_MAX = 150
_ROOT = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


def row_id(value: str) -> int | None:
    """The row id an opaque id names; None for anything we never handed out."""
    if not (isinstance(value, str) and value.isdecimal() and len(value) <= 18):
        return None
    return int(value)


def dump_user(user: User | None) -> str | None:
    """A USER as stored (compact JSON), None for none."""
    return None if user is None else json.dumps(user, ensure_ascii=False, separators=(",", ":"))


def seal(
    cipher: Cipher | None, clear: str, part: str, room: str, row: int
) -> tuple[bytes, str | None]:
    """``clear`` as stored in its row's ``part`` column, and the key id it is sealed with (None:
    no cipher, stored in the clear). The row's id is in the associated data: a sealed part
    opens only in its own row."""
    data = clear.encode()
    if cipher is None:
        return data, None
    kid, data = cipher.seal(data, comment_ad(part, room, row))
    return data, kid


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


class CommentRows(CommentStore):
    """A :class:`CommentStore` whose rows are read as above: an engine's store inherits it,
    sets ``_cipher`` and reads rows of :data:`THREAD_COLUMNS`, :data:`COMMENT_COLUMNS` and
    :data:`NOTE_COLUMNS` to shape with :meth:`_thread`, :meth:`_comment` and :meth:`_note`."""

    _cipher: Cipher | None = None

    #: Stored rows skipped (or refused) because they are not ones we could have written.
    malformed = 0

    def _open(self, kid: Any, data: Any, part: str, room: str, row: int) -> str:
        """The clear text of a (possibly sealed) column; :class:`MalformedCommentRow` if it
        cannot be opened or is not UTF-8."""
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

    def _one(self, what: str, row: Any, shape: Callable[[Any], Any]) -> Any:
        """``shape(row)``; a malformed row is logged and counted, and raised."""
        try:
            return shape(row)
        except MalformedCommentRow as e:
            self._bad(what, row, e)
            raise

    def _bad(self, what: str, row: Any, error: Exception) -> None:
        self.malformed += 1
        shown = row[0] if isinstance(row, tuple) and row else "?"
        _log.error("skipped stored %s %s: %s", what, str(shown)[:40], error)

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

    def _by_thread(
        self, tids: list[int], rows: Iterable[tuple], reactions: dict[int, dict[str, list[str]]]
    ) -> dict[str, list[dict[str, Any]]]:
        """The comments of ``rows`` (with their ``reactions`` by comment id) by thread id, each
        of ``tids`` listed (with none if it has none), malformed rows skipped."""
        found: dict[str, list[dict[str, Any]]] = {str(tid): [] for tid in tids}
        shaped = self._checked(
            "comment", rows, lambda row: self._comment(row, reactions.get(row[0], {}))
        )
        for comment in shaped:
            found.setdefault(comment["thread"], []).append(comment)
        return found

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
