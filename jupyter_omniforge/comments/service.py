"""Comments of rooms: threads anchored to text, replies, reactions, resolution, mentions.

The server is the only writer of comments: they live in the store (:class:`CommentStore`),
beside the room and never in its document, and their authors come from identities. Every
change is an event on the room's channel (``comment.*``, ``thread.*``, reserved to the server).

Anchors (:mod:`.anchors`) are read against the room's document as it is now: the open room's
when it is in memory, else the stored one (the way ``GET omniforge/api/rooms/{room}`` reads
it, without opening the room). A thread's ``text`` is what its range covers now; once the
whole range is deleted the thread is *orphaned* and shows the last text it covered.

**The last text of an orphaned thread** is kept cheaply: while a room with anchored threads is
open, its anchors are re-read once per burst of updates (one refresh per event-loop tick, on
the updates the tick applied), so the text they covered just before a deletion is known; the
store is written only when a thread becomes orphaned, or when a read finds the stored text
stale. Text typed and deleted within one tick is missed: the thread keeps the text before it.
A refresh costs time that grows with the document's history (pycrdt walks its blocks), so
once a refresh of a room takes 2 ms or more, the next waits four times as long: however fast
people type, refreshes take at most a fifth of the event loop, and under such load "one tick"
above becomes "the time between two refreshes".
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pycrdt import Doc

from ..errors import Forbidden, OmniForgeError, RoomNotFound, ValidationError
from ..history import authorship
from ..store.base import MalformedCommentRow
from . import render
from .anchors import InvalidAnchor, Resolved, TextView

if TYPE_CHECKING:
    from ..auth import Identity
    from ..events.bus import EventBus
    from ..names import RoomName
    from ..rooms.manager import RoomManager
    from ..rooms.room import Room
    from ..store.base import CommentStore

#: Threads per page at most, and by default.
MAX_LIMIT = 200
DEFAULT_LIMIT = 50

# A page cursor: the sort key of the last thread of the previous page.
_CURSOR = re.compile(r"([01])-([0-9]{1,12})-([0-9]{1,12})-([0-9]{1,18})")
_ROOT = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_EMOJI_MAX = 32
#: Rooms whose document reading (and anchors read in it) is kept while it stays current.
_READINGS_KEPT = 16
_GONE = Resolved(0, 0, "", True)
#: An open room's anchors are refreshed at most once per this many times its last refresh took,
#: when that was at least ``_REFRESH_CHEAP`` seconds (else on the next tick).
_REFRESH_SPACING = 4.0
_REFRESH_CHEAP = 0.002


class ThreadNotFound(OmniForgeError):
    http_status = 404
    code = "thread_not_found"


class CommentNotFound(OmniForgeError):
    http_status = 404
    code = "comment_not_found"


class CommentTooLarge(ValidationError):
    http_status = 413
    code = "too_large"


class UnreadableComment(OmniForgeError):
    """A stored thread or comment that is not one the server could have written (another tool,
    a damaged database): lists skip it; asked for alone, it is this, with the reason."""

    http_status = 500
    code = "malformed_row"


@contextlib.contextmanager
def _readable(what: str, row_id: str) -> Iterator[None]:
    """A stored row the block reads that is malformed (:class:`MalformedCommentRow`) becomes
    :class:`UnreadableComment`, naming the ``what`` (thread or comment) asked for."""
    try:
        yield
    except MalformedCommentRow as e:
        raise UnreadableComment(f"{what} {row_id[:100]!r} is unreadable: {e}") from None


def user_of(identity: Identity) -> dict[str, Any]:
    """A USER as comments show it: from the identity, never from a request body."""
    return {"username": identity.username, "name": identity.shown_name, "color": identity.color}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class _Reading:
    """A room's document as of one state (``marker``), the views of its texts and the anchors
    read in it: kept while the document stays as it is, so listing again is lookups."""

    marker: Any
    doc: Doc
    state: bytes | None
    views: dict[str, TextView] = field(default_factory=dict)
    resolved: dict[tuple[str, bytes, bytes], Resolved] = field(default_factory=dict)


@dataclass
class _Tracked:
    """An anchored thread of an open room, as last seen."""

    root: str
    start: bytes
    end: bytes
    text: str
    orphaned: bool


class Comments:
    """The comments of every room. A :class:`~..rooms.room.RoomListener` of the room manager
    (to keep the last text of anchors in open rooms)."""

    def __init__(
        self,
        store: CommentStore,
        manager: RoomManager,
        bus: EventBus | None,
        *,
        roots: Any,
        max_bytes: int = 10_000,
        log: logging.Logger | None = None,
    ) -> None:
        """``roots`` gives the declared roots of a room name (the server's ``room_names``)."""
        self.store = store
        self.manager = manager
        self.bus = bus
        self.roots = roots
        self.max_bytes = max_bytes
        self.log = log or logging.getLogger(__name__)
        # Open rooms' anchored threads (None: being loaded), and rooms with a refresh queued.
        self._tracked: dict[str, dict[str, _Tracked] | None] = {}
        self._queued: set[str] = set()
        self._next_refresh: dict[str, float] = {}  # loop time before which a room waits
        self._tracked_room: dict[str, int] = {}  # id() of the Room object tracked per key
        self._tasks: set[asyncio.Task[Any]] = set()
        self._readings: dict[str, _Reading] = {}

    # -- reading ---------------------------------------------------------------------------------

    async def _reading(self, name: RoomName) -> _Reading:
        """The room's document now (the open room's own, else a copy of the stored one), with
        the anchors read from it so far while it stays as it is. :class:`RoomNotFound` if
        there is none."""
        key = str(name)
        room = self.manager.get(key)
        full = None
        if room is not None:
            doc = room.doc  # applies what is queued first, so the marker below covers it
            marker: Any = (id(room), room.updates_applied)
        else:
            full = await self.manager.read(name)
            if full is None:
                raise RoomNotFound(f"room {name} does not exist")
            marker = ("stored", hashlib.blake2b(full, digest_size=16).digest())
        cached = self._readings.get(key)
        if cached is not None and cached.marker == marker:
            return cached
        if full is not None:
            doc = Doc()
            doc.apply_update(full)
        reading = _Reading(marker, doc, full)
        self._readings.pop(key, None)
        self._readings[key] = reading
        while len(self._readings) > _READINGS_KEPT:
            self._readings.pop(next(iter(self._readings)))
        return reading

    def _check_root(self, name: RoomName, root: str, doc: Doc, state: bytes | None) -> None:
        """Refuse a root that is not a Text (reading another type as a Text can hang pycrdt)."""
        declared = self.roots(name).get(root)
        if declared == "text":
            return
        if declared is not None:
            raise InvalidAnchor(f"root {root!r} of {name} is a {declared}, not a text")
        kind = authorship.root_types(state if state is not None else doc.get_update()).get(root)
        if kind == "":  # empty, or mixing text and values: nothing may read it with a type
            raise InvalidAnchor(f"root {root!r} of {name} holds no text to anchor to")
        if kind not in (None, "text"):
            raise InvalidAnchor(f"root {root!r} of {name} is a {kind}, not a text")

    def _view(self, name: RoomName, reading: _Reading, root: str) -> TextView:
        """The reading's view of ``root`` (:class:`InvalidAnchor` when it is no text)."""
        view = reading.views.get(root)
        if view is None:
            self._check_root(name, root, reading.doc, reading.state)
            view = reading.views[root] = TextView(reading.doc, root)
        return view

    def _resolve(
        self, name: RoomName, reading: _Reading, anchors: list[dict[str, Any]]
    ) -> list[Resolved]:
        """Where each anchor is now (cached per document state)."""
        found: list[Resolved] = [_GONE] * len(anchors)
        todo: dict[str, list[tuple[int, tuple[str, bytes, bytes]]]] = {}
        for i, anchor in enumerate(anchors):
            key = (anchor["root"], anchor["start"], anchor["end"])
            known = reading.resolved.get(key)
            if known is None:
                todo.setdefault(anchor["root"], []).append((i, key))
            else:
                found[i] = known
        for root, wanted in todo.items():
            try:
                view = self._view(name, reading, root)
            except InvalidAnchor:
                continue  # the root is no text (any more): its threads read as orphaned
            results = view.resolve_all([(start, end) for _, (_, start, end) in wanted])
            for (i, key), result in zip(wanted, results, strict=True):
                reading.resolved[key] = found[i] = result
        return found

    def _place(
        self, key: str, thread: dict[str, Any], resolved: Resolved | None, *, persist: bool
    ) -> tuple[tuple[int, int, int, int], dict[str, Any]]:
        """The thread as the API shows it (anchor current) and its sort key."""
        sort, last = self._order(key, thread, resolved, persist=persist)
        return sort, self._shown(thread, resolved, last)

    def _order(
        self, key: str, thread: dict[str, Any], resolved: Resolved | None, *, persist: bool
    ) -> tuple[tuple[int, int, int, int], str]:
        """The thread's sort key, and the text its anchor shows. A thread found orphaned is
        recorded so (with the last text it covered); with ``persist``, so is a text that
        changed since it was stored."""
        anchor = thread["anchor"]
        tid = int(thread["id"])
        if anchor is None or resolved is None:
            return (1, 0, 0, tid), ""
        last = anchor["text"]
        if resolved.orphaned:
            tracked = (self._tracked.get(key) or {}).get(thread["id"])
            if tracked is not None and tracked.text:
                last = tracked.text
            if not thread["orphaned"] or last != anchor["text"]:
                self._spawn(self.store.set_anchor_text(key, thread["id"], last, True))
        elif thread["orphaned"] or (persist and resolved.text != anchor["text"]):
            self._spawn(self.store.set_anchor_text(key, thread["id"], resolved.text, False))
        sort = (1, 0, 0, tid) if resolved.orphaned else (0, resolved.start, resolved.end, tid)
        return sort, last

    def _shown(
        self, thread: dict[str, Any], resolved: Resolved | None, last: str
    ) -> dict[str, Any]:
        """The THREAD as the API shows it, its anchor where :meth:`_order` found it."""
        anchor = thread["anchor"]
        if anchor is None or resolved is None:
            return {**thread, "anchor": None, "orphaned": False}
        shown = {
            "root": anchor["root"],
            "start": resolved.start,
            "end": resolved.end,
            "text": last if resolved.orphaned else resolved.text,
            "relative": {"start": _b64(anchor["start"]), "end": _b64(anchor["end"])},
        }
        return {**thread, "anchor": shown, "orphaned": resolved.orphaned}

    def _comment(self, comment: dict[str, Any]) -> dict[str, Any]:
        """The COMMENT as the API shows it (with its HTML). :class:`UnreadableComment` for a
        stored body over ``max_bytes`` (no writer through us makes one, and rendering it could
        take the server's time)."""
        size = len(comment["body"].encode())
        if size > self.max_bytes:
            raise UnreadableComment(
                f"comment {comment['id']}'s stored body of {size} bytes is over the limit of "
                f"{self.max_bytes} (comment_max_bytes)"
            )
        shown = {k: v for k, v in comment.items() if k != "room"}
        shown["html"] = render.to_html(comment["body"])
        return shown

    def _comments(self, comments: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """:meth:`_comment` of each, skipping (logged) those it refuses."""
        shown = []
        for comment in comments:
            try:
                shown.append(self._comment(comment))
            except UnreadableComment as e:
                self.log.error("comments: skipped: %s", e)
        return shown

    async def list(
        self,
        name: RoomName,
        *,
        resolved: bool | None = None,
        after: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> dict[str, Any]:
        """``{"threads": [THREAD...], "next": cursor | None}``: document order of the anchors,
        then room-wide and orphaned threads by creation."""
        key = str(name)
        bound = None
        if after is not None:
            match = _CURSOR.fullmatch(after)
            if match is None:
                raise ValidationError(f"after: {after[:100]!r} is not a cursor of this list")
            bound = tuple(int(part) for part in match.groups())
        threads = await self.store.threads(key, resolved)
        reading = await self._reading(name)
        anchored = [t for t in threads if t["anchor"] is not None]
        where = dict(
            zip(
                (t["id"] for t in anchored),
                self._resolve(name, reading, [t["anchor"] for t in anchored]),
                strict=True,
            )
        )
        # Every thread is ordered (document order needs every anchor, read once per state of
        # the document); only the page is shaped for the API, with its comments.
        ordered = sorted(
            ((*self._order(key, t, where.get(t["id"]), persist=False), t) for t in threads),
            key=lambda p: p[0],
        )
        if bound is not None:
            ordered = [p for p in ordered if p[0] > bound]
        page, more = ordered[:limit], len(ordered) > limit
        comments = await self.store.comments(key, [t["id"] for _, _, t in page])
        shown = [
            {
                **self._shown(t, where.get(t["id"]), last),
                "comments": self._comments(comments.get(t["id"], [])),
            }
            for _, last, t in page
        ]
        cursor = "-".join(map(str, page[-1][0])) if more else None
        return {"threads": shown, "next": cursor}

    async def get(self, name: RoomName, thread_id: str) -> dict[str, Any]:
        """One THREAD with its comments; :class:`ThreadNotFound`."""
        key = str(name)
        thread = await self._stored_thread(key, thread_id)
        if thread is None:
            raise ThreadNotFound(f"room {name} has no thread {thread_id[:100]!r}")
        reading = await self._reading(name)
        resolved = None
        if thread["anchor"] is not None:
            (resolved,) = self._resolve(name, reading, [thread["anchor"]])
        _, shown = self._place(key, thread, resolved, persist=True)
        comments = await self.store.comments(key, [thread["id"]])
        shown["comments"] = self._comments(comments.get(thread["id"], []))
        return shown

    async def _stored_thread(self, key: str, thread_id: str) -> dict[str, Any] | None:
        with _readable("thread", thread_id):
            return await self.store.thread(key, thread_id)

    # -- writing ---------------------------------------------------------------------------------

    def check_body(self, body: Any) -> str:
        """A comment body: a non-empty string of at most ``max_bytes`` UTF-8 bytes."""
        if not isinstance(body, str) or not body.strip():
            raise ValidationError("body must be a non-empty string (Markdown)")
        size = len(body.encode("utf-8", errors="surrogatepass"))
        if size > self.max_bytes:
            raise CommentTooLarge(
                f"body of {size} bytes is larger than the limit of {self.max_bytes} "
                "(comment_max_bytes)"
            )
        if "\x00" in body:
            raise ValidationError("body must not contain NUL characters")
        try:
            body.encode()
        except UnicodeEncodeError:
            raise ValidationError("body must be valid Unicode (no lone surrogates)") from None
        return body

    async def _anchor(self, name: RoomName, spec: Any) -> dict[str, Any] | None:
        """A new thread's anchor from ``{"root", "start", "end"}`` (character indices in the
        current text) or ``{"root", "relative": {"start", "end"}}`` (base64 relative
        positions a client made), checked against the room's document now."""
        if spec is None:
            return None
        if not isinstance(spec, dict):
            raise InvalidAnchor('anchor must be {"root", "start", "end"} or null')
        unknown = set(spec) - {"root", "start", "end", "relative"}
        if unknown:
            raise InvalidAnchor(f"anchor: unknown fields {sorted(unknown)}")
        root = spec.get("root", "code")
        if not isinstance(root, str) or not _ROOT.fullmatch(root):
            raise InvalidAnchor("anchor.root must be the name of a Text root")
        view = self._view(name, await self._reading(name), root)
        relative = spec.get("relative")
        if relative is not None:
            if "start" in spec or "end" in spec:
                raise InvalidAnchor("anchor: give start and end, or relative, not both")
            if not isinstance(relative, dict) or set(relative) != {"start", "end"}:
                raise InvalidAnchor('anchor.relative must be {"start": base64, "end": base64}')
            encoded = []
            for part in ("start", "end"):
                value = relative[part]
                try:
                    if not isinstance(value, str) or len(value) > 200:
                        raise ValueError
                    encoded.append(base64.b64decode(value, validate=True))
                except (ValueError, binascii.Error):
                    raise InvalidAnchor(f"anchor.relative.{part} is not base64") from None
            start, end = encoded
            resolved = view.adopt(start, end)
        else:
            start, end = view.anchor(spec.get("start"), spec.get("end"))
            resolved = view.resolve(start, end)
        return {"root": root, "start": start, "end": end, "text": resolved.text}

    async def create(
        self, name: RoomName, identity: Identity, body: Any, anchor: Any
    ) -> dict[str, Any]:
        """A new thread with its first comment; the THREAD as :meth:`get` shows it."""
        body = self.check_body(body)
        stored_anchor = await self._anchor(name, anchor)
        key = str(name)
        thread, comment = await self.store.add_thread(key, user_of(identity), body, stored_anchor)
        if stored_anchor is not None:
            tracked = self._tracked.get(key)
            if tracked is not None:
                tracked[thread["id"]] = _Tracked(
                    stored_anchor["root"],
                    stored_anchor["start"],
                    stored_anchor["end"],
                    stored_anchor["text"],
                    False,
                )
        await self._mentioned(key, comment, identity)
        shown = await self.get(name, thread["id"])
        await self._emit(key, "comment.created", identity, shown["comments"][0], new_thread=True)
        return shown

    async def reply(
        self, name: RoomName, thread_id: str, identity: Identity, body: Any
    ) -> dict[str, Any]:
        body = self.check_body(body)
        key = str(name)
        comment = await self.store.add_comment(key, thread_id, user_of(identity), body)
        if comment is None:
            raise ThreadNotFound(f"room {name} has no thread {thread_id[:100]!r}")
        await self._mentioned(key, comment, identity)
        shown = self._comment(comment)
        await self._emit(key, "comment.created", identity, shown, new_thread=False)
        return shown

    async def _own(self, name: RoomName, comment_id: str) -> dict[str, Any]:
        with _readable("comment", comment_id):
            comment = await self.store.comment(str(name), comment_id)
        if comment is None:
            raise CommentNotFound(f"room {name} has no comment {comment_id[:100]!r}")
        return comment

    async def edit(
        self, name: RoomName, comment_id: str, identity: Identity, body: Any
    ) -> dict[str, Any]:
        """Only the author edits a comment."""
        body = self.check_body(body)
        found = await self._own(name, comment_id)
        if found["author"]["username"] != identity.username:
            raise Forbidden(f"{identity.username} may not edit another user's comment")
        comment = await self.store.edit_comment(str(name), comment_id, body)
        if comment is None:
            raise CommentNotFound(f"room {name} has no comment {comment_id[:100]!r}")
        await self._mentioned(str(name), comment, identity, before=found["body"])
        shown = self._comment(comment)
        await self._emit(str(name), "comment.edited", identity, shown)
        return shown

    async def delete_comment(
        self, name: RoomName, comment_id: str, identity: Identity, *, admin: bool
    ) -> None:
        """The author deletes their comment; an admin any (an unreadable one too). The event
        says who deleted it (``by``) and whose it was (``author``; None for an unreadable one)."""
        try:
            author: str | None = (await self._own(name, comment_id))["author"]["username"]
        except UnreadableComment:
            if not admin:
                raise
            author = None  # nobody can say whose it was: only an admin's right deletes it
        if author != identity.username and not admin:
            raise Forbidden(f"{identity.username} may not delete another user's comment")
        key = str(name)
        thread_id = await self.store.delete_comment(key, comment_id)
        if thread_id is None:
            raise CommentNotFound(f"room {name} has no comment {comment_id[:100]!r}")
        try:
            gone = await self.store.thread(key, thread_id) is None
        except MalformedCommentRow:
            gone = False
        if gone:
            self._untrack(key, thread_id)
        data = {
            "thread": thread_id,
            "comment": comment_id,
            "author": author,
            "thread_deleted": gone,
        }
        await self._send(key, "comment.deleted", identity, data)

    async def delete_thread(
        self, name: RoomName, thread_id: str, identity: Identity, *, admin: bool
    ) -> None:
        """The thread's author deletes it (with every reply); an admin any (an unreadable one
        too). The event says who deleted it (``by``) and whose it was (``author``; None for an
        unreadable one)."""
        key = str(name)
        author: str | None = None  # nobody can say whose an unreadable thread was
        try:
            thread = await self._stored_thread(key, thread_id)
        except UnreadableComment:
            if not admin:
                raise
        else:
            if thread is None:
                raise ThreadNotFound(f"room {name} has no thread {thread_id[:100]!r}")
            author = thread["author"]["username"]
        if author != identity.username and not admin:
            raise Forbidden(f"{identity.username} may not delete another user's thread")
        await self.store.delete_thread(key, thread_id)
        self._untrack(key, thread_id)
        data = {"thread": thread_id, "author": author, "thread_deleted": True}
        await self._send(key, "comment.deleted", identity, data)

    async def resolve(
        self, name: RoomName, thread_id: str, identity: Identity, resolved: Any
    ) -> dict[str, Any]:
        if not isinstance(resolved, bool):
            raise ValidationError('the body must be {"resolved": true | false}')
        key = str(name)
        by = user_of(identity) if resolved else None
        with _readable("thread", thread_id):
            changed = await self.store.set_resolved(key, thread_id, resolved, by)
        if changed is None:
            raise ThreadNotFound(f"room {name} has no thread {thread_id[:100]!r}")
        event = "thread.resolved" if resolved else "thread.reopened"
        await self._send(key, event, identity, {"thread": thread_id})
        return await self.get(name, thread_id)

    async def react(
        self, name: RoomName, comment_id: str, identity: Identity, emoji: Any, on: Any
    ) -> dict[str, Any]:
        if (
            not isinstance(emoji, str)
            or not emoji.strip()
            or len(emoji) > _EMOJI_MAX
            or any(c.isspace() or ord(c) < 0x20 for c in emoji)
        ):
            raise ValidationError(f"emoji must be a short string (at most {_EMOJI_MAX} chars)")
        if not isinstance(on, bool):
            raise ValidationError("on must be true or false")
        with _readable("comment", comment_id):
            comment = await self.store.react(str(name), comment_id, emoji, identity.username, on)
        if comment is None:
            raise CommentNotFound(f"room {name} has no comment {comment_id[:100]!r}")
        shown = self._comment(comment)
        await self._emit(str(name), "comment.reacted", identity, shown, emoji=emoji, on=on)
        return shown

    async def forget(self, key: str) -> None:
        """``key`` was deleted: its threads, comments and notifications go too."""
        self._forget_room(key)
        self._readings.pop(key, None)
        await self.store.delete(key)

    # -- mentions --------------------------------------------------------------------------------

    async def _mentioned(
        self, key: str, comment: dict[str, Any], identity: Identity, before: str = ""
    ) -> None:
        """A notification for each user newly ``@mentioned`` (not the author)."""
        already = set(render.mentions(before))
        users = [
            u
            for u in render.mentions(comment["body"])
            if u != identity.username and u not in already
        ]
        if not users:
            return
        excerpt = render.excerpt(comment["body"])
        await self.store.notify(
            [
                {
                    "user": user,
                    "room": key,
                    "thread": comment["thread"],
                    "comment": comment["id"],
                    "by": user_of(identity),
                    "excerpt": excerpt,
                }
                for user in users
            ]
        )

    # -- events ----------------------------------------------------------------------------------

    async def _emit(
        self, key: str, event: str, identity: Identity, comment: dict[str, Any], **extra: Any
    ) -> None:
        data = {"thread": comment["thread"], "comment": comment["id"], **extra}
        await self._send(key, event, identity, data, item=comment)

    async def _send(
        self,
        key: str,
        event: str,
        identity: Identity,
        data: dict[str, Any],
        item: dict[str, Any] | None = None,
    ) -> None:
        """The event on the room's channel, with the comment itself when it fits in an event
        (else without: a UI then reads the thread)."""
        if self.bus is None:
            return
        data = {**data, "by": identity.username}
        source = identity.as_source()
        if item is not None:
            try:
                await self.bus.emit(key, event, {**data, "item": item}, source, internal=True)
                return
            except ValidationError as e:
                if e.code != "too_large":
                    raise
        await self.bus.emit(key, event, data, source, internal=True)

    # -- open rooms: the last text of anchors ----------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.warning("comments: a background write failed: %s", task.exception())

    def _untrack(self, key: str, thread_id: str) -> None:
        tracked = self._tracked.get(key)
        if tracked:
            tracked.pop(thread_id, None)

    async def _load(self, room: Room) -> None:
        key = room.key
        threads = await self.store.threads(key)
        if self._tracked.get(key, {}) is not None or self._tracked_room.get(key) != id(room):
            return  # closed meanwhile, or loaded
        self._tracked[key] = {
            t["id"]: _Tracked(
                t["anchor"]["root"],
                t["anchor"]["start"],
                t["anchor"]["end"],
                t["anchor"]["text"],
                t["orphaned"],
            )
            for t in threads
            if t["anchor"] is not None
        }
        self._refresh(key)

    def _refresh(self, key: str) -> None:
        began = time.perf_counter()
        try:
            self._refresh_now(key)
        finally:
            took = time.perf_counter() - began
            if key in self._tracked and took >= _REFRESH_CHEAP:
                wait = _REFRESH_SPACING * took
                self._next_refresh[key] = asyncio.get_running_loop().time() + wait
            else:
                self._next_refresh.pop(key, None)

    def _refresh_now(self, key: str) -> None:
        self._queued.discard(key)
        tracked = self._tracked.get(key)
        room = self.manager.get(key)
        if room is None or id(room) != self._tracked_room.get(key):
            self._forget_room(key)  # closed (evicted) since
            return
        if not tracked:
            return
        views: dict[str, TextView] = {}
        for thread_id, seen in tracked.items():
            if seen.orphaned:
                continue
            view = views.get(seen.root)
            if view is None:
                root_type = self.roots(_name_of(room)).get(seen.root)
                if root_type not in (None, "text"):
                    continue
                try:
                    view = views[seen.root] = TextView(room.doc, seen.root)
                except Exception:  # not a text after all: read as orphaned on the next read
                    continue
            now = view.resolve(seen.start, seen.end)
            if now.orphaned:
                seen.orphaned = True
                self._spawn(self.store.set_anchor_text(key, thread_id, seen.text, True))
            else:
                seen.text = now.text

    # RoomListener

    def _forget_room(self, key: str) -> None:
        self._tracked.pop(key, None)
        self._tracked_room.pop(key, None)
        self._next_refresh.pop(key, None)

    def user_joined(self, room: Room, identity: Identity) -> None:
        if room.key not in self._tracked or self._tracked_room.get(room.key) != id(room):
            self._tracked[room.key] = None
            self._tracked_room[room.key] = id(room)
            self._spawn(self._load(room))

    def user_left(self, room: Room, identity: Identity) -> None:
        if not room.peers:
            self._forget_room(room.key)

    def room_updated(self, room: Room, update: bytes, origin: Any) -> None:
        key = room.key
        if self._tracked.get(key) and key not in self._queued:
            self._queued.add(key)
            loop = asyncio.get_running_loop()
            wait = self._next_refresh.get(key, 0.0) - loop.time()
            if wait > 0:
                loop.call_later(wait, self._refresh, key)
            else:
                loop.call_soon(self._refresh, key)

    def awareness_changed(self, room: Room, awareness_update: bytes, origin: Any) -> None:
        pass

    def room_discarded(self, room: Room) -> None:
        self._forget_room(room.key)

    async def start(self, *, retention: float) -> None:
        """Retention, at start: read notifications made more than ``retention`` seconds ago
        go (unread ones stay until read)."""
        pruned = await self.store.prune_notifications(time.time() - retention)
        if pruned:
            self.log.info("comments: %d read notifications past retention deleted", pruned)

    async def close(self) -> None:
        for task in list(self._tasks):
            try:
                await task
            except Exception:
                pass


def _name_of(room: Room) -> Any:
    return room.name
