"""The audit trail and the revoked tokens of the PostgreSQL store, as the SQLite store keeps
them (``store/sqlite/records.py``): entries group-committed, details sealed with the same
associated data, deleted past the retention by age and by count. Entries that cannot be
written (the database is away) are kept, up to ``MAX_QUEUED``, and written once it is back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from functools import partial
from typing import Any

from psycopg import AsyncConnection

from ... import strictjson
from ..base import AuditLog, Revocations
from ..crypto import Cipher, CipherError
from ..sqlite.sealing import AD_VERSION, audit_ad
from .database import Database
from .events import _next_ids

_Entry = tuple[float, str, str, str, str]

#: Audit entries kept in memory while the database is away (beyond, failed ones are dropped).
MAX_QUEUED = 10_000
#: Seconds before writing entries again after a failed write.
RETRY_DELAY = 1.0


class PostgresAuditLog(AuditLog):
    def __init__(
        self,
        database: Database,
        *,
        commit_interval: float = 0.05,
        max_age: float = 7 * 24 * 3600,
        max_entries: int = 10_000,
        cipher: Cipher | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.database = database
        self.commit_interval = commit_interval
        self.max_age = max_age
        self.max_entries = max_entries
        self.cipher = cipher
        self.log = log or logging.getLogger(__name__)
        self._pending: list[_Entry] = []
        self._timer: asyncio.TimerHandle | None = None
        self._writing: asyncio.Task[None] | None = None
        self._pruning: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.database.start()
        if self._pruning is None:
            self._pruning = asyncio.ensure_future(self._prune_forever())

    async def close(self) -> None:
        pruning, self._pruning = self._pruning, None
        if pruning is not None:
            pruning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pruning
        await self.flush()

    def record(self, action: str, *, user: str = "", room: str = "", **details: Any) -> None:
        try:
            text = strictjson.dumps(details)
        except ValueError:
            text = strictjson.dumps({k: str(v) for k, v in details.items()})
        self._pending.append((time.time(), action, str(user)[:200], str(room)[:300], text))
        if self._timer is None and self._writing is None:
            self._timer = asyncio.get_running_loop().call_later(self.commit_interval, self._ship)

    def _ship(self) -> None:
        self._timer = None
        if self._writing is not None or not self._pending:
            return
        batch, self._pending = self._pending, []
        self._writing = asyncio.ensure_future(self._write(batch))

    async def _write(self, batch: list[_Entry]) -> None:
        retry = False
        try:
            await self.database.run(
                lambda conn: _insert_audit(conn, batch, self.cipher, self.max_entries)
            )
        except Exception as e:
            # The database is away (restarting): keep the entries for a retry, up to a bound.
            kept = batch[: max(0, MAX_QUEUED - len(self._pending))]
            self._pending[:0] = kept
            retry = bool(kept) and self._pruning is not None
            self.log.error(
                "could not write %d audit entries (%d kept for a retry): %s",
                len(batch),
                len(kept),
                e,
            )
        finally:
            self._writing = None
            if retry:
                if self._timer is None:
                    loop = asyncio.get_running_loop()
                    self._timer = loop.call_later(RETRY_DELAY, self._ship)
            elif self._pending:
                self._ship()

    async def flush(self) -> None:
        """Write what is queued now (one attempt: entries that fail stay queued)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._ship()
        while self._writing is not None:
            await self._writing

    async def read(
        self, *, after: int | None = None, limit: int = 100, user: str = "", room: str = ""
    ) -> list[dict[str, Any]]:
        await self.flush()
        rows = await self.database.run(lambda conn: _read_audit(conn, after, limit, user, room))
        entries = []
        for entry_id, when, action, who, where, details, kid, version in rows:
            try:
                details = bytes(details)
                if kid is not None:
                    if self.cipher is None:
                        raise CipherError(f"sealed with key {kid}, and no key is set")
                    ad = audit_ad(entry_id, action, who, where, version)
                    details = self.cipher.open(kid, details, ad)
                parsed = strictjson.loads(details)
            except (ValueError, CipherError) as e:
                parsed = {"unreadable": str(e)}
            entries.append(
                {
                    "id": entry_id,
                    "time": when,
                    "action": action,
                    "user": who,
                    "room": where,
                    "details": parsed,
                }
            )
        return entries

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(min(3600.0, max(self.max_age / 10, 1.0)))
            try:
                await self.database.run(partial(_prune_audit, time.time() - self.max_age))
            except Exception as e:
                self.log.error("pruning the audit trail failed: %s", e)


async def _prune_audit(cutoff: float, conn: AsyncConnection) -> None:
    await conn.execute("DELETE FROM audit WHERE time < %s", (cutoff,))


async def _insert_audit(
    conn: AsyncConnection, batch: list[_Entry], cipher: Cipher | None, max_entries: int
) -> None:
    ids = await _next_ids(conn, "audit", "id", len(batch))
    rows = []
    for entry_id, (when, action, user, room, text) in zip(ids, batch, strict=True):
        kid = version = None
        details = text.encode()
        if cipher is not None:
            version = AD_VERSION
            kid, details = cipher.seal(details, audit_ad(entry_id, action, user, room, version))
        rows.append((entry_id, when, action, user, room, details, kid, version))
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO audit (id, time, action, username, room, details, kid, ad) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
        # At most `max_entries`: ids grow, so the newest are those above the cut.
        await cur.execute(
            "SELECT id FROM audit ORDER BY id DESC LIMIT 1 OFFSET %s", (max(max_entries, 0),)
        )
        over = await cur.fetchone()
        if over is not None:
            await cur.execute("DELETE FROM audit WHERE id <= %s", (over[0],))


async def _read_audit(
    conn: AsyncConnection, after: int | None, limit: int, user: str, room: str
) -> list[tuple[Any, ...]]:
    where: list[str] = []
    params: list[Any] = []
    if user:
        where.append("username = %s")
        params.append(user)
    if room:
        where.append("room = %s")
        params.append(room)
    if after is not None:
        where.append("id > %s")
        params.append(after)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    columns = "SELECT id, time, action, username, room, details, kid, ad FROM audit"
    if after is None:
        cursor = await conn.execute(
            f"{columns} {clause} ORDER BY id DESC LIMIT %s", [*params, limit]
        )
        return (await cursor.fetchall())[::-1]
    cursor = await conn.execute(f"{columns} {clause} ORDER BY id LIMIT %s", [*params, limit])
    return await cursor.fetchall()


class PostgresRevocations(Revocations):
    def __init__(self, database: Database) -> None:
        self.database = database

    async def start(self) -> None:
        await self.database.start()

    async def revoke(self, jti: str, expires: float) -> None:
        await self.database.run(
            lambda conn: conn.execute(
                "INSERT INTO revoked_tokens (jti, expires) VALUES (%s, %s) "
                "ON CONFLICT (jti) DO UPDATE SET "
                "expires = greatest(revoked_tokens.expires, excluded.expires)",
                (jti, expires),
            )
        )

    async def load(self) -> dict[str, float]:
        now = time.time()

        async def read(conn: AsyncConnection) -> dict[str, float]:
            await conn.execute("DELETE FROM revoked_tokens WHERE expires < %s", (now,))
            cursor = await conn.execute("SELECT jti, expires FROM revoked_tokens")
            return dict(await cursor.fetchall())

        return await self.database.run(read)
