"""Every use of a private name of Tornado in this package, and the probe that vouches for them.

Two speed-ups need Tornado's internals:

- :class:`CallbackFrameReader`, Tornado's WebSocket protocol with its frame loop turned inside
  out. Tornado reads frames in a coroutine loop that the upgrading ``get`` awaits, so every open
  connection keeps a task and about eight suspended coroutine frames plus the futures between
  them: ~3 KB per idle connection. This reader keeps everything else of Tornado's protocol (the
  handshake, ``write_message``, ``close``, pings, control frames through ``_handle_message``) but
  reads with one pending ``read_bytes`` future and a callback, and parses every frame already
  received in one go, where Tornado awaits two to four reads per frame.
- :func:`write_frame`, which writes a frame straight to an idle socket (fan-out writes the
  same frame to hundreds of streams, and ``IOStream.write`` costs a future each time), and
  :func:`forget_handshake`, which drops what an open connection never uses again (~4 KB).

The listen backlog (:mod:`..listening`) needs the server's sockets: :func:`listening_sockets`.

:data:`PROBE` checks at import that each of these names exists and behaves as this module
expects (on the running Tornado, not on a version number). When one does not, or when the
``tornado_fast_path`` setting is off, the handlers use Tornado's stock reading and writing, and
the extension logs why once (:func:`explain`). CI runs the whole suite both ways.
"""

from __future__ import annotations

import inspect
import socket
import struct
import sys
from asyncio import Future
from collections.abc import Callable
from typing import Any, NamedTuple

import tornado
from tornado import httputil, iostream, tcpserver, util, web, websocket
from tornado.iostream import IOStream, StreamClosedError
from tornado.websocket import WebSocketProtocol13

#: Bytes asked for per read when no frame is known to be larger.
READ_CHUNK = 64 * 1024
OPCODE_TEXT = 0x1
_CLOSE = 0x8

#: What :meth:`CallbackFrameReader._frame` returns when the connection is closing: read no more.
_STOP: Any = object()


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


_LENGTH16 = struct.Struct("!H")
_LENGTH64 = struct.Struct("!Q")


