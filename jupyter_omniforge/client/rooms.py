"""Connect a pycrdt ``Doc`` to an OmniForge room from Python (a script, a notebook, a test).

    async with connect_room("http://127.0.0.1:8888/", "idea:42", doc, token=token) as room:
        doc.get("code", type=Text).insert(0, "hello")
    # here the server holds "hello" (or leaving the block raised EditsNotConfirmed)

The transport is a :class:`pycrdt.Channel` over a Tornado WebSocket client, driven by the stock
:class:`pycrdt.Provider`; awareness frames can be sent with :meth:`RoomConnection.send`.

**No lost edits.** The provider sends updates from a task, and y-websocket has no
acknowledgements, so a block that edits and leaves at once would close the socket before its
edit is out. The connection asks the server instead: it sends a sync step 1 whose state vector
is one clock short of the document's for every client, so the server's step 2 answer holds the
last unit of each client's edits that it has, and its whole delete set. The server holds
everything the document holds exactly when merging the document's own update from that state
vector into the answer adds nothing. Leaving the block asks until the answer says so (bounded by
the timeout). While the block runs, it asks after each burst of local edits is sent, so a
connection the server closes (a deleted room, a restart) is known to have lost an edit or not.
What the document received from the server needs no asking.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit, urlunsplit

from pycrdt import (
    Decoder,
    Doc,
    Encoder,
    Provider,
    Subscription,
    TransactionEvent,
    merge_updates,
    read_message,
)
from tornado.httpclient import HTTPRequest
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, websocket_connect

from ..rooms import protocol as p
from ..updates import is_decode_failure
from .errors import EditsNotConfirmed

_STEP1 = bytes([p.MESSAGE_SYNC, p.SYNC_STEP1])
_STEP2 = bytes([p.MESSAGE_SYNC, p.SYNC_STEP2])
_SYNC = bytes([p.MESSAGE_SYNC])
_AUTH = bytes([p.MESSAGE_AUTH])
#: While the block runs, the server is asked at once about a lone edit, and about a burst once
#: sending has paused this long (seconds): not in its middle, where questions would change how
#: the server batches the burst.
PROBE_QUIET = 0.02
#: Between two questions when leaving the block, while edits are still on their way.
PROBE_INTERVAL = 0.01


def room_url(server_url: str, room: str, token: str | None = None) -> str:
    """``ws(s)://…/omniforge/rooms/{room}?token=…`` for a server URL like ``http://host:port/base/``."""
    parts = urlsplit(server_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/") + "/omniforge/rooms/" + room
    query = urlencode({"token": token}) if token else ""
    return urlunsplit((scheme, parts.netloc, path, query, ""))


class _Probe(NamedTuple):
    """A sync step 1 we sent to check what the server holds, waiting for its step 2."""

    local: int  # how many local changes the document had when it was sent
    ours: bytes  # the document's update from the probe's state vector
    answer: asyncio.Future[bool]


class RoomConnection:
    """One WebSocket to one room; usable as a :class:`pycrdt.Channel`.

    With a ``doc``, it tracks whether the server holds everything ``doc`` holds (see the module
    docstring): :meth:`confirm` waits for that.
    """

    def __init__(self, conn: WebSocketClientConnection, path: str, doc: Doc | None = None) -> None:
        self._conn = conn
        self._path = path
        self.doc = doc
        self.received: list[bytes] = []  # frames the provider did not consume (awareness, auth)
        self.synced = asyncio.Event()
        #: The server's reason, once it refused this connection's edits (a read-only user).
        self.denied: str | None = None
        self.closed = False
        # The step 2 answers we wait for, in the order the server sends them: one per step 1
        # sent (None for the provider's own).
        self._answers: deque[_Probe | None] = deque()
        self._probe_lock = asyncio.Lock()
        self._prober: asyncio.Task[None] | None = None
        self._last_sent = 0.0
        self._last_probe = float("-inf")
        # Transactions of the document that did not come from the server, and how many of them
        # the server is known to hold. What the document held before connecting counts as one.
        self._local = 0
        self._local_held = 0
        self._sent = 0  # sync frames with content sent so far
        self._from_server = False
        self._subscription: Subscription | None = None
        if doc is not None:
            self._local = 0 if doc.get_state() == b"\x00" else 1
            self._subscription = doc.observe(self._changed)

    @property
    def path(self) -> str:
        return self._path

    @property
    def close_code(self) -> int | None:
        return self._conn.close_code

    @property
    def close_reason(self) -> str | None:
        return self._conn.close_reason

    def __aiter__(self) -> RoomConnection:
        return self

    async def __anext__(self) -> bytes:
        return await self.recv()

    async def send(self, message: bytes) -> None:
        if message[:2] == _STEP1:
            self._answers.append(None)
        await self._conn.write_message(message, binary=True)
        if message[:1] == _SYNC and message[:2] != _STEP1:
            self._sent += 1
            self._last_sent = asyncio.get_running_loop().time()
            if not self.confirmed:
                self._check_later()

    async def recv(self) -> bytes:
        # The provider applies the update this returns before it calls again, with no await in
        # between: the document's transactions until then came from the server.
        self._from_server = False
        while True:
            message = await self._conn.read_message()
            if message is None:
                self._lost()
                raise StopAsyncIteration
            if isinstance(message, str):
                continue
            if message[:2] == _STEP2:
                self._answered(message)
            if message[:1] == _SYNC:
                self._from_server = message[:2] != _STEP1
                return message
            if message[:1] == _AUTH:
                self._auth(message)
            self.other_message(message)

    def other_message(self, message: bytes) -> None:
        """A frame that is not sync or update (awareness, auth): kept in ``received``."""
        self.received.append(message)

    def close(self) -> None:
        self._conn.close()
        if self._prober is not None:
            self._prober.cancel()
        if self._subscription is not None and self.doc is not None:
            self.doc.unobserve(self._subscription)
            self._subscription = None
        self._lost()

    # -- confirmation ----------------------------------------------------------------------------

    @property
    def confirmed(self) -> bool:
        """Whether the server is known to hold every local edit of the document so far."""
        return self._local == self._local_held

    def _changed(self, event: TransactionEvent) -> None:
        if not self._from_server:
            self._local += 1

    async def confirm(self, timeout: float) -> None:
        """Return once the server holds everything the document holds now; raise
        :class:`EditsNotConfirmed` when the connection closed first, the server refused the
        edits, or ``timeout`` seconds passed. The provider must keep reading meanwhile (it hands
        the server's answers to this connection).

        What the document receives from the server meanwhile needs no confirming: the first
        answer that shows the server holding the document as it was when this was called (or
        later) is enough.
        """
        if self.doc is None:
            raise RuntimeError("a RoomConnection without a doc has nothing to confirm")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.confirmed:
            if self.closed:
                raise EditsNotConfirmed(
                    f"the connection to {self._path} closed (code {self.close_code}"
                    + (f": {self.close_reason}" if self.close_reason else "")
                    + ") before the server confirmed every edit"
                    + (f"; it refused them: {self.denied}" if self.denied else "")
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise EditsNotConfirmed(
                    f"the server did not confirm every edit of {self._path} within {timeout:g} s"
                    + (f"; it refused them: {self.denied}" if self.denied else "")
                )
            try:
                if await asyncio.wait_for(self._probe(), remaining):
                    return
            except TimeoutError:
                continue
            if self.denied:
                raise EditsNotConfirmed(f"the server refused edits to {self._path}: {self.denied}")
            # Edits still queued in the provider: they go out, then we ask again.
            await asyncio.sleep(min(PROBE_INTERVAL, max(0.0, deadline - loop.time())))

    def _check_later(self) -> None:
        """After sending edits: check, in the background, that the server holds them."""
        if self.doc is not None and self._prober is None and not self.closed:
            self._prober = asyncio.ensure_future(self._check_in_background())

    async def _check_in_background(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while not self.closed and not self.confirmed:
                await asyncio.sleep(0)  # what is sent in this turn of the loop goes first
                if loop.time() - self._last_probe < PROBE_QUIET:
                    # In a burst: wait for a pause, a deadline each sent frame pushes back.
                    while (pause := self._last_sent + PROBE_QUIET - loop.time()) > 0:  # noqa: ASYNC110
                        await asyncio.sleep(pause)
                sent = self._sent
                if not await self._probe() and self._sent == sent:
                    # Not held, and nothing sent since we asked: something is still on its
                    # way (its frame starts the next check), or the server refused it.
                    break
        except (WebSocketClosedError, StreamClosedError):
            pass
        finally:
            self._prober = None

    async def _probe(self) -> bool:
        """Ask the server once; True when it holds the document as it was when asked."""
        assert self.doc is not None
        async with self._probe_lock:
            if self.closed:
                return False
            state = _one_short(self.doc.get_state())
            self._last_probe = asyncio.get_running_loop().time()
            probe = _Probe(
                self._local,
                self.doc.get_update(state),
                asyncio.get_running_loop().create_future(),
            )
            self._answers.append(probe)
            try:
                await self._conn.write_message(p.encode_sync_step1(state), binary=True)
            except (WebSocketClosedError, StreamClosedError):
                self._lost()
            held = await probe.answer
            if held:
                self._local_held = max(self._local_held, probe.local)
            return held

    def _answered(self, message: bytes) -> None:
        probe = self._answers.popleft() if self._answers else None
        if probe is None or probe.answer.done():
            return
        try:
            answer = read_message(message[2:])
            held = merge_updates(answer, probe.ours) == merge_updates(answer)
        except Exception:  # an answer we cannot read confirms nothing
            held = False
        probe.answer.set_result(held)

    def _auth(self, message: bytes) -> None:
        try:
            parsed = p.parse_message(message)
        except Exception:  # a malformed auth frame tells us nothing
            return
        if parsed.subtype == p.AUTH_PERMISSION_DENIED:
            self.denied = parsed.payload.decode("utf-8", "replace") or "permission denied"

    def _lost(self) -> None:
        """The connection is gone: no answer will come."""
        self.closed = True
        while self._answers:
            probe = self._answers.popleft()
            if probe is not None and not probe.answer.done():
                probe.answer.set_result(False)


def _one_short(state: bytes) -> bytes:
    """The state vector ``state`` with each client's clock one less: the server's answer to it
    holds the last unit of every client's edits that the server has (a few bytes each)."""
    decoder = Decoder(state)
    clocks = [
        (decoder.read_var_uint(), decoder.read_var_uint()) for _ in range(decoder.read_var_uint())
    ]
    encoder = Encoder()
    encoder.write_var_uint(len(clocks))
    for client, clock in clocks:
        encoder.write_var_uint(client)
        encoder.write_var_uint(max(0, clock - 1))
    return encoder.to_bytes()


async def open_connection(
    url: str, *, headers: dict[str, str] | None = None, timeout: float = 10
) -> WebSocketClientConnection:
    request = HTTPRequest(
        url, headers=headers or {}, connect_timeout=timeout, request_timeout=timeout
    )
    conn = await websocket_connect(request, max_message_size=1 << 30)
    # Tornado's HTTP client turns Nagle's algorithm back on once the upgrade is answered: small
    # frames (an edit, a check of what the server holds) would then wait for the server's
    # delayed ACK, up to 40 ms, and arrive bunched. The server side sets TCP_NODELAY too.
    conn.protocol.set_nodelay(True)
    return conn


class DocSync:
    """A :class:`pycrdt.Provider` run in a task of its own over a :class:`RoomConnection`."""

    def __init__(self, doc: Doc, channel: RoomConnection) -> None:
        self.channel = channel
        self.provider = Provider(doc, channel)
        self._task: asyncio.Task[Any] = asyncio.ensure_future(self.provider.start())

    async def synced(self, timeout: float) -> None:
        await asyncio.wait_for(self.provider.synced.wait(), timeout)
        self.channel.synced.set()

    async def stop(self) -> None:
        self.channel.close()
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        except BaseException as e:  # the provider's own end (a pycrdt panic is no Exception)
            if not is_decode_failure(e):
                raise


@asynccontextmanager
async def connect_room(
    server_url: str, room: str, doc: Doc, *, token: str | None = None, timeout: float = 10
) -> AsyncIterator[RoomConnection]:
    """Keep ``doc`` in sync with ``room`` while the block runs; ``.synced`` is set after sync.

    Leaving the block normally returns once the server holds every edit of ``doc`` (see the
    module docstring), or raises :class:`EditsNotConfirmed` when that cannot be confirmed within
    ``timeout`` seconds; the document keeps its edits either way. Leaving with an exception
    closes the connection at once.
    """
    url = room_url(server_url, room, token)
    conn = await open_connection(url, timeout=timeout)
    channel = RoomConnection(conn, room, doc)
    sync = DocSync(doc, channel)
    try:
        await sync.synced(timeout)
        yield channel
        await channel.confirm(timeout)
    finally:
        await sync.stop()
