"""REST: the version history of a room (list, read, diff, name, restore, blame). Thin: each
method checks its input, calls :class:`~..history.recorder.HistoryRecorder` and writes JSON."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from tornado import web

from ..errors import RoomNotFound, ValidationError
from ..history import authorship
from ..history.recorder import VersionNotFound
from ..names import RoomName
from ..rooms.roots import parse_roots, root_names, roots_as_json
from .api import OmniForgeAPIHandler

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50
MAX_LABEL = 200
_LIMIT = re.compile(r"[0-9]{1,4}")
_MAX_BODY = 16 * 1024


class _HistoryHandler(OmniForgeAPIHandler):
    def room(self, name: str, action: str) -> RoomName:
        """The room named in the path, once the guard allows ``action`` in it."""
        room_name = self.extensionapp.room_names.parse(name)
        self.guard.require(str(room_name), action)
        return room_name

    async def version(self, room: RoomName, version_id: str) -> tuple[dict[str, Any], bytes, Any]:
        found = await self.extensionapp.history.history.get_version(str(room), version_id)
        if found is None:
            raise VersionNotFound(f"room {room} has no version {version_id[:100]!r}")
        return found


class VersionsHandler(_HistoryHandler):
    @web.authenticated
    async def get(self, name: str) -> None:
        """``{"versions": [...], "next": id | null}``, newest first."""
        room = self.room(name, "read")
        limit = _limit(self.get_query_argument("limit", str(DEFAULT_LIMIT)))
        before = self.get_query_argument("before", None)
        if before is not None and not before.isdecimal():
            raise ValidationError(f"before: {before[:100]!r} is not a version id")
        store = self.extensionapp.history.history  # where versions live (see the app)
        versions = await store.list_versions(str(room), before, limit + 1)
        if (
            not versions
            and before is None
            and await self.extensionapp.room_manager.read(room) is None
        ):
            raise RoomNotFound(f"room {room} does not exist")
        more = len(versions) > limit
        versions = versions[:limit]
        self.write_json({"versions": versions, "next": versions[-1]["id"] if more else None})

    @web.authenticated
    async def post(self, name: str) -> None:
        """Name the current state: 201 and its VERSION."""
        room = self.room(name, "write")
        body = self.json_body(_MAX_BODY)
        label = body.get("label") if isinstance(body, dict) else None
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL:
            raise ValidationError(
                f'the body must be {{"label": a string of 1 to {MAX_LABEL} chars}}'
            )
        identity = self.guard.identity
        version = await self.extensionapp.history.checkpoint(
            room, kind="named", label=label, actor=identity
        )
        self.write_json(version, status=201)


class VersionHandler(_HistoryHandler):
    @web.authenticated
    async def get(self, name: str, version_id: str) -> None:
        """The room's content as of the version, shaped as ``GET rooms/{room}``."""
        room = self.room(name, "read")
        version, state, _ = await self.version(room, version_id)
        roots = self.extensionapp.room_names.roots(room)
        roots.update(parse_roots(self.get_query_argument("roots", "")))
        info = {
            "name": str(room),
            "kind": room.kind,
            "size": len(state),
            "roots": root_names(state),
            "content": roots_as_json(state, roots),
            "version": version,
        }
        self.write_json(info)


class DiffHandler(_HistoryHandler):
    @web.authenticated
    async def get(self, name: str, a: str, b: str) -> None:
        """What changed from version ``a`` to version ``b`` (or ``current``), with authors."""
        room = self.room(name, "read")
        _, old_state, old_runs = await self.version(room, a)
        if b == "current":
            new_state, new_runs = await self.extensionapp.history.current(room)
        else:
            _, new_state, new_runs = await self.version(room, b)
        diff = await asyncio.to_thread(authorship.diff, old_state, old_runs, new_state, new_runs)
        self.write_json({"from": a, "to": b, **diff})


class RestoreHandler(_HistoryHandler):
    @web.authenticated
    async def post(self, name: str, version_id: str) -> None:
        """Make the document equal to the version, with one forward update everyone gets."""
        room = self.room(name, "write")
        identity = self.guard.identity
        version = await self.extensionapp.history.restore(room, version_id, identity)
        self.extensionapp.store.audit.record(
            "room.restored",
            user=identity.username,
            room=str(room),
            version=version_id,
            restored_as=version["id"],
        )
        self.write_json({"version": version})


class BlameHandler(_HistoryHandler):
    @web.authenticated
    async def get(self, name: str) -> None:
        """Who wrote each range of a text root of the current document."""
        room = self.room(name, "read")
        root = self.get_query_argument("root", "code")
        if not root or len(root) > MAX_LABEL:
            raise ValidationError(f"root: a root name of 1 to {MAX_LABEL} chars")
        state, runs = await self.extensionapp.history.current(room)
        if root not in root_names(state):
            raise ValidationError(f"room {room} has no root {root[:100]!r}")
        self.write_json(await asyncio.to_thread(authorship.blame, state, runs, root))


def _limit(value: str) -> int:
    """The ``limit`` query argument: 1 to :data:`MAX_LIMIT`; 400 otherwise."""
    if not _LIMIT.fullmatch(value) or not 1 <= int(value) <= MAX_LIMIT:
        raise ValidationError(f"limit: an integer from 1 to {MAX_LIMIT}, not {value[:100]!r}")
    return int(value)
