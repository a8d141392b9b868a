"""The outgoing webhook queue of the SQLite store.

Deliveries are rows taken in ``id`` order per endpoint; a delivered row is deleted, a given-up
one becomes a row of ``webhook_failures`` (without its body); either way its event id becomes
the endpoint's ``position`` in ``webhook_endpoints``, in the same transaction. With a cipher, a body is sealed
like an event's payload, with the endpoint and the event id as associated data.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from ..base import Delivery, WebhookQueue
from ..crypto import Cipher, CipherError
from .database import Database


def delivery_ad(endpoint: str, event_id: str) -> bytes:
    return f"webhook\0{endpoint}\0{event_id}".encode()


class SQLiteWebhookQueue(WebhookQueue):
    def __init__(
        self, database: Database, *, cipher: Cipher | None = None, keep_failures: int = 100
    ) -> None:
        self.database = database
        self.cipher = cipher
        self.keep_failures = keep_failures

    async def enqueue(
        self, deliveries: list[tuple[str, str, bytes]], cursor: str | None = None
    ) -> None:
        now = time.time()
        rows = []
        for endpoint, event_id, body in deliveries:
            kid = None
            if self.cipher is not None:
                kid, body = self.cipher.seal(body, delivery_ad(endpoint, event_id))
            rows.append((endpoint, event_id, body, now, now, kid))

        def insert(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR IGNORE INTO webhook_deliveries "
                "(endpoint, event_id, body, created, next_at, kid) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            if cursor is not None:
                conn.execute(
                    "INSERT INTO webhook_cursor (id, cursor) VALUES (1, ?) "
                    "ON CONFLICT (id) DO UPDATE SET cursor = excluded.cursor",
                    (cursor,),
                )

        await self.database.run(insert)

    async def cursor(self) -> str | None:
        row = await self.database.run(
            lambda conn: conn.execute("SELECT cursor FROM webhook_cursor").fetchone()
        )
        return row[0] if row else None

    async def next(self, endpoint: str, limit: int = 1) -> list[Delivery]:
        rows = await self.database.run(
            lambda conn: conn.execute(
                "SELECT id, event_id, body, created, attempts, next_at, last_error, kid "
                "FROM webhook_deliveries WHERE endpoint = ? ORDER BY id LIMIT ?",
                (endpoint, limit),
            ).fetchall()
        )
        deliveries = []
        for row_id, event_id, body, created, attempts, next_at, last_error, kid in rows:
            if kid is not None:
                # No key opens it: CipherError, as for any sealed row (the store refuses to
                # start without the keys its rows need).
                body = self._open(kid, body, endpoint, event_id)
            deliveries.append(
                Delivery(row_id, event_id, bytes(body), created, attempts, next_at, last_error)
            )
        return deliveries

    async def queued(self, endpoint: str, limit: int) -> list[str]:
        rows = await self.database.run(
            lambda conn: conn.execute(
                "SELECT event_id FROM webhook_deliveries WHERE endpoint = ? ORDER BY id LIMIT ?",
                (endpoint, limit),
            ).fetchall()
        )
        return [event_id for (event_id,) in rows]

    async def forget(self, endpoint: str, event_ids: list[str]) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "DELETE FROM webhook_deliveries WHERE endpoint = ? AND event_id = ?",
                [(endpoint, event_id) for event_id in event_ids],
            )

        await self.database.run(delete)

    async def positions(self) -> dict[str, str]:
        rows = await self.database.run(
            lambda conn: conn.execute(
                "SELECT endpoint, position FROM webhook_endpoints WHERE position IS NOT NULL"
            ).fetchall()
        )
        return dict(rows)

    async def set_position(self, endpoint: str, event_id: str) -> None:
        def record(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO webhook_endpoints (endpoint, position) VALUES (?, ?) "
                "ON CONFLICT (endpoint) DO UPDATE SET position = excluded.position",
                (endpoint, event_id),
            )

        await self.database.run(record)

    def _open(self, kid: str, body: bytes, endpoint: str, event_id: str) -> bytes:
        if self.cipher is None:
            raise CipherError(f"a webhook delivery is sealed with key {kid}, and no key is set")
        return self.cipher.open(kid, body, delivery_ad(endpoint, event_id))

    async def delivered(self, endpoint: str, delivery: Delivery, status: int) -> None:
        def forget(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM webhook_deliveries WHERE id = ?", (delivery.id,))
            _record_status(conn, endpoint, status, "", delivery.event_id)

        await self.database.run(forget)

    async def attempted(
        self, endpoint: str, delivery: Delivery, status: int | None, error: str, next_at: float
    ) -> None:
        def record(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, next_at = ?, "
                "last_error = ? WHERE id = ?",
                (next_at, error, delivery.id),
            )
            _record_status(conn, endpoint, status, error)

        await self.database.run(record)

    async def give_up(
        self, endpoint: str, delivery: Delivery, status: int | None, error: str
    ) -> None:
        keep = self.keep_failures

        def record(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM webhook_deliveries WHERE id = ?", (delivery.id,))
            conn.execute(
                "INSERT INTO webhook_failures (endpoint, event_id, time, attempts, error) "
                "VALUES (?, ?, ?, ?, ?)",
                (endpoint, delivery.event_id, time.time(), delivery.attempts + 1, error),
            )
            _keep_newest_failures(conn, endpoint, keep)
            _record_status(conn, endpoint, status, error, delivery.event_id)

        await self.database.run(record)

    async def lost(self, endpoint: str, after: str, error: str) -> None:
        keep = self.keep_failures

        def record(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO webhook_failures (endpoint, event_id, time, attempts, error) "
                "VALUES (?, ?, ?, 0, ?)",
                (endpoint, after, time.time(), error),
            )
            _keep_newest_failures(conn, endpoint, keep)

        await self.database.run(record)

    async def status(self, endpoint: str, failures: int = 20) -> dict[str, Any]:
        def read(conn: sqlite3.Connection) -> dict[str, Any]:
            (backlog,) = conn.execute(
                "SELECT count(*) FROM webhook_deliveries WHERE endpoint = ?", (endpoint,)
            ).fetchone()
            last = conn.execute(
                "SELECT last_status, last_time, last_error FROM webhook_endpoints "
                "WHERE endpoint = ?",
                (endpoint,),
            ).fetchone() or (None, None, "")
            given_up = conn.execute(
                "SELECT event_id, time, attempts, error FROM webhook_failures "
                "WHERE endpoint = ? ORDER BY id DESC LIMIT ?",
                (endpoint, failures),
            ).fetchall()
            return {
                "backlog": backlog,
                "last_status": last[0],
                "last_time": last[1],
                "last_error": last[2],
                "failures": [
                    {"event_id": e, "time": t, "attempts": a, "error": error}
                    for e, t, a, error in given_up
                ],
            }

        return await self.database.run(read)


def _keep_newest_failures(conn: sqlite3.Connection, endpoint: str, keep: int) -> None:
    conn.execute(
        "DELETE FROM webhook_failures WHERE endpoint = ? AND id <= ("
        "SELECT id FROM webhook_failures WHERE endpoint = ? "
        "ORDER BY id DESC LIMIT 1 OFFSET ?)",
        (endpoint, endpoint, keep),
    )


def _record_status(
    conn: sqlite3.Connection,
    endpoint: str,
    status: int | None,
    error: str,
    position: str | None = None,
) -> None:
    """The endpoint's last attempt; ``position``: the delivery it finished (None: unchanged)."""
    conn.execute(
        "INSERT INTO webhook_endpoints (endpoint, last_status, last_time, last_error, position) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (endpoint) DO UPDATE SET "
        "last_status = excluded.last_status, last_time = excluded.last_time, "
        "last_error = excluded.last_error, "
        "position = coalesce(excluded.position, webhook_endpoints.position)",
        (endpoint, status, time.time(), error, position),
    )
