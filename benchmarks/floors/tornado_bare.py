"""The Tornado floor: one ``WebSocketHandler`` on ``/{room}`` serving :class:`.rooms.Rooms`, and
``GET /`` answering 200 (ready). Nothing else: no auth, no log line per request, no settings.

Run: ``python -m benchmarks.floors.tornado_bare --port 8765 [--loop asyncio|uvloop]``. The
default loop is asyncio, as ``jupyter server`` runs (it never installs uvloop).
"""

from __future__ import annotations

from tornado import web
from tornado.websocket import WebSocketHandler

from .process import main, serve_http
from .rooms import Rooms


class RoomMember:
    """What a floor's Tornado WebSocket handler does with its room (this one's and Jupyter's)."""

    rooms: Rooms
    room = ""

    def initialize(self, rooms: Rooms) -> None:
        self.rooms = rooms

    def join(self, room: str) -> None:
        # As ours does: the sync messages are small and answered at once.
        self.set_nodelay(True)
        self.room = room
        self.write_message(self.rooms.join(room, self), binary=True)

    def on_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            reply = self.rooms.receive(self.room, message)
            if reply is not None:
                self.write_message(reply, binary=True)

    def on_close(self) -> None:
        self.rooms.leave(self.room, self)


class RoomSocket(RoomMember, WebSocketHandler):
    """A y-websocket connection to the room named by the path."""

    def open(self, room: str) -> None:  # type: ignore[override]
        self.join(room)


class Ready(web.RequestHandler):
    def get(self) -> None:
        self.write("ok")


def make_app() -> web.Application:
    rooms = Rooms()
    return web.Application([(r"/", Ready), (r"/([^/]+)", RoomSocket, {"rooms": rooms})])


async def serve(port: int) -> None:
    await serve_http(port, make_app())


if __name__ == "__main__":
    main(__spec__.name, serve)
