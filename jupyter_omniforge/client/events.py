"""Emit and follow OmniForge events from Python: a notebook, a script, a CLI.

    from jupyter_omniforge.client import OmniForge

    forge = OmniForge()                          # finds the server (see discovery.py)
    forge.emit("build:42", "build.progress", {"percent": 40, "message": "compiling"})
    forge.history("build:42")                    # -> [envelope, ...], oldest first

    async for event in forge.subscribe(["build:*"]):
        ...

Every event is an *envelope*: ``{"id", "channel", "type", "time", "source": {"username"}, "data"}``.
Ids are opaque cursors: compare them for equality only.

The synchronous methods use a blocking HTTP client (httpx, not ``asyncio.run``), so they work in a Jupyter
kernel, whose event loop is already running; the ``a``-prefixed twins are for async code. None of
the transports use HTTP proxies: an OmniForge server is reached directly, like Jupyter's own clients.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import weakref
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, websocket_connect

from ..backoff import Backoff
from .comments import CommentsMixin
from .discovery import find_server
from .errors import (
    ClientError,
    EventRejected,
    InvalidRequest,
    NotAuthorized,
    RequestFailed,
    ServerUnreachable,
    SubscriptionRefused,
    http_error,
    server_message,
)
from .runs import AsyncRun, Run
from .versions import VersionsMixin

EVENTS_PATH = "omniforge/api/events"
GATEWAY_PATH = "omniforge/realtime"

__all__ = [
    "ClientError",
    "EventRejected",
    "InvalidRequest",
    "NotAuthorized",
    "OmniForge",
    "RequestFailed",
    "ServerUnreachable",
    "SubscriptionRefused",
]


def _channels(channels: str | Iterable[str]) -> list[str]:
    """``"a,b"``, ``"a"`` or ``["a", "b"]`` -> ``["a", "b"]``."""
    if isinstance(channels, str):
        channels = channels.split(",")
    return [c.strip() for c in channels if c.strip()]


class _SeenIds:
    """The last ``size`` ids seen, for dropping repeats (delivery is at least once)."""

    def __init__(self, size: int = 100_000) -> None:
        self._order: deque[str] = deque()
        self._ids: set[str] = set()
        self._size = size

    def add(self, event_id: str) -> bool:
        """Remember ``event_id``; False when it was already seen."""
        if event_id in self._ids:
            return False
        self._ids.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())
        return True


class OmniForge(VersionsMixin, CommentsMixin):
    """A client of one OmniForge server.

    ``url`` is the Jupyter server's URL including its base URL (``http://127.0.0.1:8888/``). Without
    arguments the server is found as :func:`~jupyter_omniforge.client.discovery.find_server`
    describes (explicit arguments, then ``OMNIFORGE_URL``/``OMNIFORGE_TOKEN``, then the running
    server this process descends from, then the only running server); a
    :class:`~jupyter_omniforge.client.discovery.DiscoveryError` is raised when there is none.
    ``timeout`` bounds each HTTP request and each WebSocket connection attempt, in seconds.

    HTTP goes through httpx: one blocking client for the plain methods, one async client per
    event loop for the ``a``-prefixed ones, sharing one cookie jar that keeps no cookie the
    server sets (a token's requests stay the server's owner). :meth:`close` / :meth:`aclose` (or ``with`` / ``async with``) release
    their connections; an unclosed client releases them when it is collected.
    """

    def __init__(
        self, url: str | None = None, token: str | None = None, *, timeout: float = 30.0
    ) -> None:
        server = find_server(url, token)
        self.url = server.url
        self.token = server.token
        self.timeout = timeout
        # Requests authenticated by the token alone are the server's owner; a login cookie
        # Jupyter sets on them would make later requests a random anonymous user instead, so
        # the jar keeps none (it is there for the cookies a caller adds itself).
        self._cookies = http.cookiejar.CookieJar(
            http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
        )
        self._client: httpx.Client | None = None
        self._aclient: httpx.AsyncClient | None = None
        self._aclient_loop: weakref.ref[asyncio.AbstractEventLoop] | None = None

    def __repr__(self) -> str:
        return f"OmniForge({self.url!r})"

    def __enter__(self) -> OmniForge:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> OmniForge:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def close(self) -> None:
        """Close the blocking HTTP client's connections (the client opens new ones if used again)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close the HTTP connections of both clients (the async one of this event loop)."""
        self.close()
        client, self._aclient = self._aclient, None
        if client is not None and self._aclient_loop is not None:
            if self._aclient_loop() is asyncio.get_running_loop():
                await client.aclose()

    # -- HTTP ------------------------------------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        # No proxies from the environment (trust_env): an OmniForge server is reached directly,
        # like Jupyter's own clients, and the same way by every call.
        return {
            "headers": headers,
            "cookies": self._cookies,
            "timeout": self.timeout,
            "trust_env": False,
            # No connection outlives its request: a client nobody closes (a notebook's, a
            # script's) leaves no socket behind, and a loopback connect costs well under 1 ms.
            "limits": httpx.Limits(max_keepalive_connections=0),
        }

    def _sync_client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(**self._options())
        return self._client

    def _async_client(self) -> httpx.AsyncClient:
        # An httpx.AsyncClient's connections belong to the event loop that opened them: one
        # client per loop (a CLI or a test may run several loops one after the other).
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aclient_loop is None or self._aclient_loop() is not loop:
            self._aclient = httpx.AsyncClient(**self._options())
            self._aclient_loop = weakref.ref(loop)
        return self._aclient

    def url_of(self, path: str, query: dict[str, Any] | None = None) -> str:
        """The absolute URL of ``path`` (relative to the server URL, like
        ``omniforge/api/events``) with ``query`` (None values left out)."""
        params = {k: v for k, v in (query or {}).items() if v is not None}
        return self.url + path.lstrip("/") + (f"?{urlencode(params)}" if params else "")

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        invalid: type[InvalidRequest] = InvalidRequest,
    ) -> Any:
        """Send ``method path`` (``path`` relative to the server URL) with ``params`` as the
        query and ``json`` as the body; returns the decoded JSON answer (None when empty).

        Blocking, without an event loop of its own: usable in a Jupyter kernel, whose loop is
        running. Raises ``invalid`` (an :class:`InvalidRequest`) for HTTP 400 with the server's
        message, :class:`NotAuthorized` for 401/403, :class:`RequestFailed` for other errors and
        :class:`ServerUnreachable` when there is no answer.
        """
        url = self.url_of(path, params)
        try:
            response = self._sync_client().request(method, url, json=json)
        except httpx.TransportError as e:
            raise ServerUnreachable(f"cannot reach {self.url}: {e or type(e).__name__}") from None
        return _answer(response, method, url, invalid)

    async def arequest(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        invalid: type[InvalidRequest] = InvalidRequest,
    ) -> Any:
        """:meth:`request` for async code."""
        url = self.url_of(path, params)
        try:
            response = await self._async_client().request(method, url, json=json)
        except httpx.TransportError as e:
            raise ServerUnreachable(f"cannot reach {self.url}: {e or type(e).__name__}") from None
        return _answer(response, method, url, invalid)

    def _cookie_header(self, url: str) -> dict[str, str]:
        """The ``Cookie`` header the HTTP clients would send to ``url`` (for WebSockets)."""
        probe = httpx.Request("GET", url)
        httpx.Cookies(self._cookies).set_cookie_header(probe)
        cookie = probe.headers.get("cookie")
        return {"Cookie": cookie} if cookie else {}

    # -- emit ------------------------------------------------------------------------------------

    def emit(self, channel: str, type: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Emit one event; returns its envelope as stored by the server (with its ``id``).

        Raises :class:`EventRejected` (with the server's validation message) when the channel,
        type or data is invalid, :class:`ServerUnreachable` or :class:`RequestFailed` otherwise.
        """
        payload = {"channel": channel, "type": type, "data": {} if data is None else data}
        return self.request("POST", EVENTS_PATH, json=payload, invalid=EventRejected)

    async def aemit(
        self, channel: str, type: str, data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """:meth:`emit` for async code."""
        payload = {"channel": channel, "type": type, "data": {} if data is None else data}
        return await self.arequest("POST", EVENTS_PATH, json=payload, invalid=EventRejected)

    def emit_many(self, events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Emit several events (``{"channel", "type", "data"}`` each) in one request, stored in
        one transaction. Returns, in order, each event's envelope or, for one the server
        refused, ``{"index", "error", "message"}``; the others are stored all the same."""
        answer = self.request("POST", EVENTS_PATH, json=list(events), invalid=EventRejected)
        return answer["events"]

    async def aemit_many(self, events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """:meth:`emit_many` for async code."""
        answer = await self.arequest("POST", EVENTS_PATH, json=list(events), invalid=EventRejected)
        return answer["events"]

    # -- history ---------------------------------------------------------------------------------

    def history(
        self, channel: str | Iterable[str], after: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` kept events of ``channel`` (a name, a pattern such as ``build:*``, or
        several) after the cursor ``after`` (from the oldest kept when None), oldest first.
        Page on by passing the last id as ``after``. An invalid channel or pattern raises
        :class:`InvalidRequest`."""
        page = self.request("GET", EVENTS_PATH, params=_history_query(channel, after, limit))
        return list(page.get("events", []))

    async def ahistory(
        self, channel: str | Iterable[str], after: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """:meth:`history` for async code."""
        query = _history_query(channel, after, limit)
        page = await self.arequest("GET", EVENTS_PATH, params=query)
        return list(page.get("events", []))

    # -- subscribe -------------------------------------------------------------------------------

    def gateway_url(self) -> str:
        """``ws(s)://…/omniforge/realtime?token=…`` of this server."""
        parts = urlsplit(self.url)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        query = urlencode({"token": self.token}) if self.token else ""
        return urlunsplit((scheme, parts.netloc, parts.path + GATEWAY_PATH, query, ""))

    async def _open_gateway(self) -> WebSocketClientConnection:
        request = HTTPRequest(
            self.gateway_url(),
            headers=self._cookie_header(self.url),
            connect_timeout=self.timeout,
            request_timeout=self.timeout,
        )
        try:
            # Pings find a half-open connection (a laptop that slept, a dropped NAT entry).
            conn = await websocket_connect(request, ping_interval=20, ping_timeout=20)
            conn.protocol.set_nodelay(True)  # as rooms.open_connection: no Nagle delays
            return conn
        except HTTPClientError as e:
            if e.code == 599 or e.code >= 500:
                raise ServerUnreachable(f"cannot reach {self.url}: {e}") from None
            body = e.response.body if e.response is not None and e.response.body else b""
            raise SubscriptionRefused(e.code, server_message(body, str(e))) from None
        except (TimeoutError, OSError, StreamClosedError) as e:
            raise ServerUnreachable(f"cannot reach {self.url}: {e or type(e).__name__}") from None

    async def subscribe(
        self,
        channels: str | Iterable[str],
        last_event_id: str | None = None,
        *,
        max_retries: int | None = None,
        backoff: float = 0.1,
        max_backoff: float = 5.0,
        ready: asyncio.Event | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Follow ``channels`` (names or patterns such as ``build:*``) over the realtime gateway.

        Yields each event's envelope once, in the server's order: with ``last_event_id``, first
        every kept event after it, then live ones. Repeated ids (delivery is at least once) are
        dropped. When the connection drops, it reconnects with exponential backoff (``backoff``
        doubling up to ``max_backoff`` seconds, jittered) and resumes after the last id it yielded,
        so nothing is missed or repeated; it gives up with :class:`ServerUnreachable` after
        ``max_retries`` failed attempts in a row (None: never).

        When the cursor is older than what the server keeps, the server cannot replay what was
        missed; this yields ``{"type": "reset", "reason": <str>}`` — told apart from envelopes by
        having no ``"id"`` — and then the events still kept.

        The first connection is not retried: a wrong URL or token raises at once
        (:class:`ServerUnreachable`, :class:`SubscriptionRefused`). An ``error`` frame from the
        gateway raises :class:`SubscriptionRefused`. Breaking out of the loop closes the socket.

        ``ready``, when given, is set once the server has confirmed the subscription: every event
        emitted after that is delivered (a test can subscribe, wait for it, then act).
        """
        names = _channels(channels)
        cursor = last_event_id
        seen = _SeenIds()
        retry = Backoff(backoff, max(backoff, max_backoff))
        first = True
        while True:
            try:
                conn = await self._open_gateway()
            except ServerUnreachable:
                if first or (max_retries is not None and retry.failures >= max_retries):
                    raise
                await retry.wait()
                continue
            first = False
            try:
                frame = {"type": "subscribe", "channels": names, "lastEventId": cursor}
                await conn.write_message(json.dumps(frame))
                while True:
                    message = await conn.read_message()
                    if message is None:
                        break  # dropped: reconnect below
                    frame = json.loads(message)
                    kind = frame.get("type")
                    if kind == "event":
                        envelope = frame.get("event") or {}
                        event_id = envelope.get("id")
                        if event_id is not None:
                            if not seen.add(str(event_id)):
                                continue
                            cursor = str(event_id)
                        yield envelope
                    elif kind == "reset":
                        yield {"type": "reset", "reason": frame.get("reason")}
                    elif kind == "subscribed":
                        retry.reset()
                        if ready is not None:
                            ready.set()
                        # A server may tell where the stream starts; resuming from there means
                        # a drop before the first event loses nothing either.
                        if cursor is None and frame.get("lastEventId") is not None:
                            cursor = str(frame["lastEventId"])
                    elif kind == "error":
                        raise SubscriptionRefused(
                            frame.get("code"), str(frame.get("message") or "refused")
                        )
            except (WebSocketClosedError, StreamClosedError):
                pass  # dropped while writing: reconnect below
            finally:
                conn.close()
            if max_retries is not None and retry.failures >= max_retries:
                raise ServerUnreachable(f"lost the connection to {self.url}")
            await retry.wait()

    # -- builds and deployments ------------------------------------------------------------------

    def build(self, build_id: str, message: str | None = None) -> Run:
        """A context manager reporting a build on ``build:{build_id}``; see :class:`Run`."""
        return Run(self, "build", str(build_id), message)

    def abuild(self, build_id: str, message: str | None = None) -> AsyncRun:
        """``async with forge.abuild("42") as b: await b.progress(40, "compiling")``."""
        return AsyncRun(self, "build", str(build_id), message)

    def deployment(self, deployment_id: str, message: str | None = None) -> Run:
        """A context manager reporting a deployment on ``deployment:{deployment_id}``."""
        return Run(self, "deployment", str(deployment_id), message)

    def adeployment(self, deployment_id: str, message: str | None = None) -> AsyncRun:
        """The async twin of :meth:`deployment`."""
        return AsyncRun(self, "deployment", str(deployment_id), message)


def _history_query(channel: str | Iterable[str], after: str | None, limit: int) -> dict[str, Any]:
    return {"channel": ",".join(_channels(channel)), "after": after, "limit": limit}


def _answer(response: httpx.Response, method: str, url: str, invalid: type[InvalidRequest]) -> Any:
    """The decoded JSON of a response, or the error it stands for."""
    if response.status_code >= 400:
        raise http_error(response.status_code, response.content, method, url, invalid)
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise RequestFailed(
            response.status_code, f"{method} {url}: the answer is not JSON"
        ) from None
