"""How the server's sockets listen: the backlog, and how long a connection may take to send
its request (:func:`limit_header_wait`).

Tornado, and so Jupyter, listens with a backlog of 128: when more clients connect at once than
the server accepts in a turn of its event loop (a class of 500 opening the same notebook, every
client of a restarted server reconnecting), the kernel's accept queue overflows and the extra
clients wait for TCP to send their SYN again, one second later, then three. Calling ``listen()``
again on a listening socket sets its backlog; the kernel caps it at ``net.core.somaxconn``.

Jupyter binds its sockets itself (``ServerApp._bind_http_server``) and Tornado keeps them in a
private mapping (see :func:`.handlers.fastpath.listening_sockets`). Without it (another Tornado,
a server not started by Jupyter) the backlog stays as it is, and that is logged once.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

from .handlers.fastpath import listening_sockets

SOMAXCONN = Path("/proc/sys/net/core/somaxconn")


def kernel_cap() -> int | None:
    """``net.core.somaxconn`` where the kernel says (Linux), else None."""
    try:
        return int(SOMAXCONN.read_text().strip())
    except (OSError, ValueError):
        return None


def widen_backlog(http_server: Any, backlog: int, log: logging.Logger) -> list[socket.socket]:
    """Listen again on every TCP socket of ``http_server`` with ``backlog``; return those."""
    sockets = listening_sockets(http_server)
    if sockets is None:
        log.warning("listen_backlog: this Tornado does not expose its sockets; the backlog stays")
        return []
    widened = []
    for sock in sockets:
        if sock.family not in (
            socket.AF_INET,
            socket.AF_INET6,
        ):
            continue
        try:
            sock.listen(backlog)
        except OSError as e:
            log.warning("listen_backlog: could not listen again on %s: %s", sock.getsockname(), e)
            continue
        widened.append(sock)
    if widened:
        cap = kernel_cap()
        log.info(
            "Listening with a backlog of %d%s",
            min(backlog, cap) if cap else backlog,
            f" (asked {backlog}, net.core.somaxconn {cap})" if cap and cap < backlog else "",
        )
    return widened


def limit_header_wait(http_server: Any, timeout: float, log: logging.Logger) -> bool:
    """Close a connection that has not sent a whole request's headers within ``timeout``
    seconds: one that opened and never finished its upgrade (a slow-loris crowd, a client gone
    mid-handshake), or a keep-alive connection idle for that long between requests.

    Tornado waits an hour (Jupyter does not set it): 2,000 such sockets would hold their
    memory and descriptors that long. ``HTTPServer.conn_params`` is what each new connection
    reads; an object without it is left alone (and that is logged)."""
    params = getattr(http_server, "conn_params", None)
    if params is None or not hasattr(params, "header_timeout"):
        log.warning("handshake_timeout: this server has no header timeout to set; left as it is")
        return False
    params.header_timeout = timeout
    log.info("Waiting at most %g s for a request's headers", timeout)
    return True
