"""Class 8: the smaller faults, each on a raw socket or a real request."""

from __future__ import annotations

import os
import stat
import struct

import pytest
from tornado.httpclient import HTTPClientError

from ..conftest import FAST_PATH, fast_path_only, fetch_json, wait_for
from ..test_frames import BINARY, CLOSE, CONTINUATION, PING, RawSocket, frame

FLOOD_LIMITS = {"max_messages_per_second": 50, "max_message_burst": 100}


def close_of(payload: bytes | None) -> tuple[int, bytes]:
    assert payload is not None, "the connection ended without a close frame"
    return struct.unpack("!H", payload[:2])[0], payload[2:]


@pytest.mark.parametrize("omniforge_config", [FLOOD_LIMITS])
async def test_a_flood_of_pings_is_rate_limited_like_any_message(server_url, token, witness):
    await witness.write()
    ws = await RawSocket.connect(server_url, "idea:pings", token)
    await ws.send(b"".join(frame(PING, b"") for _ in range(500)))
    code, reason = close_of(await ws.until(CLOSE))
    assert code == 1008 and b"messages/s" in reason
    ws.close()
    await witness.check()


# Tornado's own reader hands over whole messages only: there, continuation frames are bounded by
# max_message_size, not counted (README, Known issues).
@fast_path_only
@pytest.mark.parametrize("omniforge_config", [FLOOD_LIMITS])
async def test_a_flood_of_continuation_frames_is_rate_limited(server_url, token, witness):
    await witness.write()
    ws = await RawSocket.connect(server_url, "idea:cont", token)
    flood = frame(BINARY, b"\x00", fin=False) + b"".join(
        frame(CONTINUATION, b"\x00", fin=False) for _ in range(500)
    )
    await ws.send(flood)
    code, _ = close_of(await ws.until(CLOSE))
    assert code == 1008
    ws.close()
    await witness.check()


async def test_a_text_frame_that_is_not_utf8_closes_with_1007(server_url, token, witness):
    await witness.write()
    ws = await RawSocket.connect(server_url, "", token, path="omniforge/realtime")
    await ws.send(frame(0x1, b'{"type": "\xff\xfe"}'))
    closed = await ws.until(CLOSE)
    if FAST_PATH:
        code, reason = close_of(closed)
        assert code == 1007 and b"UTF-8" in reason
    else:  # Tornado's own reader drops the connection without a close frame
        assert closed is None
    ws.close()
    await witness.check()


async def test_the_room_path_is_decoded_once(ws_connect, server_url, token):
    with pytest.raises(HTTPClientError) as refused:
        await ws_connect("idea%253Ax")
    assert refused.value.code == 400
    status, _ = await fetch_json(
        server_url + "omniforge/api/rooms/idea%253Ax", token=token, raise_error=False
    )
    assert status == 400
    await ws_connect("idea%3Ax")  # one level of encoding is the usual spelling


async def test_the_database_is_private_to_the_server_user(ws_connect, db_path):
    await ws_connect("idea:private")
    await wait_for(lambda: db_path.exists())
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(db_path.parent).st_mode) == 0o700
    for suffix in ("-wal", "-shm"):
        companion = db_path.with_name(db_path.name + suffix)
        if companion.exists():
            assert stat.S_IMODE(os.stat(companion).st_mode) & 0o077 == 0
