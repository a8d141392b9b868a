"""Re-sealing a store with a new key (``jupyter omniforge rotate-key``): what both engines share.

Which rows of which tables are stale, and how one is re-sealed. Rows are re-sealed in batches,
one transaction each (the engine's ``rotation`` module runs them): a rotation killed at any
point leaves every row sealed with the old key or the new one (or still in the clear), never
half-written, and running it again carries on where it stopped. A row is stale when it is in
the clear (which is how an existing store starts being encrypted), sealed with another key
than the new one, or sealed with an older associated data than ``sealing.py``'s (``ad`` not
``AD_VERSION``, even with the same key). Quarantined rows are left as they are (they are kept
for investigation, not read).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import strictjson
from .crypto import Cipher
from .sqlite.sealing import (
    AD_VERSION,
    audit_ad,
    comment_ad,
    event_ad,
    snapshot_ad,
    update_ad,
    version_ad,
)
from .sqlite.webhooks import delivery_ad

#: Rows re-sealed per transaction.
BATCH = 500

#: ``progress(table, rows re-sealed so far)``, after each batch.
Progress = Callable[[str, int], None]

#: The columns to write for one stale row (read as the table's ``columns``), re-sealed.
Reseal = Callable[[Cipher, Cipher, tuple], dict[str, Any]]


@dataclass(frozen=True)
class Dialect:
    """What an engine's SQL says differently."""

    #: A parameter's placeholder.
    param: str
    #: ``ad`` is not the current associated data's version (NULL included).
    stale_ad: str
    #: After a batch's SELECT: the engine's row lock, if it takes one.
    lock: str = ""
    #: Columns named otherwise in this engine (``user`` is reserved in PostgreSQL).
    names: tuple[tuple[str, str], ...] = ()

    def name(self, column: str) -> str:
        return dict(self.names).get(column, column)


@dataclass(frozen=True)
class Table:
    """One table's sealed rows: ``columns`` are read (the first names the row, and orders the
    batches), ``reseal`` gives the columns to write for a stale one."""

    name: str
    columns: tuple[str, ...]
    reseal: Reseal
    #: The table keeps the version of its associated data (``ad``): an older one is stale too.
    versioned: bool = False
    #: A row whose sealed column is NULL has nothing sealed: left as it is.
    optional: str | None = None

    def select(self, sql: Dialect) -> str:
        """A batch of stale rows: parameters the new key's id, then the batch size."""
        key = self.columns[0]
        stale = f"kid IS NULL OR kid <> {sql.param}"
        if self.versioned:
            stale += f" OR {sql.stale_ad}"
        where = f"({stale})"
        if self.optional is not None:
            where = f"{self.optional} IS NOT NULL AND {where}"
        columns = ", ".join(map(sql.name, self.columns))
        return (
            f"SELECT {columns} FROM {self.name} WHERE {where} "
            f"ORDER BY {key} LIMIT {sql.param}{sql.lock}"
        )

    def update(self, sql: Dialect, keys: Cipher, new: Cipher, row: tuple) -> tuple[str, tuple]:
        """The statement and parameters that re-seal ``row`` with ``new``'s current key
        (``keys`` open what it is sealed with). Raises :class:`~.crypto.CipherError` for a row
        they do not open."""
        values = self.reseal(keys, new, row)
        sets = ", ".join(f"{sql.name(column)} = {sql.param}" for column in values)
        statement = f"UPDATE {self.name} SET {sets} WHERE {self.columns[0]} = {sql.param}"
        return statement, (*values.values(), row[0])


def opening(old: Cipher | None, new: Cipher) -> Cipher:
    """The keys a rotation opens rows with: ``new``'s and ``old``'s (sealing with ``new``'s)."""
    return new if old is None else new.merged(old)


def record(new: Cipher, entry_id: int, done: dict[str, int]) -> tuple[str, bytes]:
    """The key id and sealed details of the audit entry ``entry_id`` (action ``key.rotated``,
    no user, no room) that records a rotation: the rows it re-sealed and the new key."""
    details = strictjson.dumps({"rows": sum(done.values()), "key": new.current}).encode()
    return new.seal(details, audit_ad(entry_id, "key.rotated", "", "", AD_VERSION))


