"""Emit and follow OmniForge events from Python: a notebook, a script, a CLI.

    from jupyter_omniforge.client import OmniForge

    forge = OmniForge()                          # finds the server (see discovery.py)
    forge.emit("build:42", "build.progress", {"percent": 40, "message": "compiling"})
    forge.history("build:42")                    # -> [envelope, ...], oldest first

    async for event in forge.subscribe(["build:*"]):
        ...

Every event is an *envelope*: ``{"id", "channel", "type", "time", "source": {"username"}, "data"}``.
Ids are opaque cursors: compare them for equality only.

The synchronous methods use a blocking HTTP client (not ``asyncio.run``), so they work in a Jupyter
kernel, whose event loop is already running; the ``a``-prefixed twins are for async code. None of
the transports use HTTP proxies: an OmniForge server is reached directly, like Jupyter's own clients.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import random
import urllib.error
import urllib.request
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.httputil import HTTPHeaders
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, websocket_connect

from .discovery import find_server
from .runs import AsyncRun, Run

EVENTS_PATH = "omniforge/api/events"
GATEWAY_PATH = "omniforge/realtime"


class ClientError(Exception):
    """Base of the errors of this client; ``str(error)`` is a message fit for a user."""


class ServerUnreachable(ClientError):
    """The server could not be reached (refused, unresolvable, timed out, dropped)."""


class RequestFailed(ClientError):
    """The server answered with an HTTP error. ``status`` is the HTTP status, ``message`` the
    server's explanation (its ``message`` field when the body is JSON)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class InvalidRequest(RequestFailed):
    """HTTP 400: the server found the request invalid; ``message`` says why."""


class EventRejected(InvalidRequest):
    """The server refused the event (HTTP 400): invalid channel, type or data. Nothing was stored
    or sent. ``message`` is the server's validation message."""


class SubscriptionRefused(ClientError):
    """The gateway refused the subscription: an ``error`` frame, or a refused upgrade.
    ``code`` is the gateway's error code (or the HTTP status of a refused upgrade)."""

    def __init__(self, code: str | int | None, message: str) -> None:
        super().__init__(f"{message} ({code})" if code is not None else message)
        self.code = code
        self.message = message


def _channels(channels: str | Iterable[str]) -> list[str]:
    """``"a,b"``, ``"a"`` or ``["a", "b"]`` -> ``["a", "b"]``."""
    if isinstance(channels, str):
        channels = channels.split(",")
    return [c.strip() for c in channels if c.strip()]


def _server_message(body: bytes, fallback: str) -> str:
    try:
        payload = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return text[:500] or fallback
    if isinstance(payload, dict) and payload.get("message"):
        return str(payload["message"])
    return fallback


def _http_error(
    status: int, body: bytes, method: str, url: str, invalid: type[InvalidRequest]
) -> RequestFailed:
    if status == 400:
        return invalid(status, _server_message(body, "the server refused the request"))
    if status in (401, 403):
        reason = "not authorized: check the token"
    elif status == 404:
        reason = "not found: is the jupyter_omniforge extension enabled on this server?"
    else:
        reason = "request failed"
    message = _server_message(body, reason)
    return RequestFailed(status, f"{method} {url}: HTTP {status}: {message}")


def _decode(body: bytes) -> Any:
    return json.loads(body) if body else None


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


