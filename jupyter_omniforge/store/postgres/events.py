"""The event log of the PostgreSQL store: events per channel, bounded by count and age.

As in the SQLite store (``store/sqlite/events.py``): ids are integers increasing across all
channels (an identity column), a channel pruned by retention remembers the highest id it
deleted (``pruned_through``), and a sealed event keeps its channel, type and time in the clear
and its source and data sealed with the same associated data.
"""

from __future__ import annotations

import logging
from typing import Any

from psycopg import AsyncConnection

from ...errors import MalformedMessage
from ..base import Page
from ..crypto import Cipher, CipherError
from ..eventlog import BatchingEventLog, EventRow
from ..sqlite.events import _envelope
from ..sqlite.sealing import AD_VERSION, event_ad
from .database import Database

_COLUMNS = "id, channel, type, time, source, data, kid, sealed, ad"


class PostgresEventLog(BatchingEventLog):
    """Append-only, group-committed event storage with cursor reads, in PostgreSQL (the queue
    is :class:`BatchingEventLog`'s)."""

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
        await self.database.start()  # migrated by PostgresStore, under its advisory lock

    async def _insert_rows(self, rows: list[EventRow]) -> list[int]:
        return await self.database.run(
            lambda conn: _insert(conn, rows, self.max_per_channel, self.cipher)
        )

    async def _prune_older(self, cutoff: float) -> None:
        await self.database.run(lambda conn: _prune_older_than(conn, cutoff))

    def _pruning_failed(self, error: Exception) -> None:
        # PostgreSQL away is expected (a restart, a network cut): one line, no traceback.
        self.log.error("pruning old events failed: %s", error)

    async def _read_page(
        self, globs: list[str], after: str | int | None, limit: int
    ) -> tuple[Page, list[tuple[Any, str]]]:
        return await self.database.run(lambda conn: _read(conn, globs, after, limit, self.cipher))

    async def _read_last_id(self) -> int:
        return await self.database.run(_last_id)


async def _next_ids(conn: AsyncConnection, table: str, column: str, count: int) -> list[int]:
    """``count`` fresh values of ``table.column``'s identity, increasing."""
    cursor = await conn.execute(
        f"SELECT nextval(pg_get_serial_sequence('{table}', '{column}')) "
        "FROM generate_series(1, %s)",
        (count,),
    )
    return sorted(value for (value,) in await cursor.fetchall())


async def _insert(
    conn: AsyncConnection, rows: list[tuple], max_per_channel: int, cipher: Cipher | None
) -> list[int]:
    ids = await _next_ids(conn, "events", "id", len(rows))
    values = []
    for event_id, (channel, event_type, when, source, data) in zip(ids, rows, strict=True):
        if cipher is None:
            values.append((event_id, channel, event_type, when, source, data, None, None, None))
        else:
            payload = f'{{"source":{source},"data":{data}}}'.encode()
            kid, sealed = cipher.seal(payload, event_ad(channel, event_type, event_id, AD_VERSION))
            values.append((event_id, channel, event_type, when, "", "", kid, sealed, AD_VERSION))
    async with conn.cursor() as cur:
        await cur.executemany(
            f"INSERT INTO events ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            values,
        )
        for channel in {row[0] for row in rows}:
            await cur.execute(
                "SELECT id FROM events WHERE channel = %s ORDER BY id DESC LIMIT 1 OFFSET %s",
                (channel, max_per_channel),
            )
            over = await cur.fetchone()
            if over is not None:
                await _prune_channel(conn, channel, over[0])
    return ids


async def _prune_channel(conn: AsyncConnection, channel: str, through: int) -> None:
    await conn.execute("DELETE FROM events WHERE channel = %s AND id <= %s", (channel, through))
    await conn.execute(
        "INSERT INTO event_channels (channel, pruned_through) VALUES (%s, %s) "
        "ON CONFLICT (channel) DO UPDATE SET "
        "pruned_through = greatest(event_channels.pruned_through, excluded.pruned_through)",
        (channel, through),
    )


async def _prune_older_than(conn: AsyncConnection, cutoff: float) -> None:
    cursor = await conn.execute(
        "SELECT channel, max(id) FROM events WHERE time < %s GROUP BY channel", (cutoff,)
    )
    for channel, through in await cursor.fetchall():
        await _prune_channel(conn, channel, through)


async def _last_id(conn: AsyncConnection) -> int:
    """The highest id handed out (deleted or not): a cursor past every stored event."""
    cursor = await conn.execute(
        "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_id_seq"
    )
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


def _like(glob: str) -> str:
    """A channel pattern (``build:*``) as a LIKE pattern (names hold no ``?`` or ``[``)."""
    escaped = glob.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def _match_sql(globs: list[str]) -> tuple[str, list[str]]:
    if not globs or "*" in globs:
        return "TRUE", []
    return "(" + " OR ".join("channel LIKE %s" for _ in globs) + ")", [_like(g) for g in globs]


async def _read(
    conn: AsyncConnection,
    globs: list[str],
    after: str | int | None,
    limit: int,
    cipher: Cipher | None = None,
) -> tuple[Page, list[tuple[Any, str]]]:
    match, params = _match_sql(globs)
    last = await _last_id(conn)
    reset = False
    if after is None or after == "":
        cursor = None
    else:
        cursor = PostgresEventLog.order_key(str(after))
        if cursor < 0:
            cursor, reset = 0, True
        if cursor > last:
            cursor, reset = 0, True
        elif not reset:
            found = await conn.execute(
                f"SELECT 1 FROM event_channels WHERE pruned_through > %s AND {match} LIMIT 1",
                [cursor, *params],
            )
            if await found.fetchone() is not None:
                cursor, reset = 0, True
    if cursor is None:
        result = await conn.execute(
            f"SELECT {_COLUMNS} FROM events WHERE {match} ORDER BY id DESC LIMIT %s",
            [*params, limit],
        )
        rows = (await result.fetchall())[::-1]
    else:
        result = await conn.execute(
            f"SELECT {_COLUMNS} FROM events WHERE id > %s AND {match} ORDER BY id LIMIT %s",
            [cursor, *params, limit],
        )
        rows = await result.fetchall()
    events, bad = [], []
    for row in rows:
        sealed = row[7]
        row = (*row[:7], bytes(sealed) if sealed is not None else None, row[8])
        try:
            events.append(_envelope(row, cipher))
        except (MalformedMessage, CipherError, TypeError, ValueError) as e:
            bad.append((row[0], str(e)))
    return Page(events, reset), bad