def _bytes(value: Any) -> bytes:
    """A stored value as bytes (PostgreSQL may hand a memoryview; a row another tool wrote in
    SQLite, text)."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"a sealed column holds a {type(value).__name__}")


def _clear(keys: Cipher, kid: str | None, data: Any, ad: bytes) -> bytes:
    return _bytes(data) if kid is None else keys.open(kid, _bytes(data), ad)


def _update(keys: Cipher, new: Cipher, row: tuple) -> dict[str, Any]:
    seq, room, data, kid = row
    ad = update_ad(room, seq)
    kid, sealed = new.seal(_clear(keys, kid, data, ad), ad)
    return {"data": sealed, "kid": kid}


def _snapshot(keys: Cipher, new: Cipher, row: tuple) -> dict[str, Any]:
    room, data, kid, folded, version = row
    clear = _clear(keys, kid, data, snapshot_ad(room, folded, version))
    folded = folded or 0
    kid, sealed = new.seal(clear, snapshot_ad(room, folded, AD_VERSION))
    return {"data": sealed, "kid": kid, "folded": folded, "ad": AD_VERSION}


def _event(keys: Cipher, new: Cipher, row: tuple) -> dict[str, Any]:
    event_id, channel, event_type, source, data, kid, sealed, version = row
    if kid is None:  # an event in the clear keeps its source and data as JSON text
        clear = f'{{"source":{source},"data":{data}}}'.encode()
    else:
        clear = keys.open(kid, _bytes(sealed), event_ad(channel, event_type, event_id, version))
    kid, sealed = new.seal(clear, event_ad(channel, event_type, event_id, AD_VERSION))
    return {"source": "", "data": "", "kid": kid, "sealed": sealed, "ad": AD_VERSION}


def _audit(keys: Cipher, new: Cipher, row: tuple) -> dict[str, Any]:
    entry_id, action, user, room, details, kid, version = row
    clear = _clear(keys, kid, details, audit_ad(entry_id, action, user, room, version))
    kid, sealed = new.seal(clear, audit_ad(entry_id, action, user, room, AD_VERSION))
    return {"details": sealed, "kid": kid, "ad": AD_VERSION}


def _delivery(keys: Cipher, new: Cipher, row: tuple) -> dict[str, Any]:
    _, endpoint, event_id, body, kid = row
    ad = delivery_ad(endpoint, event_id)
    kid, sealed = new.seal(_clear(keys, kid, body, ad), ad)
    return {"body": sealed, "kid": kid}


def _version(keys: Cipher, new: Cipher, row: tuple) -> dict[str, Any]:
    row_id, room, state, runs, kid = row
    sealed = {}
    for part, data in (("state", state), ("runs", runs)):
        ad = version_ad(room, row_id, part)
        new_kid, sealed[part] = new.seal(_clear(keys, kid, data, ad), ad)
    return {**sealed, "kid": new_kid}


def _comment_part(table: str, column: str) -> Table:
    """A comment's body, a thread's anchor text, a notification's excerpt: one sealed column
    (a thread without an anchor has none: left as it is)."""

    def reseal(keys: Cipher, new: Cipher, row: tuple) -> dict[str, Any]:
        row_id, room, data, kid = row
        ad = comment_ad(column, room, row_id)
        kid, sealed = new.seal(_clear(keys, kid, data, ad), ad)
        return {column: sealed, "kid": kid}

    return Table(table, ("id", "room", column, "kid"), reseal, optional=column)


#: Every table with sealed rows, in the order a rotation walks them.
TABLES = (
    Table("room_updates", ("seq", "room", "data", "kid"), _update),
    Table("room_snapshots", ("room", "data", "kid", "folded", "ad"), _snapshot, versioned=True),
    Table(
        "events",
        ("id", "channel", "type", "source", "data", "kid", "sealed", "ad"),
        _event,
        versioned=True,
    ),
    Table(
        "audit", ("id", "action", "user", "room", "details", "kid", "ad"), _audit, versioned=True
    ),
    Table("webhook_deliveries", ("id", "endpoint", "event_id", "body", "kid"), _delivery),
    Table("room_versions", ("id", "room", "state", "runs", "kid"), _version),
    _comment_part("comment_threads", "text"),
    _comment_part("comments", "body"),
    _comment_part("notifications", "excerpt"),
)
