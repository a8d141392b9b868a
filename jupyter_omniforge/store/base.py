"""The store: the system of record of a deployment, and the interfaces of its parts.

A :class:`Store` holds everything that must survive a restart, in one engine: rooms
(:class:`RoomStore`: update logs, snapshots, quarantined rows), events (:class:`EventStore`), the
audit trail (:class:`AuditLog`), revoked tokens (:class:`Revocations`) and outgoing webhook
deliveries (:class:`WebhookQueue`). The embedded default is SQLite (:mod:`.sqlite`);
``OmniForgeApp.store_class`` names another engine's class, built from the same
:class:`StoreSettings`. Nothing here knows about rooms' documents, Tornado or
Redis: the store keeps bytes and rows.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .crypto import Cipher


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

    #: Awaited with a room's name before the store folds its log (the version history takes
    #: a checkpoint there, so no update is folded away before a version holds it). None: none.
    before_compaction: Callable[[str], Awaitable[None]] | None = None
    #: Asked with a room's name before the store folds its log when quiet or by count: True
    #: means not now (the version history holds updates no version holds yet, and compacts
    #: the room once its next version does). A store may ignore it. None: never deferred.
    defer_compaction: Callable[[str], bool] | None = None
    #: True when every instance reads this same store (so what it holds needs no republishing
    #: to the others).
    shared: bool = False

    @abstractmethod
    async def start(self) -> None:
        """Open the storage. Must complete before any other method is called."""

    @abstractmethod
    async def close(self) -> None:
        """Commit everything appended so far, stop timers and background work, release the
        storage. Idempotent; `append()` raises `StoreClosedError` from the moment it is called."""

    @abstractmethod
    def append(self, room: str, update: bytes, *, author: str = "", relaxed: bool = False) -> None:
        """Queue one update for `room`, sent by the user `author` ("" unknown: another
        instance's, or the server's own). Never blocks and never waits for I/O.

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

    async def load_authored(self, room: str) -> list[tuple[bytes, str]]:
        """What :meth:`load` returns, each update with its author ("" unknown; the snapshot's
        is ""). A store that keeps no authors gives "" for all of them."""
        return [(update, "") for update in await self.load(room)]

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

    # -- persisting a stream kept elsewhere (Redis, when several instances share this store) --

    async def persist(
        self, room: str, updates: list[tuple[bytes, str]], marker: str, *, expected: str | None
    ) -> bool:
        """Commit ``updates`` (each with its author, "" unknown) to the room's log and record
        ``marker`` (opaque text: how far the source was persisted) as the room's marker, in one
        transaction, if the room's marker is still ``expected`` (None: none recorded).

        True when committed; False, with nothing written, when another writer moved the
        marker meanwhile. So an update is persisted exactly once, whoever persists and
        whenever one dies: what is committed carries its marker, what is not left no trace.
        Raises :class:`StoreError` (or the engine's error) when the store cannot commit."""
        raise NotImplementedError(f"{type(self).__name__} cannot persist a shared stream")

    async def persisted_marker(self, room: str) -> str | None:
        """The marker the last :meth:`persist` of ``room`` recorded (None: none, or the room
        was deleted since)."""
        raise NotImplementedError(f"{type(self).__name__} cannot persist a shared stream")

    async def persist_many(self, persists: Sequence[Persist]) -> list[bool | Exception]:
        """Each of ``persists`` as :meth:`persist` would do it, in order: for each, True
        (committed), False (its marker had moved: nothing written) or the error that kept that
        one room from committing. One room's refusal never keeps another's from committing.
        Raises only when none of them could be tried (the store is away).

        This default persists them one at a time; a store with round trips to pay (PostgreSQL)
        commits them together, in one transaction."""
        results: list[bool | Exception] = []
        for p in persists:
            try:
                results.append(await self.persist(p.room, p.updates, p.marker, expected=p.expected))
            except Exception as e:
                results.append(e)
        return results

    async def persisted_markers(self, rooms: Iterable[str]) -> dict[str, str | None]:
        """:meth:`persisted_marker` of each of ``rooms`` (a store may read them in one query)."""
        return {room: await self.persisted_marker(room) for room in rooms}


