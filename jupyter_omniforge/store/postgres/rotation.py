"""Re-sealing a PostgreSQL store with a new key (``jupyter omniforge rotate-key --store-url``).

The same semantics as the SQLite store's rotation (``..sqlite.rotation``): rows are re-sealed in
batches, one transaction each, so a rotation killed at any point leaves every row sealed with
the old key or the new one (or still in the clear), never half-written, and running it again
carries on where it stopped. Rows stored in the clear are sealed too (turning encryption on for
an existing database), and so are rows sealed with an older associated data. Quarantined rows
are left as they are.

Instances may keep serving meanwhile if they open both keys (``encryption_key_file`` the new
one, ``encryption_previous_key_files`` the old one): each batch locks the rows it re-seals
(``FOR UPDATE``), so a row an instance rewrites at the same moment (a compaction's snapshot, an
edited comment) is re-sealed as rewritten, never put back as it was. What they write meanwhile
is sealed with the new key already.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from psycopg import AsyncConnection
from psycopg.errors import DeadlockDetected

from ... import strictjson
from ..crypto import Cipher
from ..sqlite.sealing import (
    AD_VERSION,
    audit_ad,
    comment_ad,
    event_ad,
    snapshot_ad,
    update_ad,
    version_ad,
)
from ..sqlite.webhooks import delivery_ad
from .migrations import _migrate

#: Rows re-sealed per transaction.
BATCH = 500

#: Times a batch is tried again after PostgreSQL broke a deadlock with an instance by failing it.
_RETRIES = 5

Reseal = Callable[[AsyncConnection, Cipher, Cipher, tuple], Awaitable[None]]


async def rotate(
    url: str,
    old: Cipher | None,
    new: Cipher,
    *,
    batch: int = BATCH,
    progress: Callable[[str, int], None] = lambda table, done: None,
) -> dict[str, int]:
    """Re-seal every row of the PostgreSQL database at ``url`` with ``new``'s current key; rows
    sealed with another key must open with ``old``. Returns the rows re-sealed per table. Raises
    :class:`~..crypto.CipherError` for a row neither opens (the batch it is in is rolled
    back; the batches before stay done) and ``SchemaError`` for a database of a newer release."""
    keys = new if old is None else new.merged(old)
    conn = await AsyncConnection.connect(url, autocommit=True)
    try:
        async with conn.transaction():
            await _migrate(conn)  # a database of an older release: to the schema sealed here
        done = {}
        for table, select, reseal in _TABLES:
            done[table] = await _rotate(conn, keys, new, batch, progress, table, select, reseal)
        async with conn.transaction():
            cursor = await conn.execute(
                "INSERT INTO audit (time, action, username, room, details) "
                "VALUES (%s, 'key.rotated', '', '', '') RETURNING id",
                (time.time(),),
            )
            (entry_id,) = await cursor.fetchone()
            details = strictjson.dumps({"rows": sum(done.values()), "key": new.current})
            kid, sealed = new.seal(
                details.encode(), audit_ad(entry_id, "key.rotated", "", "", AD_VERSION)
            )
            await conn.execute(
                "UPDATE audit SET details = %s, kid = %s, ad = %s WHERE id = %s",
                (sealed, kid, AD_VERSION, entry_id),
            )
        return done
    finally:
        await conn.close()


async def _rotate(
    conn: AsyncConnection,
    keys: Cipher,
    new: Cipher,
    batch: int,
    progress: Callable[[str, int], None],
    table: str,
    select: str,
    reseal: Reseal,
) -> int:
    done = 0
    while True:
        for attempt in range(_RETRIES):
            try:
                async with conn.transaction():
                    cursor = await conn.execute(select, (new.current, batch))
                    rows = await cursor.fetchall()
                    for row in rows:
                        await reseal(conn, keys, new, row)
                break
            except DeadlockDetected:
                if attempt == _RETRIES - 1:
                    raise
        done += len(rows)
        progress(table, done)
        if len(rows) < batch:
            return done


# Each table: which rows are stale (in the clear, sealed with another key than the new one, or
# with an older associated data), a batch of them locked, and how one is re-sealed. ``%s``:
# the new key's id, then the batch size.

_STALE_KEY = "(kid IS NULL OR kid <> %s)"
_STALE = f"(kid IS NULL OR kid <> %s OR ad IS DISTINCT FROM {AD_VERSION})"


async def _updates(conn: AsyncConnection, keys: Cipher, new: Cipher, row: tuple) -> None:
    seq, room, data, kid = row
    ad = update_ad(room, seq)
    clear = bytes(data) if kid is None else keys.open(kid, bytes(data), ad)
    kid, sealed = new.seal(clear, ad)
    await conn.execute(
        "UPDATE room_updates SET data = %s, kid = %s WHERE seq = %s", (sealed, kid, seq)
    )


async def _snapshots(conn: AsyncConnection, keys: Cipher, new: Cipher, row: tuple) -> None:
    room, data, kid, folded, version = row
    if kid is None:
        clear = bytes(data)
    else:
        clear = keys.open(kid, bytes(data), snapshot_ad(room, folded, version))
    folded = folded or 0
    kid, sealed = new.seal(clear, snapshot_ad(room, folded, AD_VERSION))
    await conn.execute(
        "UPDATE room_snapshots SET data = %s, kid = %s, folded = %s, ad = %s WHERE room = %s",
        (sealed, kid, folded, AD_VERSION, room),
    )


async def _events(conn: AsyncConnection, keys: Cipher, new: Cipher, row: tuple) -> None:
    event_id, channel, event_type, source, data, kid, sealed, version = row
    if kid is None:
        clear = f'{{"source":{source},"data":{data}}}'.encode()
    else:
        clear = keys.open(kid, bytes(sealed), event_ad(channel, event_type, event_id, version))
    kid, sealed = new.seal(clear, event_ad(channel, event_type, event_id, AD_VERSION))
    await conn.execute(
        "UPDATE events SET source = '', data = '', kid = %s, sealed = %s, ad = %s WHERE id = %s",
        (kid, sealed, AD_VERSION, event_id),
    )


async def _audit(conn: AsyncConnection, keys: Cipher, new: Cipher, row: tuple) -> None:
    entry_id, action, user, room, details, kid, version = row
    if kid is None:
        clear = bytes(details)
    else:
        clear = keys.open(kid, bytes(details), audit_ad(entry_id, action, user, room, version))
    kid, sealed = new.seal(clear, audit_ad(entry_id, action, user, room, AD_VERSION))
    await conn.execute(
        "UPDATE audit SET details = %s, kid = %s, ad = %s WHERE id = %s",
        (sealed, kid, AD_VERSION, entry_id),
    )


async def _deliveries(conn: AsyncConnection, keys: Cipher, new: Cipher, row: tuple) -> None:
    row_id, endpoint, event_id, body, kid = row
    ad = delivery_ad(endpoint, event_id)
    clear = bytes(body) if kid is None else keys.open(kid, bytes(body), ad)
    kid, sealed = new.seal(clear, ad)
    await conn.execute(
        "UPDATE webhook_deliveries SET body = %s, kid = %s WHERE id = %s", (sealed, kid, row_id)
    )


async def _versions(conn: AsyncConnection, keys: Cipher, new: Cipher, row: tuple) -> None:
    row_id, room, state, runs, kid = row
    parts = []
    for part, data in (("state", bytes(state)), ("runs", bytes(runs))):
        ad = version_ad(room, row_id, part)
        clear = data if kid is None else keys.open(kid, data, ad)
        parts.append(new.seal(clear, ad))
    (new_kid, sealed_state), (_, sealed_runs) = parts
    await conn.execute(
        "UPDATE room_versions SET state = %s, runs = %s, kid = %s WHERE id = %s",
        (sealed_state, sealed_runs, new_kid, row_id),
    )


def _comment_part(table: str, column: str, part: str) -> tuple[str, str, Reseal]:
    """A comment's body, a thread's anchor text, a notification's excerpt: one sealed column (a
    thread without an anchor has none: left as it is)."""
    select = (
        f"SELECT id, room, {column}, kid FROM {table} "
        f"WHERE {column} IS NOT NULL AND {_STALE_KEY} ORDER BY id LIMIT %s FOR UPDATE"
    )

    async def reseal(conn: AsyncConnection, keys: Cipher, new: Cipher, row: tuple) -> None:
        row_id, room, data, kid = row
        ad = comment_ad(part, room, row_id)
        clear = bytes(data) if kid is None else keys.open(kid, bytes(data), ad)
        kid, sealed = new.seal(clear, ad)
        await conn.execute(
            f"UPDATE {table} SET {column} = %s, kid = %s WHERE id = %s", (sealed, kid, row_id)
        )

    return table, select, reseal


_TABLES: tuple[tuple[str, str, Any], ...] = (
    (
        "room_updates",
        f"SELECT seq, room, data, kid FROM room_updates WHERE {_STALE_KEY} "
        "ORDER BY seq LIMIT %s FOR UPDATE",
        _updates,
    ),
    (
        "room_snapshots",
        f"SELECT room, data, kid, folded, ad FROM room_snapshots WHERE {_STALE} "
        "ORDER BY room LIMIT %s FOR UPDATE",
        _snapshots,
    ),
    (
        "events",
        "SELECT id, channel, type, source, data, kid, sealed, ad FROM events "
        f"WHERE {_STALE} ORDER BY id LIMIT %s FOR UPDATE",
        _events,
    ),
    (
        "audit",
        "SELECT id, action, username, room, details, kid, ad FROM audit "
        f"WHERE {_STALE} ORDER BY id LIMIT %s FOR UPDATE",
        _audit,
    ),
    (
        "webhook_deliveries",
        "SELECT id, endpoint, event_id, body, kid FROM webhook_deliveries "
        f"WHERE {_STALE_KEY} ORDER BY id LIMIT %s FOR UPDATE",
        _deliveries,
    ),
    (
        "room_versions",
        "SELECT id, room, state, runs, kid FROM room_versions "
        f"WHERE {_STALE_KEY} ORDER BY id LIMIT %s FOR UPDATE",
        _versions,
    ),
    _comment_part("comment_threads", "text", "text"),
    _comment_part("comments", "body", "body"),
    _comment_part("notifications", "excerpt", "excerpt"),
)
