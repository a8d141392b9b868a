"""Python clients of an app served through :mod:`jupyter_omniforge.apps`: the base classes of
the typed clients ``jupyter omniforge generate`` writes.

    class InventoryClient(AppClient):
        namespace = "inventory"

    class OrderRoom(AppRoom):
        kind = "order"
        roots = {"notes": "text"}

    client = InventoryClient("http://127.0.0.1:8888/", token)
    async with OrderRoom(client, "42") as order:     # the Doc synced, events and presence live
        order.doc.get("notes", type=Text).insert(0, "hello")
        order.on("order.shipped", print)
        await order.emit("order.placed", {"total": 12})
        await order.set_presence(status="packing")

A room is three things: its document over ``{namespace}/rooms/{kind}:{id}`` (y-websocket, with
the declared roots bound), its events (emitted through ``{namespace}/events``, where the app's
hooks run; followed over the realtime gateway, resuming and dropping repeats after a drop), and
its awareness (presence: the declared fields, beside the ``user`` the server stamps; kept by
:class:`pycrdt.Awareness`, which also renews it).

Leaving the ``async with`` block normally returns once the server holds every edit of the
document, or raises :class:`~jupyter_omniforge.client.EditsNotConfirmed` (see
:mod:`jupyter_omniforge.client.rooms`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from pycrdt import Awareness, Doc

from ..rooms import protocol as p
from ..rooms.roots import ROOT_TYPES
from .errors import EditsNotConfirmed, EventRejected, RequestFailed
from .events import OmniForge
from .rooms import DocSync, RoomConnection, open_connection

log = logging.getLogger(__name__)


class AppClient:
    """A client of one app (``namespace``) on one server. ``url`` and ``token`` are found as
    :class:`~jupyter_omniforge.client.OmniForge` finds them when not given."""

    namespace: ClassVar[str] = ""

    def __init__(
        self, url: str | None = None, token: str | None = None, *, timeout: float = 30.0
    ) -> None:
        self.forge = OmniForge(url, token, timeout=timeout)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.forge.url!r})"

    @property
    def url(self) -> str:
        return self.forge.url

    def channel(self, room: str) -> str:
        """``order:42`` -> ``inventory/order:42``, the channel as stored and streamed."""
        return f"{self.namespace}/{room}"

    def room_url(self, room: str) -> str:
        """``ws(s)://…/{namespace}/rooms/{room}?token=…``."""
        parts = urlsplit(self.forge.url)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        path = f"{parts.path.rstrip('/')}/{self.namespace}/rooms/{quote(room, safe=':')}"
        query = urlencode({"token": self.forge.token}) if self.forge.token else ""
        return urlunsplit((scheme, parts.netloc, path, query, ""))

    async def emit(self, room: str, type: str, data: Any = None) -> dict[str, Any]:
        """Emit an event on ``room`` (``order:42``); returns its envelope as stored.

        Raises :class:`~jupyter_omniforge.client.EventRejected` with the server's message when
        the event is invalid or the app's hook refused it; nothing is then stored or sent.
        """
        payload = {"channel": room, "type": type, "data": {} if data is None else data}
        path = f"{self.namespace}/events"
        return await self.forge.arequest("POST", path, json=payload, invalid=EventRejected)

    async def history(
        self, rooms: str | list[str] = "*", after: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Kept events of ``rooms`` (names or patterns relative to the namespace), oldest first."""
        channel = rooms if isinstance(rooms, str) else ",".join(rooms)
        query = {"channel": channel, "after": after, "limit": limit}
        page = await self.forge.arequest("GET", f"{self.namespace}/events", params=query)
        return list(page.get("events", []))


Handler = Callable[[Any], Any]


class AwarenessChannel(RoomConnection):
    """A room connection that hands the awareness frames it receives to ``on_awareness``."""

    def __init__(
        self, conn: Any, path: str, doc: Doc, on_awareness: Callable[[bytes], None]
    ) -> None:
        super().__init__(conn, path, doc)
        self._on_awareness = on_awareness

    def other_message(self, message: bytes) -> None:
        if message[:1] != bytes([p.MESSAGE_AWARENESS]):
            return
        try:
            self._on_awareness(p.parse_message(message).payload)
        except Exception:
            log.exception("dropped an awareness frame of %s", self.path)


class AppRoom:
    """One room of an app: ``async with`` connects its document, events and presence.

    Outside the ``async with`` block :meth:`emit` and :meth:`history` still work (plain HTTP).
    """

    kind: ClassVar[str] = ""
    #: Root name -> Yjs type (text, array, map, xml): bound on the document before it syncs.
    roots: ClassVar[dict[str, str]] = {}

    def __init__(self, client: AppClient, id: str, *, timeout: float = 10.0) -> None:
        self.client = client
        self.id = id
        self.name = f"{self.kind}:{id}"
        self.timeout = timeout
        self.doc = Doc()
        for root, yjs_type in self.roots.items():
            self.doc.get(root, type=ROOT_TYPES[yjs_type])
        #: This connection's presence and everyone else's (clocks, renewal, expiry).
        self.awareness = Awareness(self.doc)
        self.awareness.observe(self._awareness_changed)
        self._handlers: dict[str, list[Handler]] = {}
        self._presence_handlers: list[Handler] = []
        self._connection: AwarenessChannel | None = None
        self._sync: DocSync | None = None
        self._sending: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.client.channel(self.name)}>"

    @property
    def channel(self) -> str:
        """The channel of this room's events: ``inventory/order:42``."""
        return self.client.channel(self.name)

    # -- connecting ------------------------------------------------------------------------------

    async def __aenter__(self) -> AppRoom:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: Any, *exc: Any) -> None:
        await self.close(confirm=exc_type is None)

    async def connect(self) -> None:
        """Follow the room's events, then sync its document and announce this connection's
        presence (returns once synced).

        The events resume by themselves after a drop; the document's connection does not (as
        with :func:`~jupyter_omniforge.client.connect_room`): connect again.
        """
        try:
            await self._follow_events()
            conn = await open_connection(self.client.room_url(self.name), timeout=self.timeout)
            self._connection = AwarenessChannel(conn, self.name, self.doc, self._awareness_frame)
            self._sync = DocSync(self.doc, self._connection)
            await self._sync.synced(self.timeout)
            self._tasks.append(asyncio.ensure_future(self.awareness.start()))
            # Announce this connection (y-websocket clients do on connect), with the fields set so far.
            self.awareness.set_local_state(self.awareness.get_local_state() or {})
            await self._announce()
        except BaseException:
            await self.close(confirm=False)
            raise

    async def close(self, *, confirm: bool = True) -> None:
        """Disconnect. With ``confirm`` (as when an ``async with`` block ends normally), first
        wait until the server holds every edit of the document, at most ``timeout`` seconds;
        raises :class:`~jupyter_omniforge.client.EditsNotConfirmed` when it cannot be confirmed
        (disconnecting all the same)."""
        try:
            if confirm and self._connection is not None:
                await self._connection.confirm(self.timeout)
        finally:
            await self._disconnect()

    async def _disconnect(self) -> None:
        with contextlib.suppress(RuntimeError):  # not started
            await self.awareness.stop()
        connection, self._connection = self._connection, None
        sync, self._sync = self._sync, None
        if sync is not None:
            await sync.stop()
        elif connection is not None:
            connection.close()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- events ----------------------------------------------------------------------------------

    async def emit(self, type: str, data: Any = None) -> dict[str, Any]:
        """Emit an event on this room; see :meth:`AppClient.emit`."""
        return await self.client.emit(self.name, type, data)

    async def history(self, after: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Kept events of this room (with the server's ``user.joined``/``left``), oldest first."""
        return await self.client.history(self.name, after, limit)

    def on(self, type: str, handler: Handler) -> Callable[[], None]:
        """Call ``handler(envelope)`` (a function or a coroutine function) for each event of
        ``type`` on this room while connected; returns a function that removes it."""
        handlers = self._handlers.setdefault(type, [])
        handlers.append(handler)

        def off() -> None:
            if handler in handlers:
                handlers.remove(handler)

        return off

    def once(self, type: str) -> asyncio.Future[dict[str, Any]]:
        """A future of the next event of ``type`` (register it before emitting)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

        def resolve(event: dict[str, Any]) -> None:
            off()
            if not future.done():
                future.set_result(event)

        off = self.on(type, resolve)
        return future

    async def _follow_events(self) -> None:
        # Start after the newest event this room has: a subscription that starts after the
        # connection returns would miss what is emitted in between. Ids are cursors across all
        # channels; "0" (the start) when the room has none yet.
        newest = await self.client.history(self.name, limit=1)
        cursor = newest[-1]["id"] if newest else "0"
        stream = self.client.forge.subscribe([self.channel], cursor)
        self._tasks.append(asyncio.ensure_future(self._dispatch(stream)))

    async def _dispatch(self, stream: Any) -> None:
        try:
            await self._deliver(stream)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("lost the events of %s", self)

    async def _deliver(self, stream: Any) -> None:
        async for event in stream:
            if "id" not in event:  # a reset: what was missed is no longer kept
                continue
            for handler in list(self._handlers.get(event.get("type"), [])):
                try:
                    result = handler(event)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("a handler of %s events on %s failed", event["type"], self)

    # -- presence --------------------------------------------------------------------------------

    @property
    def presence(self) -> dict[int, dict[str, Any]]:
        """The awareness states of the others in this room: client id -> state (the declared
        fields, and ``user`` as the server stamped it)."""
        own = self.awareness.client_id
        return {cid: s for cid, s in self.awareness.states.items() if cid != own}

    async def set_presence(self, **fields: Any) -> None:
        """Set this connection's presence fields (None removes one) and announce them."""
        if self._connection is None:
            raise RuntimeError(f"{self} is not connected: use `async with`")
        state = dict(self.awareness.get_local_state() or {})
        for key, value in fields.items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
        self.awareness.set_local_state(state)
        await self._announce()

    def on_presence(self, handler: Handler) -> Callable[[], None]:
        """Call ``handler(presence)`` whenever someone's presence changes."""
        self._presence_handlers.append(handler)

        def off() -> None:
            if handler in self._presence_handlers:
                self._presence_handlers.remove(handler)

        return off

    async def _announce(self) -> None:
        """Wait until this connection's latest local state is sent."""
        if self._sending is not None:
            await self._sending

    def _awareness_changed(self, topic: str, change: tuple[dict[str, Any], Any]) -> None:
        _, origin = change
        if topic == "update" and origin == "local":
            # Ours changed (set_presence) or is due for renewal (Awareness.start): send it.
            if self._connection is not None and not self._connection.closed:
                update = self.awareness.encode_awareness_update([self.awareness.client_id])
                message = p.encode_awareness(update)
                self._sending = asyncio.ensure_future(self._connection.send(message))
                self._sending.add_done_callback(_log_failure)
        elif topic == "change" and origin != "local":
            for handler in list(self._presence_handlers):
                try:
                    handler(self.presence)
                except Exception:
                    log.exception("a presence handler of %s failed", self)

    def _awareness_frame(self, update: bytes) -> None:
        self.awareness.apply_awareness_update(update, "remote")


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.debug("could not send a presence update: %s", future.exception())


__all__ = ["AppClient", "AppRoom", "EditsNotConfirmed", "EventRejected", "RequestFailed"]
