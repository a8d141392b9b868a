"""Connecting: the listen backlog a storm of clients meets, and connections that never finish
their request (a slow-loris crowd)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from urllib.parse import urlsplit

import pytest
from pycrdt import Doc, Text

from jupyter_omniforge.client import connect_room
from jupyter_omniforge.listening import kernel_cap

needs_ss = pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)")


def backlog_of(port: int) -> int:
    """The backlog the kernel gives the socket listening on ``port`` (``ss``: Send-Q)."""
    out = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out and out[0] == "LISTEN", out
    return int(out[2])


@needs_ss
async def test_the_server_listens_with_a_backlog_a_storm_fits_in(server_process):
    server = await server_process().start()
    cap = kernel_cap() or 4096
    assert backlog_of(server.port) == min(4096, cap)
    assert "Listening with a backlog of" in server.log_path.read_text()


@needs_ss
async def test_listen_backlog_0_leaves_jupyters(server_process):
    server = await server_process(["--OmniForgeApp.listen_backlog=0"]).start()
    assert backlog_of(server.port) == 128


async def half_open(port: int, sent: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(sent)
    return reader, writer


async def test_connections_that_never_finish_their_request_are_closed(server_process):
    server = await server_process(["--OmniForgeApp.handshake_timeout=1"]).start()
    upgrade_start = b"GET /omniforge/rooms/idea:loris HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    crowd = [await half_open(server.port, upgrade_start) for _ in range(40)]
    crowd += [await half_open(server.port, b"") for _ in range(10)]  # not even a request line
    opened = time.monotonic()
    # Meanwhile an honest client joins and edits.
    doc = Doc()
    async with connect_room(server.url, "idea:honest", doc, token=server.token):
        doc.get("code", type=Text).insert(0, "still served")
    for reader, writer in crowd:
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the server
        writer.close()
    assert time.monotonic() - opened < 5
    assert "Waiting at most 1 s for a request's headers" in server.log_path.read_text()


async def test_the_handshake_timeout_is_on_by_default_and_0_leaves_tornados(server_process):
    default = await server_process().start()
    assert "Waiting at most 10 s for a request's headers" in default.log_path.read_text()
    off = await server_process(["--OmniForgeApp.handshake_timeout=0"]).start()
    reader, writer = await half_open(off.port, b"GET / HTTP/1.1\r\n")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(), 2)  # Tornado's own: an hour
    writer.close()


async def response_head(server_url: str, request: str) -> bytes:
    parts = urlsplit(server_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(request.encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    writer.close()
    return head.lower()


async def test_a_token_authenticated_upgrade_gets_no_login_cookie(server_url, token):
    """Jupyter's login cookie, which it sets on token-authenticated requests, is not signed
    and sent on a room socket's 101 (nothing reads it there); REST requests still get it."""
    path = urlsplit(server_url).path
    upgrade = await response_head(
        server_url,
        f"GET {path}omniforge/rooms/idea:cookie?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    assert upgrade.startswith(b"http/1.1 101")
    assert b"set-cookie" not in upgrade
    rest = await response_head(
        server_url,
        f"GET {path}omniforge/api/rooms?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    )
    assert rest.startswith(b"http/1.1 200") and b"set-cookie" in rest


async def test_a_token_upgrade_with_an_unrelated_cookie_is_still_the_owner(
    ws_connect, omniforge, jp_serverapp, server_url
):
    """Only Jupyter's login cookie makes a token request someone else than the owner; a
    request with no cookie at all skips naming it, one with other cookies still checks."""
    host = urlsplit(server_url).netloc
    login_cookie = jp_serverapp.identity_provider.get_cookie_name(
        type("Handler", (), {"request": type("Request", (), {"host": host})()})()
    )
    for room, headers in (
        ("idea:no-cookie", None),
        ("idea:other-cookie", {"Cookie": f"theme=dark; {login_cookie}x=1"}),
    ):
        conn = await ws_connect(room, headers=headers)
        await conn.read_message()
        (peer,) = omniforge.room_manager.get(room).peers
        assert peer.identity.username == omniforge.owner_username
