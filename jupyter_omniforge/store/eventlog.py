"""What every engine's event log does the same way: the group-commit queue of appended events,
notifying the listener in id order, and pruning by age in the background. An engine subclasses
:class:`BatchingEventLog` and supplies only its I/O (insert a batch, prune, read, last id)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

from .. import strictjson
from .base import EventStore, Page

# (channel, type, time, source JSON, data JSON): an event as an engine inserts it.
EventRow = tuple[str, str, float, str, str]


class BatchingEventLog(EventStore):
    """Append-only, group-committed event storage with cursor reads.

    Ids are increasing integers handed out by the engine on insert."""

    def __init__(
        self,
        *,
        commit_interval: float,
        max_per_channel: int,
        max_age: float,
        log: logging.Logger,
    ) -> None:
        self.commit_interval = commit_interval
        self.max_per_channel = max_per_channel
        self.max_age = max_age
        self.log = log
        self._pending: list[tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._writing = False
        self._write_task: asyncio.Task[None] | None = None
        self._prune_task: asyncio.Task[None] | None = None
        #: Called with each stored envelope (with its id), in id order, once it is committed.
        self.listener: Callable[[dict[str, Any]], None] = lambda envelope: None
        #: Stored rows skipped because they are not valid events, since start.
        self.malformed = 0

    # --- the engine's I/O ---

    @abstractmethod
    async def _open_storage(self) -> None:
        """Open the database (and bring its schema up to date, where the engine does that)."""

    @abstractmethod
    async def _insert_rows(self, rows: list[EventRow]) -> list[int]:
        """Insert ``rows`` in one transaction, pruning channels past `max_per_channel`; their
        ids, in order."""

    @abstractmethod
    async def _prune_older(self, cutoff: float) -> None:
        """Delete the events older than ``cutoff`` (a Unix time)."""

    @abstractmethod
    async def _read_page(
        self, globs: list[str], after: str | int | None, limit: int
    ) -> tuple[Page, list[tuple[Any, str]]]:
        """The page, and the ``(id, reason)`` of the rows skipped as malformed."""

    @abstractmethod
    async def _read_last_id(self) -> int:
        """The highest id handed out."""

    def _pruning_failed(self, error: Exception) -> None:
        """Called in the ``except`` of a failed background prune."""
        self.log.exception("pruning old events failed")

    # --- lifecycle ---

    @staticmethod
    def order_key(event_id: str) -> int:
        """Sort key of an id of this log (ids are increasing integers); -1 for anything else."""
        if isinstance(event_id, str) and event_id.isdigit() and len(event_id) <= 20:
            return int(event_id)
        return -1

    async def start(self) -> None:
        await self._open_storage()
        if self._prune_task is None:  # start is retried after a failed start of the server
            self._prune_task = asyncio.ensure_future(self._prune_by_age_forever())

    async def close(self) -> None:
        """Commit what is pending, stop pruning."""
        pruning, self._prune_task = self._prune_task, None
        if pruning is not None:
            pruning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pruning
        while self._pending or self._writing:
            if self._flush_handle is not None:
                self._flush_handle.cancel()
                self._flush_handle = None
            self._ship()  # nothing while a batch is being written: that one ships the rest
            if self._write_task is not None:
                await self._write_task

    # -- writing ---------------------------------------------------------------------------------

    def append(self, envelope: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        """Queue ``envelope`` (without id) for the next group commit; the future gets the
        stored envelope, with its ``id``."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending.append((envelope, future))
        if self._flush_handle is None and not self._writing:
            self._flush_handle = asyncio.get_running_loop().call_later(
                self.commit_interval, self._ship
            )
        return future

    async def append_many(self, envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # Queued in one go, they are in one group commit: a batch ships whatever is pending.
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
            ids = await self._insert_rows(rows)
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
                self._pruning_failed(e)

    async def prune_by_age(self) -> None:
        await self._prune_older(time.time() - self.max_age)

    # -- reading ---------------------------------------------------------------------------------

    async def read(
        self, patterns: Iterable[str], after: str | int | None, limit: int = 1000
    ) -> Page:
        """Up to ``limit`` events of channels matching ``patterns`` with ids after ``after``.

        A stored row that is not a valid event (written by something else, or damaged) is
        skipped, logged and counted in :attr:`malformed`; it never fails the read."""
        page, bad = await self._read_page(list(patterns), after, limit)
        if bad:
            self.malformed += len(bad)
            for event_id, reason in bad:
                self.log.error("skipped stored event %s: %s", event_id, reason)
        return page

    async def last_id(self) -> str:
        return str(await self._read_last_id())
