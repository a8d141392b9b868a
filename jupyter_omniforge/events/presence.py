"""``user.joined`` / ``user.left`` on a room's channel when a user's first connection joins it
and when their last one leaves."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..auth import Identity
from .bus import EventBus


class PresenceEvents:
    """A room listener that emits presence events through the bus."""

    def __init__(self, bus: EventBus, log: logging.Logger | None = None) -> None:
        self.bus = bus
        self.log = log or logging.getLogger(__name__)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def _emit(self, event_type: str, room: Any, identity: Identity) -> None:
        if self._closed:
            return  # the server is stopping: nobody would see it, and its store is closing
        data = {
            "username": identity.username,
            "display_name": identity.display_name,
            "room": room.key,
            "peers": len(room.peers),
        }
        task = asyncio.ensure_future(
            self.bus.emit(room.key, event_type, data, source=identity.as_source(), internal=True)
        )
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("could not emit a presence event", exc_info=task.exception())

    async def idle(self) -> None:
        # Wait on the unfinished ones only: a finished task stays in the set until its done
        # callback runs, and gathering finished tasks does not yield on Python 3.12+ (a
        # 100% CPU loop that hung the 3.13 run of CI).
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.wait(pending)

    async def close(self) -> None:
        """Store the events emitted so far, and emit no more (connections that Jupyter closes
        after the extension stopped would leave events pending forever)."""
        await self.idle()
        self._closed = True

    def user_joined(self, room: Any, identity: Identity) -> None:
        self._emit("user.joined", room, identity)

    def user_left(self, room: Any, identity: Identity) -> None:
        self._emit("user.left", room, identity)

    def room_updated(self, room: Any, update: bytes, origin: Any) -> None:
        pass

    def awareness_changed(self, room: Any, awareness_update: bytes, origin: Any) -> None:
        pass
