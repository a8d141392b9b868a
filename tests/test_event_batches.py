"""Batches of events in one POST: a JSON array or NDJSON, each event validated on its own, the
valid ones stored together and delivered in order."""

from __future__ import annotations

import asyncio
import json

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from jupyter_omniforge.client import OmniForge

from .conftest import fetch_json, wait_for
from .realtime import SSE, Gateway

EVENTS = "omniforge/api/events"


def progress(channel: str, percent: float, message: str = "") -> dict:
    return {
        "channel": channel,
        "type": "build.progress",
        "data": {"percent": percent, "message": message},
    }


async def post_raw(server_url, token, body: bytes, content_type: str) -> tuple[int, dict]:
    request = HTTPRequest(
        server_url + EVENTS,
        method="POST",
        body=body,
        headers={"Authorization": f"token {token}", "Content-Type": content_type},
    )
    response = await AsyncHTTPClient().fetch(request, raise_error=False)
    return response.code, json.loads(response.body)


async def subscribed(server_url, token, channels=("*",)) -> Gateway:
    gateway = await Gateway.connect(server_url, token)
    await gateway.send(type="subscribe", channels=list(channels))
    await gateway.next("subscribed")
    return gateway


async def test_a_batch_stores_the_valid_events_in_order_and_names_each_refusal(server_url, token):
    gateway = await subscribed(server_url, token)
    batch = [
        {"channel": "build:5", "type": "build.started", "data": {}},
        progress("build:5", 150),  # over the schema's maximum
        progress("build:5", 50, "half"),
        {"channel": "nope:1", "type": "build.started"},
        {"channel": "build:5", "type": "user.joined", "data": {"username": "admin"}},
        "not an object",
        {"channel": "build:5", "type": "build.completed", "data": {}},
    ]
    code, answer = await fetch_json(server_url + EVENTS, method="POST", token=token, body=batch)
    assert code == 200
    assert (answer["stored"], answer["refused"]) == (3, 4)
    results = answer["events"]
    assert [r.get("error") for r in results] == [
        None,
        "invalid",
        None,
        "invalid_room",
        "reserved",
        "invalid",
        None,
    ]
    assert [r["index"] for r in results if "error" in r] == [1, 3, 4, 5]
    assert "150 is greater than the maximum of 100" in results[1]["message"]
    stored = [r for r in results if "id" in r]
    assert [e["type"] for e in stored] == ["build.started", "build.progress", "build.completed"]
    assert stored[1]["data"] == {"percent": 50, "message": "half"}
    assert all(e["source"]["username"] for e in stored)
    await wait_for(lambda: len(gateway.events()) == 3)
    assert gateway.events() == stored
    _, history = await fetch_json(server_url + EVENTS + "?channel=build:5", token=token)
    assert history["events"] == stored


async def test_ndjson_batches_keep_a_malformed_line_in_its_place(server_url, token):
    lines = [
        json.dumps(progress("build:6", 10, "one")),
        "{not json",
        "",
        json.dumps(progress("build:6", 20, "two")),
        '{"channel": "build:6", "type": "build.progress", "data": {"percent": NaN, "message": ""}}',
    ]
    code, answer = await post_raw(
        server_url, token, "\n".join(lines).encode(), "application/x-ndjson"
    )
    assert code == 200, answer
    assert (answer["stored"], answer["refused"]) == (2, 2)
    assert [r.get("error") for r in answer["events"]] == [None, "malformed", None, "malformed"]
    assert [r["data"]["message"] for r in answer["events"] if "id" in r] == ["one", "two"]


async def test_a_batch_is_contiguous_and_in_order_among_concurrent_emits(server_url, token):
    batch = [progress("build:7", i % 100, f"batch {i}") for i in range(200)]
    singles = [
        fetch_json(server_url + EVENTS, method="POST", token=token, body=progress("build:8", 1))
        for _ in range(20)
    ]
    results = await asyncio.gather(
        fetch_json(server_url + EVENTS, method="POST", token=token, body=batch), *singles
    )
    code, answer = results[0]
    assert code == 200 and answer["stored"] == 200
    ids = [int(e["id"]) for e in answer["events"]]
    assert ids == list(range(ids[0], ids[0] + 200))  # no other event between them
    assert [e["data"]["message"] for e in answer["events"]] == [f"batch {i}" for i in range(200)]


async def test_batches_over_the_limits_are_refused_whole(server_url, token, omniforge):
    omniforge.max_events_per_post = 10
    too_many = [progress("build:9", 1)] * 11
    code, answer = await fetch_json(
        server_url + EVENTS, method="POST", token=token, body=too_many, raise_error=False
    )
    assert code == 413 and "at most 10" in str(answer)
    omniforge.max_event_batch_bytes = 1000
    too_big = [progress("build:9", 1, "x" * 200)] * 5
    code, answer = await fetch_json(
        server_url + EVENTS, method="POST", token=token, body=too_big, raise_error=False
    )
    assert code == 413
    code, answer = await fetch_json(
        server_url + EVENTS, method="POST", token=token, body=[], raise_error=False
    )
    assert code == 400 and "non-empty batch" in answer["message"]
    _, history = await fetch_json(server_url + EVENTS + "?channel=build:9", token=token)
    assert history["events"] == []


async def test_the_python_client_emits_a_batch(server_url, token):
    gateway = await subscribed(server_url, token, ["deployment:*"])
    async with OmniForge(server_url, token=token) as forge:
        results = await forge.aemit_many(
            [
                {"channel": "deployment:3", "type": "deployment.started", "data": {}},
                {"channel": "deployment:3", "type": "deployment.progress", "data": {}},
                {"channel": "deployment:3", "type": "deployment.completed", "data": {}},
            ]
        )
    assert [r.get("error") for r in results] == [None, "invalid", None]
    await wait_for(lambda: len(gateway.events()) == 2)
    assert [e["type"] for e in gateway.events()] == ["deployment.started", "deployment.completed"]


async def test_a_batch_across_channels_reaches_each_subscriber_in_order(server_url, token):
    """Events stored together are handed out together, but each subscriber still gets only
    its channels, in the order of their ids (over the gateway and Server-Sent Events)."""
    both = await subscribed(server_url, token, ["build:*"])
    one = await subscribed(server_url, token, ["build:21"])
    sse = await SSE.open(server_url, token, "build:*")
    batch = [progress(f"build:{20 + i % 2}", i, str(i)) for i in range(40)]
    code, answer = await fetch_json(server_url + EVENTS, method="POST", token=token, body=batch)
    assert code == 200 and answer["stored"] == 40
    await wait_for(lambda: len(both.events()) == 40 and len(sse.messages()) == 40)
    await wait_for(lambda: len(one.events()) == 20)
    assert both.events() == answer["events"] == sse.messages()
    assert one.events() == [e for e in answer["events"] if e["channel"] == "build:21"]
    sse.close()
