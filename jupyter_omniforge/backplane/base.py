"""The backplane interface. Rooms and the event bus talk only to this.

A backplane carries, between the instances of one deployment:

- room updates: every update an instance applies on behalf of its own clients is published;
  updates from other instances come back through :meth:`RoomSink.apply_remote_update` with the
  origin :data:`REMOTE`, which is never published again (no echo loops between instances);
- awareness: each instance publishes its rooms' batched awareness changes; other instances'
  states arrive through :meth:`RoomSink.apply_remote_awareness`;
- events: the backplane owns the event log (:attr:`Backplane.event_log`), so ids are cursors
  valid on every instance.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol


class _Remote:
    def __repr__(self) -> str:
        return "REMOTE"


#: The origin of updates that came from another instance: never published again.
REMOTE: Any = _Remote()


class RoomSink(Protocol):
    """Where a backplane delivers what other instances publish (the room manager)."""

    def apply_remote_update(self, room: str, update: bytes) -> bool:
        """False when the room refused the update (it does not decode)."""
        ...

    def apply_remote_awareness(self, room: str, instance: str, awareness_update: bytes) -> bool:
        """False when the room refused the awareness update (it does not decode)."""
        ...

    def forget_remote_instance(self, instance: str) -> None: ...

    def expire_remote_awareness(self, older_than: float) -> None: ...

    def remote_instances(self) -> set[str]: ...

    def local_awareness(self, room: str) -> bytes | None: ...

    def sync_remote_state(self, room: str, shared: list[bytes]) -> bytes | None: ...

    @property
    def rooms(self) -> dict[str, Any]: ...


class Backplane(ABC):
    """Shares rooms, awareness and events between instances."""

    instance_id: str
    #: True when other instances share the state: rooms then publish what only they hold.
    shared: bool = False
    event_log: Any  # an EventLog-like object: append, read, last_id, order_key, start, close

    def attach(self, rooms: RoomSink) -> None:
        """Name the room manager that remote updates and awareness go to."""
        self.sink = rooms

    @abstractmethod
    async def start(self) -> None:
        """Connect; raises a clear error if the backplane cannot be reached."""

    @abstractmethod
    async def close(self) -> None:
        """Flush what is pending and disconnect."""

    @abstractmethod
    async def open_room(self, room: str) -> list[bytes]:
        """The room's shared state (updates to apply), and from now on follow it."""

    @abstractmethod
    def close_room(self, room: str) -> None:
        """Stop following ``room`` (it was evicted or deleted here)."""

    @abstractmethod
    def publish_update(self, room: str, update: bytes) -> None:
        """Share an update this instance applied for its own clients. Never blocks."""

    @abstractmethod
    def publish_awareness(self, room: str, awareness_update: bytes) -> None:
        """Share this instance's batched awareness changes of ``room``. May be lost."""

    @abstractmethod
    async def delete_room(self, room: str) -> None:
        """Forget the room's shared state."""

    @abstractmethod
    async def cluster(self) -> list[dict[str, Any]]:
        """Live instances: ``{"id", "rooms", "peers", "started", "self"}`` each."""

    def malformed(self) -> dict[str, int]:
        """Malformed shared entries this instance skipped, per kind (none when nothing is
        shared)."""
        return {}
