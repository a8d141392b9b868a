"""REST: comment threads of a room, and each user's notifications. Thin: each method checks
who may do it and the shape of its input, calls :class:`~..comments.service.Comments` and
writes JSON.

Reading comments follows ``read`` on the room; writing them (threads, replies, reactions,
resolving) follows ``write`` or ``comment`` (a reviewer who may not edit the document). Only a
comment's author edits it; its author or an ``admin`` of the room deletes it.
"""

from __future__ import annotations

import re
from typing import Any

from tornado import web

from ..errors import ValidationError
from ..names import RoomName
from .api import OmniForgeAPIHandler

_LIMIT = re.compile(r"[0-9]{1,4}")
_FLAG = {"1": True, "true": True, "0": False, "false": False}
#: Notifications per read at most.
MAX_NOTIFICATIONS = 200
#: Ids one ``POST notifications/read`` may name.
MAX_READ_IDS = 1000


def _limit(value: str, most: int) -> int:
    if not _LIMIT.fullmatch(value) or not 1 <= int(value) <= most:
        raise ValidationError(f"limit must be an integer from 1 to {most}")
    return int(value)


def _fields(body: Any, allowed: set[str], required: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise ValidationError(f"unknown fields {sorted(unknown)[:10]} (known: {sorted(allowed)})")
    missing = required - set(body)
    if missing:
        raise ValidationError(f"missing fields {sorted(missing)}")
    return body


class _CommentsHandler(OmniForgeAPIHandler):
    @property
    def comments(self) -> Any:
        return self.extensionapp.comments

    def room(self, name: str, action: str) -> RoomName:
        """The room named in the path, once the guard allows ``action`` ("read", or "comment":
        ``write`` or ``comment``)."""
        room_name = self.extensionapp.room_names.parse(name)
        key = str(room_name)
        if action == "comment":
            if not self.guard.can(key, "write"):
                self.guard.require(key, "comment")
        else:
            self.guard.require(key, action)
        return room_name

    def body(self) -> Any:
        # A body of comment_max_bytes, escaped in JSON at worst, plus the rest of the object.
        return self.json_body(self.extensionapp.comment_max_bytes * 6 + 4096)


class ThreadsHandler(_CommentsHandler):
    @web.authenticated
    async def get(self, name: str) -> None:
        """``{"threads": [...], "next": cursor | null}``."""
        room = self.room(name, "read")
        flag = self.get_query_argument("resolved", None)
        if flag is not None and flag not in _FLAG:
            raise ValidationError("resolved must be 0 or 1")
        limit = _limit(self.get_query_argument("limit", "50"), 200)
        page = await self.comments.list(
            room,
            resolved=None if flag is None else _FLAG[flag],
            after=self.get_query_argument("after", None),
            limit=limit,
        )
        self.write_json(page)

    @web.authenticated
    async def post(self, name: str) -> None:
        """A new thread: 201 and its THREAD."""
        room = self.room(name, "comment")
        body = _fields(self.body(), {"body", "anchor"}, {"body"})
        thread = await self.comments.create(
            room, self.guard.identity, body["body"], body.get("anchor")
        )
        self.write_json(thread, status=201)


class ThreadHandler(_CommentsHandler):
    @web.authenticated
    async def get(self, name: str, thread_id: str) -> None:
        room = self.room(name, "read")
        self.write_json(await self.comments.get(room, thread_id))

    @web.authenticated
    async def patch(self, name: str, thread_id: str) -> None:
        """``{"resolved": true | false}``: resolve or reopen."""
        room = self.room(name, "comment")
        body = _fields(self.body(), {"resolved"}, {"resolved"})
        thread = await self.comments.resolve(room, thread_id, self.guard.identity, body["resolved"])
        self.write_json(thread)

    @web.authenticated
    async def delete(self, name: str, thread_id: str) -> None:
        room_name = self.extensionapp.room_names.parse(name)
        admin = self.guard.can(str(room_name), "admin")
        room = room_name if admin else self.room(name, "comment")
        await self.comments.delete_thread(room, thread_id, self.guard.identity, admin=admin)
        self.set_status(204)
        self.finish()


class ThreadCommentsHandler(_CommentsHandler):
    @web.authenticated
    async def post(self, name: str, thread_id: str) -> None:
        """A reply: 201 and its COMMENT."""
        room = self.room(name, "comment")
        body = _fields(self.body(), {"body"}, {"body"})
        comment = await self.comments.reply(room, thread_id, self.guard.identity, body["body"])
        self.write_json(comment, status=201)


class CommentHandler(_CommentsHandler):
    @web.authenticated
    async def patch(self, name: str, comment_id: str) -> None:
        room = self.room(name, "comment")
        body = _fields(self.body(), {"body"}, {"body"})
        comment = await self.comments.edit(room, comment_id, self.guard.identity, body["body"])
        self.write_json(comment)

    @web.authenticated
    async def delete(self, name: str, comment_id: str) -> None:
        room_name = self.extensionapp.room_names.parse(name)
        admin = self.guard.can(str(room_name), "admin")
        room = room_name if admin else self.room(name, "comment")
        await self.comments.delete_comment(room, comment_id, self.guard.identity, admin=admin)
        self.set_status(204)
        self.finish()


class ReactionsHandler(_CommentsHandler):
    @web.authenticated
    async def post(self, name: str, comment_id: str) -> None:
        """``{"emoji": "👍", "on": true | false}``: the COMMENT."""
        room = self.room(name, "comment")
        body = _fields(self.body(), {"emoji", "on"}, {"emoji"})
        comment = await self.comments.react(
            room, comment_id, self.guard.identity, body["emoji"], body.get("on", True)
        )
        self.write_json(comment)


class NotificationsHandler(_CommentsHandler):
    @web.authenticated
    async def get(self) -> None:
        """This user's notifications, newest first: ``{"notifications": [...], "unread": n}``
        (those of rooms they may no longer read are left out)."""
        flag = self.get_query_argument("unread", "0")
        if flag not in _FLAG:
            raise ValidationError("unread must be 0 or 1")
        limit = _limit(self.get_query_argument("limit", "50"), MAX_NOTIFICATIONS)
        store = self.extensionapp.store.comments
        found, unread = await store.notifications(
            self.guard.identity.username, unread=_FLAG[flag], limit=limit
        )
        shown = [
            {k: v for k, v in note.items() if k != "user"}
            for note in found
            if self.guard.can(note["room"], "read")
        ]
        self.write_json({"notifications": shown, "unread": unread})


class NotificationsReadHandler(_CommentsHandler):
    @web.authenticated
    async def post(self) -> None:
        """``{"ids": [...]}`` or ``{"all": true}``: mark read; ``{"unread": n}``."""
        body = self.json_body(64 * 1024)
        if isinstance(body, dict) and body.get("all") is True and set(body) == {"all"}:
            ids = None
        elif (
            isinstance(body, dict)
            and set(body) == {"ids"}
            and isinstance(body["ids"], list)
            and len(body["ids"]) <= MAX_READ_IDS
            and all(isinstance(i, str) and len(i) <= 32 for i in body["ids"])
        ):
            ids = body["ids"]
        else:
            raise ValidationError(
                f'the body must be {{"ids": [up to {MAX_READ_IDS} id strings]}} or {{"all": true}}'
            )
        unread = await self.extensionapp.store.comments.mark_read(self.guard.identity.username, ids)
        self.write_json({"unread": unread})
