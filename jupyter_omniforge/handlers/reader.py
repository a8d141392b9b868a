"""Tornado's WebSocket protocol with its frame loop turned inside out.

Tornado reads frames in a coroutine loop that the upgrading ``get`` awaits, so every open
connection keeps a task and about eight suspended coroutine frames (the request's ``_execute``,
``get``, ``accept_connection``, the frame loop, ``_receive_frame``, ``_read_bytes``…) plus the
futures between them: ~3 KB per idle connection. :class:`CallbackFrameReader` keeps everything
else of Tornado's protocol (the handshake, ``write_message``, ``close``, pings, control-frame
handling through ``_handle_message``) but reads with one pending ``read_bytes`` future and a
callback: ``get`` returns once the connection is open and an idle connection holds one future.

It also parses every frame already received in one go, where Tornado awaits two to four reads
per frame. Frames are parsed from ``bytes`` (no copy for the usual whole frame per read); for a
frame larger than one read, the rest is read in one ``read_bytes(n)`` instead of by pieces.
"""

from __future__ import annotations

import struct
import sys
from asyncio import Future
from typing import Any

from tornado.iostream import StreamClosedError
from tornado.util import _websocket_mask  # type: ignore[attr-defined]
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
                payload = _websocket_mask(data[pos + head - 4 : pos + head], payload)
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
