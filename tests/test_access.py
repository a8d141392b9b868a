"""Access control stories: a rules policy enforced on every path, changes reaching open sockets,
room-scoped tokens, the owner, and the audit trail. Users are named per request
(tests/identities.py: ``X-Test-User`` or ``?user=``); the Jupyter token alone is the owner."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pycrdt import Doc, Text
from tornado.httpclient import HTTPClientError

from jupyter_omniforge.access.tokens import load_or_create_secret
from jupyter_omniforge.client import connect_room
from jupyter_omniforge.client.errors import EditsNotConfirmed
from jupyter_omniforge.client.rooms import open_connection, room_url
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
    assert [e["code"] for e in carol.of_type("error")] == ["forbidden"] * 4
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
    server_url, token, ws_connect, omniforge
):
    await ws_connect("idea:9", user="bob")
    await ws_connect("project:9")  # the owner

    async def listed_for_carol() -> list[str]:
        _, listed = await fetch_json(
            server_url + "omniforge/api/rooms", token=token, headers=as_user("carol")
        )
        return [r["name"] for r in listed["rooms"]]

    # A room is listed once it is open (its store read may end after the upgrade's answer).
    await wait_for(lambda: omniforge.room_manager.rooms.keys() >= {"idea:9", "project:9"})
    assert await listed_for_carol() == ["idea:9"]
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
    # Carol is no owner, but the rules let her read ideas: their content too.
    written = Doc()
    async with connect_room(server_url, "idea:9", written, token=token):
        written.get("code", type=Text).insert(0, "for carol")
    status, shown = await fetch_json(
        server_url + "omniforge/api/rooms/idea:9", token=token, headers=as_user("carol")
    )
    assert status == 200 and shown["content"]["code"] == "for carol"
    # Alice may delete deployments.
    async with connect_room(server_url, "deployment:9", written, token=token):
        written.get("code", type=Text).insert(0, "to go ")
    status, _ = await fetch_json(
        server_url + "omniforge/api/rooms/deployment:9",
        method="DELETE",
        token=token,
        headers=as_user("alice"),
    )
    assert status == 204
    status, _ = await fetch_json(
        server_url + "omniforge/api/rooms/deployment:9", token=token, raise_error=False
    )
    assert status == 404


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
    # Within a second: the file is looked at twice a second (access.control.CHECK_INTERVAL),
    # and its mtime has nanoseconds; the rest is the margin of a loaded machine.
    assert time.monotonic() - started < 1.5
    doc.get("code", type=Text).insert(0, "too late")
    await bob.conn.write_message(p.encode_update(doc.get_update()), binary=True)
    await wait_for(lambda: any(f[:1] == bytes([p.MESSAGE_AUTH]) for f in bob.frames))
    assert not bob.closed.is_set()
    # A file that does not parse keeps the last good rules.
    policy_file.write_text("rules: [oops")
    await wait_for(lambda: omniforge.access.policy.failed_reloads >= 1)
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
        assert status == 201 and envelope["source"] == {"username": "alice", "name": "Alice A"}
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


# -- allowed users, on every path ------------------------------------------------------------------


async def mint(server_url: str, token: str, **body) -> dict:
    """A room-scoped token minted by the owner: ``{"token", "jti", "expires", "user"}``."""
    _, minted = await fetch_json(
        server_url + "omniforge/api/tokens", method="POST", token=token, body=body
    )
    return minted


def bearer(jwt: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt}"}


async def open_stream(
    server_url: str,
    query: str,
    headers: dict[str, str] | None = None,
    path: str = "omniforge/api/events/stream",
) -> SSE:
    """Server-Sent Events of ``path?query``, authenticated only by ``headers`` (or the query)."""
    parts = urlsplit(server_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    lines = [f"GET {parts.path}{path}?{query} HTTP/1.0", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    sse = SSE(reader, writer)
    await wait_for(lambda: sse.status)
    return sse


def text_update(text: str) -> str:
    doc = Doc()
    doc.get("code", type=Text).insert(0, text)
    return base64.b64encode(doc.get_update()).decode()


async def test_an_allowed_user_writes_and_shows_presence_through_the_gateway(server_url, token):
    bob = await Gateway.connect(server_url, token + "&user=bob")
    carol = await Gateway.connect(server_url, token + "&user=carol")
    for client in (bob, carol):
        await client.send(type="joinRoom", roomId="idea:gw")
        await client.next("docSync", roomId="idea:gw")
    await bob.send(type="applyUpdate", roomId="idea:gw", update=text_update("by bob"))
    await bob.send(type="awareness", roomId="idea:gw", awareness={"cursor": 3})
    mirror = Doc()
    await wait_for(lambda: carol.text_of(mirror, "idea:gw") == "by bob")

    def bobs_state():
        for frame in carol.of_type("awareness"):
            for state in frame["states"].values():
                if state and state.get("cursor") == 3:
                    return state
        return None

    state = await wait_for(bobs_state)
    assert state["user"]["username"] == "bob"
    assert bob.of_type("error") == []


async def test_a_pycrdt_write_lands_where_the_policy_allows_it(server_url, token, omniforge):
    # The same token (read and write, idea rooms) for two users: the policy tells them apart.
    for user, allowed in (("bob", True), ("carol", False)):
        minted = await mint(
            server_url,
            token,
            user=user,
            rooms=["idea:*"],
            permissions=["read", "write", "presence"],
        )
        doc = Doc()
        if allowed:
            async with connect_room(server_url, "idea:py", doc, token=minted["token"]):
                doc.get("code", type=Text).insert(0, "by bob")
        else:
            with pytest.raises(EditsNotConfirmed, match="may not write in idea:py"):
                async with connect_room(server_url, "idea:py", doc, token=minted["token"]):
                    doc.get("code", type=Text).insert(0, "by carol ")
    await omniforge.store.rooms.flush()
    stored = Doc()
    for update in await omniforge.store.rooms.load("idea:py"):
        stored.apply_update(update)
    assert str(stored.get("code", type=Text)) == "by bob"


async def test_policy_edits_reach_open_gateway_connections(
    server_url, token, policy_file, omniforge
):
    bob = await Gateway.connect(server_url, token + "&user=bob")
    carol = await Gateway.connect(server_url, token + "&user=carol")
    for client in (bob, carol):
        await client.send(type="joinRoom", roomId="idea:gwlive")
        await client.next("docSync", roomId="idea:gwlive")
    room = omniforge.room_manager.get("idea:gwlive")
    await bob.send(type="applyUpdate", roomId="idea:gwlive", update=text_update("before"))
    await wait_for(lambda: str(room.doc.get("code", type=Text)) == "before")
    assert len(room.peers) == 2
    # Bob loses write, Carol loses read.
    policy_file.write_text(
        POLICY.replace("users: [alice, bob]", "users: [alice]").replace(
            "users: [carol]\n    allow: [read, presence]",
            "users: [bob]\n    allow: [read, presence]",
        )
    )
    started = time.monotonic()
    refusal = await carol.next("error", timeout=5, roomId="idea:gwlive")
    assert time.monotonic() - started < 1.5
    assert refusal["code"] == "forbidden" and "no longer read" in refusal["message"]
    # She left the room (her connection stays, for the rooms she may still read).
    await wait_for(lambda: len(room.peers) == 1)
    assert not carol.closed.is_set()
    await carol.send(type="applyUpdate", roomId="idea:gwlive", update=text_update("carol "))
    await wait_for(lambda: len(carol.of_type("error")) == 2)
    assert carol.of_type("error")[1]["code"] == "malformed"  # not in the room any more
    await carol.send(type="joinRoom", roomId="idea:gwlive")
    await wait_for(lambda: len(carol.of_type("error")) == 3)
    assert carol.of_type("error")[2]["code"] == "forbidden"
    # Bob's later updates are refused, and he stays.
    await bob.send(type="applyUpdate", roomId="idea:gwlive", update=text_update("after "))
    denied = await bob.next("error", roomId="idea:gwlive")
    assert denied["code"] == "forbidden" and "read-only" in denied["message"]
    assert str(room.doc.get("code", type=Text)) == "before" and not bob.closed.is_set()


async def test_the_source_of_an_event_names_the_tokens_user(server_url, token):
    minted = await mint(
        server_url,
        token,
        user="bob",
        name="Bob B",
        rooms=["idea:src"],
        permissions=["read", "emit"],
    )
    status, envelope = await fetch_json(
        server_url + "omniforge/api/events",
        method="POST",
        headers=bearer(minted["token"]),
        body={"channel": "idea:src", "type": "idea.updated", "data": {}},
    )
    assert status == 201 and envelope["source"] == {"username": "bob", "name": "Bob B"}
    gateway = await Gateway.connect(server_url, minted["token"])
    watcher = await Gateway.connect(server_url, token)
    for client in (gateway, watcher):
        await client.send(type="joinRoom", roomId="idea:src")
        await client.next("docSync")
    await gateway.send(type="message", roomId="idea:src", data={"hi": 1})
    relayed = await watcher.next("message")
    assert relayed["source"] == {"username": "bob", "name": "Bob B"}


# -- room-scoped tokens on every path --------------------------------------------------------------


async def test_a_room_token_opens_the_gateway_and_streams_by_header_and_by_query(server_url, token):
    minted = await mint(
        server_url, token, user="carol", rooms=["idea:*"], permissions=["read", "presence"]
    )
    jwt = minted["token"]
    by_query = await Gateway.connect(server_url, jwt)
    by_header = await Gateway.connect(server_url, None, headers=bearer(jwt))
    for gateway in (by_query, by_header):
        await gateway.send(type="joinRoom", roomId="idea:t")
        await gateway.next("docSync", roomId="idea:t")
        # The policy lets carol read deployments; the token names ideas only.
        await gateway.send(type="joinRoom", roomId="deployment:t")
        assert (await gateway.next("error", roomId="deployment:t"))["code"] == "forbidden"
    with pytest.raises(HTTPClientError) as refused:
        await Gateway.connect(server_url, jwt[:-4] + "AAAA")  # a forged signature
    assert refused.value.code == 401
    streams = [
        await open_stream(server_url, f"channels=*&token={jwt}"),
        await open_stream(server_url, "channels=*", bearer(jwt)),
    ]
    assert [sse.status for sse in streams] == [200, 200]
    forged = await open_stream(server_url, "channels=*", bearer(jwt[:-4] + "AAAA"))
    assert forged.status == 401
    for channel, type_ in (("deployment:t", "deployment.started"), ("idea:t", "idea.updated")):
        status, _ = await post_event(server_url, token, None, channel, type_)
        assert status == 201
    await wait_for(lambda: all(sse.messages() for sse in streams))
    assert [[m["channel"] for m in sse.messages()] for sse in streams] == [["idea:t"]] * 2


async def test_an_auth_message_keeps_a_gateway_connection_past_its_first_tokens_expiry(
    server_url, token
):
    body = {"user": "bob", "rooms": ["idea:*"], "permissions": ["read"]}
    first = await mint(server_url, token, **body, ttl=2)
    lapsing = await mint(server_url, token, **body, ttl=2)
    longer = await mint(server_url, token, **body, ttl=600)
    alices = await mint(server_url, token, **{**body, "user": "alice"}, ttl=600)
    kept = await Gateway.connect(server_url, first["token"])
    lapsed = await Gateway.connect(server_url, lapsing["token"])
    impostor = await Gateway.connect(server_url, longer["token"])
    await kept.send(type="auth", token=longer["token"])
    assert (await kept.next("authenticated"))["expires"] == longer["expires"]
    # A fresh token must be the same user's.
    await impostor.send(type="auth", token=alices["token"])
    await wait_for(lambda: impostor.closed.is_set())
    assert impostor.conn.close_code == 4401
    await wait_for(lambda: lapsed.closed.is_set(), timeout=10)
    assert lapsed.conn.close_code == 4401 and "expired" in lapsed.conn.close_reason
    assert time.time() > first["expires"]
    await kept.send(type="joinRoom", roomId="idea:kept")
    await kept.next("docSync", roomId="idea:kept")
    assert not kept.closed.is_set()


async def test_a_stream_ends_when_its_token_expires_or_is_revoked(server_url, token):
    body = {"user": "carol", "rooms": ["idea:*"], "permissions": ["read"]}
    short = await mint(server_url, token, **body, ttl=2)
    long = await mint(server_url, token, **body, ttl=600)
    expiring = await open_stream(server_url, f"channels=idea:*&token={short['token']}")
    revoked = await open_stream(server_url, "channels=idea:*", bearer(long["token"]))
    assert expiring.status == revoked.status == 200
    await wait_for(lambda: expiring.ended, timeout=10)
    assert time.time() >= short["expires"] and not revoked.ended
    _, answer = await fetch_json(
        server_url + f"omniforge/api/tokens/{long['jti']}", method="DELETE", token=token
    )
    assert answer["closed"] == 1
    await wait_for(lambda: revoked.ended)


def test_the_token_secret_is_created_readable_by_its_owner_only(omniforge, tmp_path):
    secret = Path(omniforge.token_secret_file)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    # Created once: instances that start together on one data directory share it.
    path = tmp_path / "fresh" / "token-secret"
    assert load_or_create_secret(path) == load_or_create_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["token-secret"]


async def test_a_revoked_token_stays_revoked_after_a_restart(server_process):
    server = await server_process().start()
    body = {"user": "bob", "rooms": ["idea:*"], "permissions": ["read"]}
    revoked = await mint(server.url, server.token, **body)
    kept = await mint(server.url, server.token, **body)
    await fetch_json(
        server.url + f"omniforge/api/tokens/{revoked['jti']}", method="DELETE", token=server.token
    )
    server.stop()
    server = await server_process(db=server.db).start()
    status, _ = await fetch_json(
        server.url + "omniforge/api/events?channel=idea:*",
        headers=bearer(revoked["token"]),
        raise_error=False,
    )
    assert status == 401
    with pytest.raises(HTTPClientError) as refused:
        await open_connection(room_url(server.url, "idea:1", revoked["token"]))
    assert refused.value.code == 401
    status, _ = await fetch_json(
        server.url + "omniforge/api/events?channel=idea:*", headers=bearer(kept["token"])
    )
    assert status == 200


@pytest.mark.timeout(180)
async def test_a_revocation_on_one_instance_holds_on_every_instance(server_process, tmp_path):
    from .cluster import RedisProcess

    redis = RedisProcess(tmp_path / "redis").start()
    try:

        def instance(i: int):
            return server_process(
                [f"--OmniForgeApp.redis_url={redis.url}"],
                db=tmp_path / f"instance{i}" / "omniforge.sqlite",
            )

        a, b = instance(0), instance(1)
        await a.start()
        await b.start()
        body = {"user": "bob", "rooms": ["idea:*"], "permissions": ["read"]}
        revoked = await mint(a.url, a.token, **body)
        kept = await mint(a.url, a.token, **body)
        # A socket on b uses the token that a revokes: it closes at once.
        conn = await open_connection(room_url(b.url, "idea:r", revoked["token"]))

        async def read_until_closed():
            while await conn.read_message() is not None:
                pass

        reader = asyncio.ensure_future(read_until_closed())
        _, answer = await fetch_json(
            a.url + f"omniforge/api/tokens/{revoked['jti']}", method="DELETE", token=a.token
        )
        assert answer["closed"] == 0  # its socket is on b
        await asyncio.wait_for(reader, 10)
        conn.close()
        assert conn.close_code == 4401 and "revoked" in conn.close_reason
        # An instance that starts later knows it too.
        c = instance(2)
        await c.start()
        for server in (b, c):
            status, _ = await fetch_json(
                server.url + "omniforge/api/events?channel=idea:*",
                headers=bearer(revoked["token"]),
                raise_error=False,
            )
            assert status == 401, server.url
            status, _ = await fetch_json(
                server.url + "omniforge/api/events?channel=idea:*", headers=bearer(kept["token"])
            )
            assert status == 200, server.url
    finally:
        redis.stop()


# -- an app's namespaced rooms and endpoints -------------------------------------------------------


APP_POLICY = """
default: none
rules:
  - rooms: "shop/order:*"
    users: [alice]
    allow: [read, write, presence, emit]
  - rooms: "shop/order:*"
    users: [carol]
    allow: [read, presence]
  - rooms: "idea:*"
    users: [erin]
    allow: [read]
