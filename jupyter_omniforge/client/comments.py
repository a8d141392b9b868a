"""Comment threads of a room from Python: list, open, reply, resolve and react, and read your
mention notifications (issue 20). Mixed into :class:`~jupyter_omniforge.client.OmniForge`:

    forge = OmniForge()
    thread = forge.comment("idea:42", "Is this right?", range=(6, 11))  # on characters 6..11
    thread.reply("Yes, @alice checked it.")
    thread.resolve()
    for thread in forge.threads("idea:42", resolved=False):
        print(thread["anchor"]["text"] if thread["anchor"] else "(room)", thread["comments"][-1]["body"])
    forge.notifications()                                          # your unread mentions
    forge.mark_read()

    room = forge.room("idea:42")                                   # the same, bound to one room
    room.comment("Why?", range=(0, 3)); room.threads()

A range is ``(start, end)`` in characters of the current text of ``root`` (``"code"``): the
server turns it into Yjs relative positions, so the thread then moves with the text. The author
is whoever the client's token says: nobody can sign a comment as someone else.

A :class:`Thread` is the thread's JSON (a dict: ``id``, ``anchor`` with the current ``start``,
``end`` and ``text``, ``orphaned``, ``resolved``, ``comments`` ...) with methods. The
``a``-prefixed twins are for async code. A room, thread or comment that does not exist raises
:class:`~jupyter_omniforge.client.RequestFailed` with ``status`` 404; bad input (an anchor
outside the text, an oversized body) raises :class:`~jupyter_omniforge.client.InvalidRequest`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .versions import room_path

NOTIFICATIONS_PATH = "omniforge/api/notifications"


class Thread(dict):
    """One comment thread as the server sent it, plus what can be done to it."""

    def __init__(self, forge: Any, room: str, data: dict[str, Any]) -> None:
        super().__init__(data)
        self._forge = forge
        self._room = room

    @property
    def id(self) -> str:
        return self["id"]

    def _replace(self, data: dict[str, Any]) -> Thread:
        self.clear()
        self.update(data)
        return self

    def reply(self, body: str) -> dict[str, Any]:
        """Add a comment (Markdown); returns it. :meth:`refresh` to see it in ``comments``."""
        return self._forge.reply(self._room, self.id, body)

    async def areply(self, body: str) -> dict[str, Any]:
        return await self._forge.areply(self._room, self.id, body)

    def resolve(self) -> Thread:
        """Mark the thread resolved; this object is updated and returned."""
        return self._replace(self._forge.resolve(self._room, self.id))

    async def aresolve(self) -> Thread:
        return self._replace(await self._forge.aresolve(self._room, self.id))

    def reopen(self) -> Thread:
        return self._replace(self._forge.reopen(self._room, self.id))

    async def areopen(self) -> Thread:
        return self._replace(await self._forge.areopen(self._room, self.id))

    def refresh(self) -> Thread:
        """Read the thread again (its anchor where the text is now, its latest comments)."""
        return self._replace(self._forge.thread(self._room, self.id))

    async def arefresh(self) -> Thread:
        return self._replace(await self._forge.athread(self._room, self.id))

    def delete(self) -> None:
        """Delete the thread with its comments (its author, or an admin of the room)."""
        self._forge._comment_call("DELETE", room_path(self._room, "threads", self.id))

    async def adelete(self) -> None:
        await self._forge._acomment_call("DELETE", room_path(self._room, "threads", self.id))


def _new_thread(body: str, range: tuple[int, int] | None, root: str) -> dict[str, Any]:
    request: dict[str, Any] = {"body": body}
    if range is not None:
        start, end = range
        request["anchor"] = {"root": root, "start": start, "end": end}
    return request


def _flag(value: bool | None) -> str | None:
    return None if value is None else ("1" if value else "0")


class CommentsMixin:
    """The comment methods of :class:`~jupyter_omniforge.client.OmniForge` (which provides
    ``request`` and ``arequest``)."""

    def _comment_call(
        self, method: str, path: str, query: dict[str, Any] | None = None, body: Any = None
    ) -> Any:
        return self.request(method, path, params=query, json=body)  # type: ignore[attr-defined]

    async def _acomment_call(
        self, method: str, path: str, query: dict[str, Any] | None = None, body: Any = None
    ) -> Any:
        return await self.arequest(method, path, params=query, json=body)  # type: ignore[attr-defined]

    # -- threads ---------------------------------------------------------------------------------

    def threads_page(
        self, room: str, resolved: bool | None = None, after: str | None = None, limit: int = 50
    ) -> dict[str, Any]:
        """One page: ``{"threads": [THREAD...], "next": cursor | None}``, in document order
        of the anchors, then room-wide and orphaned threads."""
        query = {"resolved": _flag(resolved), "after": after, "limit": limit}
        return self._comment_call("GET", room_path(room, "threads"), query)

    async def athreads_page(
        self, room: str, resolved: bool | None = None, after: str | None = None, limit: int = 50
    ) -> dict[str, Any]:
        query = {"resolved": _flag(resolved), "after": after, "limit": limit}
        return await self._acomment_call("GET", room_path(room, "threads"), query)

    def threads(self, room: str, resolved: bool | None = None) -> list[Thread]:
        """Every thread of ``room`` (only open or resolved ones with ``resolved``), page after
        page."""
        found, after = [], None
        while True:
            page = self.threads_page(room, resolved, after, 200)
            found += [Thread(self, room, t) for t in page["threads"]]
            after = page["next"]
            if after is None:
                return found

    async def athreads(self, room: str, resolved: bool | None = None) -> list[Thread]:
        found, after = [], None
        while True:
            page = await self.athreads_page(room, resolved, after, 200)
            found += [Thread(self, room, t) for t in page["threads"]]
            after = page["next"]
            if after is None:
                return found

    def thread(self, room: str, thread_id: str) -> Thread:
        return Thread(self, room, self._comment_call("GET", room_path(room, "threads", thread_id)))

    async def athread(self, room: str, thread_id: str) -> Thread:
        data = await self._acomment_call("GET", room_path(room, "threads", thread_id))
        return Thread(self, room, data)

    def comment(
        self, room: str, body: str, range: tuple[int, int] | None = None, root: str = "code"
    ) -> Thread:
        """Start a thread on characters ``range`` of ``root`` (None: about the whole room)."""
        request = _new_thread(body, range, root)
        return Thread(
            self, room, self._comment_call("POST", room_path(room, "threads"), None, request)
        )

    async def acomment(
        self, room: str, body: str, range: tuple[int, int] | None = None, root: str = "code"
    ) -> Thread:
        request = _new_thread(body, range, root)
        data = await self._acomment_call("POST", room_path(room, "threads"), None, request)
        return Thread(self, room, data)

    def reply(self, room: str, thread_id: str, body: str) -> dict[str, Any]:
        """Add a comment to a thread; returns the COMMENT."""
        path = room_path(room, "threads", thread_id, "comments")
        return self._comment_call("POST", path, None, {"body": body})

    async def areply(self, room: str, thread_id: str, body: str) -> dict[str, Any]:
        path = room_path(room, "threads", thread_id, "comments")
        return await self._acomment_call("POST", path, None, {"body": body})

    def resolve(self, room: str, thread_id: str) -> Thread:
        path = room_path(room, "threads", thread_id)
        return Thread(self, room, self._comment_call("PATCH", path, None, {"resolved": True}))

    async def aresolve(self, room: str, thread_id: str) -> Thread:
        path = room_path(room, "threads", thread_id)
        data = await self._acomment_call("PATCH", path, None, {"resolved": True})
        return Thread(self, room, data)

    def reopen(self, room: str, thread_id: str) -> Thread:
        path = room_path(room, "threads", thread_id)
        return Thread(self, room, self._comment_call("PATCH", path, None, {"resolved": False}))

    async def areopen(self, room: str, thread_id: str) -> Thread:
        path = room_path(room, "threads", thread_id)
        data = await self._acomment_call("PATCH", path, None, {"resolved": False})
        return Thread(self, room, data)

    # -- comments --------------------------------------------------------------------------------

    def edit_comment(self, room: str, comment_id: str, body: str) -> dict[str, Any]:
        """Replace your comment's body; returns the COMMENT."""
        path = room_path(room, "comments", comment_id)
        return self._comment_call("PATCH", path, None, {"body": body})

    async def aedit_comment(self, room: str, comment_id: str, body: str) -> dict[str, Any]:
        path = room_path(room, "comments", comment_id)
        return await self._acomment_call("PATCH", path, None, {"body": body})

    def delete_comment(self, room: str, comment_id: str) -> None:
        """Delete your comment (an admin of the room: anyone's)."""
        self._comment_call("DELETE", room_path(room, "comments", comment_id))

    async def adelete_comment(self, room: str, comment_id: str) -> None:
        await self._acomment_call("DELETE", room_path(room, "comments", comment_id))

    def react(self, room: str, comment_id: str, emoji: str, on: bool = True) -> dict[str, Any]:
        """Add (or with ``on=False`` take back) your ``emoji`` on a comment; the COMMENT."""
        path = room_path(room, "comments", comment_id, "reactions")
        return self._comment_call("POST", path, None, {"emoji": emoji, "on": on})

    async def areact(
        self, room: str, comment_id: str, emoji: str, on: bool = True
    ) -> dict[str, Any]:
        path = room_path(room, "comments", comment_id, "reactions")
        return await self._acomment_call("POST", path, None, {"emoji": emoji, "on": on})

    # -- notifications ---------------------------------------------------------------------------

    def notifications(self, unread: bool = True, limit: int = 50) -> dict[str, Any]:
        """Your mentions, newest first: ``{"notifications": [...], "unread": n}``."""
        query = {"unread": _flag(unread), "limit": limit}
        return self._comment_call("GET", NOTIFICATIONS_PATH, query)

    async def anotifications(self, unread: bool = True, limit: int = 50) -> dict[str, Any]:
        query = {"unread": _flag(unread), "limit": limit}
        return await self._acomment_call("GET", NOTIFICATIONS_PATH, query)

    def mark_read(self, ids: Iterable[str] | None = None) -> int:
        """Mark these notifications read (None: all of them); returns how many stay unread."""
        body = {"all": True} if ids is None else {"ids": list(ids)}
        return self._comment_call("POST", f"{NOTIFICATIONS_PATH}/read", None, body)["unread"]

    async def amark_read(self, ids: Iterable[str] | None = None) -> int:
        body = {"all": True} if ids is None else {"ids": list(ids)}
        answer = await self._acomment_call("POST", f"{NOTIFICATIONS_PATH}/read", None, body)
        return answer["unread"]

    def room(self, room: str) -> RoomComments:
        """The comment methods bound to one room: ``forge.room("idea:1").threads()``."""
        return RoomComments(self, room)


class RoomComments:
    """:class:`CommentsMixin`'s methods for one room (``room.threads()``, ``room.comment(...)``)."""

    def __init__(self, forge: Any, room: str) -> None:
        self.forge = forge
        self.name = room

    def threads(self, resolved: bool | None = None) -> list[Thread]:
        return self.forge.threads(self.name, resolved)

    async def athreads(self, resolved: bool | None = None) -> list[Thread]:
        return await self.forge.athreads(self.name, resolved)

    def thread(self, thread_id: str) -> Thread:
        return self.forge.thread(self.name, thread_id)

    async def athread(self, thread_id: str) -> Thread:
        return await self.forge.athread(self.name, thread_id)

    def comment(
        self, body: str, range: tuple[int, int] | None = None, root: str = "code"
    ) -> Thread:
        return self.forge.comment(self.name, body, range, root)

    async def acomment(
        self, body: str, range: tuple[int, int] | None = None, root: str = "code"
    ) -> Thread:
        return await self.forge.acomment(self.name, body, range, root)
