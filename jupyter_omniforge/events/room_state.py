"""Build and deployment events also write the live state of their room's document.

A room ``build:{id}`` (or ``deployment:{id}``) holds a Map ``status`` (state, percent, message,
startedAt, finishedAt, error, updatedAt, lastEventId) and an Array ``log`` of the last
``log_max`` entries ``{time, type, percent, message}``, so a late joiner sees the current build
at once and a UI can bind to it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pycrdt import Array, Doc, Map

from ..rooms.manager import RoomManager
from ..rooms.names import parse_room_name
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
            message = await self._queue.get()
            if message.envelope["type"].split(".", 1)[0] not in ("build", "deployment"):
                self._queue.task_done()  # presence and other events on these channels
                continue
            try:
                room = await self.rooms.open(parse_room_name(message.channel))
                room.change(lambda doc, m=message: self._apply(doc, m.envelope))
                self.rooms.release_if_idle(room)
            except Exception:
                self.log.exception("could not write event %s into its room", message.id)
            finally:
                self._queue.task_done()

    def _apply(self, doc: Doc, envelope: dict[str, Any]) -> None:
        status = doc.get("status", type=Map)
        log = doc.get("log", type=Array)
        phase = envelope["type"].split(".", 1)[1]
        data = envelope["data"]
        now = envelope["time"]
        status["state"] = _STATES.get(phase, phase)
        status["updatedAt"] = now
        status["lastEventId"] = envelope["id"]
        status["lastEventType"] = envelope["type"]
        if phase in ("created", "started"):
            status["startedAt"] = now
            status["percent"] = 0.0
            for key in ("finishedAt", "error"):
                if key in status:
                    del status[key]
        if "percent" in data:
            status["percent"] = float(data["percent"])
        if phase == "completed":
            status["percent"] = 100.0
            status["finishedAt"] = now
        if phase == "failed":
            status["finishedAt"] = now
            status["error"] = data["error"]
        message = data.get("message") or data.get("error") or ""
        if message:
            status["message"] = message
        log.append(
            {
                "time": now,
                "type": envelope["type"],
                "percent": status.get("percent", 0.0),
                "message": message,
            }
        )
        excess = len(log) - self.log_max
        if excess > 0:
            del log[0:excess]
