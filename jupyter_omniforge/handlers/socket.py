"""What the two WebSocket endpoints share: Jupyter's auth, our settings and quotas, refusing before
the upgrade when the extension cannot serve (e.g. Redis unreachable)."""

from __future__ import annotations

import time
import weakref
from inspect import isawaitable
from typing import Any

from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.ioloop import PeriodicCallback
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from ..errors import Forbidden, OmniForgeError, RateLimited
from ..limits import TokenBucket
from ..metrics import METRICS
from . import fastpath
from .auth import TokenSafeLog, authenticate_bearer, guard_for


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


class OmniForgeWebSocket(
    TokenSafeLog, ExtensionHandlerMixin, WebSocketMixin, WebSocketHandler, JupyterHandler
):
    """Base of ``omniforge/rooms/{room}`` and ``omniforge/realtime``.

    Before the upgrade: who it is (Jupyter's login or token, or a room-scoped token) and its
    :class:`~jupyter_omniforge.access.control.Guard`, which decides every action from then on;
    quotas. Origin checks are Jupyter's (``WebSocketMixin``). The extension app is
    ``self.extensionapp`` (``ExtensionHandlerMixin``).
    """

    auth_resource = "omniforge"

    # Pings come from one timer for all connections (:class:`Keepalive`), not from a task per
    # connection as Tornado would start for a ``ping_interval``.
    ping_interval = None
    ping_timeout = None
    awaiting_pong = False
    #: Whether this socket reads and writes through :mod:`.fastpath` (decided once, when Tornado
    #: asks for its protocol, before ``open``; read on every message).
    fast_path = False
    #: The ``endpoint`` label of this socket in the metrics.
    metrics_endpoint = "rooms"
    requested_at = 0.0  # when the upgrade request began (monotonic)
    _close_sent: int | None = None  # the code of the close frame we sent, once we did
    _counted: str | None = None  # the user this connection counts against, until it closes

    def opened(self) -> None:
        """What every OmniForge socket does first in ``open``."""
        self.set_nodelay(True)
        METRICS.opened(self.metrics_endpoint)
        app = self.extensionapp
        self.bucket = TokenBucket(app.max_messages_per_second, app.max_message_burst)
        app.keepalive.watch(self)
        # The handshake is over: its request headers and arguments are never used again, and
        # every idle connection would keep them; the fast path drops more (~4 KB in all).
        request = self.request
        request.headers.__init__()  # emptied in place: Tornado's suspended upgrade holds it too
        request.arguments = request.query_arguments = request.body_arguments = {}
        request.files = {}
        self.__dict__.pop("ui", None)
        if self.fast_path:
            fastpath.forget_handshake(self)

    def set_secure_cookie(self, name: str, value: str | bytes, *args: Any, **kwargs: Any) -> None:
        """Jupyter's identity provider stores a token-authenticated user in its login cookie,
        for a browser's next requests. On a WebSocket upgrade nothing reads it (browsers are
        logged in already; scripts and the CLI keep no cookies), and signing and sending it
        was ~5% of the server's time in a storm of token-authenticated joins: not set here."""
        if name == self.identity_provider.get_cookie_name(self):
            return
        super().set_secure_cookie(name, value, *args, **kwargs)

    def get_websocket_protocol(self) -> Any:
        """The fast protocol, reading with callbacks (see :mod:`.fastpath`), or Tornado's own;
        no compression either way."""
        self.fast_path = bool(self.extensionapp.fast_path)
        if not self.fast_path:
            return super().get_websocket_protocol()
        if self.request.headers.get("Sec-WebSocket-Version") != "13":
            return None
        return fastpath.reader_for(self, self.max_message_size)

    def message_allowed(self) -> bool:
        """On the stock path, count a message (the fast reader counts every frame itself)."""
        return self.fast_path or self.frame_received()

    def on_ping(self, data: bytes) -> None:
        if not self.fast_path:
            self.frame_received()

    def frame_received(self) -> bool:
        """Count one incoming frame of any kind (data, continuation, ping, pong) against
        ``max_messages_per_second``; False (and the connection closing, 1008) once over it."""
        if self.bucket.take():
            return True
        METRICS.refused(RateLimited.code)
        self.close_with(
            RateLimited(f"more than {self.extensionapp.max_messages_per_second:g} messages/s")
        )
        return False

    def close_with(self, error: OmniForgeError | None) -> None:
        """Close with ``error``'s code and reason (subclasses add their own clean-up)."""
        raise NotImplementedError

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        if self._close_sent is None and self.ws_connection is not None:
            self._close_sent = code or 1005  # RFC 6455: a close frame without a code
        super().close(code, reason)

    def count_close(self) -> None:
        """The connection is gone: count it by the code that ended it (ours, else the
        client's; none when there was no code, or no close frame at all)."""
        METRICS.closed(self.metrics_endpoint, self._close_sent or self.close_code)

    def on_pong(self, data: bytes) -> None:
        self.awaiting_pong = False
        if not self.fast_path:
            self.frame_received()

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
        self.requested_at = time.monotonic()
        app = self.extensionapp
        authenticate_bearer(self, app)  # a room-scoped token: 401 unless valid
        result = super().prepare(*args, **kwargs)  # Jupyter's: the user, origin; 403 if nobody
        if isawaitable(result):
            await result
        user = self.current_user
        if user is None:  # also when Jupyter allows unauthenticated access: we do not
            self.log.warning("Couldn't authenticate WebSocket connection")
            raise web.HTTPError(403)
        self.before_upgrade(*self.path_args)
        try:
            await app.started()
            self.guard = await guard_for(self, app, user)
            self.identity = self.guard.identity
            self.authorize()
            app.connections.acquire(self.identity.username)
        except OmniForgeError as e:  # refused, or e.g. Redis unreachable: before the upgrade
            METRICS.refused(e.code)
            app.store.audit.record(
                "connection.refused",
                user=getattr(getattr(self, "identity", None), "username", ""),
                room=self.audit_room,
                reason=e.code,
            )
            raise web.HTTPError(e.http_status, str(e), reason=e.code) from None
        self._counted = self.identity.username

    @property
    def audit_room(self) -> str:
        """The room this connection is about, for the audit trail ("" for the gateway)."""
        return ""

    def authorize(self) -> None:
        """Refuse the upgrade (an ``OmniForgeError``) unless the guard allows it."""
        if not self.guard.may_connect():
            raise Forbidden(f"{self.identity.username} may not read any room")

    def watch_access(self) -> None:
        """Once open: policy changes and the end of the token reach this connection."""
        guard = self.guard
        guard.on_change = self.access_changed
        guard.on_expired = self.close_with
        self.extensionapp.access.watch(guard)
        self.extensionapp.store.audit.record(
            "connection.opened", user=self.identity.username, room=self.audit_room
        )

    def access_changed(self) -> None:
        """The policy's answers may have changed: apply them to this connection."""

    def refresh_token(self, token: str) -> None:
        """A fresh room-scoped token sent on the open connection (an auth message): from now
        on its expiry counts. Raises ``TokenRefused`` for one that is not valid or not for the
        same user."""
        claims = self.extensionapp.access.tokens.verify(token)
        self.guard.refresh(claims)
        self.access_changed()

    def release(self) -> None:
        """Stop counting this connection against its user's quota, and stop watching its
        access (once)."""
        username, self._counted = self._counted, None
        if username is not None:
            self.extensionapp.connections.release(username)
            self.extensionapp.access.unwatch(self.guard)

    # Tornado's own ``get`` (the upgrade), marked for Jupyter as requiring authentication. The
    # marker's wrapper hands back Tornado's coroutine, so no frame of ours stays behind.
    get = ws_authenticated(WebSocketHandler.get)
