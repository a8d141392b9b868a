"""Build and deployment events also write the live state of their room's document.

A room ``build:{id}`` (or ``deployment:{id}``) holds a Map ``status`` (state, percent, message,
startedAt, finishedAt, error, updatedAt, lastEventId) and an Array ``log`` of the last
``log_max`` entries ``{time, type, percent, message}`` (one per line of an event's ``log``), so
a late joiner sees the current build at once and a UI can bind to it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pycrdt import Array, Doc, Map

from ..names import parse_room_name
from ..rooms.manager import RoomManager
from .bus import EventBus, EventMessage, Subscription

_STATES = {
    "created": "created",
    "started": "running",
    "progress": "running",
    "completed": "completed",
    "failed": "failed",
}


class RoomStateWriter:
    """Subscribes to ``build:*`` and ``deployment:*`` and applies each event to its room, in order."""

    def __init__(
        self,
        bus: EventBus,
        rooms: RoomManager,
        *,
        log_max: int = 500,
        log: logging.Logger | None = None,
    ) -> None:
        self.bus = bus
        self.rooms = rooms
        self.log_max = log_max
        self.log = log or logging.getLogger(__name__)
        self._queue: asyncio.Queue[EventMessage] = asyncio.Queue()
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._subscription = self.bus.subscribe(["build:*", "deployment:*"], self._queue.put_nowait)
        self._task = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
        if self._task is not None:
            await self.idle()
            self._task.cancel()

    async def idle(self) -> None:
        """Wait until every event received so far is in its room."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():  # what arrived meanwhile goes in the same changes
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[EventMessage]) -> None:
        """One transaction per room for all of ``batch``'s events of that room, in order."""
        by_room: dict[str, list[dict[str, Any]]] = {}
        for message in batch:
            family = message.envelope["type"].split(".", 1)[0]
            if family in ("build", "deployment"):  # not presence, nor other events there
                by_room.setdefault(message.channel, []).append(message.envelope)
        for channel, envelopes in by_room.items():
            try:
                room = await self.rooms.open(parse_room_name(channel))
                # Who the change is for, when that is one user (version history's author).
                users = {_username(e.get("source")) for e in envelopes}
                room.change(
                    lambda doc, e=envelopes: self._apply(doc, e),
                    origin=users.pop() if len(users) == 1 else None,
                )
                self.rooms.release_if_idle(room)
            except Exception:
                self.log.exception(
                    "could not write events %s..%s into their room",
                    envelopes[0]["id"],
                    envelopes[-1]["id"],
                )

    def _apply(self, doc: Doc, envelopes: list[dict[str, Any]]) -> None:
        """Fold ``envelopes`` into the status, then write only the keys that changed, and the
        log entries that stay (the last ``log_max``) with one trim."""
        status = doc.get("status", type=Map)
        log = doc.get("log", type=Array)
        before = status.to_py() or {}
        state = dict(before)
        entries = []
        for envelope in envelopes:
            entries += _fold(state, envelope)
        for key in before.keys() - state.keys():
            del status[key]
        for key, value in state.items():
            if key not in before or before[key] != value:
                status[key] = value
        entries = entries[-self.log_max :]
        log.extend(entries)
        excess = len(log) - self.log_max
        if excess > 0:
            del log[0:excess]


def _fold(state: dict[str, Any], envelope: dict[str, Any]) -> list[dict[str, Any]]:
    """Apply one event to ``state`` (the status map, as a dict); return its log entries: one,
    or one per line of its ``log`` (the output ``jupyter omniforge run`` and the notebook
    tools send)."""
    phase = envelope["type"].split(".", 1)[1]
    data = envelope["data"]
    now = envelope["time"]
    state["state"] = _STATES.get(phase, phase)
    state["updatedAt"] = now
    state["lastEventId"] = envelope["id"]
    state["lastEventType"] = envelope["type"]
    if phase in ("created", "started"):
        state["startedAt"] = now
        state["percent"] = 0.0
        state.pop("finishedAt", None)
        state.pop("error", None)
    if "percent" in data:
        state["percent"] = float(data["percent"])
    if phase == "completed":
        state["percent"] = 100.0
        state["finishedAt"] = now
    if phase == "failed":
        state["finishedAt"] = now
        state["error"] = data["error"]
    message = data.get("message") or data.get("error") or ""
    if message:
        state["message"] = message
    lines = data.get("log") or [message]
    percent = state.get("percent", 0.0)
    return [
        {"time": now, "type": envelope["type"], "percent": percent, "message": line}
        for line in lines
    ]


def _username(source: Any) -> str:
    """The username of an event's ``source`` ("" when it names none)."""
    name = source.get("username") if isinstance(source, dict) else None
    return name if isinstance(name, str) else ""
