"""Server-to-client WebSocket frames, built once and written to many sockets.

Server frames are never masked, so the bytes of a frame are the same for every recipient: the
rooms and the gateway build each frame once and write it straight to each peer's stream.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from tornado.iostream import IOStream, StreamClosedError

OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2

# Above this, header and payload are written separately instead of concatenated (no copy).
_SPLIT_AT = 65536


def ws_frame(payload: bytes, opcode: int = OPCODE_BINARY) -> tuple[bytes, bytes]:
    """The final, unmasked frame of ``payload``: ``(head, tail)``; ``tail`` is empty when small."""
    first = 0x80 | opcode
    n = len(payload)
    if n < 126:
        header = bytes((first, n))
    elif n <= 0xFFFF:
        header = struct.pack("!BBH", first, 126, n)
    else:
        header = struct.pack("!BBQ", first, 127, n)
    if n <= _SPLIT_AT:
        return header + payload, b""
    return header, payload


Frame = tuple[bytes, bytes]


def write_frame(stream: Any, head: bytes, tail: bytes = b"") -> Any:
    """Write one frame to a Tornado stream; return the write's future, or None when it is sent.

    Fan-out writes the same frame to hundreds of streams, and ``IOStream.write`` costs a future
    and its bookkeeping each time. When nothing is queued on a plain (not TLS) stream, the frame
    goes straight to the socket instead; only what the kernel does not take is handed to
    Tornado, behind nothing, so the order of bytes on the wire is kept.
    """
    sock = stream.socket  # None once closed
    # ``_write_buffer._size`` is ``stream.writing()`` without its two calls: this runs once per
    # peer per broadcast.
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


class FrameWriter:
    """Writes ready-made frames to a stream without blocking; while the stream still has unsent
    bytes, further frames wait here, and more than ``max_frames`` / ``max_bytes`` of them call
    ``on_overflow`` (the connection cannot keep up and is closed) instead of growing forever."""

    __slots__ = (
        "_backlog",
        "_backlog_bytes",
        "_closed",
        "_stream",
        "max_bytes",
        "max_frames",
        "on_overflow",
    )

    def __init__(
        self, stream: Any, max_frames: int, max_bytes: int, on_overflow: Callable[[int], None]
    ) -> None:
        self._stream = stream
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.on_overflow = on_overflow
        self._backlog: list[Frame] | None = None
        self._backlog_bytes = 0
        self._closed = False

    def send(self, frame: Frame) -> None:
        if self._closed:
            return
        if self._backlog is None:
            self._write([frame])
            return
        self._backlog.append(frame)
        self._backlog_bytes += len(frame[0]) + len(frame[1])
        if len(self._backlog) > self.max_frames or self._backlog_bytes > self.max_bytes:
            self.on_overflow(len(self._backlog))

    def _write(self, frames: list[Frame]) -> None:
        stream = self._stream
        future = None
        try:
            for head, tail in frames:
                future = write_frame(stream, head, tail)
        except StreamClosedError:
            self._closed = True
            return
        if future is not None and stream.writing():
            self._backlog, self._backlog_bytes = [], 0
            future.add_done_callback(self._drain)

    def _drain(self, _future: Any) -> None:
        backlog, self._backlog = self._backlog or [], None
        if backlog and not self._closed:
            self._write(backlog)

    def close(self) -> None:
        self._closed = True
        self._backlog = None