"""


class TestAnAppsRoomsUnderAPolicy:
    """The hand-written app of tests/agent_app.py (namespace ``shop``), its rooms named in the
    rules like any other: ``shop/order:*``."""

    @pytest.fixture
    def policy_file(self, tmp_path: Path) -> Path:
        path = tmp_path / "policy.yaml"
        path.write_text(APP_POLICY)
        return path

    @pytest.fixture
    def jp_server_config(self, jp_server_config):
        jp_server_config["ServerApp"]["jpserver_extensions"]["tests.agent_app"] = True
        return jp_server_config

    async def test_its_room_socket_asks_the_rules(self, server_url, token, omniforge):
        url = "ws" + server_url[len("http") :] + f"shop/rooms/order:1?token={token}&user="
        with pytest.raises(HTTPClientError) as refused:
            await open_connection(url + "erin")  # reads ideas, not orders
        assert refused.value.code == 403
        alice = FrameReader(await open_connection(url + "alice"))
        carol = FrameReader(await open_connection(url + "carol"))
        try:
            doc = Doc()
            doc.get("notes", type=Text).insert(0, "by carol")
            await carol.conn.write_message(p.encode_update(doc.get_update()), binary=True)
            await wait_for(lambda: any(f[:1] == bytes([p.MESSAGE_AUTH]) for f in carol.frames))
            doc = Doc()
            doc.get("notes", type=Text).insert(0, "by alice")
            await alice.conn.write_message(p.encode_update(doc.get_update()), binary=True)
            room = omniforge.room_manager.get("shop/order:1")
            await wait_for(lambda: str(room.doc.get("notes", type=Text)) == "by alice")
            assert not any(f[:1] == bytes([p.MESSAGE_AUTH]) for f in alice.frames)
        finally:
            alice.conn.close()
            carol.conn.close()

    async def test_its_events_post_history_and_stream_ask_the_rules(self, server_url, token):
        streams = {
            user: await open_stream(
                server_url,
                f"channels=order:*&user={user}",
                {"Authorization": f"token {token}"},
                path="shop/events/stream",
            )
            for user in ("alice", "erin", "dave")
        }
        assert {u: s.status for u, s in streams.items()} == {"alice": 200, "erin": 200, "dave": 403}
        order = {"channel": "order:1", "type": "order.placed", "data": {"total": 3}}
        answers = {}
        for user in ("carol", "erin", "alice"):
            answers[user], _ = await fetch_json(
                server_url + "shop/events",
                method="POST",
                token=token,
                headers=as_user(user),
                body=order,
                raise_error=False,
            )
        assert answers == {"carol": 403, "erin": 403, "alice": 201}
        await wait_for(lambda: streams["alice"].messages())
        assert [m["channel"] for m in streams["alice"].messages()] == ["shop/order:1"]
        pages = {}
        for user in ("carol", "erin", "dave"):
            status, page = await fetch_json(
                server_url + "shop/events?channel=order:*&after=0",
                token=token,
                headers=as_user(user),
                raise_error=False,
            )
            pages[user] = (
                status,
                [e["channel"] for e in page["events"]] if status == 200 else None,
            )
        assert pages == {
            "carol": (200, ["shop/order:1"]),
            "erin": (200, []),  # reads ideas only: orders are filtered out
            "dave": (403, None),  # reads nothing at all
        }
        # Erin's stream, fed by the same fan-out as Alice's, never got the order.
        assert streams["erin"].messages() == []


# -- tokens of a team's identity provider: ES256 keys, a JWKS file ---------------------------------


class TestAnIdentityProvidersKeySet:
    """An ES256 key, given as a PEM file or in a JWKS file (found by the token's ``kid``)."""

    @pytest.fixture(params=["pem", "jwks"])
    def signing_key(self, request, tmp_path: Path):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from jwt.algorithms import ECAlgorithm, RSAAlgorithm

        key = ec.generate_private_key(ec.SECP256R1())
        path = tmp_path / f"idp.{request.param}"
        if request.param == "pem":
            path.write_bytes(
                key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
            return key, None, path
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        keys = [
            {
                **RSAAlgorithm.to_jwk(other.public_key(), as_dict=True),
                "kid": "2024",
                "alg": "RS256",
            },
            {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "2025", "alg": "ES256"},
        ]
        path.write_text(json.dumps({"keys": keys}))
        return key, "2025", path

    @pytest.fixture
    def omniforge_config(self, policy_file: Path, signing_key) -> dict:
        return {
            "room_policy_file": str(policy_file),
            "jwt_public_key_file": str(signing_key[2]),
            "jwt_issuer": "https://idp.example",
            "jwt_audience": "omniforge",
        }

    def sign(self, key, kid, **claims) -> str:
        import jwt

        payload = {
            "iss": "https://idp.example",
            "aud": "omniforge",
            "sub": "bob",
            "name": "Bob B",
            "exp": int(time.time()) + 600,
            **claims,
        }
        headers = {"kid": kid} if kid else None
        return jwt.encode(payload, key, algorithm="ES256", headers=headers)

    async def test_its_tokens_open_rooms_the_policy_allows(self, server_url, token, signing_key):
        from cryptography.hazmat.primitives.asymmetric import ec

        key, kid, _ = signing_key
        jwt = self.sign(key, kid)
        status, envelope = await fetch_json(
            server_url + "omniforge/api/events",
            method="POST",
            headers=bearer(jwt),
            body={"channel": "idea:idp", "type": "idea.updated", "data": {}},
        )
        assert status == 201 and envelope["source"] == {"username": "bob", "name": "Bob B"}
        # On a room socket: bob, as the token names him, with what the rules allow him.
        url = room_url(server_url, "idea:idp", jwt)
        sock = FrameReader(await open_connection(url))
        watcher = FrameReader(await open_connection(room_url(server_url, "idea:idp", token)))
        try:
            await sock.conn.write_message(awareness_frame(88, 1, {"c": 1}), binary=True)
            state = await wait_for(lambda: watcher.states().get(88))
            assert state["user"]["username"] == "bob" and state["user"]["name"] == "Bob B"
        finally:
            sock.conn.close()
            watcher.conn.close()
        # Carol may not write ideas: her token opens the room, her edits are refused.
        doc = Doc()
        with pytest.raises(EditsNotConfirmed, match="may not write"):
            async with connect_room(
                server_url, "idea:idp", doc, token=self.sign(key, kid, sub="carol")
            ):
                doc.get("code", type=Text).insert(0, "by carol")
        with pytest.raises(HTTPClientError) as refused:
            await open_connection(room_url(server_url, "idea:idp", self.sign(key, kid, sub="dave")))
        assert refused.value.code == 403
        stranger = ec.generate_private_key(ec.SECP256R1())
        bad = [self.sign(stranger, kid)]
        if kid:
            bad.append(self.sign(key, "1999"))  # a kid the key set does not have
        for forged in bad:
            with pytest.raises(HTTPClientError) as refused:
                await open_connection(room_url(server_url, "idea:idp", forged))
            assert refused.value.code == 401


# -- the stock y-websocket client: presence refused, a policy edit, an expired token ---------------


@pytest.fixture
def node_client():
    from .nodeclient import NodeClient, ensure_node_modules, node_installed

    if not node_installed():
        pytest.skip("node is not installed")
    ensure_node_modules()
    return NodeClient


async def test_a_stock_client_without_presence_is_not_shown(
    ws_base, server_url, token, omniforge, node_client
):
    body = {"rooms": ["deployment:*"], "permissions": ["read", "presence"]}
    alice = await mint(server_url, token, user="alice", **body)  # ops: presence too
    erin = await mint(server_url, token, user="erin", **body)  # everyone else: read only
    async with (
        await node_client.start(ws_base, "deployment:js", alice["token"]) as shown,
        await node_client.start(ws_base, "deployment:js", erin["token"]) as hidden,
    ):
        for client in (shown, hidden):
            await client.wait_synced()
            await client.check({"cmd": "awareness", "state": {"status": "here"}})
        await wait_for(lambda: "may not publish presence" in hidden.stderr)
        room = omniforge.room_manager.get("deployment:js")
        await wait_for(lambda: shown.client_id in room.awareness.states())
        assert hidden.client_id not in room.awareness.states()


async def test_a_stock_client_is_closed_4403_when_the_policy_takes_read_away(
    ws_base, server_url, token, policy_file, node_client
):
    carol = await mint(server_url, token, user="carol", rooms=["idea:*"], permissions=["read"])
    async with await node_client.start(
        ws_base, "idea:jsl", carol["token"], max_backoff_ms=200
    ) as js:
        await js.wait_synced()
        policy_file.write_text(POLICY.replace("users: [carol]", "users: [zoe]"))
        closed = await js.wait_event(lambda e: e.get("event") == "connection-close")
        assert closed["code"] == 4403 and "no longer read" in closed["reason"]


async def test_a_stock_client_is_closed_4401_when_its_token_expires(
    ws_base, server_url, token, node_client
):
    bob = await mint(server_url, token, user="bob", rooms=["idea:*"], permissions=["read"], ttl=2)
    async with await node_client.start(ws_base, "idea:jsx", bob["token"], max_backoff_ms=200) as js:
        await js.wait_synced()
        closed = await js.wait_event(lambda e: e.get("event") == "connection-close", timeout=10)
        assert closed["code"] == 4401 and "expired" in closed["reason"]