class CallbackFrameReader(WebSocketProtocol13):
    """Reads frames with read callbacks instead of a coroutine loop (see the module doc)."""

    _unread = b""  # received bytes not yet parsed (a frame's beginning)
    _reading_done = False  # the handler has been told the connection closed
    _draining = False  # we closed: frames are skipped until the client's close frame

    async def _receive_frame_loop(self) -> None:
        # Called by ``accept_connection`` once the handler is open: start reading and return,
        # which lets the upgrade's coroutines finish.
        self._read(READ_CHUNK, partial=True)

    def _read(self, size: int, *, partial: bool) -> None:
        try:
            future = self.stream.read_bytes(size, partial=partial)
        except StreamClosedError:
            self._lost()
            return
        future.add_done_callback(self._on_read)

    def _on_read(self, future: Future[bytes]) -> None:
        try:
            chunk = future.result()
        except StreamClosedError:
            self._lost()
            return
        self._wire_bytes_in += len(chunk)
        self._feed(self._unread + chunk if self._unread else chunk)

    def _feed(self, data: bytes) -> None:
        try:
            self._parse(data)
        except Exception:  # a bug of ours: end this connection, not the others
            self.handler.log_exception(*sys.exc_info())
            self._lost()

    def _parse(self, data: bytes) -> None:
        """Handle every whole frame in ``data``; keep the rest and read on (unless closed, or
        paused while a coroutine ``on_message`` runs)."""
        pos, end = 0, len(data)
        want = 0  # bytes still missing from an incomplete frame, when known
        while not self.client_terminated:
            if end - pos < 2:
                break
            b0, b1 = data[pos], data[pos + 1]
            opcode = b0 & self.OPCODE_MASK
            length = b1 & 0x7F
            if b0 & self.RSV_MASK or (opcode & 0x8 and length >= 126):
                # An extension we did not negotiate, or a control frame too long.
                self._abort()
                break
            head = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = _LENGTH16.unpack_from(data, pos + 2)[0]
                head = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = _LENGTH64.unpack_from(data, pos + 2)[0]
                head = 10
            buffered = self._fragmented_message_buffer
            if length + (len(buffered) if buffered is not None else 0) > (
                self.params.max_message_size
            ):
                self.close(1009, "message too big")
                self._abort()
                break
            masked = b1 & 0x80
            if masked:
                head += 4
            if end - pos < head + length:
                want = head + length - (end - pos)
                break
            if self._draining and opcode != _CLOSE:
                pos += head + length  # we are closing: only the client's close frame matters
                continue
            payload = data[pos + head : pos + head + length]
            if masked:
                payload = _mask(data[pos + head - 4 : pos + head], payload)
            pos += head + length
            # Every frame counts against the rate limit (pings and continuations included). Once
            # we close, frames are read on (without being handled) until the client's close
            # frame completes the handshake, so the socket is released at once.
            if not self.handler.frame_received():
                self._draining = True
                if opcode != _CLOSE:
                    continue
            handled = self._frame(b0 & self.FIN, opcode, payload)
            if handled is _STOP:
                self._draining = True
                continue
            if handled is not None:  # a coroutine on_message: wait for it, like Tornado
                self._unread = data[pos:]
                handled.add_done_callback(lambda _: self._resume())
                return
        if self.client_terminated:
            self._unread = b""
            self._ended()
            return
        self._unread = data[pos:] if pos else data
        if want > READ_CHUNK:
            self._read(want, partial=False)  # the rest of a large frame, in one piece
        else:
            self._read(READ_CHUNK, partial=True)

    def _resume(self) -> None:
        data, self._unread = self._unread, b""
        self._feed(data)

    def _frame(self, is_final: int, opcode: int, data: bytes) -> Future[None] | None:
        """Tornado's rules for one frame (fragments, control frames); the handler's future
        when a whole message went to a coroutine ``on_message``."""
        if opcode & 0x8:
            if not is_final:  # control frames must not be fragmented
                self._abort()
                return None
        elif opcode == 0:  # continuation
            if self._fragmented_message_buffer is None:
                self._abort()
                return None
            self._fragmented_message_buffer.extend(data)
            if not is_final:
                return None
            opcode = self._fragmented_message_opcode
            data = bytes(self._fragmented_message_buffer)
            self._fragmented_message_buffer = None
        elif self._fragmented_message_buffer is not None:
            self._abort()  # a new message before the fragmented one ended
            return None
        elif not is_final:
            self._fragmented_message_opcode = opcode
            self._fragmented_message_buffer = bytearray(data)
            return None
        if opcode == OPCODE_TEXT and not _is_utf8(data):
            # Tornado would drop the connection without a word; RFC 6455 says 1007.
            self.close(1007, "text frame is not valid UTF-8")
            return _STOP
        return self._handle_message(opcode, data)

    def _lost(self) -> None:
        """The stream closed under us (or we failed): abort, as Tornado's loop does."""
        self._abort()
        self._ended()

    def _ended(self) -> None:
        """No more frames (a close frame came, or the connection was aborted or lost): tell
        the handler, once."""
        if self._reading_done:
            return
        self._reading_done = True
        self.handler.on_ws_connection_close(self.close_code, self.close_reason)


# --- the other private names ----------------------------------------------------------------------

_mask: Callable[[bytes, bytes], bytes] = getattr(util, "_websocket_mask", None)  # type: ignore[assignment]
_Params: Any = getattr(websocket, "_WebSocketParams", None)


def reader_for(handler: websocket.WebSocketHandler, max_message_size: int) -> CallbackFrameReader:
    """The fast protocol for ``handler`` (no compression)."""
    return CallbackFrameReader(handler, False, _Params(max_message_size=max_message_size))


def write_frame(stream: Any, head: bytes, tail: bytes = b"") -> Any:
    """:func:`.frames.write_frame`, but a small frame goes straight to the socket of a plain
    stream with nothing queued; only what the kernel does not take is handed to Tornado, behind
    nothing, so the order of bytes on the wire is kept. Returns the write's future, or None when
    the frame is sent.

    ``_write_buffer._size`` is ``stream.writing()`` without its two calls: this runs once per
    peer per broadcast."""
    sock = stream.socket  # None once closed
    if (
        not tail
        and sock is not None
        and type(stream) is IOStream
        and not stream._write_buffer._size
    ):
        try:
            sent = sock.send(head)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            sent = 0  # a broken connection: Tornado's write reports and closes it
        if sent == len(head):
            return None
        head = memoryview(head)[sent:]
    future = stream.write(head)
    if tail:
        future = stream.write(tail)
    return future


def forget_handshake(handler: web.RequestHandler) -> None:
    """Drop the parsed cookies of the upgrade request, the login cookie Jupyter set on its
    response and the response's headers: an open connection never uses them again."""
    handler.request.__dict__.pop("_cookies", None)
    handler._headers = httputil.HTTPHeaders()
    handler.__dict__.pop("_new_cookie", None)


