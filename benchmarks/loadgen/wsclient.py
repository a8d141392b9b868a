"""A minimal asyncio WebSocket client (RFC 6455), just enough for load generation.

It implements the client opening handshake, masked client frames, unmasked server frames
(including fragmented messages, ping/pong and close) and nothing else: no extensions, no
subprotocols, no TLS. Every received message is handed to a callback together with its arrival time, so a caller can
time deliveries without going through a queue or a task switch.

Arrival time is ``time.perf_counter()`` when the bytes were read, or — with
``kernel_timestamps=True`` — when the kernel received them (``SO_TIMESTAMPNS``), converted to the
``perf_counter`` clock. Kernel timestamps do not depend on how long this process took to get
round to reading a socket: when one process reads 500 sockets after a fan-out burst, the last one
read is not charged for the 499 reads before it.

Why not a library client: a light subscriber does almost nothing per frame, so the client's own
per-frame cost dominates the load generator's CPU time. ``benchmarks/README.md`` has the
measurement against tornado's ``websocket_connect``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import socket
import struct
import time
from collections.abc import Callable
from urllib.parse import urlsplit

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

#: Largest accepted server message; a 10 MB document's sync step 2 must fit.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
#: Largest accepted opening-handshake response.
MAX_HANDSHAKE_BYTES = 64 * 1024

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux value; Python has no constant
_ANCILLARY_SIZE = socket.CMSG_SPACE(16)
_READ_SIZE = 64 * 1024
# Reads per readiness callback: enough to empty a socket, bounded so one socket cannot starve others.
_READS_PER_WAKEUP = 8

MessageCallback = Callable[[bytes, float], None]


class WebSocketError(ConnectionError):
    """The handshake was refused or the server broke the protocol."""


def _mask(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``key`` repeated (RFC 6455 §5.3), via one big-int XOR."""
    n = len(payload)
    if n == 0:
        return b""
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def encode_client_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = os.urandom(4)
    return header + key + _mask(payload, key)


