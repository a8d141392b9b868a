"""The outgoing webhook queue of the PostgreSQL store, as the SQLite store keeps it
(``store/sqlite/webhooks.py``): rows taken in ``id`` order per endpoint, a delivered row deleted,
a given-up one kept (without its body) as a failure, the endpoint's position updated in the
same transaction; bodies sealed with the endpoint and the event id as associated data."""

from __future__ import annotations

import time
from typing import Any

from psycopg import AsyncConnection

from ..base import Delivery, WebhookQueue
from ..crypto import Cipher, CipherError
from ..sqlite.webhooks import delivery_ad
from .database import Database


class PostgresWebhookQueue(WebhookQueue):
    def __init__(
        self, database: Database, *, cipher: Cipher | None = None, keep_failures: int = 100
    ) -> None:
        self.database = database
        self.cipher = cipher
        self.keep_failures = keep_failures

    async def _rows(self, query: str, params: tuple) -> list[tuple]:
        async def read(conn: AsyncConnection) -> list[tuple]:
            cursor = await conn.execute(query, params)
            return await cursor.fetchall()

        return await self.database.run(read)

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

        async def insert(conn: AsyncConnection) -> None:
            async with conn.cursor() as cur:
                if rows:
                    await cur.executemany(
                        "INSERT INTO webhook_deliveries "
                        "(endpoint, event_id, body, created, next_at, kid) "
                        "VALUES (%s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT (endpoint, event_id) DO NOTHING",
                        rows,
                    )
                if cursor is not None:
                    await cur.execute(
                        "INSERT INTO webhook_cursor (id, cursor) VALUES (1, %s) "
                        "ON CONFLICT (id) DO UPDATE SET cursor = excluded.cursor",
                        (cursor,),
                    )

        await self.database.run(insert)

    async def cursor(self) -> str | None:
        rows = await self._rows("SELECT cursor FROM webhook_cursor", ())
        return rows[0][0] if rows else None

    async def next(self, endpoint: str, limit: int = 1) -> list[Delivery]:
        rows = await self._rows(
            "SELECT id, event_id, body, created, attempts, next_at, last_error, kid "
            "FROM webhook_deliveries WHERE endpoint = %s ORDER BY id LIMIT %s",
            (endpoint, limit),
        )
        deliveries = []
        for row_id, event_id, body, created, attempts, next_at, last_error, kid in rows:
            body = bytes(body)
            if kid is not None:
                if self.cipher is None:
                    raise CipherError(
                        f"a webhook delivery is sealed with key {kid}, and no key is set"
                    )
                body = self.cipher.open(kid, body, delivery_ad(endpoint, event_id))
            deliveries.append(
                Delivery(row_id, event_id, body, created, attempts, next_at, last_error)
            )
        return deliveries

    async def queued(self, endpoint: str, limit: int) -> list[str]:
        rows = await self._rows(
            "SELECT event_id FROM webhook_deliveries WHERE endpoint = %s ORDER BY id LIMIT %s",
            (endpoint, limit),
        )
        return [event_id for (event_id,) in rows]

    async def forget(self, endpoint: str, event_ids: list[str]) -> None:
        await self.database.run(
            lambda conn: conn.execute(
                "DELETE FROM webhook_deliveries WHERE endpoint = %s AND event_id = ANY(%s)",
                (endpoint, list(event_ids)),
            )
        )

    async def positions(self) -> dict[str, str]:
        rows = await self._rows(
            "SELECT endpoint, position FROM webhook_endpoints WHERE position IS NOT NULL", ()
        )
        return dict(rows)

    async def set_position(self, endpoint: str, event_id: str) -> None:
        await self.database.run(
            lambda conn: conn.execute(
                "INSERT INTO webhook_endpoints (endpoint, position) VALUES (%s, %s) "
                "ON CONFLICT (endpoint) DO UPDATE SET position = excluded.position",
                (endpoint, event_id),
            )
        )

    async def delivered(self, endpoint: str, delivery: Delivery, status: int) -> None:
        async def forget(conn: AsyncConnection) -> None:
            await conn.execute("DELETE FROM webhook_deliveries WHERE id = %s", (delivery.id,))
            await _record_status(conn, endpoint, status, "", delivery.event_id)

        await self.database.run(forget)

    async def attempted(
        self, endpoint: str, delivery: Delivery, status: int | None, error: str, next_at: float
    ) -> None:
        async def record(conn: AsyncConnection) -> None:
            await conn.execute(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, next_at = %s, "
                "last_error = %s WHERE id = %s",
                (next_at, error, delivery.id),
            )
            await _record_status(conn, endpoint, status, error)

        await self.database.run(record)

    async def give_up(
        self, endpoint: str, delivery: Delivery, status: int | None, error: str
    ) -> None:
        keep = self.keep_failures

        async def record(conn: AsyncConnection) -> None:
            await conn.execute("DELETE FROM webhook_deliveries WHERE id = %s", (delivery.id,))
            await conn.execute(
                "INSERT INTO webhook_failures (endpoint, event_id, time, attempts, error) "
                "VALUES (%s, %s, %s, %s, %s)",
                (endpoint, delivery.event_id, time.time(), delivery.attempts + 1, error),
            )
            await _keep_newest_failures(conn, endpoint, keep)
            await _record_status(conn, endpoint, status, error, delivery.event_id)

        await self.database.run(record)

    async def lost(self, endpoint: str, after: str, error: str) -> None:
        keep = self.keep_failures

        async def record(conn: AsyncConnection) -> None:
            await conn.execute(
                "INSERT INTO webhook_failures (endpoint, event_id, time, attempts, error) "
                "VALUES (%s, %s, %s, 0, %s)",
                (endpoint, after, time.time(), error),
            )
            await _keep_newest_failures(conn, endpoint, keep)

        await self.database.run(record)

    async def status(self, endpoint: str, failures: int = 20) -> dict[str, Any]:
        async def read(conn: AsyncConnection) -> dict[str, Any]:
            cursor = await conn.execute(
                "SELECT count(*) FROM webhook_deliveries WHERE endpoint = %s", (endpoint,)
            )
            (backlog,) = await cursor.fetchone()
            cursor = await conn.execute(
                "SELECT last_status, last_time, last_error FROM webhook_endpoints "
                "WHERE endpoint = %s",
                (endpoint,),
            )
            last = await cursor.fetchone() or (None, None, "")
            cursor = await conn.execute(
                "SELECT event_id, time, attempts, error FROM webhook_failures "
                "WHERE endpoint = %s ORDER BY id DESC LIMIT %s",
                (endpoint, failures),
            )
            given_up = await cursor.fetchall()
            return {
                "backlog": int(backlog),
                "last_status": last[0],
                "last_time": last[1],
                "last_error": last[2],
                "failures": [
                    {"event_id": e, "time": t, "attempts": a, "error": error}
                    for e, t, a, error in given_up
                ],
            }

        return await self.database.run(read)


async def _keep_newest_failures(conn: AsyncConnection, endpoint: str, keep: int) -> None:
    await conn.execute(
        "DELETE FROM webhook_failures WHERE endpoint = %s AND id <= ("
        "SELECT id FROM webhook_failures WHERE endpoint = %s "
        "ORDER BY id DESC LIMIT 1 OFFSET %s)",
        (endpoint, endpoint, keep),
    )


async def _record_status(
    conn: AsyncConnection,
    endpoint: str,
    status: int | None,
    error: str,
    position: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO webhook_endpoints (endpoint, last_status, last_time, last_error, position) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (endpoint) DO UPDATE SET "
        "last_status = excluded.last_status, last_time = excluded.last_time, "
        "last_error = excluded.last_error, "
        "position = coalesce(excluded.position, webhook_endpoints.position)",
        (endpoint, status, time.time(), error, position),
    )
