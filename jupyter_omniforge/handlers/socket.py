"""What the two WebSocket endpoints share: Jupyter's auth, our settings and quotas, refusing before
the upgrade when the extension cannot serve (e.g. Redis unreachable)."""

from __future__ import annotations

import weakref
from inspect import isawaitable
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.httputil import HTTPHeaders
from tornado.ioloop import PeriodicCallback
from tornado.websocket import WebSocketClosedError, WebSocketHandler, _WebSocketParams

from ..errors import OmniForgeError, RateLimited
from ..limits import TokenBucket
from .reader import CallbackFrameReader


class Keepalive:
    """Pings every open socket from one timer; a socket that has not answered the previous
    ping by the next tick (one interval) is closed. One timer for all instead of a task, a
    coroutine and a sleep per connection, which idle connections would pay in memory."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._sockets: weakref.WeakSet[OmniForgeWebSocket] = weakref.WeakSet()
        self._timer: PeriodicCallback | None = None

    def watch(self, handler: OmniForgeWebSocket) -> None:
        if self.interval <= 0:
            return
        self._sockets.add(handler)
        if self._timer is None:
            self._timer = PeriodicCallback(self._tick, self.interval * 1000)
            self._timer.start()

    def _tick(self) -> None:
        for handler in list(self._sockets):
            connection = handler.ws_connection
            if connection is None or connection.is_closing():
                self._sockets.discard(handler)
            elif handler.awaiting_pong:
                # Presumed dead: say why, then drop the socket instead of waiting the usual
                # 5 s for a closing handshake that will not come.
                self._sockets.discard(handler)
                handler.close(1001, "ping timed out")
                connection.stream.close()
            else:
                handler.awaiting_pong = True
                try:
                    handler.ping()
                except WebSocketClosedError:
                    self._sockets.discard(handler)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None


class OmniForgeWebSocket(ExtensionHandlerMixin, WebSocketMixin, WebSocketHandler, JupyterHandler):
    """Base of ``omniforge/rooms/{room}`` and ``omniforge/realtime``.

    The upgrade is a GET: it proves *read* permission; ``can_write`` says whether the user may
    also change documents. Origin checks are Jupyter's (``WebSocketMixin``). The extension app
    is ``self.extensionapp`` (``ExtensionHandlerMixin``).
    """

    auth_resource = "omniforge"

    # Pings come from one timer for all connections (:class:`Keepalive`), not from a task per
    # connection as Tornado would start for a ``ping_interval``.
    ping_interval = None
    ping_timeout = None
    awaiting_pong = False
    _counted: str | None = None  # the user this connection counts against, until it closes

    def opened(self) -> None:
        """What every OmniForge socket does first in ``open``."""
        self.set_nodelay(True)
        app = self.extensionapp
        self.bucket = TokenBucket(app.max_messages_per_second, app.max_message_burst)
        app.keepalive.watch(self)
        # The handshake is over: its request and response headers, arguments and cookies, the
        # login cookie Jupyter set on it and the template helpers are never used again, and
        # every idle connection would keep them (~4 KB).
        request = self.request
        request.headers.__init__()  # emptied in place: Tornado's suspended upgrade holds it too
        request.arguments = request.query_arguments = request.body_arguments = {}
        request.files = {}
        request.__dict__.pop("_cookies", None)
        self._headers = HTTPHeaders()
        self.__dict__.pop("_new_cookie", None)
        self.__dict__.pop("ui", None)

    def get_websocket_protocol(self) -> CallbackFrameReader | None:
        """Tornado's protocol, reading with callbacks (see :mod:`.reader`); no compression."""
        if self.request.headers.get("Sec-WebSocket-Version") != "13":
            return None
        params = _WebSocketParams(max_message_size=self.max_message_size)
        return CallbackFrameReader(self, False, params)

    def frame_received(self) -> bool:
        """Count one incoming frame of any kind (data, continuation, ping, pong) against
        ``max_messages_per_second``; False (and the connection closing, 1008) once over it."""
        if self.bucket.take():
            return True
        self.close_with(
            RateLimited(f"more than {self.extensionapp.max_messages_per_second:g} messages/s")
        )
        return False

    def close_with(self, error: OmniForgeError | None) -> None:
        """Close with ``error``'s code and reason (subclasses add their own clean-up)."""
        raise NotImplementedError

    def on_pong(self, data: bytes) -> None:
        self.awaiting_pong = False

    @property
    def max_message_size(self) -> int:
        return self.extensionapp.max_message_size

    def before_upgrade(self, *args: Any) -> None:
        """Check the request's path arguments; raise ``web.HTTPError`` to refuse."""

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        """Authenticate and authorize before the upgrade, here rather than in ``get``.

        Tornado's ``get`` stays suspended for as long as the connection lives, and so does
        every coroutine wrapped around it: checking in ``prepare`` (which returns) instead of
        decorating ``get`` saves about 2 KB of frames per open connection.
        """
        result = super().prepare(*args, **kwargs)  # Jupyter's: the user, origin; 403 if nobody
        if isawaitable(result):
            await result
        user = self.current_user
        if user is None:  # also when Jupyter allows unauthenticated access: we do not
            self.log.warning("Couldn't authenticate WebSocket connection")
            raise web.HTTPError(403)
        if not await self._allowed(user, "read"):
            raise web.HTTPError(
                403, f"User is not authorized to read on resource: {self.auth_resource}."
            )
        self.before_upgrade(*self.path_args)
        app = self.extensionapp
        self.identity = app.identity_of(self, user)
        self.can_write = await self._allowed(user, "write")
        try:
            await app.started()
            app.connections.acquire(self.identity.username)
        except OmniForgeError as e:  # e.g. Redis unreachable: refuse before the upgrade
            raise web.HTTPError(e.http_status, str(e), reason=e.code) from None
        self._counted = self.identity.username

    def release(self) -> None:
        """Stop counting this connection against its user's quota (once)."""
        username, self._counted = self._counted, None
        if username is not None:
            self.extensionapp.connections.release(username)

    def on_finish(self) -> None:
        # The upgrade was refused after prepare (not a WebSocket request, an origin check):
        # on_close never comes.
        if self.ws_connection is None:
            self.release()

    # Tornado's own ``get`` (the upgrade), marked for Jupyter as requiring authentication. The
    # marker's wrapper hands back Tornado's coroutine, so no frame of ours stays behind.
    get = ws_authenticated(WebSocketHandler.get)

    async def _allowed(self, user: Any, action: str) -> bool:
        return bool(
            await ensure_async(
                self.authorizer.is_authorized(self, user, action, self.auth_resource)
            )
        )
