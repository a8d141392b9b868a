"""The event log of the SQLite store: events per channel, bounded by count and age.

Ids are integers assigned by SQLite, increasing across all channels, so one cursor serves a
subscription to many channels. When retention deletes events of a channel, the channel remembers
the highest id it deleted (``pruned_through``): a cursor below it has missed events for good.
With a cipher, an event's source and data are sealed (its channel, type and id as associated
data: see sealing.py); its channel, type and time stay in the clear, since reads select on them.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from typing import Any

from ... import strictjson
from ...errors import MalformedMessage
from ..base import Page
from ..crypto import Cipher, CipherError
from ..eventlog import BatchingEventLog, EventRow
from .database import Database
from .migrations import migrate
from .sealing import AD_VERSION, event_ad

__all__ = ["EventLog", "Page"]


class EventLog(BatchingEventLog):
    """Append-only, group-committed event storage with cursor reads, in SQLite (the queue is
    :class:`BatchingEventLog`'s)."""

    def __init__(
        self,
        database: Database,
        *,
        commit_interval: float = 0.002,
        max_per_channel: int = 10_000,
        max_age: float = 7 * 24 * 3600,
        cipher: Cipher | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        super().__init__(
            commit_interval=commit_interval,
            max_per_channel=max_per_channel,
            max_age=max_age,
            log=log or logging.getLogger(__name__),
        )
        self.database = database
        self.cipher = cipher

    async def _open_storage(self) -> None:
        await self.database.start()
        await migrate(self.database)

    async def _insert_rows(self, rows: list[EventRow]) -> list[int]:
        return await self.database.run(
            lambda conn: _insert(conn, rows, self.max_per_channel, self.cipher)
        )

    async def _prune_older(self, cutoff: float) -> None:
        await self.database.run(lambda conn: _prune_older_than(conn, cutoff))

    async def _read_page(
        self, globs: list[str], after: str | int | None, limit: int
    ) -> tuple[Page, list[tuple[Any, str]]]:
        # Patterns (``build:*``) are valid SQLite GLOBs as they are: names hold no ``?`` or ``[``.
        return await self.database.run(lambda conn: _read(conn, globs, after, limit, self.cipher))

    async def _read_last_id(self) -> int:
        return await self.database.run(_last_id)


def _insert(
    conn: sqlite3.Connection, rows: list[tuple], max_per_channel: int, cipher: Cipher | None
) -> list[int]:
    ids = []
    channels = set()
    next_id = _last_id(conn) + 1 if cipher is not None else 0
    for row in rows:
        if cipher is None:
            cursor = conn.execute(
                "INSERT INTO events (channel, type, time, source, data) VALUES (?, ?, ?, ?, ?)",
                row,
            )
            ids.append(cursor.lastrowid)
        else:
            channel, event_type, when, source, data = row
            payload = f'{{"source":{source},"data":{data}}}'.encode()
            kid, sealed = cipher.seal(payload, event_ad(channel, event_type, next_id, AD_VERSION))
            conn.execute(
                "INSERT INTO events (id, channel, type, time, source, data, kid, sealed, ad) "
                "VALUES (?, ?, ?, ?, '', '', ?, ?, ?)",
                (next_id, channel, event_type, when, kid, sealed, AD_VERSION),
            )
            ids.append(next_id)
            next_id += 1
        channels.add(row[0])
    for channel in channels:
        over = conn.execute(
            "SELECT id FROM events WHERE channel = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
            (channel, max_per_channel),
        ).fetchone()
        if over is not None:
            _prune_channel(conn, channel, over[0])
    return ids


def _prune_channel(conn: sqlite3.Connection, channel: str, through: int) -> None:
    conn.execute("DELETE FROM events WHERE channel = ? AND id <= ?", (channel, through))
    conn.execute(
        "INSERT INTO event_channels (channel, pruned_through) VALUES (?, ?) "
        "ON CONFLICT (channel) DO UPDATE SET pruned_through = MAX(pruned_through, excluded.pruned_through)",
        (channel, through),
    )


def _prune_older_than(conn: sqlite3.Connection, cutoff: float) -> None:
    rows = conn.execute(
        "SELECT channel, MAX(id) FROM events WHERE time < ? GROUP BY channel", (cutoff,)
    ).fetchall()
    for channel, through in rows:
        _prune_channel(conn, channel, through)


def _last_id(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return int(row[0]) if row else 0


def _match_sql(globs: list[str]) -> tuple[str, list[str]]:
    if not globs or "*" in globs:
        return "1", []
    return "(" + " OR ".join("channel GLOB ?" for _ in globs) + ")", list(globs)


def _read(
    conn: sqlite3.Connection,
    globs: list[str],
    after: str | int | None,
    limit: int,
    cipher: Cipher | None = None,
) -> tuple[Page, list[tuple[Any, str]]]:
    """The page, and the ``(id, reason)`` of the rows skipped as malformed."""
    match, params = _match_sql(globs)
    last = _last_id(conn)
    reset = False
    if after is None or after == "":
        cursor = None
    else:
        cursor = EventLog.order_key(str(after))
        if cursor < 0:
            cursor, reset = 0, True  # not a cursor of ours
        if cursor > last:
            cursor, reset = 0, True  # from the future: this log lost data or is another log
        elif not reset:
            pruned = conn.execute(
                f"SELECT 1 FROM event_channels WHERE pruned_through > ? AND {match} LIMIT 1",
                [cursor, *params],
            ).fetchone()
            if pruned is not None:
                cursor, reset = 0, True
    if cursor is None:
        # No cursor: the newest `limit` events, oldest first.
        rows = conn.execute(
            f"SELECT id, channel, type, time, source, data, kid, sealed, ad FROM events "
            f"WHERE {match} "
            "ORDER BY id DESC LIMIT ?",
            [*params, limit],
        ).fetchall()[::-1]
    else:
        rows = conn.execute(
            f"SELECT id, channel, type, time, source, data, kid, sealed, ad FROM events "
            f"WHERE id > ? AND {match} ORDER BY id LIMIT ?",
            [cursor, *params, limit],
        ).fetchall()
    events, bad = [], []
    for row in rows:
        try:
            events.append(_envelope(row, cipher))
        except (MalformedMessage, CipherError, TypeError, ValueError) as e:
            bad.append((row[0], str(e)))
    return Page(events, reset), bad


def _envelope(row: tuple[Any, ...], cipher: Cipher | None) -> dict[str, Any]:
    """A stored row as an envelope; raises when the row is not a valid one."""
    event_id, channel, event_type, when, source, data, kid, sealed, version = row
    if kid is not None:
        if cipher is None:
            raise CipherError(f"sealed with key {kid}, and no key is set")
        ad = event_ad(channel, event_type, event_id, version)
        payload = strictjson.loads(cipher.open(kid, sealed, ad))
        if not isinstance(payload, dict):
            raise ValueError("a sealed payload is a JSON object")
        source, data = (
            strictjson.dumps(payload.get("source")),
            strictjson.dumps(payload.get("data")),
        )
    if not isinstance(channel, str) or not isinstance(event_type, str):
        raise ValueError("channel and type must be text")
    if not isinstance(when, int | float) or not math.isfinite(when):
        raise ValueError("time must be a finite number")
    source = strictjson.loads(source)
    data = strictjson.loads(data)
    if not isinstance(source, dict) or not isinstance(data, dict):
        raise ValueError("source and data must be JSON objects")
    return {
        "id": str(event_id),
        "channel": channel,
        "type": event_type,
        "time": when,
        "source": source,
        "data": data,
    }
