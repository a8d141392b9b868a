"""The Jupyter floor: a server extension with one route, ``bare/{room}``, a
``WebSocketMixin + WebSocketHandler + JupyterHandler`` serving :class:`.rooms.Rooms` as Jupyter's
own WebSocket endpoints are built (the kernels' channels): ``JupyterHandler.prepare`` finds the
user (the token in the URL), ``ws_authenticated`` refuses without one, the authorizer decides,
``WebSocketMixin`` checks the origin and pings every 30 s (Jupyter's default).
``bare-lean/{room}`` is the same less two costs ours avoids (:class:`LeanRoomSocket`).

Enabled with ``--ServerApp.jpserver_extensions benchmarks.floors.jupyter_bare=True`` (the
repository root on ``PYTHONPATH``); see ``SpawnedJupyterBare`` in ``benchmarks/loadgen/servers.py``.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.utils import ensure_async, url_path_join
from tornado import web
from tornado.ioloop import IOLoop
from tornado.websocket import WebSocketHandler

from .rooms import LISTEN_BACKLOG, Rooms
from .tornado_bare import RoomMember

#: The authorizer's resource for this route (the default authorizer allows every one).
RESOURCE = "bare"


class BareRoomSocket(RoomMember, WebSocketMixin, WebSocketHandler, JupyterHandler):
    """A y-websocket connection to the room named by the path, for an authorized Jupyter user."""

    auth_resource = RESOURCE

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "read", RESOURCE)
        )
        if not allowed:
            raise web.HTTPError(403)
        await super().get(*args, **kwargs)

    def open(self, room: str) -> None:  # type: ignore[override]
        super().open(room)  # WebSocketMixin: the keep-alive pings
        self.join(room)


class LeanRoomSocket(BareRoomSocket):
    """The same, less the two per-join costs ours leaves out of Jupyter's stock path: no
    keep-alive timer per connection (ours pings from one timer for all) and no login cookie
    signed and sent on the upgrade (nothing reads it there)."""

    ping_interval = 0  # type: ignore[assignment]

    def set_secure_cookie(self, name: str, value: str | bytes, *args: Any, **kwargs: Any) -> None:
        if name == self.identity_provider.get_cookie_name(self):
            return
        super().set_secure_cookie(name, value, *args, **kwargs)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": __name__}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    web_app = serverapp.web_app
    route = url_path_join(web_app.settings["base_url"], "bare", r"([^/]+)")
    lean = url_path_join(web_app.settings["base_url"], "bare-lean", r"([^/]+)")
    rooms = {"rooms": Rooms()}
    web_app.add_handlers(".*$", [(route, BareRoomSocket, rooms), (lean, LeanRoomSocket, rooms)])
    IOLoop.current().add_callback(_widen_backlog, serverapp)


def _widen_backlog(serverapp: Any) -> None:
    """Listen again with the floors' backlog, as ours does (its ``listen_backlog``), once
    Jupyter has bound its sockets (a loop callback added after this one's first turn): Tornado
    keeps them in a private mapping."""
    sockets = serverapp.http_server._sockets.values()
    if not sockets:
        IOLoop.current().add_callback(_widen_backlog, serverapp)
        return
    for sock in sockets:
        sock.listen(LISTEN_BACKLOG)
    serverapp.log.info("jupyter_bare: listen backlog %d", LISTEN_BACKLOG)
