"""The audit trail and the revoked tokens of the SQLite store.

Audit entries are queued and written in one transaction per ``commit_interval`` (a crowd
connecting at once costs one commit, not one per connection). An entry's time, action, user and
room stay in the clear (they are queried); its details are sealed when a cipher is set, with
its id, action, user and room as associated data (see sealing.py). Entries older than the
retention, or beyond the newest ``max_entries``, are deleted, as events are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from functools import partial
from typing import Any

from ... import strictjson
from ..base import AuditLog, Revocations
from ..crypto import Cipher, CipherError
from .database import Database
from .migrations import migrate
from .sealing import AD_VERSION, audit_ad


class SQLiteAuditLog(AuditLog):
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
        """Entries older than ``max_age`` seconds, and all but the newest ``max_entries``, are
        deleted."""
        self.database = database
        self.commit_interval = commit_interval
        self.max_age = max_age
        self.max_entries = max_entries
        self.cipher = cipher
        self.log = log or logging.getLogger(__name__)
        self._pending: list[tuple[float, str, str, str, str]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._writing: asyncio.Task[None] | None = None
        self._pruning: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.database.start()
        await migrate(self.database)
        if self._pruning is None:  # start is retried after a failed start of the server
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
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.commit_interval, self._ship)

    def _ship(self) -> None:
        self._timer = None
        if self._writing is not None or not self._pending:
            return
        batch, self._pending = self._pending, []
        self._writing = asyncio.ensure_future(self._write(batch))

    async def _write(self, batch: list[tuple[float, str, str, str, str]]) -> None:
        try:
            await self.database.run(
                lambda conn: _insert_audit(conn, batch, self.cipher, self.max_entries)
            )
        except Exception:
            self.log.exception("could not write %d audit entries", len(batch))
        finally:
            self._writing = None
            if self._pending:
                self._ship()

    async def flush(self) -> None:
        """Write what is queued now."""
        if self._timer is not None:
            self._timer.cancel()
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
            except Exception:
                self.log.exception("pruning the audit trail failed")


def _prune_audit(cutoff: float, conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM audit WHERE time < ?", (cutoff,))


def _insert_audit(
    conn: sqlite3.Connection,
    batch: list[tuple[float, str, str, str, str]],
    cipher: Cipher | None,
    max_entries: int,
) -> None:
    if cipher is None:
        conn.executemany(
            "INSERT INTO audit (time, action, user, room, details) VALUES (?, ?, ?, ?, ?)",
            [(when, action, user, room, text.encode()) for when, action, user, room, text in batch],
        )
    else:
        (last,) = conn.execute(
            "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'audit'"
        ).fetchone()
        rows = []
        for entry_id, (when, action, user, room, text) in enumerate(batch, last + 1):
            ad = audit_ad(entry_id, action, user, room, AD_VERSION)
            kid, sealed = cipher.seal(text.encode(), ad)
            rows.append((entry_id, when, action, user, room, sealed, kid, AD_VERSION))
        conn.executemany(
            "INSERT INTO audit (id, time, action, user, room, details, kid, ad) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    # At most `max_entries`: ids grow, so the newest are those above the cut.
    over = conn.execute(
        "SELECT id FROM audit ORDER BY id DESC LIMIT 1 OFFSET ?", (max(max_entries, 0),)
    ).fetchone()
    if over is not None:
        conn.execute("DELETE FROM audit WHERE id <= ?", (over[0],))


def _read_audit(
    conn: sqlite3.Connection, after: int | None, limit: int, user: str, room: str
) -> list[tuple[Any, ...]]:
    where, params = [], []
    if user:
        where.append("user = ?")
        params.append(user)
    if room:
        where.append("room = ?")
        params.append(room)
    if after is not None:
        where.append("id > ?")
        params.append(after)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    columns = "SELECT id, time, action, user, room, details, kid, ad FROM audit"
    if after is None:
        rows = conn.execute(f"{columns} {clause} ORDER BY id DESC LIMIT ?", [*params, limit])
        return rows.fetchall()[::-1]
    return conn.execute(f"{columns} {clause} ORDER BY id LIMIT ?", [*params, limit]).fetchall()


class SQLiteRevocations(Revocations):
    def __init__(self, database: Database) -> None:
        self.database = database

    async def start(self) -> None:
        await self.database.start()
        await migrate(self.database)

    async def revoke(self, jti: str, expires: float) -> None:
        await self.database.run(
            lambda conn: conn.execute(
                "INSERT INTO revoked_tokens (jti, expires) VALUES (?, ?) "
                "ON CONFLICT (jti) DO UPDATE SET expires = max(expires, excluded.expires)",
                (jti, expires),
            )
        )

    async def load(self) -> dict[str, float]:
        now = time.time()

        def read(conn: sqlite3.Connection) -> dict[str, float]:
            conn.execute("DELETE FROM revoked_tokens WHERE expires < ?", (now,))
            return dict(conn.execute("SELECT jti, expires FROM revoked_tokens").fetchall())

        return await self.database.run(read)
