"""Access control stories: a rules policy enforced on every path, changes reaching open sockets,
room-scoped tokens, the owner, and the audit trail. Users are named per request
(tests/identities.py: ``X-Test-User`` or ``?user=``); the Jupyter token alone is the owner."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import pytest
from pycrdt import Doc, Text
from tornado.httpclient import HTTPClientError

from jupyter_omniforge.client import connect_room
from jupyter_omniforge.client.errors import EditsNotConfirmed
from jupyter_omniforge.rooms import protocol as p

from .conftest import fetch_json, wait_for
from .identities import USER_HEADER
from .realtime import SSE, Gateway
from .test_rooms import FrameReader, awareness_frame

POLICY = """
default: none
rules:
  - rooms: "deployment:*"
    users: [alice]
    groups: [ops]
    allow: [read, write, presence, emit, delete]
  - rooms: "deployment:*"
    users: ["*"]
    allow: [read]
  - rooms: "idea:*"
    users: [alice, bob]
    allow: [read, write, presence, emit]
  - rooms: "idea:*"
    users: [carol]
    allow: [read, presence]
"""


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


@pytest.fixture
def omniforge_config(policy_file: Path) -> dict:
    return {"room_policy_file": str(policy_file)}


def as_user(user: str) -> dict[str, str]:
    return {USER_HEADER: user}


async def post_event(server_url, token, user, channel, type_="idea.updated", data=None):
    return await fetch_json(
        server_url + "omniforge/api/events",
        method="POST",
        token=token,
        headers=as_user(user) if user else None,
        body={"channel": channel, "type": type_, "data": data or {}},
        raise_error=False,
    )


async def test_the_rules_decide_the_upgrade_and_every_update(ws_connect, omniforge):
    with pytest.raises(HTTPClientError) as refused:
        await ws_connect("idea:1", user="dave")  # no rule: default none
    assert refused.value.code == 403
    writer = FrameReader(await ws_connect("idea:1", user="bob"))
    reader = FrameReader(await ws_connect("idea:1", user="carol"))
    # Carol may read and show presence, not write.
    vandal = Doc()
    vandal.get("code", type=Text).insert(0, "by carol")
    await reader.conn.write_message(p.encode_update(vandal.get_update()), binary=True)
    await wait_for(lambda: any(f[:1] == bytes([p.MESSAGE_AUTH]) for f in reader.frames))
    await reader.conn.write_message(awareness_frame(5, 1, {"here": True}), binary=True)
    await wait_for(lambda: 5 in writer.states())
    room = omniforge.room_manager.get("idea:1")
    assert "code" not in room.doc.keys() or str(room.doc.get("code", type=Text)) == ""
    # In deployment rooms everyone reads; only alice (and the ops group) publishes presence.
    ops = FrameReader(await ws_connect("deployment:1", user="erin"))
    await ops.conn.write_message(awareness_frame(6, 1, {"x": 1}), binary=True)
    await wait_for(lambda: any(b"presence" in f for f in ops.frames if f[:1] == b"\x02"))
    assert len(omniforge.room_manager.get("deployment:1").awareness) == 0


async def test_the_gateway_asks_the_rules_for_each_room_and_action(server_url, token):
    carol = await Gateway.connect(server_url, token + "&user=carol")
    await carol.send(type="joinRoom", roomId="deployment:7")
    await carol.next("docSync", roomId="deployment:7")
    await carol.send(type="joinRoom", roomId="project:7")
    doc = Doc()
    doc.get("code", type=Text).insert(0, "x")
    update = base64.b64encode(doc.get_update()).decode()
    await carol.send(type="applyUpdate", roomId="deployment:7", update=update)
    await carol.send(type="awareness", roomId="deployment:7", awareness={"c": 1})
    await carol.send(type="message", roomId="deployment:7", data={"hi": 1})
    await wait_for(lambda: len(carol.of_type("error")) == 4)
    assert [e["code"] for e in carol.of_type("error")][:1] == ["forbidden"]
    assert {e.get("roomId") for e in carol.of_type("error")} == {"project:7", "deployment:7"}
    alice = await Gateway.connect(server_url, token + "&user=alice")
    await alice.send(type="joinRoom", roomId="deployment:7")
    await alice.next("docSync")
    await alice.send(type="message", roomId="deployment:7", data={"ok": 1})
    assert (await carol.next("message"))["data"] == {"ok": 1}
    carol.close()
    alice.close()


async def test_events_need_emit_and_every_subscription_is_filtered_per_channel(server_url, token):
    status, _ = await post_event(server_url, token, "carol", "idea:3")
    assert status == 403
    watcher = await Gateway.connect(server_url, token + "&user=carol")  # reads idea:*, deployment:*
    await watcher.send(type="subscribe", channels=["*"])
    await watcher.next("subscribed")
    sse = await SSE.open(server_url, token, "*", headers=as_user("carol"))
    for channel, type_ in (
        ("idea:3", "idea.updated"),
        ("project:3", "idea.updated"),  # carol may not read project rooms
        ("deployment:3", "deployment.started"),
    ):
        status, _ = await post_event(server_url, token, "alice", channel, type_)
        assert status == 201 or (channel == "project:3" and status == 403), (channel, status)
    status, _ = await post_event(server_url, token, None, "project:3", "idea.updated")  # owner
    assert status == 201
    await wait_for(lambda: len(watcher.events()) == 2, timeout=3)
    await wait_for(lambda: len(sse.messages()) == 2)
    assert {e["channel"] for e in watcher.events()} == {"idea:3", "deployment:3"}
    assert {m["channel"] for m in sse.messages()} == {"idea:3", "deployment:3"}
    # History and replay leave it out too.
    _, history = await fetch_json(
        server_url + "omniforge/api/events?channel=*&after=0", token=token, headers=as_user("carol")
    )
    assert {e["channel"] for e in history["events"]} == {"idea:3", "deployment:3"}
    replay = await Gateway.connect(server_url, token + "&user=carol")
    await replay.send(type="subscribe", channels=["*"], lastEventId="0")
    await wait_for(lambda: len(replay.events()) >= 2)
    await asyncio.sleep(0.2)
    assert {e["channel"] for e in replay.events()} == {"idea:3", "deployment:3"}
    for client in (watcher, replay):
        client.close()
    sse.close()


async def test_rooms_rest_lists_and_shows_only_readable_rooms_and_delete_needs_delete(
    server_url, token, ws_connect
):
    await ws_connect("idea:9", user="bob")
    await ws_connect("project:9")  # the owner
    _, listed = await fetch_json(
        server_url + "omniforge/api/rooms", token=token, headers=as_user("carol")
    )
    assert [r["name"] for r in listed["rooms"]] == ["idea:9"]
    status, _ = await fetch_json(
        server_url + "omniforge/api/rooms/project:9",
        token=token,
        headers=as_user("carol"),
        raise_error=False,
    )
    assert status == 403
    status, _ = await fetch_json(
        server_url + "omniforge/api/rooms/idea:9",
        method="DELETE",
        token=token,
        headers=as_user("bob"),
        raise_error=False,
    )
    assert status == 403  # bob may write ideas, not delete them


async def test_a_user_can_ask_what_they_may_do(server_url, token):
    _, carol = await fetch_json(
        server_url + "omniforge/api/access?room=idea:5", token=token, headers=as_user("carol")
    )
    assert carol == {
        "user": "carol",
        "room": "idea:5",
        "actions": ["presence", "read"],
        "owner": False,
    }
    _, owner = await fetch_json(server_url + "omniforge/api/access?room=idea:5", token=token)
    assert owner["owner"] is True and "admin" in owner["actions"]


async def test_the_owner_may_do_everything_whatever_the_policy(server_url, token, ws_connect):
    await ws_connect("project:own")  # no rule covers project rooms: default none, but the owner
    status, _ = await post_event(server_url, token, None, "project:own", "idea.updated")
    assert status == 201


async def test_policy_edits_reach_open_sockets_within_a_second(
    ws_connect, server_url, token, policy_file, omniforge
):
    doc = Doc()
    bob = FrameReader(await ws_connect("idea:live", user="bob"))
    carol = FrameReader(await ws_connect("idea:live", user="carol"))
    # Bob loses write, Carol loses read.
    policy_file.write_text(
        POLICY.replace("users: [alice, bob]", "users: [alice]").replace(
            "users: [carol]\n    allow: [read, presence]",
            "users: [bob]\n    allow: [read, presence]",
        )
    )
    started = time.monotonic()
    await wait_for(lambda: carol.closed.is_set(), timeout=5)
    assert carol.conn.close_code == 4403 and "no longer read" in carol.conn.close_reason
    assert time.monotonic() - started < 2.5
    doc.get("code", type=Text).insert(0, "too late")
    await bob.conn.write_message(p.encode_update(doc.get_update()), binary=True)
    await wait_for(lambda: any(f[:1] == bytes([p.MESSAGE_AUTH]) for f in bob.frames))
    assert not bob.closed.is_set()
    # A file that does not parse keeps the last good rules.
    policy_file.write_text("rules: [oops")
    await asyncio.sleep(1.5)
    assert omniforge.access.policy.failed_reloads >= 1
    with pytest.raises(HTTPClientError):
        await ws_connect("idea:live", user="carol")
    _, audit = await fetch_json(server_url + "omniforge/api/audit?limit=1000", token=token)
    assert "policy.reloaded" in {e["action"] for e in audit["entries"]}


async def test_tokens_mint_narrow_expire_refresh_and_revoke(
    server_url, token, ws_connect, omniforge
):
    # Only admins mint; bob is no admin.
    status, _ = await fetch_json(
        server_url + "omniforge/api/tokens",
        method="POST",
        token=token,
        headers=as_user("bob"),
        body={"user": "zoe", "rooms": ["idea:*"], "permissions": ["read"]},
        raise_error=False,
    )
    assert status == 403
    _, minted = await fetch_json(
        server_url + "omniforge/api/tokens",
        method="POST",
        token=token,
        body={
            "user": "bob",
            "name": "Bob B",
            "rooms": ["idea:tok"],
            "permissions": ["read", "presence"],
            "ttl": 3,
        },
    )
    jwt = minted["token"]
    # The token's claims narrow: the policy lets bob write ideas, the token only reads.
    doc = Doc()
    with pytest.raises(EditsNotConfirmed, match="may not write in idea:tok"):
        async with connect_room(server_url, "idea:tok", doc, token=jwt):
            doc.get("code", type=Text).insert(0, "nope")
    # Not for rooms outside its claims, even readable ones.
    with pytest.raises(HTTPClientError) as refused:
        await ws_connect("deployment:1", token_=jwt)
    assert refused.value.code == 403
    # Who it is: sub and name, in awareness and in event sources.
    sock = FrameReader(await ws_connect("idea:tok", token_=jwt))
    watcher = FrameReader(await ws_connect("idea:tok"))
    await sock.conn.write_message(awareness_frame(77, 1, {"c": 1}), binary=True)
    state = await wait_for(lambda: watcher.states().get(77))
    assert state["user"]["username"] == "bob" and state["user"]["name"] == "Bob B"
    # It expires during the connection (3 s): closed 4401 ...
    await wait_for(lambda: sock.closed.is_set(), timeout=8)
    assert sock.conn.close_code == 4401
    # ... unless a fresh token came first, in an auth message.
    _, fresh = await fetch_json(
        server_url + "omniforge/api/tokens",
        method="POST",
        token=token,
        body={"user": "bob", "rooms": ["idea:*"], "permissions": ["read"], "ttl": 2},
    )
    _, longer = await fetch_json(
        server_url + "omniforge/api/tokens",
        method="POST",
        token=token,
        body={"user": "bob", "rooms": ["idea:*"], "permissions": ["read"], "ttl": 600},
    )
    kept = FrameReader(await ws_connect("idea:tok", token_=fresh["token"]))
    await kept.conn.write_message(
        bytes([p.MESSAGE_AUTH, p.AUTH_REFRESH]) + p.write_var_bytes(longer["token"].encode()),
        binary=True,
    )
    await asyncio.sleep(3)
    assert not kept.closed.is_set()
    # Expired at connect: 401.
    with pytest.raises(HTTPClientError) as expired:
        await ws_connect("idea:tok", token_=jwt)
    assert expired.value.code == 401
    # Revoked: its open socket closes at once, later use is refused.
    status, answer = await fetch_json(
        server_url + f"omniforge/api/tokens/{longer['jti']}", method="DELETE", token=token
    )
    assert answer["closed"] == 1
    await wait_for(lambda: kept.closed.is_set())
    assert kept.conn.close_code == 4401 and "revoked" in kept.conn.close_reason
    status, _ = await fetch_json(
        server_url + "omniforge/api/events?channel=idea:tok",
        headers={"Authorization": f"Bearer {longer['token']}"},
        raise_error=False,
    )
    assert status == 401
    # The audit trail has it all, and never a token.
    _, audit = await fetch_json(server_url + "omniforge/api/audit?limit=1000", token=token)
    actions = [e["action"] for e in audit["entries"]]
    for action in (
        "token.minted",
        "token.revoked",
        "connection.opened",
        "connection.refused",
        "permission.denied",
    ):
        assert action in actions, action
    text = json.dumps(audit)
    for secret in (jwt, fresh["token"], longer["token"], token):
        assert secret not in text
    status, _ = await fetch_json(
        server_url + "omniforge/api/audit",
        token=token,
        headers=as_user("alice"),
        raise_error=False,
    )
    assert status == 403


async def test_a_bearer_token_works_on_rest_emit_and_history(server_url, token):
    _, minted = await fetch_json(
        server_url + "omniforge/api/tokens",
        method="POST",
        token=token,
        body={"user": "alice", "rooms": ["deployment:*"], "permissions": ["read", "emit"]},
    )
    bearer = {"Authorization": f"Bearer {minted['token']}"}
    status, envelope = await fetch_json(
        server_url + "omniforge/api/events",
        method="POST",
        headers=bearer,
        body={"channel": "deployment:b", "type": "deployment.started", "data": {}},
    )
    assert status == 201 and envelope["source"] == {"username": "alice"}
    status, _ = await fetch_json(
        server_url + "omniforge/api/events",
        method="POST",
        headers=bearer,
        body={"channel": "idea:b", "type": "idea.updated", "data": {}},
        raise_error=False,
    )
    assert status == 403
    _, history = await fetch_json(server_url + "omniforge/api/events?channel=*", headers=bearer)
    assert [e["channel"] for e in history["events"]] == ["deployment:b"]


class TestABrokenPolicyAtStart:
    @pytest.fixture
    def policy_file(self, tmp_path: Path) -> Path:
        path = tmp_path / "policy.yaml"
        path.write_text("default: everything\n")
        return path

    async def test_the_server_does_not_serve_and_says_why(self, server_url, token):
        status, body = await fetch_json(
            server_url + "omniforge/api/rooms", token=token, raise_error=False
        )
        assert status == 503 and "default must be one of" in body["message"]
        status, _ = await fetch_json(server_url + "omniforge/health/ready", raise_error=False)
        assert status == 503


async def test_a_stock_y_websocket_client_with_a_room_token(ws_base, server_url, token, omniforge):
    from .nodeclient import NodeClient, ensure_node_modules, node_installed

    if not node_installed():
        pytest.skip("node is not installed")
    ensure_node_modules()
    _, minted = await fetch_json(
        server_url + "omniforge/api/tokens",
        method="POST",
        token=token,
        body={"user": "bob", "rooms": ["idea:js"], "permissions": ["read", "write", "presence"]},
    )
    async with await NodeClient.start(ws_base, "idea:js", minted["token"]) as js:
        await js.wait_synced()
        await js.check({"cmd": "insert", "root": "code", "index": 0, "text": "from a token"})
        await wait_for(
            lambda: (
                omniforge.room_manager.get("idea:js") is not None
                and str(omniforge.room_manager.get("idea:js").doc.get("code", type=Text))
                == "from a token"
            )
        )
    # The same token is refused in a room it does not name: the client never syncs.
    async with await NodeClient.start(
        ws_base, "idea:other", minted["token"], max_backoff_ms=200
    ) as js:
        closed = await js.wait_event(lambda e: e.get("event") in ("connection-close", "synced"))
        assert closed["event"] == "connection-close"


class TestAnIdentityProvidersTokens:
    """Tokens signed by the team's identity provider (RS256 here), its claims mapped to users."""

    @pytest.fixture
    def signing_key(self, tmp_path: Path):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = tmp_path / "idp.pem"
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return key, public

    @pytest.fixture
    def omniforge_config(self, policy_file: Path, signing_key) -> dict:
        return {
            "room_policy_file": str(policy_file),
            "jwt_public_key_file": str(signing_key[1]),
            "jwt_issuer": "https://idp.example",
            "jwt_audience": "omniforge",
            "jwt_username_claim": "preferred_username",
        }

    def sign(self, key, **claims) -> str:
        import jwt

        payload = {
            "iss": "https://idp.example",
            "aud": "omniforge",
            "sub": "4f2c",
            "preferred_username": "alice",
            "name": "Alice A",
            "groups": ["ops"],
            "exp": int(time.time()) + 600,
            **claims,
        }
        return jwt.encode(payload, key, algorithm="RS256")

    async def test_its_users_are_who_its_tokens_say_and_the_policy_decides(
        self, server_url, signing_key
    ):
        key = signing_key[0]
        bearer = {"Authorization": f"Bearer {self.sign(key)}"}
        status, envelope = await fetch_json(
            server_url + "omniforge/api/events",
            method="POST",
            headers=bearer,
            body={"channel": "deployment:x", "type": "deployment.started", "data": {}},
        )
        assert status == 201 and envelope["source"] == {"username": "alice"}
        # Erin is in the ops group: the rules let ops write deployments too.
        erin = {"Authorization": f"Bearer {self.sign(key, preferred_username='erin')}"}
        status, _ = await fetch_json(
            server_url + "omniforge/api/events",
            method="POST",
            headers=erin,
            body={
                "channel": "deployment:x",
                "type": "deployment.progress",
                "data": {"percent": 1, "message": "m"},
            },
        )
        assert status == 201
        for bad in (
            self.sign(key, iss="https://elsewhere"),
            self.sign(key, aud="another-app"),
            self.sign(key, exp=int(time.time()) - 10),
        ):
            status, _ = await fetch_json(
                server_url + "omniforge/api/events?channel=*",
                headers={"Authorization": f"Bearer {bad}"},
                raise_error=False,
            )
            assert status == 401
