"""Class 4: a failed subscription must leave nothing behind; odd subscribe/unsubscribe frames
get a clear error, never an internal one. Afterwards the server answers, others still edit, and
what was stored is intact (the witness)."""

from __future__ import annotations

from ..conftest import fetch_json, wait_for
from ..realtime import Gateway


def subscriptions(omniforge) -> int:
    return len(omniforge.bus._subscriptions)


async def test_failed_subscriptions_leave_nothing_registered(server_url, token, omniforge, witness):
    await witness.write()
    gateway = await Gateway.connect(server_url, token)
    base = subscriptions(omniforge)  # the server's own (build rooms' state writer)
    bad = [
        {"channels": [f"idea:{i}" for i in range(1000)]},
        {"channels": ["build:*"], "lastEventId": "9" * 10_000},
        {"channels": ["build:*"], "lastEventId": "x y"},
        {"channels": ["build:*"], "lastEventId": {"id": 1}},
        {"channels": ["nosuch/*"]},
        {"channels": ["nosuch/thing:*"]},
        {"channels": [5]},
        {"channels": "build:*,"},
        {"channels": []},
    ]
    for frame in bad:
        await gateway.send(type="subscribe", **frame)
    await wait_for(lambda: len(gateway.of_type("error")) == len(bad))
    codes = [e["code"] for e in gateway.of_type("error")]
    assert "internal" not in codes, gateway.of_type("error")
    assert codes[0] == "invalid" and "at most 100" in gateway.of_type("error")[0]["message"]
    assert codes[4] == codes[5] == "invalid_room"
    assert not gateway.of_type("subscribed")
    assert subscriptions(omniforge) == base
    # Events keep not flowing to it: nothing was left subscribed.
    await omniforge.emit("build:1", "build.started", {})
    await gateway.send(type="subscribe", channels=["idea:*"])
    await gateway.next("subscribed")
    assert not gateway.events()
    gateway.close()
    await wait_for(lambda: subscriptions(omniforge) == base)
    await witness.check()


async def test_unsubscribe_with_odd_channels_gets_an_error_not_an_internal_one(
    server_url, token, omniforge, witness
):
    await witness.write()
    gateway = await Gateway.connect(server_url, token)
    await gateway.send(type="subscribe", channels=["build:*"])
    await gateway.next("subscribed")
    for channels in (5, {"a": 1}, ["build:*", 7]):
        await gateway.send(type="unsubscribe", channels=channels)
    await wait_for(lambda: len(gateway.of_type("error")) == 3)
    assert {e["code"] for e in gateway.of_type("error")} <= {"malformed", "invalid_room"}
    await gateway.send(type="unsubscribe", channels=["build:*"])
    await gateway.next("unsubscribed")
    await omniforge.emit("build:2", "build.started", {})
    await gateway.send(type="subscribe", channels=["idea:1"])
    await gateway.next("subscribed")
    assert not gateway.events()
    gateway.close()
    await witness.check()


async def test_history_naming_1000_channels_gets_400_not_500(server_url, token, witness):
    await witness.write()
    channels = ",".join(f"idea:{i}" for i in range(1000))
    status, answer = await fetch_json(
        server_url + f"omniforge/api/events?channel={channels}", token=token, raise_error=False
    )
    assert status == 400 and "at most 100" in answer["message"]
    status, answer = await fetch_json(
        server_url + "omniforge/api/events?after=" + "9" * 5000, token=token, raise_error=False
    )
    assert status == 400 and "invalid event id" in answer["message"]
    await witness.check()