@dataclass(frozen=True)
class Persist:
    """One room's part of :meth:`RoomStore.persist_many`: its arguments to
    :meth:`RoomStore.persist`."""

    room: str
    updates: list[tuple[bytes, str]]
    marker: str
    expected: str | None


class HistoryStore(ABC):
    """The versions of each room: full document states with their authorship, newest first.

    A VERSION is a dict ``{"id": str, "time": float, "label": str | None, "kind": "auto" |
    "named" | "restored", "authors": [{"username", "display_name", "updates"}], "size": int}``.
    Ids are opaque strings, unique per store, growing with time."""

    @abstractmethod
    async def add_version(
        self,
        room: str,
        state: bytes,
        runs: dict[str, list[list[Any]]],
        *,
        kind: str = "auto",
        label: str | None = None,
        authors: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Store a version of ``room`` holding ``state`` (a full Yjs update); its VERSION."""

    @abstractmethod
    async def list_versions(
        self, room: str, before: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """At most ``limit`` VERSIONs of ``room`` older than ``before`` (None: the newest),
        newest first."""

    @abstractmethod
    async def get_version(
        self, room: str, version_id: str
    ) -> tuple[dict[str, Any], bytes, dict[str, list[list[Any]]]] | None:
        """(VERSION, state, runs) of one version of ``room``; None when it has no such one."""

    @abstractmethod
    async def prune(self, room: str, *, older_than: float, keep: int) -> int:
        """Delete the automatic versions of ``room`` older than ``older_than`` (epoch seconds)
        and those beyond the newest ``keep`` versions; named and restored ones stay. Returns
        how many were deleted."""

    @abstractmethod
    async def delete(self, room: str) -> None:
        """Forget every version of ``room``."""

    async def latest(
        self, room: str
    ) -> tuple[dict[str, Any], bytes, dict[str, list[list[Any]]]] | None:
        """(VERSION, state, runs) of the newest version of ``room``; None when it has none.
        An engine reads it at once; this default costs two reads."""
        newest = await self.list_versions(room, limit=1)
        return await self.get_version(room, newest[0]["id"]) if newest else None


class MalformedCommentRow(StoreError):
    """A stored comment row that is not one a store could have written; ``str(error)`` says
    what is wrong with it."""


class CommentStore(ABC):
    """Comment threads of each room, their comments and reactions, and the notifications of
    each user (mentions). The server is the only writer: authors come from identities.

    A USER is ``{"username", "name", "color"}`` (metadata, stored in the clear). Ids are opaque
    strings, unique per store, growing with time; an id this store never handed out (or of
    another room) is simply not found.

    A THREAD is ``{"id", "room", "author": USER, "created": float, "resolved": bool,
    "resolved_by": USER | None, "resolved_at": float | None, "orphaned": bool,
    "anchor": None | {"root": str, "start": bytes, "end": bytes, "text": str}}``: ``start`` and
    ``end`` are encoded pycrdt ``StickyIndex``es (Yjs relative positions, no content: in the
    clear), ``text`` the last text the range was seen to cover (content: sealed).
    A COMMENT is ``{"id", "thread", "room", "author": USER, "created": float,
    "edited": float | None, "body": str, "reactions": {emoji: [username, ...]}}`` (``body``
    sealed; emoji in order of their first reaction, users in order of reacting).
    A NOTIFICATION is ``{"id", "user", "room", "thread", "comment", "by": USER,
    "created": float, "read": bool, "excerpt": str}`` (``excerpt`` sealed).

    With a cipher, sealed parts are sealed with associated data naming their row.

    Stored rows are untrusted (anything with the database can write them): lists skip a row
    that is not a valid THREAD, COMMENT or NOTIFICATION (logged with the reason, counted in
    :attr:`malformed`); a single read of one raises :class:`MalformedCommentRow`."""

    #: Stored rows found malformed since start.
    malformed: int = 0

    @abstractmethod
    async def add_thread(
        self, room: str, author: dict[str, Any], body: str, anchor: dict[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A new THREAD of ``room`` (``anchor`` as in THREAD, or None: room-wide) with its first
        COMMENT, in one transaction; returns both."""

    @abstractmethod
    async def threads(self, room: str, resolved: bool | None = None) -> list[dict[str, Any]]:
        """Every THREAD of ``room`` (only resolved or open ones unless None), oldest first,
        without comments (the caller orders and pages them by their anchors' positions)."""

    @abstractmethod
    async def thread(self, room: str, thread_id: str) -> dict[str, Any] | None:
        """One THREAD of ``room``; None when it has no such one."""

    @abstractmethod
    async def comments(self, room: str, thread_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The COMMENTs of these threads of ``room``, oldest first, by thread id (a thread
        with none, or unknown, maps to [] or is left out)."""

    @abstractmethod
    async def comment(self, room: str, comment_id: str) -> dict[str, Any] | None:
        """One COMMENT of ``room``; None when it has no such one."""

    @abstractmethod
    async def add_comment(
        self, room: str, thread_id: str, author: dict[str, Any], body: str
    ) -> dict[str, Any] | None:
        """A new COMMENT in the thread; None when ``room`` has no such thread."""

    @abstractmethod
    async def edit_comment(self, room: str, comment_id: str, body: str) -> dict[str, Any] | None:
        """Replace the comment's body and set ``edited`` to now; the COMMENT, None if unknown.
        (Who may edit is the caller's business.)"""

    @abstractmethod
    async def delete_comment(self, room: str, comment_id: str) -> str | None:
        """Delete the comment, its reactions and the notifications it made. Returns its thread
        id (None: unknown comment). A thread left without comments is deleted too."""

    @abstractmethod
    async def delete_thread(self, room: str, thread_id: str) -> bool:
        """Delete the thread with its comments, reactions and notifications; False if unknown."""

    @abstractmethod
    async def set_resolved(
        self, room: str, thread_id: str, resolved: bool, by: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """Resolve (``by`` USER, ``resolved_at`` now) or reopen (both cleared) the thread;
        the THREAD, None if unknown."""

    @abstractmethod
    async def set_anchor_text(self, room: str, thread_id: str, text: str, orphaned: bool) -> None:
        """Record the text the thread's anchor covers now (or covered last, when ``orphaned``)
        and whether its whole range is deleted. No-op for an unknown or room-wide thread."""

    @abstractmethod
    async def react(
        self, room: str, comment_id: str, emoji: str, username: str, on: bool
    ) -> dict[str, Any] | None:
        """Add (``on``) or remove ``username``'s ``emoji`` reaction (idempotent); the COMMENT,
        None if unknown."""

    @abstractmethod
    async def notify(self, notifications: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store these NOTIFICATIONs (given without ``id``, ``created`` and ``read``: unread,
        now) in one transaction; returns them complete."""

    @abstractmethod
    async def notifications(
        self, user: str, *, unread: bool = False, limit: int = 50
    ) -> tuple[list[dict[str, Any]], int]:
        """``user``'s newest ``limit`` NOTIFICATIONs (only unread ones if ``unread``), newest
        first, and how many of theirs are unread in all."""

    @abstractmethod
    async def mark_read(self, user: str, ids: list[str] | None) -> int:
        """Mark these notifications of ``user`` read (None: all of them; unknown ids and other
        users' are ignored); returns how many of theirs are still unread."""

    @abstractmethod
    async def prune_notifications(self, older_than: float) -> int:
        """Delete read notifications created before ``older_than`` (epoch seconds), for
        retention; returns how many."""

    @abstractmethod
    async def delete(self, room: str) -> None:
        """Forget every thread, comment, reaction and notification of ``room``."""


@dataclass
class Page:
    """Events after a cursor. ``reset`` is set when the cursor is older than what is kept (or
    unknown to this log): the events then start at the oldest kept."""

    events: list[dict[str, Any]]
    reset: bool


class EventStore(ABC):
    """Typed events, numbered (ids are cursors across all channels), kept per channel within
    retention, read from a cursor. The Redis backplane's event log implements it too."""

    #: Called with each stored envelope (with its id), in id order, once it is committed.
    listener: Callable[[dict[str, Any]], None]
    #: Stored entries skipped because they are not valid events, since start.
    malformed: int

    @abstractmethod
    def order_key(self, event_id: str) -> Any:
        """A sort key of an id of this log; the smallest key for anything that is not one."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def close(self) -> None:
        """Commit what is pending."""

    @abstractmethod
    def append(self, envelope: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        """Queue ``envelope`` (without id); the awaitable gives it back with its ``id``."""

    @abstractmethod
    async def append_many(self, envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Store ``envelopes`` (without ids) in one transaction, in order: all of them or none
        (the error is raised). Return them with their ids."""

    @abstractmethod
    async def read(self, patterns: Iterable[str], after: str | None, limit: int = 1000) -> Page:
        """Up to ``limit`` events of channels matching ``patterns`` with ids after ``after``
        (the newest ``limit`` when ``after`` is None)."""

    @abstractmethod
    async def last_id(self) -> str:
        """The newest id (a cursor that replays nothing)."""


class AuditLog(ABC):
    """Who did what: connections opened and refused, permissions denied, deletions, tokens
    minted and revoked, policy reloads, key rotations. Entries never hold a token, a secret or
    document content."""

    @abstractmethod
    def record(self, action: str, *, user: str = "", room: str = "", **details: Any) -> None:
        """Queue one entry (group-committed; never blocks)."""

    @abstractmethod
    async def read(
        self, *, after: int | None = None, limit: int = 100, user: str = "", room: str = ""
    ) -> list[dict[str, Any]]:
        """Entries after id ``after`` (the newest ``limit`` when None), oldest first,
        optionally of one user or room: ``{id, time, action, user, room, details}``."""


class Revocations(ABC):
    """Ids (``jti``) of revoked tokens, kept until the token would have expired anyway."""

    @abstractmethod
    async def revoke(self, jti: str, expires: float) -> None: ...

    @abstractmethod
    async def load(self) -> dict[str, float]:
        """Every revoked id still in force, with when its token expires."""


@dataclass
class Delivery:
    """One queued webhook delivery: the body to POST for one event to one endpoint."""

    id: int
    event_id: str
    body: bytes
    #: When it was queued, and how many attempts failed so far (unix seconds).
    created: float
    attempts: int
    #: Not before this time (unix seconds); the error of the last attempt ("" before any).
    next_at: float
    last_error: str


class WebhookQueue(ABC):
    """Outgoing webhook deliveries, persisted: a queue per endpoint (named by a key), taken in
    the order queued, each delivered once or given up; plus how far the events were queued
    (a cursor of the event log), and each endpoint's last status and position (the last event
    delivered or given up here).

    Delivered rows are deleted; given-up ones are kept as failures (the newest
    ``keep_failures`` per endpoint, without their body)."""

    @abstractmethod
    async def enqueue(
        self, deliveries: list[tuple[str, str, bytes]], cursor: str | None = None
    ) -> None:
        """Queue ``(endpoint, event id, body)`` each, in order, and record ``cursor`` (the last
        event looked at), in one transaction. An event already in an endpoint's queue is not
        queued again; the cursor is what keeps delivered ones from coming back."""

    @abstractmethod
    async def cursor(self) -> str | None:
        """The cursor recorded by the last :meth:`enqueue` (None: never)."""

    @abstractmethod
    async def next(self, endpoint: str, limit: int = 1) -> list[Delivery]:
        """The oldest ``limit`` deliveries queued for ``endpoint``."""

    @abstractmethod
    async def queued(self, endpoint: str, limit: int) -> list[str]:
        """The event ids of the oldest ``limit`` deliveries queued for ``endpoint``."""

    @abstractmethod
    async def forget(self, endpoint: str, event_ids: list[str]) -> None:
        """Drop these deliveries unsent (another instance sent them)."""

    @abstractmethod
    async def positions(self) -> dict[str, str]:
        """Each endpoint's position: an event id up to which every event queued for it was
        delivered or given up (endpoints with none are left out)."""

    @abstractmethod
    async def set_position(self, endpoint: str, event_id: str) -> None:
        """Record ``endpoint``'s position (:meth:`delivered` and :meth:`give_up` do too)."""

    @abstractmethod
    async def delivered(self, endpoint: str, delivery: Delivery, status: int) -> None:
        """The endpoint took it (HTTP ``status``): forget it; it is the endpoint's position."""

    @abstractmethod
    async def attempted(
        self, endpoint: str, delivery: Delivery, status: int | None, error: str, next_at: float
    ) -> None:
        """An attempt failed (``status`` None: no answer): try again at ``next_at``."""

    @abstractmethod
    async def give_up(
        self, endpoint: str, delivery: Delivery, status: int | None, error: str
    ) -> None:
        """Stop trying: the delivery leaves the queue and is recorded as a failure; it is the
        endpoint's position."""

    @abstractmethod
    async def lost(self, endpoint: str, after: str, error: str) -> None:
        """Record as a failure (``event_id`` ``after``, no attempt) that events after ``after``
        could not be queued: the event log no longer kept them."""

    @abstractmethod
    async def status(self, endpoint: str, failures: int = 20) -> dict[str, Any]:
        """``{backlog, last_status, last_time, last_error, failures}``: what is queued, the
        last attempt's HTTP status (None: no answer, or none yet), its time and error, and the
        newest ``failures`` given up (``{event_id, time, attempts, error}``, newest first)."""


@dataclass
class StoreSettings:
    """What a store is built from: the extension's settings that concern storage."""

    #: SQLite: the database file. Another engine: its URL (``store_url``).
    path: str = ""
    url: str = ""
    synchronous: str = "FULL"
    commit_interval: float = 0.005
    compact_idle: float = 5.0
    compact_max_updates: int = 1000
    max_depth: int = 64
    event_retention_count: int = 10_000
    event_retention_seconds: float = 7 * 24 * 3600
    audit_retention_seconds: float = 7 * 24 * 3600
    #: Audit entries kept at most (the newest).
    audit_retention_count: int = 10_000
    #: Seals rows at rest (None: plaintext).
    cipher: Cipher | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("jupyter_omniforge"))
    #: SQLite: several servers (on one host) open this same file (``sqlite_shared``).
    shared: bool = False


class Store(ABC):
    """The system of record: its parts, opened and closed together."""

    rooms: RoomStore
    events: EventStore
    audit: AuditLog
    revocations: Revocations
    webhooks: WebhookQueue
    history: HistoryStore
    comments: CommentStore

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: StoreSettings) -> Store:
        """Build the store (nothing is opened until :meth:`start`)."""

    @abstractmethod
    async def start(self) -> None:
        """Open the engine and bring its schema up to date (migrations, run once even when
        several instances start together). Raises a clear error when it cannot serve (e.g. rows
        sealed with a key it does not have); then nothing was changed."""

    @abstractmethod
    async def close(self) -> None:
        """Commit what is pending and release the engine. Idempotent."""

    @property
    def description(self) -> str:
        """Where the data is, for the log (never a password)."""
        return type(self).__name__

    @property
    def shared(self) -> bool:
        """True when several instances use the same data (a shared database such as
        PostgreSQL): what one commits, the others read."""
        return False

    async def health(self) -> str:
        """Empty while the store can serve and commit; otherwise why not (the engine is
        unreachable, appended updates are queued in memory), for ``health/ready`` to say
        degraded. Never raises."""
        return ""
