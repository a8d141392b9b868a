"""The default backplane: one instance, nothing shared, events in the embedded SQLite log."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..store.base import EventStore
from .base import Backplane, BackplaneSettings


class LocalBackplane(Backplane):
    """Everything stays in this process; the SQLite room store is the source of truth."""

    def __init__(self, event_log: EventStore, instance_id: str, rooms_info: Callable[[], dict]):
        self.event_log = event_log
        self.instance_id = instance_id
        self._rooms_info = rooms_info
        self._started = time.time()

    @classmethod
    def from_settings(cls, settings: BackplaneSettings) -> LocalBackplane:
        return cls(settings.events, settings.instance_id, settings.rooms_info)

    async def start(self) -> None:
        await self.event_log.start()

    async def close(self) -> None:
        await self.event_log.close()

    async def open_room(self, room: str) -> list[bytes]:
        return []

    def close_room(self, room: str) -> None:
        pass

    def publish_update(self, room: str, update: bytes) -> None:
        pass

    def publish_awareness(self, room: str, awareness_update: bytes) -> None:
        pass

    async def delete_room(self, room: str) -> None:
        pass

    async def cluster(self) -> list[dict[str, Any]]:
        return [
            {"id": self.instance_id, "started": self._started, "self": True, **self._rooms_info()}
        ]