class WebSocketClientProtocol(asyncio.Protocol):
    """One client connection; create it with :func:`connect`.

    ``on_message(data, t)`` is called synchronously for every complete text or binary message,
    in arrival order; ``t`` is ``time.perf_counter()`` taken when the last chunk of it was read.
    """

    def __init__(self, host_header: str, resource: str, on_message: MessageCallback) -> None:
        self._host_header = host_header
        self._resource = resource
        self._on_message = on_message
        self._key = base64.b64encode(os.urandom(16))
        self._buf = bytearray()
        self._handshaking = True
        self._fragments: list[bytes] = []
        self._transport: asyncio.Transport | None = None
        self._paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        #: perf_counter when the latest bytes were read by this process (whatever ``now`` was).
        self.read_at = 0.0
        loop = asyncio.get_running_loop()
        #: Resolves when the server accepted the upgrade (or fails with WebSocketError).
        self.opened: asyncio.Future[None] = loop.create_future()
        #: Resolves with a reason string when the connection is gone, for whatever cause.
        self.closed: asyncio.Future[str] = loop.create_future()

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only duck-typed alike.
        self._transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = (
            f"GET {self._resource} HTTP/1.1\r\n"
            f"Host: {self._host_header}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {self._key.decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "\r\n"
        )
        transport.write(request.encode("latin-1"))

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.read_at = now
        self.receive(data, now)

    def receive(self, data: bytes, now: float) -> None:
        """Feed bytes that arrived at ``now`` (perf_counter clock)."""
        buf = self._buf
        buf += data
        if self._handshaking:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HANDSHAKE_BYTES:
                    self._fail("handshake response too large")
                return
            head = bytes(buf[:end]).decode("latin-1")
            del buf[: end + 4]
            self._check_handshake(head)
            if self.opened.done():
                return  # failed
            self._handshaking = False
            self.opened.set_result(None)
        self._parse_frames(now)

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f"connection lost: {exc}" if exc else "connection closed"
        if not self.opened.done():
            self.opened.set_exception(WebSocketError(reason))
        if not self.closed.done():
            self.closed.set_result(reason)
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # -- public API ---------------------------------------------------------------------------

    def send_binary(self, payload: bytes) -> None:
        """Queue one binary message; never blocks. Dropped silently once the connection is gone."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(encode_client_frame(OP_BINARY, payload))

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark."""
        if self._paused and not self.closed.done():
            self._drain_waiter = asyncio.get_running_loop().create_future()
            await self._drain_waiter

    async def close(self, timeout: float = 2.0) -> None:
        """Send a close frame and wait (bounded) for the server to close the TCP connection."""
        if self._transport is None or self.closed.done():
            return
        if not self._transport.is_closing():
            self._transport.write(encode_client_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except TimeoutError:
            pass
        self.abort()

    def abort(self) -> None:
        """Drop the TCP connection at once."""
        if self._transport is not None:
            self._transport.abort()

    # -- internals ----------------------------------------------------------------------------

    def _check_handshake(self, head: str) -> None:
        lines = head.split("\r\n")
        status = lines[0].split(" ", 2)
        if len(status) < 2 or status[1] != "101":
            self._fail(f"upgrade refused: {lines[0]!r}")
            return
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1(self._key + _WS_GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            self._fail("bad Sec-WebSocket-Accept")

    def _fail(self, reason: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(WebSocketError(reason))
        if not self.closed.done():
            self.closed.set_result(reason)
        if self._transport is not None:
            self._transport.abort()

    def _parse_frames(self, now: float) -> None:
        buf = self._buf
        size = len(buf)
        pos = 0
        while size - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            header = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                header = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                header = 10
            if b1 & 0x80:
                self._fail("server sent a masked frame")
                return
            if length > MAX_MESSAGE_BYTES:
                self._fail(f"frame of {length} bytes is too large")
                return
            end = pos + header + length
            if end > size:
                break
            payload = bytes(buf[pos + header : end])
            pos = end
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            if opcode == OP_BINARY or opcode == OP_TEXT:
                if fin:
                    self._on_message(payload, now)
                else:
                    self._fragments = [payload]
            elif opcode == OP_CONTINUATION:
                self._fragments.append(payload)
                if fin:
                    message = b"".join(self._fragments)
                    self._fragments = []
                    self._on_message(message, now)
            elif opcode == OP_PING:
                if self._transport is not None and not self._transport.is_closing():
                    self._transport.write(encode_client_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                if self._transport is not None and not self._transport.is_closing():
                    self._transport.write(encode_client_frame(OP_CLOSE, payload[:2]))
                    self._transport.close()
                if not self.closed.done():
                    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                    self.closed.set_result(
                        f"closed by server: {code} {payload[2:].decode(errors='replace')}"
                    )
                break
            # OP_PONG and reserved opcodes: ignored.
        if pos:
            del buf[:pos]


def _split_ws_url(url: str) -> tuple[str, int, str, str]:
    parts = urlsplit(url)
    if parts.scheme != "ws":
        raise ValueError(f"only ws:// URLs are supported, got {url!r}")
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    host_header = host if port == 80 else f"{host}:{port}"
    return host, port, resource, host_header


async def connect(
    url: str,
    on_message: MessageCallback,
    *,
    timeout: float = 10.0,
    kernel_timestamps: bool = False,
) -> WebSocketClientProtocol:
    """Open a WebSocket to ``url`` (``ws://`` only) and return once the upgrade succeeded.

    With ``kernel_timestamps``, ``on_message`` gets the kernel's receive time (see the module
    docstring); the connection then uses :class:`TimestampedSocketTransport`, which suits peers
    that send little (it buffers writes without flow control).

    Raises :class:`WebSocketError` if the server refused the upgrade, ``OSError`` if the TCP
    connection failed and ``asyncio.TimeoutError`` after ``timeout`` seconds.
    """
    host, port, resource, host_header = _split_ws_url(url)
    loop = asyncio.get_running_loop()

    async def _create() -> WebSocketClientProtocol:
        protocol = WebSocketClientProtocol(host_header, resource, on_message)
        if not kernel_timestamps:
            await loop.create_connection(lambda: protocol, host, port)
            return protocol
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            await loop.sock_connect(sock, address)
        except BaseException:
            sock.close()
            raise
        TimestampedSocketTransport(loop, sock, protocol)
        return protocol

    async def _open() -> WebSocketClientProtocol:
        protocol = await _create()
        try:
            await protocol.opened
        except BaseException:
            protocol.abort()
            raise
        return protocol

    return await asyncio.wait_for(_open(), timeout)


def realtime_minus_perf_counter() -> float:
    """``CLOCK_REALTIME - perf_counter()``, to move kernel timestamps onto the perf_counter clock.

    Sampled a few times, keeping the pair read closest together, so the error is well below 1 µs.
    """
    best_gap, best = float("inf"), 0.0
    for _ in range(5):
        a = time.perf_counter()
        real = time.clock_gettime(time.CLOCK_REALTIME)
        b = time.perf_counter()
        if b - a < best_gap:
            best_gap, best = b - a, real - (a + b) / 2
    return best


class TimestampedSocketTransport:
    """Just enough of an asyncio transport over a non-blocking socket read with ``recvmsg``.

    Each read carries the kernel receive time of its (latest) segment; the protocol gets it as
    ``now`` in :meth:`WebSocketClientProtocol.receive`. If several segments are read at once they
    all get the latest one's time — only when this process has fallen behind, which the lag
    column of the report shows.
    """

    # One read buffer for all connections: reads are synchronous on one event loop thread, and
    # recvmsg(n) would allocate (and for large n, mmap) a fresh n-byte buffer on every call.
    _read_buffer = bytearray(_READ_SIZE)

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: WebSocketClientProtocol,
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._out = bytearray()
        self._closing = False
        self._lost = False
        self._offset = realtime_minus_perf_counter()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        protocol.connection_made(self)  # type: ignore[arg-type]
        loop.add_reader(self._fd, self._on_readable)

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self._sock if name == "socket" else default

    def is_closing(self) -> bool:
        return self._closing or self._lost

    def write(self, data: bytes) -> None:
        if self.is_closing():
            return
        if self._out:
            self._out += data
            return
        try:
            sent = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as e:
            self._connection_lost(e)
            return
        if sent < len(data):
            self._out += data[sent:]
            self._loop.add_writer(self._fd, self._on_writable)

    def close(self) -> None:
        self._closing = True
        if not self._out:
            self._connection_lost(None)

    def abort(self) -> None:
        self._connection_lost(None)

    def _on_writable(self) -> None:
        try:
            sent = self._sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._connection_lost(e)
            return
        del self._out[:sent]
        if not self._out:
            self._loop.remove_writer(self._fd)
            if self._closing:
                self._connection_lost(None)

    def _on_readable(self) -> None:
        for _ in range(_READS_PER_WAKEUP):
            try:
                size, ancillary, _, _ = self._sock.recvmsg_into(
                    [self._read_buffer], _ANCILLARY_SIZE
                )
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self._connection_lost(e)
                return
            read_at = time.perf_counter()
            if not size:
                self._connection_lost(None)
                return
            data = bytes(self._read_buffer[:size])
            arrived = read_at
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
                    sec, nsec = struct.unpack("qq", payload[:16])
                    arrived = sec - self._offset + nsec * 1e-9
            self._protocol.read_at = read_at
            self._protocol.receive(data, arrived)
            if self._lost or size < _READ_SIZE:
                return

    def _connection_lost(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._loop.remove_reader(self._fd)
        if self._out:
            self._loop.remove_writer(self._fd)
        self._sock.close()
        self._protocol.connection_lost(exc)
