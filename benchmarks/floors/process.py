"""How every floor runs as a process: ``--port`` and ``--loop``, serving until SIGTERM/SIGINT;
:func:`serve_http` for the floors that run Tornado's ``HTTPServer``."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from .rooms import LISTEN_BACKLOG


async def until_signalled() -> None:
    """Return once the process gets SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def serve_http(port: int, delegate: Any) -> None:
    """Tornado's ``HTTPServer`` for ``delegate`` (an ``Application`` or a connection delegate)
    on 127.0.0.1:``port`` with the floors' listen backlog, until signalled. (Tornado imported
    here: the plain-asyncio floor runs without it.)"""
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    server = HTTPServer(delegate)
    server.add_sockets(bind_sockets(port, "127.0.0.1", backlog=LISTEN_BACKLOG))
    await until_signalled()
    server.stop()


def main(module: str, serve: Callable[[int], Awaitable[None]]) -> None:
    """Parse ``--port`` and ``--loop`` for ``python -m module``, and run ``serve(port)``."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(serve(args.port))
    else:
        asyncio.run(serve(args.port))
