"""Prometheus metrics on Jupyter's ``{base}metrics``: a known workload moves each count by what
it did, and nothing in the labels names a room, a user or an id."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from jupyter_omniforge.metrics import samples
from jupyter_omniforge.rooms import protocol as p

from .conftest import fetch_json, wait_for
from .realtime import SSE, Gateway
from .test_rooms import awareness_frame


async def scrape(server_url: str, token: str) -> dict[str, float]:
    response = await AsyncHTTPClient().fetch(
        HTTPRequest(server_url + "metrics", headers={"Authorization": f"token {token}"})
    )
    return samples(response.body.decode(), ["omniforge_"])


def moved(before: dict[str, float], after: dict[str, float], key: str) -> float:
    return after.get(key, 0) - before.get(key, 0)


async def read_until(conn: Any, wanted: bytes) -> None:
    """Read ``conn`` until a frame starting with ``wanted`` arrives."""
    while True:
        frame = await asyncio.wait_for(conn.read_message(), 10)
        assert frame is not None, "closed"
        if frame.startswith(wanted):
            return


async def test_a_known_room_workload_moves_each_count_by_what_it_did(
    server_url, token, ws_connect, omniforge
):
    before = await scrape(server_url, token)
    writer, reader = await ws_connect("idea:metrics"), await ws_connect("idea:metrics")
    for conn in (writer, reader):
        await conn.write_message(p.encode_sync_step1(b"\x00"), binary=True)
        await read_until(conn, bytes([p.MESSAGE_SYNC, p.SYNC_STEP2]))
    doc, text = Doc(), None
    text = doc.get("code", type=Text)
    for i in range(5):  # one at a time, so that no two are merged into one frame
        sv = doc.get_state()
        text += f"line {i}\n"
        await writer.write_message(p.encode_update(doc.get_update(sv)), binary=True)
        await read_until(reader, bytes([p.MESSAGE_SYNC, p.SYNC_UPDATE]))
    await writer.write_message(awareness_frame(77, 1, {"user": {"name": "w"}}), binary=True)
    await read_until(reader, bytes([p.MESSAGE_AWARENESS]))
    with pytest.raises(HTTPClientError):
        await ws_connect("not-a-room")
    during = await scrape(server_url, token)

    reader.close(1000)
    await wait_for(lambda: len(omniforge.room_manager.get("idea:metrics").peers) == 1)
    after = await scrape(server_url, token)

    def count(key: str, at: dict[str, float] = after) -> float:
        return moved(before, at, key)

    assert count('omniforge_messages_in_total{endpoint="rooms",type="sync_step1"}') == 2
    assert count('omniforge_messages_in_total{endpoint="rooms",type="update"}') == 5
    assert count('omniforge_messages_in_total{endpoint="rooms",type="awareness"}') == 1
    assert count('omniforge_messages_out_total{endpoint="rooms",type="update"}') == 5
    assert count("omniforge_updates_applied_total") == 5
    assert count("omniforge_connect_seconds_count") == 2
    assert count("omniforge_apply_seconds_count") >= 1
    assert count('omniforge_refusals_total{reason="invalid_room"}') == 1
    assert count('omniforge_closes_total{code="1000",endpoint="rooms"}') == 1
    assert count('omniforge_received_bytes_total{endpoint="rooms"}') > 0
    assert during['omniforge_connections{endpoint="rooms"}'] == 2
    assert after['omniforge_connections{endpoint="rooms"}'] == 1
    assert after["omniforge_rooms_open"] == 1
    assert after["omniforge_rooms_in_memory"] == 1
    await wait_for(lambda: omniforge.store.rooms.commits >= 1)
    assert count("omniforge_store_commit_seconds_count", await scrape(server_url, token)) >= 1


async def test_events_count_once_in_and_once_per_client_out(server_url, token):
    # The gauges count from this process's start (earlier tests' servers ran in it too).
    start = await scrape(server_url, token)
    gateway = await Gateway.connect(server_url, token)
    await gateway.send(type="subscribe", channels=["build:m"])
    await gateway.next("subscribed")
    stream = await SSE.open(server_url, token, "build:m")
    before = await scrape(server_url, token)
    for percent in (10, 50, 90):
        status, body = await fetch_json(
            server_url + "omniforge/api/events",
            raise_error=False,
            method="POST",
            token=token,
            body={
                "channel": "build:m",
                "type": "build.progress",
                "data": {"percent": percent, "message": "m"},
            },
        )
        assert status == 201, body
    await wait_for(lambda: len(gateway.events()) == 3 and len(stream.messages()) == 3)
    after = await scrape(server_url, token)
    assert moved(before, after, "omniforge_events_ingested_total") == 3
    assert moved(before, after, "omniforge_events_delivered_total") == 6
    assert moved(before, after, 'omniforge_messages_out_total{endpoint="sse",type="event"}') == 3
    assert (
        moved(before, after, 'omniforge_messages_out_total{endpoint="gateway",type="event"}') == 3
    )
    assert moved(start, after, 'omniforge_connections{endpoint="gateway"}') == 1
    assert moved(start, after, 'omniforge_connections{endpoint="sse"}') == 1
    stream.close()
    gateway.close()

    async def both_gone() -> bool:
        now = await scrape(server_url, token)
        return (
            moved(start, now, 'omniforge_connections{endpoint="sse"}') == 0
            and moved(start, now, 'omniforge_connections{endpoint="gateway"}') == 0
        )

    await wait_for(both_gone)


async def test_labels_name_no_room_user_or_id(server_url, token, ws_connect):
    before = await scrape(server_url, token)
    for i in range(3):
        conn = await ws_connect(f"idea:secret-room-{i}", user="alice")
        await conn.write_message(p.encode_sync_step1(b"\x00"), binary=True)
        await read_until(conn, bytes([p.MESSAGE_SYNC, p.SYNC_STEP2]))
        conn.close(4321, "a code of the client's own")
    gateway = await Gateway.connect(server_url, token)
    for made_up in ("x-secret-type", "joinRoom ", "\u0000" * 40):
        await gateway.send(type=made_up)
    await wait_for(lambda: len(gateway.of_type("error")) == 3)

    async def closes_counted() -> bool:
        after = await scrape(server_url, token)
        return (
            moved(before, after, 'omniforge_closes_total{code="other",endpoint="rooms"}') == 3
            and moved(before, after, 'omniforge_messages_in_total{endpoint="gateway",type="other"}')
            == 3
        )

    await wait_for(closes_counted)
    response = await AsyncHTTPClient().fetch(
        HTTPRequest(server_url + "metrics", headers={"Authorization": f"token {token}"})
    )
    ours = [line for line in response.body.decode().splitlines() if line.startswith("omniforge_")]
    for line in ours:
        assert not re.search(r"secret-room|alice|idea:|x-secret-type|joinRoom |\\u0000", line), line
    labels = {value for line in ours for value in re.findall(r'="([^"]*)"', line)}
    assert "4321" not in labels


async def test_the_readme_names_only_metrics_the_server_serves(server_url, token):
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"\bomniforge_[a-z_]+", section))
    served = {re.split(r"[{ ]", key)[0] for key in await scrape(server_url, token)}
    assert len(named) >= 15
    missing = [name for name in named if name not in served and f"{name}_bucket" not in served]
    assert not missing, f"the README names metrics the server does not serve: {missing}"
