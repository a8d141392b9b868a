"""The Tornado floor: one ``WebSocketHandler`` on ``/{room}`` serving :class:`.rooms.Rooms`, and
``GET /`` answering 200 (ready). Nothing else: no auth, no log line per request, no settings.

Run: ``python -m benchmarks.floors.tornado_bare --port 8765 [--loop asyncio|uvloop]``. The
default loop is asyncio, as ``jupyter server`` runs (it never installs uvloop).
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.websocket import WebSocketHandler

from .rooms import LISTEN_BACKLOG, Rooms


class RoomSocket(WebSocketHandler):
    """A y-websocket connection to the room named by the path."""

    room = ""

    def initialize(self, rooms: Rooms) -> None:
        self.rooms = rooms

    def open(self, room: str) -> None:
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


class Ready(web.RequestHandler):
    def get(self) -> None:
        self.write("ok")


def make_app() -> web.Application:
    rooms = Rooms()
    return web.Application([(r"/", Ready), (r"/([^/]+)", RoomSocket, {"rooms": rooms})])


async def serve(port: int) -> None:
    server = HTTPServer(make_app())
    server.add_sockets(bind_sockets(port, "127.0.0.1", backlog=LISTEN_BACKLOG))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floors.tornado_bare")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(serve(args.port))
    else:
        asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
