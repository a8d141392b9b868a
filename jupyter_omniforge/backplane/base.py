"""The backplane interface. Rooms and the event bus talk only to this.

``OmniForgeApp.backplane_class`` names the implementation: in-process (:mod:`.local`) by
default, Redis (:mod:`.redis`) when ``redis_url`` is set, or a deployment's own, each built from
the same :class:`BackplaneSettings`.

A backplane carries, between the instances of one deployment:

- room updates: every update an instance applies on behalf of its own clients is published;
  updates from other instances come back through :meth:`RoomSink.apply_remote_update` with the
  origin :data:`REMOTE`, which is never published again (no echo loops between instances);
- awareness: each instance publishes its rooms' batched awareness changes; other instances'
  states arrive through :meth:`RoomSink.apply_remote_awareness`;
- events: the backplane owns the event log (:attr:`Backplane.event_log`), so ids are cursors
  valid on every instance;
- leases: a role one instance at a time holds (:meth:`Backplane.lease`);
- revoked tokens: a revocation made on one instance holds on all
  (:meth:`Backplane.share_revocation`).
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..store.base import EventStore, RoomStore
    from ..store.crypto import Cipher


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


class Lease(ABC):
    """A role one instance at a time holds (sending webhooks): call :meth:`hold` more often than
    the lease's time to live to keep it; it passes to another instance when its holder stops.
    A lease carries a value its successive holders hand on (how far the last one got), and
    named positions (how far each part of the work got: each webhook endpoint's deliveries).

    Only the holder writes: a value or position saved by an instance that lost the lease is
    refused, so that a stale holder never moves a position back."""

    #: Seconds the lease lasts after a successful :meth:`hold` unless renewed: a holder that
    #: could not renew it for that long must assume another instance holds it.
    ttl: float = math.inf

    @abstractmethod
    async def hold(self) -> bool:
        """Take the lease, or renew it; True while this instance holds it."""

    @abstractmethod
    async def release(self) -> None:
        """Let another instance take it now (if this one holds it)."""

    @abstractmethod
    async def load(self) -> str | None:
        """The value the last holder saved (None: none; untrusted, check it)."""

    @abstractmethod
    async def save(self, value: str) -> bool:
        """Record ``value`` for the next holder; False (nothing written) when this instance no
        longer holds the lease."""

    @abstractmethod
    async def load_positions(self) -> dict[str, str]:
        """Every position the holders saved, by name (untrusted, check them)."""

    @abstractmethod
    async def save_positions(self, positions: dict[str, str]) -> bool:
        """Record each of ``positions`` (the others are kept), in one write; False (nothing
        written) when this instance no longer holds the lease."""


class SoleLease(Lease):
    """The lease of a deployment of one instance: always held, and no one to hand a value on to
    (:meth:`load` is None)."""

    async def hold(self) -> bool:
        return True

    async def release(self) -> None:
        pass

    async def load(self) -> str | None:
        return None

    async def save(self, value: str) -> bool:
        return True

    async def load_positions(self) -> dict[str, str]:
        return {}

    async def save_positions(self, positions: dict[str, str]) -> bool:
        return True


@dataclass
class BackplaneSettings:
    """What a backplane is built from: the extension's settings that concern sharing."""

    instance_id: str
    #: The store's event log: the log of a backplane that shares nothing.
    events: EventStore
    #: This instance's open rooms and peers, for the list of live instances.
    rooms_info: Callable[[], dict[str, Any]] = dict
    #: Where the instances meet (``redis_url``); empty: nowhere, nothing is shared.
    url: str = ""
    prefix: str = "omniforge"
    connect_timeout: float = 5.0
    event_max_len: int = 1_000_000
    event_max_age: float = 7 * 24 * 3600
    compact_max_updates: int = 1000
    compact_idle: float = 5.0
    #: Seals what the backplane writes (None: plaintext).
    cipher: Cipher | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("jupyter_omniforge"))


class Backplane(ABC):
    """Shares rooms, awareness and events between instances."""

    instance_id: str
    #: True when other instances share the state: rooms then publish what only they hold.
    shared: bool = False
    event_log: Any  # an EventLog-like object: append, read, last_id, order_key, start, close
    #: Called with ``(jti, expires)`` for each token another instance revoked (set by the app).
    on_revoked: Callable[[str, float], None] | None = None
    #: Where the instances keep the rooms' versions when their stores are their own (a
    #: HistoryStore), and who sent each Yjs client's updates (a history ClientAuthors).
    #: None: nothing shared; the versions stay in the store.
    history: Any = None
    client_authors: Any = None

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: BackplaneSettings) -> Backplane:
        """Build the backplane (nothing is connected until :meth:`start`)."""

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

    def publish_authored_update(self, room: str, update: bytes, author: str) -> None:
        """:meth:`publish_update`, with who sent the update (``author``, a username; "" the
        server's own). The rooms call this one. A backplane that carries authors overrides it
        (Redis: the rows a shared store persists from it keep their authors); by default the
        author is not shared."""
        self.publish_update(room, update)

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

    async def share_revocation(self, jti: str, expires: float) -> None:
        """Tell the other instances, now and those that start later until ``expires``, that
        the token ``jti`` was revoked here. Without other instances, nothing to do."""
        return None

    def lease(self, name: str, ttl: float) -> Lease:
        """The lease ``name`` (``ttl``: seconds it lasts unless renewed). Without other
        instances, one that is always held."""
        return SoleLease()

    def use_shared_store(
        self, rooms: RoomStore, *, ttl: float, persist_interval: float = 1.0
    ) -> RoomStore:
        """The instances share ``rooms`` (one database): the backplane carries the updates and
        persists them there once, at most ``persist_interval`` seconds after they were shared
        (plus the commit), and returns the room store the rooms should write to. Rooms unused
        for ``ttl`` seconds leave the backplane. Without other instances: the store itself."""
        return rooms

    async def health(self) -> str:
        """Empty while the backplane does its job; otherwise why not (for ``health/ready``)."""
        return ""
