"""What this instance sends to Redis on its hot path: room updates and awareness, in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import ResponseError

from ...backoff import Backoff
from .connection import TRANSIENT, RedisConnection, is_wrong_type
from .entries import MalformedCounts

#: Awareness messages kept while Redis is unreachable, at most.
MAX_ANNOUNCEMENTS = 10_000

#: Commands sent in one write, at most (of each: updates, awareness messages).
_BATCH = 1000


class Outbox:
    """Room updates for this instance's streams and awareness messages for the channel, sent in
    batches and in the order they were queued, on a connection of its own.

    One connection keeps the order: a removal of an awareness state that overtook the state it
    removes would leave a ghost on the other instances. The first update of a room (since it was
    opened here, or since Redis lost its data) also enrols this instance among the room's
    writers; :attr:`on_enrolled` is then called with the room, and :attr:`on_appended` with the
    rooms of the updates each batch appended.
    """

    def __init__(
        self,
        connection: RedisConnection,
        instance_id: str,
        *,
        malformed: MalformedCounts,
        log: logging.Logger,
    ) -> None:
        self._connection = connection
        self._instance = instance_id
        self._malformed = malformed
        self._log = log
        self._updates: list[tuple[str, bytes, str]] = []  # (room, update, author)
        self._announcements: list[bytes] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # set while nothing waits to be sent
        self._idle.set()
        self._enrolled: set[str] = set()  # rooms whose writers set holds this instance
        self._enrolled_epoch: str | None = None
        self.on_enrolled: Callable[[str], None] = lambda room: None
        self.on_appended: Callable[[list[str]], None] = lambda rooms: None

    def append(self, room: str, update: bytes, author: str = "") -> None:
        """Queue an update for this instance's stream of ``room``, sent by the user ``author``
        ("" unknown; else one :func:`.entries.is_author` accepts). Never blocks, never drops."""
        self._updates.append((room, update, author))
        self._wake_up()

    def announce(self, message: bytes) -> None:
        """Queue an awareness message. While Redis is away the oldest are dropped past
        :data:`MAX_ANNOUNCEMENTS` (states expire on the other instances anyway)."""
        if len(self._announcements) >= MAX_ANNOUNCEMENTS:
            del self._announcements[: MAX_ANNOUNCEMENTS // 10]
        self._announcements.append(message)
        self._wake_up()

    def forget(self, room: str) -> None:
        """Enrol again with the next update of ``room`` (it was closed here)."""
        self._enrolled.discard(room)

    def enrol_again(self) -> None:
        """Enrol again in every room (the writers sets may be gone)."""
        self._enrolled.clear()

    async def drained(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until everything queued was sent."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return self._idle.is_set()

    def _wake_up(self) -> None:
        self._idle.clear()
        self._wake.set()

    async def run(self) -> None:
        """Send forever.

        This is the per-update hot path, so it bypasses redis-py's client layer (a pipeline
        object and a timer per command): one packed write per batch and one deadline around
        it. A batch that failed on the way is sent again after a backoff."""
        pool = self._connection.pool()
        conn = pool.make_connection()
        try:
            await self._send_forever(conn)
        finally:
            await conn.disconnect()
            await pool.aclose()

    async def _send_forever(self, conn: Any) -> None:
        backoff = Backoff()
        key = self._connection.room_log
        writers = self._connection.room_writers
        channel = self._connection.key("awareness")
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._updates or self._announcements:
                if self._enrolled_epoch != self._connection.epoch:
                    self._enrolled.clear()  # Redis lost its data: the writers sets too
                    self._enrolled_epoch = self._connection.epoch
                batch = self._updates[:_BATCH]
                announcements = self._announcements[:_BATCH]
                enrol = sorted({room for room, _, _ in batch} - self._enrolled)
                commands: list[tuple[Any, ...]] = [
                    ("SADD", writers(room), self._instance) for room in enrol
                ]
                # The author rides along for the shared store's rows (persistence.py).
                commands += [
                    ("XADD", key(room, self._instance), "*", "u", u, "a", a)
                    if a
                    else ("XADD", key(room, self._instance), "*", "u", u)
                    for room, u, a in batch
                ]
                commands += [("PUBLISH", channel, message) for message in announcements]
                # The room each SADD and XADD is about, in the same order.
                rooms = enrol + [room for room, _, _ in batch]
                try:
                    errors = await self._send(conn, commands)
                except TRANSIENT as e:
                    await conn.disconnect()  # replies may be out of step now
                    self._connection.healthy = False
                    self._log.warning(
                        "could not publish %d updates and %d awareness messages (%s); retrying",
                        len(batch),
                        len(announcements),
                        e,
                    )
                    await backoff.wait()
                    continue
                failed_rooms = await self._refused(commands, rooms, errors)
                del self._updates[: len(batch)]
                del self._announcements[: len(announcements)]
                if failed_rooms:
                    # Sent again, first, once the keys are repaired or Redis accepts them.
                    self._updates[0:0] = [item for item in batch if item[0] in failed_rooms]
                    batch = [item for item in batch if item[0] not in failed_rooms]
                    await backoff.wait()
                else:
                    backoff.reset()
                if not self._updates and not self._announcements:
                    self._idle.set()
                for room in enrol:
                    if room not in failed_rooms:
                        self._enrolled.add(room)
                        self.on_enrolled(room)
                if batch:
                    self.on_appended([room for room, _, _ in batch])

    async def _send(self, conn: Any, commands: list[tuple[Any, ...]]) -> dict[int, ResponseError]:
        """Send ``commands`` in one write and read every reply; the commands Redis refused."""
        errors: dict[int, ResponseError] = {}
        async with asyncio.timeout(self._connection.connect_timeout):
            await conn.send_packed_command(conn.pack_commands(commands))
            for index in range(len(commands)):
                try:
                    await conn.read_response()
                except ResponseError as e:  # a refused command: the next replies still follow
                    errors[index] = e
        return errors

    async def _refused(
        self, commands: list[tuple[Any, ...]], rooms: list[str], errors: dict[int, ResponseError]
    ) -> set[str]:
        """Deal with the commands Redis refused; the rooms whose updates must be sent again.

        A key of ours that holds another type (someone wrote over it) is deleted, so that the
        next attempt recreates it; any other refusal (out of memory, a read-only replica) is
        retried as it is."""
        failed: set[str] = set()
        repaired: set[str] = set()
        for index, error in errors.items():
            name, target = commands[index][0], commands[index][1]
            if name == "PUBLISH":
                continue  # awareness may be lost
            failed.add(rooms[index])
            if target in repaired:
                continue
            repaired.add(target)
            if is_wrong_type(error):
                kind = "writers" if name == "SADD" else "room_updates"
                self._malformed.skip(kind, None, f"{target} is not a {_TYPES[name]}: deleted it")
                try:
                    await self._connection.drop_unless_type(target, _TYPES[name])
                except TRANSIENT as e:
                    self._log.warning("could not repair %s: %s", target, e)
            else:
                self._log.warning("Redis refused %s %s: %s; retrying", name, target, error)
        return failed


_TYPES = {"SADD": "set", "XADD": "stream"}