class OmniForge:
    """A client of one OmniForge server.

    ``url`` is the Jupyter server's URL including its base URL (``http://127.0.0.1:8888/``). Without
    arguments the server is found as :func:`~jupyter_omniforge.client.discovery.find_server`
    describes (explicit arguments, then ``OMNIFORGE_URL``/``OMNIFORGE_TOKEN``, then the running
    server this process descends from, then the only running server); a
    :class:`~jupyter_omniforge.client.discovery.DiscoveryError` is raised when there is none.
    ``timeout`` bounds each HTTP request and each WebSocket connection attempt, in seconds.
    """

    def __init__(
        self, url: str | None = None, token: str | None = None, *, timeout: float = 30.0
    ) -> None:
        server = find_server(url, token)
        self.url = server.url
        self.token = server.token
        self.timeout = timeout
        # Jupyter gives each token-authenticated request without a login cookie a new anonymous
        # identity; keeping the cookie it sets makes this client one user (``source.username``)
        # across all its events, sync and async.
        self._cookies = http.cookiejar.CookieJar()
        # No proxies, as for the Tornado clients below: one route to the server for every call.
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(self._cookies)
        )

    def __repr__(self) -> str:
        return f"OmniForge({self.url!r})"

    # -- HTTP ------------------------------------------------------------------------------------

    def _headers(self, body: bool = False, cookies_for: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if cookies_for is not None:  # urllib's opener adds them itself
            probe = urllib.request.Request(cookies_for)
            self._cookies.add_cookie_header(probe)
            if probe.has_header("Cookie"):
                headers["Cookie"] = str(probe.get_header("Cookie"))
        if body:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        return headers

    def _url(self, path: str, query: dict[str, Any] | None = None) -> str:
        params = {k: v for k, v in (query or {}).items() if v is not None}
        return self.url + path + (f"?{urlencode(params)}" if params else "")

    def _request(
        self,
        method: str,
        url: str,
        payload: Any = None,
        invalid: type[InvalidRequest] = InvalidRequest,
    ) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            url, data=body, method=method, headers=self._headers(body is not None)
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return _decode(response.read())
        except urllib.error.HTTPError as e:
            raise _http_error(e.code, e.read(), method, url, invalid) from None
        except urllib.error.URLError as e:
            raise ServerUnreachable(f"cannot reach {self.url}: {e.reason}") from None
        except OSError as e:  # timeouts and resets while reading
            raise ServerUnreachable(f"cannot reach {self.url}: {e}") from None

    async def _arequest(
        self,
        method: str,
        url: str,
        payload: Any = None,
        invalid: type[InvalidRequest] = InvalidRequest,
    ) -> Any:
        request = HTTPRequest(
            url,
            method=method,
            headers=self._headers(payload is not None, cookies_for=url),
            body=None if payload is None else json.dumps(payload),
            connect_timeout=self.timeout,
            request_timeout=self.timeout,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except OSError as e:
            raise ServerUnreachable(f"cannot reach {self.url}: {e}") from None
        if response.code == 599:  # Tornado's code for "no HTTP response at all"
            raise ServerUnreachable(f"cannot reach {self.url}: {response.error}")
        self._cookies.extract_cookies(_SetCookies(response.headers), urllib.request.Request(url))
        if response.code >= 400:
            raise _http_error(response.code, response.body or b"", method, url, invalid)
        return _decode(response.body)

    # -- emit ------------------------------------------------------------------------------------

    def emit(self, channel: str, type: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Emit one event; returns its envelope as stored by the server (with its ``id``).

        Raises :class:`EventRejected` (with the server's validation message) when the channel,
        type or data is invalid, :class:`ServerUnreachable` or :class:`RequestFailed` otherwise.
        """
        payload = {"channel": channel, "type": type, "data": {} if data is None else data}
        return self._request("POST", self._url(EVENTS_PATH), payload, EventRejected)

    async def aemit(
        self, channel: str, type: str, data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """:meth:`emit` for async code."""
        payload = {"channel": channel, "type": type, "data": {} if data is None else data}
        return await self._arequest("POST", self._url(EVENTS_PATH), payload, EventRejected)

    # -- history ---------------------------------------------------------------------------------

    def _history_url(self, channel: str | Iterable[str], after: str | None, limit: int) -> str:
        query = {"channel": ",".join(_channels(channel)), "after": after, "limit": limit}
        return self._url(EVENTS_PATH, query)

    def history(
        self, channel: str | Iterable[str], after: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` kept events of ``channel`` (a name, a pattern such as ``build:*``, or
        several) after the cursor ``after`` (from the oldest kept when None), oldest first.
        Page on by passing the last id as ``after``. An invalid channel or pattern raises
        :class:`InvalidRequest`."""
        page = self._request("GET", self._history_url(channel, after, limit))
        return list(page.get("events", []))

    async def ahistory(
        self, channel: str | Iterable[str], after: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """:meth:`history` for async code."""
        page = await self._arequest("GET", self._history_url(channel, after, limit))
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
            headers=self._headers(cookies_for=self.url),
            connect_timeout=self.timeout,
            request_timeout=self.timeout,
        )
        try:
            # Pings find a half-open connection (a laptop that slept, a dropped NAT entry).
            return await websocket_connect(request, ping_interval=20, ping_timeout=20)
        except HTTPClientError as e:
            if e.code == 599 or e.code >= 500:
                raise ServerUnreachable(f"cannot reach {self.url}: {e}") from None
            body = e.response.body if e.response is not None and e.response.body else b""
            raise SubscriptionRefused(e.code, _server_message(body, str(e))) from None
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
        """
        names = _channels(channels)
        cursor = last_event_id
        seen = _SeenIds()
        failures = 0
        first = True
        while True:
            try:
                conn = await self._open_gateway()
            except ServerUnreachable:
                if first:
                    raise
                failures += 1
                if max_retries is not None and failures > max_retries:
                    raise
                await asyncio.sleep(_delay(failures, backoff, max_backoff))
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
                        failures = 0
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
            failures += 1
            if max_retries is not None and failures > max_retries:
                raise ServerUnreachable(f"lost the connection to {self.url}")
            await asyncio.sleep(_delay(failures, backoff, max_backoff))

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


class _SetCookies:
    """Tornado response headers as the ``http.cookiejar`` response interface."""

    def __init__(self, headers: HTTPHeaders) -> None:
        self._headers = headers

    def info(self) -> _SetCookies:
        return self

    def get_all(self, name: str, default: Any = None) -> Any:
        return self._headers.get_list(name) or default


def _delay(failures: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter, so that many clients do not reconnect in lockstep."""
    return min(cap, base * 2 ** (failures - 1)) * random.uniform(0.5, 1.0)