def listening_sockets(http_server: Any) -> list[socket.socket] | None:
    """The sockets a Tornado ``TCPServer`` listens on; None when this Tornado hides them."""
    sockets = getattr(http_server, "_sockets", None)
    if not isinstance(sockets, dict):
        return None
    return [s for s in sockets.values() if isinstance(s, socket.socket)]


# --- the probe ------------------------------------------------------------------------------------


class Probe(NamedTuple):
    """Whether the running Tornado has what this module needs; if not, what it lacks."""

    ok: bool
    problem: str = ""
    version: str = tornado.version


class _Recorder:
    """Just enough of a WebSocket handler for a protocol object to deliver a message to."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    def on_message(self, message: Any) -> None:
        self.messages.append(message)

    def log_exception(self, *args: Any) -> None:
        pass


def _uses(function: Any, *names: str) -> bool:
    """Whether ``function``'s own code refers to each of ``names`` (attributes it reads or
    sets): how the probe checks instance attributes it cannot create without a connection."""
    code = getattr(inspect.unwrap(function), "__code__", None)
    return code is not None and all(name in code.co_names for name in names)


def _checks() -> list[tuple[str, Callable[[], bool]]]:
    def mask() -> bool:
        return _mask(b"\x01\x02\x03\x04", b"\x00\x00\x00\x00\xff") == b"\x01\x02\x03\x04\xfe"

    def params() -> bool:
        return _Params(max_message_size=7).max_message_size == 7

    def protocol() -> bool:
        handler = _Recorder()
        proto = WebSocketProtocol13(handler, False, _Params(max_message_size=7))  # type: ignore[arg-type]
        # Tornado's own frame loop, which the reader replaces, and the accept path calling it
        # (else the replacement would never run).
        loop = vars(WebSocketProtocol13).get("_receive_frame_loop")
        if not inspect.iscoroutinefunction(loop) or not callable(proto._abort):
            return False
        if not _uses(WebSocketProtocol13._accept_connection, "_receive_frame_loop"):
            return False
        if list(inspect.signature(proto._handle_message).parameters) != ["opcode", "data"]:
            return False
        state = (
            proto._fragmented_message_buffer,
            proto._wire_bytes_in,
            proto.close_code,
            proto.client_terminated,
        )
        if state != (None, 0, None, False) or not hasattr(proto, "_fragmented_message_opcode"):
            return False
        return proto._handle_message(0x2, b"probe") is None and handler.messages == [b"probe"]

    def write_buffer() -> bool:
        buffer = iostream._StreamBuffer()  # type: ignore[attr-defined]
        empty = buffer._size == 0
        buffer.append(b"ab")
        return (
            empty
            and buffer._size == 2
            and _uses(iostream.BaseIOStream.__init__, "_write_buffer", "_StreamBuffer")
            and _uses(iostream.BaseIOStream.writing, "_write_buffer")
        )

    def handshake_state() -> bool:
        return (
            _uses(httputil.HTTPServerRequest.cookies.fget, "_cookies")
            and _uses(web.RequestHandler.clear, "_headers")
            and _uses(web.RequestHandler.set_cookie, "_new_cookie")
        )

    def server_sockets() -> bool:
        return _uses(tcpserver.TCPServer.__init__, "_sockets") and _uses(
            tcpserver.TCPServer.add_sockets, "_sockets"
        )

    return [
        ("tornado.util._websocket_mask", mask),
        ("tornado.websocket._WebSocketParams", params),
        ("WebSocketProtocol13's frame loop, _handle_message and state", protocol),
        ("IOStream._write_buffer._size", write_buffer),
        ("the cookies and headers a handler keeps", handshake_state),
        ("TCPServer._sockets", server_sockets),
    ]


def probe() -> Probe:
    """Check every private name this module uses, on the running Tornado."""
    for what, check in _checks():
        try:
            fine = check()
        except Exception as e:  # a missing name, a changed signature: all mean "not here"
            return Probe(False, f"{what}: {type(e).__name__}: {e}")
        if not fine:
            return Probe(False, f"{what} does not behave as expected")
    return Probe(True)


PROBE = probe()


def explain(wanted: bool) -> str | None:
    """Why the stock path is used, in one line, or None when the fast path is."""
    if not wanted:
        return "tornado_fast_path is off: using Tornado's stock WebSocket reading and writing"
    if not PROBE.ok:
        return (
            f"Tornado {PROBE.version} differs from what jupyter_omniforge's fast path was tested "
            f"with ({PROBE.problem}): using Tornado's stock WebSocket reading and writing"
        )
    return None
