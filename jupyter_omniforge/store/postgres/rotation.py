"""Re-sealing a PostgreSQL store with a new key (``jupyter omniforge rotate-key --store-url``).

What is re-sealed, and how, is the engines' common part (``..rotation``): batches of one
transaction each, so a rotation killed at any point leaves every row sealed with the old key
or the new one (or still in the clear), and running it again carries on where it stopped.

Instances may keep serving meanwhile if they open both keys (``encryption_key_file`` the new
one, ``encryption_previous_key_files`` the old one): each batch locks the rows it re-seals
(``FOR UPDATE``), so a row an instance rewrites at the same moment (a compaction's snapshot, an
edited comment) is re-sealed as rewritten, never put back as it was. What they write meanwhile
is sealed with the new key already.
"""

from __future__ import annotations

import time

from psycopg import AsyncConnection
from psycopg.errors import DeadlockDetected

from ..crypto import Cipher
from ..rotation import BATCH, TABLES, Dialect, Progress, Table, opening, record
from ..sqlite.sealing import AD_VERSION
from .migrations import _migrate

#: Times a batch is tried again after PostgreSQL broke a deadlock with an instance by failing it.
_RETRIES = 5

_POSTGRES = Dialect(
    param="%s",
    stale_ad=f"ad IS DISTINCT FROM {AD_VERSION}",
    lock=" FOR UPDATE",
    names=(("user", "username"),),
)


async def rotate(
    url: str,
    old: Cipher | None,
    new: Cipher,
    *,
    batch: int = BATCH,
    progress: Progress = lambda table, done: None,
) -> dict[str, int]:
    """Re-seal every row of the PostgreSQL database at ``url`` with ``new``'s current key; rows
    sealed with another key must open with ``old``. Returns the rows re-sealed per table. Raises
    :class:`~..crypto.CipherError` for a row neither opens (the batch it is in is rolled
    back; the batches before stay done) and ``SchemaError`` for a database of a newer release."""
    keys = opening(old, new)
    conn = await AsyncConnection.connect(url, autocommit=True)
    try:
        async with conn.transaction():
            await _migrate(conn)  # a database of an older release: to the schema sealed here
        done = {}
        for table in TABLES:
            done[table.name] = await _rotate(conn, keys, new, batch, progress, table)
        async with conn.transaction():
            cursor = await conn.execute(
                "INSERT INTO audit (time, action, username, room, details) "
                "VALUES (%s, 'key.rotated', '', '', '') RETURNING id",
                (time.time(),),
            )
            (entry_id,) = await cursor.fetchone()
            kid, sealed = record(new, entry_id, done)
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
    progress: Progress,
    table: Table,
) -> int:
    select = table.select(_POSTGRES)
    done = 0
    while True:
        for attempt in range(_RETRIES):
            try:
                async with conn.transaction():
                    cursor = await conn.execute(select, (new.current, batch))
                    rows = await cursor.fetchall()
                    for row in rows:
                        await conn.execute(*table.update(_POSTGRES, keys, new, row))
                break
            except DeadlockDetected:
                if attempt == _RETRIES - 1:
                    raise
        done += len(rows)
        progress(table.name, done)
        if len(rows) < batch:
            return done
