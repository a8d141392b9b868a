"""The associated data each sealed row of the SQLite store is sealed with.

A sealed row opens only with the associated data it was sealed with, so that data names where
the row belongs: a row moved in the raw database to another room, channel or row no longer
opens, and is skipped or quarantined instead of served. It is

- an update's: ``update``, its room and its ``seq``;
- a snapshot's: ``snapshot``, its room and ``folded``, the last ``seq`` of the log it folds (a
  rewritten snapshot gets a new one);
- an event's: ``event``, its channel, type and id;
- an audit entry's: ``audit``, its id, action, user and room

(an update's joined by NUL bytes, the others as a JSON array). Rows sealed before schema
migration 4 (column ``ad`` NULL) were sealed with less: a snapshot with ``snapshot`` and its
room, an event or an audit entry with ``event`` or ``audit`` and its id. They still open that
way, and ``jupyter omniforge rotate-key`` (to a new key or the same one) re-seals them as above.
"""

from __future__ import annotations

import json

from ..crypto import CipherError

#: The ``ad`` column of a row sealed as this module says (NULL: sealed before it).
AD_VERSION = 2


def _joined(*parts: object) -> bytes:
    # A JSON array: unambiguous whatever the names hold (a user name may hold a NUL).
    return json.dumps(parts, ensure_ascii=True, separators=(",", ":")).encode()


def _check(version: int | None) -> None:
    if version is not None and version != AD_VERSION:
        raise CipherError(f"a row names an unknown associated-data version {version!r}")


def update_ad(room: str, seq: int) -> bytes:
    return f"update\0{room}\0{seq}".encode()


def snapshot_ad(room: str, folded: int | None, version: int | None) -> bytes:
    _check(version)
    if version is None:
        return f"snapshot\0{room}".encode()
    return _joined("snapshot", room, folded)


def event_ad(channel: str, event_type: str, event_id: int, version: int | None) -> bytes:
    _check(version)
    if version is None:
        return f"event\0{event_id}".encode()
    return _joined("event", channel, event_type, event_id)


def audit_ad(entry_id: int, action: str, user: str, room: str, version: int | None) -> bytes:
    _check(version)
    if version is None:
        return f"audit\0{entry_id}".encode()
    return _joined("audit", entry_id, action, user, room)


def version_ad(room: str, version_id: int, part: str) -> bytes:
    """A history version's ``state`` or ``runs`` (``part``): its room and id."""
    return _joined("version", room, version_id, part)


def comment_ad(part: str, room: str, row_id: int) -> bytes:
    """A comment's ``body``, a thread's anchor ``text`` or a notification's ``excerpt``
    (``part``): its room and row id."""
    return _joined("comment", part, room, row_id)
