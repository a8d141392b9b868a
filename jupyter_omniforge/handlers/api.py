"""REST: rooms and health. Thin: each method calls the room manager and writes JSON."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from tornado import web

from ..errors import OmniForgeError
from ..rooms.roots import parse_roots, root_names, roots_as_json
from ..store.compaction import fold_updates


class OmniForgeAPIHandler(APIHandler):
    """Base: the extension app at hand, and domain errors mapped to HTTP statuses."""

    auth_resource = "omniforge"

    def initialize(self, omniforge: Any) -> None:
        self.omniforge = omniforge

    async def prepare(self) -> None:
        await super().prepare()
        await self.omniforge.started()

    def write_json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        error = exc_info[1] if exc_info else None
        if isinstance(error, OmniForgeError):
            self.set_status(error.http_status)
            self.finish(json.dumps({"error": error.code, "message": str(error)}))
            return
        super().write_error(status_code, **kwargs)

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, OmniForgeError):
            self.send_error(e.http_status, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)


class RoomsHandler(OmniForgeAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        rooms = sorted(self.omniforge.room_manager.rooms.values(), key=lambda r: r.key)
        self.write_json({"rooms": [room.info() for room in rooms]})


class RoomHandler(OmniForgeAPIHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        room_name = self.omniforge.room_names.parse(name)
        manager = self.omniforge.room_manager
        room = manager.get(str(room_name))
        if room is not None:
            info = room.info()
            full = room.full_update()
        else:
            # A stored room that is not open: read it without opening it for everyone.
            updates = await manager.store.load(str(room_name))
            if not updates:
                raise web.HTTPError(404, f"room {room_name} does not exist")
            full = fold_updates(updates)
            info = {
                "name": str(room_name),
                "kind": room_name.kind,
                "peers": 0,
                "users": [],
                "size": len(full),
                "awareness": 0,
            }
        roots = self.omniforge.room_names.roots(room_name)
        roots.update(parse_roots(self.get_query_argument("roots", "")))
        info["open"] = room is not None
        info["roots"] = root_names(full)
        info["content"] = roots_as_json(full, roots)
        self.write_json(info)

    @web.authenticated
    @authorized  # DELETE maps to the "write" action
    async def delete(self, name: str) -> None:
        await self.omniforge.room_manager.delete(self.omniforge.room_names.parse(name))
        self.set_status(204)
        self.finish()


class ClusterHandler(OmniForgeAPIHandler):
    """``GET omniforge/api/cluster``: the live instances and the rooms each holds, and the
    malformed shared entries this instance skipped (per kind)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        backplane = self.omniforge.backplane
        self.write_json(
            {
                "instance": backplane.instance_id,
                "instances": await backplane.cluster(),
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


class ReadyHandler(JupyterHandler):
    """Readiness: the store is open and rooms can be served. No auth; reveals nothing."""

    def initialize(self, omniforge: Any) -> None:
        self.omniforge = omniforge

    @allow_unauthenticated
    async def get(self) -> None:
        try:
            await asyncio.wait_for(self.omniforge.started(), timeout=5)
        except Exception:
            self.log.warning("OmniForge is not ready", exc_info=True)
        ready = self.omniforge.ready
        self.set_status(200 if ready else 503)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(b'{"status":"ok"}' if ready else b'{"status":"starting"}')
