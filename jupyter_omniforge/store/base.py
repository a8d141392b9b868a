"""The interface every room store implements, and its errors."""

from __future__ import annotations

from abc import ABC, abstractmethod


class StoreError(Exception):
    """Base class of the errors a room store raises."""


class StoreClosedError(StoreError):
    """The store is not running: `start()` was not awaited yet, or `close()` was called."""


class StoreWriteError(StoreError):
    """Appended updates could not be committed. They stay queued and are retried."""


class RoomStore(ABC):
    """Durable storage of Yjs rooms as bytes.

    A room is a name and a sequence of Yjs updates. The store never decodes updates except to
    compact them, and never calls into rooms: it only stores, returns and folds bytes.

    All methods must be called from the event loop the store was started on.
    """

    @abstractmethod
    async def start(self) -> None:
        """Open the storage. Must complete before any other method is called."""

    @abstractmethod
    async def close(self) -> None:
        """Commit everything appended so far, stop timers and background work, release the
        storage. Idempotent; `append()` raises `StoreClosedError` from the moment it is called."""

    @abstractmethod
    def append(self, room: str, update: bytes, *, relaxed: bool = False) -> None:
        """Queue one update for `room`. Never blocks and never waits for I/O.

        The update is durable (survives a killed process) after the next group commit: at
        most `commit_interval` seconds later (`relaxed_commit_interval` for a `relaxed` update,
        one already durable elsewhere) plus the duration of two commits (the one in flight and
        its own). Updates of a room are stored, and returned by `load()`, in the order they
        were appended.
        Raises `StoreClosedError` if the store is not running."""

    @abstractmethod
    async def flush(self) -> None:
        """Return once every update appended before this call is committed.

        Raises `StoreWriteError` if a commit fails; the updates stay queued for a retry."""

    @abstractmethod
    async def load(self, room: str) -> list[bytes]:
        """Everything stored for `room`: the snapshot first (if any), then the logged updates
        in append order, including updates appended but not yet committed when `load()` was
        called. Applying them in order to an empty document rebuilds the room. `[]` if the
        room is unknown."""

    @abstractmethod
    async def compact(self, room: str) -> None:
        """Fold the room's snapshot and logged updates (everything appended before the call)
        into one snapshot. Updates appended meanwhile are kept after it.

        The stored document is the same before and after. If folding fails (an update
        cannot be decoded), the failure is logged and the stored data is left untouched."""

    @abstractmethod
    async def quarantine(self, room: str, update: bytes, reason: str) -> None:
        """Move the stored update ``update`` of ``room`` (a logged update or the snapshot, found
        by its bytes) out of the room into quarantine, with ``reason``: it failed the gate, so
        it is never loaded or folded again, but kept for whoever investigates."""

    @abstractmethod
    async def delete(self, room: str) -> None:
        """Forget `room`: its snapshot, its log and any of its updates not yet committed."""

    @abstractmethod
    async def stored_rooms(self) -> list[str]:
        """Names of the rooms that have anything stored, sorted."""

    @abstractmethod
    async def stats(self, room: str) -> dict[str, int]:
        """Sizes for monitoring: at least `log_updates`, `log_bytes`, `snapshot_bytes` and
        `pending_updates` (appended, not yet committed). All zero for an unknown room."""
