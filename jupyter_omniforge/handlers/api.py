"""REST: rooms and health. Thin: each method calls the room manager and writes JSON."""

from __future__ import annotations

import asyncio
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from .. import strictjson
from ..access.control import Guard
from ..errors import Forbidden, OmniForgeError
from ..rooms.roots import parse_roots, root_names, roots_as_json
from .auth import TokenSafeLog, authenticate_bearer, guard_for


class OmniForgeAPIHandler(TokenSafeLog, ExtensionHandlerMixin, APIHandler):
    """Base: the extension app at hand (``self.extensionapp``), strict JSON in and out, and
    domain errors mapped to HTTP statuses."""

    auth_resource = "omniforge"

    guard: Guard

    async def prepare(self) -> None:
        app = self.extensionapp
        authenticate_bearer(self, app)  # a room-scoped token: 401 unless valid
        await super().prepare()
        await app.started()
        if self.current_user is not None:  # else @web.authenticated refuses the request
            self.guard = await guard_for(self, app, self.current_user)

    def require_some_access(self) -> None:
        """Refuse (403) a user who may read no room at all: an empty answer would hide that
        they lack permission."""
        if not self.guard.may_connect():
            raise Forbidden(f"{self.guard.identity.username} may not read any room")

    def sized_body(self, max_bytes: int) -> bytes:
        """The request body; 413 when it is larger than ``max_bytes``."""
        body = self.request.body
        if len(body) > max_bytes:
            raise web.HTTPError(413, f"request body larger than {max_bytes} bytes")
        return body

    def json_body(self, max_bytes: int) -> Any:
        """The request body as strict JSON (``InvalidJSON``, HTTP 400, when it is not; 413 when
        it is larger than ``max_bytes``)."""
        body = self.sized_body(max_bytes) or b"null"
        return strictjson.loads(body, max_depth=self.extensionapp.max_nesting_depth)

    def write_json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(strictjson.dumps(value))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        error = exc_info[1] if exc_info else None
        if isinstance(error, OmniForgeError):
            self.set_status(error.http_status)
            self.finish(strictjson.dumps({"error": error.code, "message": str(error)}))
            return
        super().write_error(status_code, **kwargs)

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, OmniForgeError):
            self.send_error(e.http_status, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)


class RoomsHandler(OmniForgeAPIHandler):
    @web.authenticated
    async def get(self) -> None:
        """The open rooms this user may read."""
        self.require_some_access()
        rooms = sorted(self.extensionapp.room_manager.rooms.values(), key=lambda r: r.key)
        self.write_json(
            {"rooms": [room.info() for room in rooms if self.guard.can(room.key, "read")]}
        )


class RoomHandler(OmniForgeAPIHandler):
    @web.authenticated
    async def get(self, name: str) -> None:
        room_name = self.extensionapp.room_names.parse(name)
        self.guard.require(str(room_name), "read")
        manager = self.extensionapp.room_manager
        room = manager.get(str(room_name))
        full = await manager.read(room_name)
        if full is None:
            raise web.HTTPError(404, f"room {room_name} does not exist")
        if room is not None:
            info = room.info()
        else:
            info = {
                "name": str(room_name),
                "kind": room_name.kind,
                "peers": 0,
                "users": [],
                "size": len(full),
                "awareness": 0,
            }
        roots = self.extensionapp.room_names.roots(room_name)
        roots.update(parse_roots(self.get_query_argument("roots", "")))
        info["open"] = room is not None
        info["roots"] = root_names(full)
        info["content"] = roots_as_json(full, roots)
        self.write_json(info)

    @web.authenticated
    async def delete(self, name: str) -> None:
        room_name = self.extensionapp.room_names.parse(name)
        self.guard.require(str(room_name), "delete")
        await self.extensionapp.room_manager.delete(room_name)
        await self.extensionapp.history.forget(str(room_name))
        await self.extensionapp.comments.forget(str(room_name))
        self.extensionapp.store.audit.record(
            "room.deleted", user=self.guard.identity.username, room=str(room_name)
        )
        self.set_status(204)
        self.finish()


class ClusterHandler(OmniForgeAPIHandler):
    """``GET omniforge/api/cluster``: the live instances and the rooms each holds (those this
    user may read), and the malformed shared entries this instance skipped (per kind)."""

    @web.authenticated
    async def get(self) -> None:
        self.require_some_access()
        backplane = self.extensionapp.backplane
        instances = await backplane.cluster()
        for instance in instances:
            if isinstance(instance.get("rooms"), list):
                instance["rooms"] = [r for r in instance["rooms"] if self.guard.can(r, "read")]
        self.write_json(
            {
                "instance": backplane.instance_id,
                "instances": instances,
                "malformed": backplane.malformed(),
            }
        )


class LiveHandler(JupyterHandler):
    """Liveness: the process answers. No auth; reveals nothing."""

    @allow_unauthenticated
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(b'{"status":"ok"}')


class ReadyHandler(ExtensionHandlerMixin, JupyterHandler):
    """Readiness: the store is open and rooms can be served. No auth; reveals nothing."""

    @allow_unauthenticated
    async def get(self) -> None:
        try:
            await asyncio.wait_for(self.extensionapp.started(), timeout=5)
        except Exception:
            self.log.warning("OmniForge is not ready", exc_info=True)
        ready = self.extensionapp.ready
        body = b'{"status":"ok"}' if ready else b'{"status":"starting"}'
        if ready:
            # Started, but the store may have lost its engine since (PostgreSQL restarting):
            # degraded, not down; appended updates wait in memory. The reason goes to the log.
            problem = await self.extensionapp.store.health()
            # With Redis before a shared store: whether the rooms' streams get persisted.
            problem = problem or await self.extensionapp.backplane.health()
            if problem:
                self.log.warning("OmniForge is degraded: %s", problem)
                ready, body = False, b'{"status":"degraded"}'
        self.set_status(200 if ready else 503)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(body)
