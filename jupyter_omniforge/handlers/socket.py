"""What the two WebSocket endpoints share: Jupyter's auth, our settings, refusing before the
upgrade when the extension cannot serve (e.g. Redis unreachable)."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.websocket import WebSocketHandler

from ..auth import identity_from_user
from ..errors import OmniForgeError


class OmniForgeWebSocket(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """Base of ``omniforge/rooms/{room}`` and ``omniforge/realtime``.

    The upgrade is a GET: it proves *read* permission; ``can_write`` says whether the user may
    also change documents. Origin checks are Jupyter's (``WebSocketMixin``).
    """

    auth_resource = "omniforge"

    def initialize(self, omniforge: Any) -> None:
        # `omniforge` is the extension app: settings are read from it, never from globals.
        self.omniforge = omniforge

    # Tornado reads these (in seconds); WebSocketMixin's versions are in milliseconds.
    @property
    def ping_interval(self) -> float | None:
        return self.omniforge.ws_ping_interval or None

    @property
    def ping_timeout(self) -> float | None:
        # Tornado wants the pong within one interval.
        return self.omniforge.ws_ping_interval or None

    @property
    def max_message_size(self) -> int:
        return self.omniforge.max_message_size

    def before_upgrade(self, *args: Any) -> None:
        """Check the request's path arguments; raise ``web.HTTPError`` to refuse."""

    @ws_authenticated
    @authorized
    async def get(self, *args: Any, **kwargs: Any) -> None:
        self.before_upgrade(*args)
        user = self.current_user
        self.identity = identity_from_user(user)
        self.can_write = bool(
            self.authorizer.is_authorized(self, user, "write", self.auth_resource)
        )
        try:
            await self.omniforge.started()
        except OmniForgeError as e:  # e.g. Redis unreachable: refuse before the upgrade
            raise web.HTTPError(e.http_status, str(e), reason=e.code) from None
        await super().get(*args, **kwargs)
