"""The event log of the PostgreSQL store: events per channel, bounded by count and age.

As in the SQLite store (``store/sqlite/events.py``): ids are integers increasing across all
channels (an identity column), a channel pruned by retention remembers the highest id it
deleted (``pruned_through``), and a sealed event keeps its channel, type and time in the clear
and its source and data sealed with the same associated data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from psycopg import AsyncConnection

from ... import strictjson
from ...errors import MalformedMessage
from ..base import EventStore, Page
from ..crypto import Cipher, CipherError
from ..sqlite.events import _envelope
from ..sqlite.sealing import AD_VERSION, event_ad
from .database import Database

_COLUMNS = "id, channel, type, time, source, data, kid, sealed, ad"


class PostgresEventLog(EventStore):
    """Append-only, group-committed event storage with cursor reads."""

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
        self.database = database
        self.cipher = cipher
        self.commit_interval = commit_interval
        self.max_per_channel = max_per_channel
        self.max_age = max_age
        self.log = log or logging.getLogger(__name__)
        self._pending: list[tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._writing = False
        self._write_task: asyncio.Task[None] | None = None
        self._prune_task: asyncio.Task[None] | None = None
        self.listener: Callable[[dict[str, Any]], None] = lambda envelope: None
        self.malformed = 0

    @staticmethod
    def order_key(event_id: str) -> int:
        """Sort key of an id of this log (increasing integers); -1 for anything else."""
        if isinstance(event_id, str) and event_id.isdigit() and len(event_id) <= 20:
            return int(event_id)
        return -1

    async def start(self) -> None:
        await self.database.start()
        if self._prune_task is None:
            self._prune_task = asyncio.ensure_future(self._prune_by_age_forever())

    async def close(self) -> None:
        pruning, self._prune_task = self._prune_task, None
        if pruning is not None:
            pruning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pruning
        while self._pending or self._writing:
            if self._flush_handle is not None:
                self._flush_handle.cancel()
                self._flush_handle = None
            self._ship()
            if self._write_task is not None:
                await self._write_task

    # -- writing ---------------------------------------------------------------------------------

    def append(self, envelope: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending.append((envelope, future))
        if self._flush_handle is None and not self._writing:
            self._flush_handle = asyncio.get_running_loop().call_later(
                self.commit_interval, self._ship
            )
        return future

    async def append_many(self, envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self.append(envelope) for envelope in envelopes)))

    def _ship(self) -> None:
        self._flush_handle = None
        if self._writing or not self._pending:
            return
        batch, self._pending = self._pending, []
        self._writing = True
        self._write_task = asyncio.ensure_future(self._write(batch))

    async def _write(
        self, batch: list[tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]]
    ) -> None:
        rows = [
            (
                e["channel"],
                e["type"],
                e["time"],
                strictjson.dumps(e["source"]),
                strictjson.dumps(e["data"]),
            )
            for e, _ in batch
        ]
        try:
            ids = await self.database.run(
                lambda conn: _insert(conn, rows, self.max_per_channel, self.cipher)
            )
        except Exception as e:
            for _, future in batch:
                if not future.done():
                    future.set_exception(e)
        else:
            for (envelope, future), event_id in zip(batch, ids, strict=True):
                stored = {"id": str(event_id), **envelope}
                try:
                    self.listener(stored)
                except Exception:
                    self.log.exception("event listener failed")
                if not future.done():
                    future.set_result(stored)
        finally:
            self._writing = False
            if self._pending:
                self._ship()

    async def _prune_by_age_forever(self) -> None:
        while True:
            await asyncio.sleep(min(60.0, max(self.max_age / 10, 0.05)))
            try:
                await self.prune_by_age()
            except Exception as e:
                self.log.error("pruning old events failed: %s", e)

    async def prune_by_age(self) -> None:
        cutoff = time.time() - self.max_age
        await self.database.run(lambda conn: _prune_older_than(conn, cutoff))

    # -- reading ---------------------------------------------------------------------------------

    async def read(
        self, patterns: Iterable[str], after: str | int | None, limit: int = 1000
    ) -> Page:
        globs = list(patterns)
        page, bad = await self.database.run(
            lambda conn: _read(conn, globs, after, limit, self.cipher)
        )
        if bad:
            self.malformed += len(bad)
            for event_id, reason in bad:
                self.log.error("skipped stored event %s: %s", event_id, reason)
        return page

    async def last_id(self) -> str:
        return str(await self.database.run(_last_id))


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
