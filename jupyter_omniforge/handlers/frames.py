"""Server-to-client WebSocket frames, built once and written to many sockets.

Server frames are never masked, so the bytes of a frame are the same for every recipient: the
rooms and the gateway build each frame once and write it straight to each peer's stream (the
same bytes Tornado's ``write_message`` would write, without encoding them again per peer).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from tornado.iostream import StreamClosedError

from ..metrics import METRICS
from . import fastpath

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
    """Write one frame to a Tornado stream, Tornado's way; return the write's future."""
    future = stream.write(head)
    if tail:
        future = stream.write(tail)
    return future


WriteFrame = Callable[[Any, bytes, bytes], Any]


def frame_writer(direct: bool) -> WriteFrame:
    """How a connection writes frames, chosen once: straight to idle sockets when Tornado's
    internals are vouched for (:func:`.fastpath.write_frame`), else :func:`write_frame`."""
    return fastpath.write_frame if direct else write_frame


class FrameWriter:
    """Writes ready-made frames to a stream without blocking; while the stream still has unsent
    bytes, further frames wait here, and more than ``max_frames`` / ``max_bytes`` of them call
    ``on_overflow`` (the connection cannot keep up and is closed) instead of growing forever."""

    __slots__ = (
        "_backlog",
        "_backlog_bytes",
        "_closed",
        "_stream",
        "_write_frame",
        "max_bytes",
        "max_frames",
        "on_overflow",
    )

    def __init__(
        self,
        stream: Any,
        max_frames: int,
        max_bytes: int,
        on_overflow: Callable[[int], None],
        *,
        direct: bool,
    ) -> None:
        self._stream = stream
        self._write_frame = frame_writer(direct)
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
                future = self._write_frame(stream, head, tail)
        except StreamClosedError:
            self._closed = True
            return
        if future is not None and stream.writing():
            self._backlog, self._backlog_bytes = [], 0
            future.add_done_callback(self._drain)

    def _drain(self, _future: Any) -> None:
        backlog, self._backlog = self._backlog or [], None
        METRICS.send_queue_depth.observe(len(backlog))
        if backlog and not self._closed:
            self._write(backlog)

    def close(self) -> None:
        self._closed = True
        self._backlog = None
