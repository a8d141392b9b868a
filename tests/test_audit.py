"""The audit trail: every refusal reaches it (once per connection and reason, however often a
client repeats it), it answers by user and from a cursor, it records deletions, it keeps at
most what the retention allows, and neither it nor the server's log ever holds a token or the
token secret. Users are named per request (tests/identities.py); the Jupyter token alone is the
owner."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path

import pytest
from pycrdt import Doc, Text

from jupyter_omniforge.client import connect_room
from jupyter_omniforge.rooms import protocol as p
from jupyter_omniforge.store import StoreSettings
from jupyter_omniforge.store.sqlite import Database, SQLiteAuditLog, SQLiteStore

from .conftest import fetch_json, wait_for
from .realtime import Gateway
from .test_access import POLICY, as_user
from .test_rooms import FrameReader, awareness_frame


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


@pytest.fixture
def omniforge_config(policy_file: Path) -> dict:
    return {"room_policy_file": str(policy_file)}


async def audit(
    server_url: str, token: str, query: str = "limit=1000", owner: str = ""
) -> list[dict]:
    """The audit trail as the owner reads it. A query naming ``user=`` needs the owner named
    (``owner``): the tests' identities read ``user=`` too."""
    _, body = await fetch_json(
        server_url + f"omniforge/api/audit?{query}",
        token=token,
        headers=as_user(owner) if owner else None,
    )
    return body["entries"]


def denials(entries: list[dict], user: str, room: str) -> list[str]:
    return [
        e["details"]["wanted"]
        for e in entries
        if e["action"] == "permission.denied" and e["user"] == user and e["room"] == room
    ]


def an_update(text: str) -> bytes:
    doc = Doc()
    doc.get("code", type=Text).insert(0, text)
    return doc.get_update()


async def test_refused_writes_and_presence_reach_the_audit_once_per_connection(
    server_url, token, ws_connect
):
    # Carol reads idea rooms and shows presence there, but may not write; in deployment rooms
    # she only reads.
    idea = FrameReader(await ws_connect("idea:a1", user="carol"))
    deployment = FrameReader(await ws_connect("deployment:a1", user="carol"))
    for i in range(20):  # a flood of refused writes and presence
        await idea.conn.write_message(p.encode_update(an_update(f"vandal {i}")), binary=True)
        await deployment.conn.write_message(awareness_frame(9, i + 1, {"i": i}), binary=True)
    await wait_for(lambda: any(f[:1] == bytes([p.MESSAGE_AUTH]) for f in idea.frames))
    await wait_for(lambda: any(f[:1] == bytes([p.MESSAGE_AUTH]) for f in deployment.frames))
    # The gateway's applyUpdate and awareness, refused the same way.
    gateway = await Gateway.connect(server_url, token + "&user=carol")
    await gateway.send(type="joinRoom", roomId="deployment:a2")
    await gateway.next("docSync", roomId="deployment:a2")
    update = base64.b64encode(an_update("x")).decode()
    for i in range(10):
        await gateway.send(type="applyUpdate", roomId="deployment:a2", update=update)
        await gateway.send(type="awareness", roomId="deployment:a2", awareness={"i": i})
    await wait_for(lambda: len(gateway.of_type("error")) >= 10)
    await asyncio.sleep(0.3)  # let the last awareness frames arrive too

    async def recorded() -> bool:
        entries = await audit(server_url, token)
        return (
            denials(entries, "carol", "idea:a1") == ["write"]
            and denials(entries, "carol", "deployment:a1") == ["presence"]
            and sorted(denials(entries, "carol", "deployment:a2")) == ["presence", "write"]
        )

    deadline = time.monotonic() + 5
    while not await recorded():
        assert time.monotonic() < deadline, await audit(server_url, token)
        await asyncio.sleep(0.1)
    # A second connection is a second record, still one per reason.
    again = FrameReader(await ws_connect("idea:a1", user="carol"))
    for i in range(5):
        await again.conn.write_message(p.encode_update(an_update(f"again {i}")), binary=True)
    await wait_for(lambda: any(f[:1] == bytes([p.MESSAGE_AUTH]) for f in again.frames))
    await asyncio.sleep(0.2)
    assert denials(await audit(server_url, token), "carol", "idea:a1") == ["write", "write"]
    gateway.close()


async def test_the_audit_answers_by_user_and_after_a_cursor(server_url, token, omniforge):
    owner = omniforge.access.owner_username
    for user, room in (("carol", "project:u1"), ("dave", "idea:u1"), ("carol", "project:u2")):
        status, _ = await fetch_json(
            server_url + f"omniforge/api/rooms/{room}",
            token=token,
            headers=as_user(user),
            raise_error=False,
        )
        assert status == 403
    carols = await audit(server_url, token, "user=carol&limit=1000", owner)
    assert carols and {e["user"] for e in carols} == {"carol"}
    assert [e["room"] for e in carols if e["action"] == "permission.denied"] == [
        "project:u1",
        "project:u2",
    ]
    everything = await audit(server_url, token)
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids) and len(ids) >= 3
    # After a cursor: only what came later, oldest first, `limit` at most.
    middle = ids[len(ids) // 2]
    later = await audit(server_url, token, f"after={middle}&limit=1000")
    assert [e["id"] for e in later] == [i for i in ids if i > middle]
    assert [e["id"] for e in await audit(server_url, token, f"after={middle}&limit=1")] == [
        ids[ids.index(middle) + 1]
    ]
    # Both together: carol's, after her first entry.
    after_first = await audit(server_url, token, f"user=carol&after={carols[0]['id']}", owner)
    assert after_first == carols[1:]
    # Without a cursor, `limit` gives the newest.
    assert await audit(server_url, token, "limit=2") == everything[-2:]


async def test_deleting_a_room_is_audited_with_who_did_it(server_url, token):
    doc = Doc()
    async with connect_room(server_url, "deployment:gone", doc, token=token):
        doc.get("code", type=Text).insert(0, "to be deleted")
    status, _ = await fetch_json(
        server_url + "omniforge/api/rooms/deployment:gone",
        method="DELETE",
        token=token,
        headers=as_user("erin"),  # reads deployment rooms, may not delete them
        raise_error=False,
    )
    assert status == 403
    status, _ = await fetch_json(
        server_url + "omniforge/api/rooms/deployment:gone",
        method="DELETE",
        token=token,
        headers=as_user("alice"),
    )
    assert status == 204
    entries = await audit(server_url, token, "room=deployment:gone&limit=1000")
    assert [(e["action"], e["user"]) for e in entries if e["action"] == "room.deleted"] == [
        ("room.deleted", "alice")
    ]
    assert denials(entries, "erin", "deployment:gone") == ["delete"]


async def test_the_audit_keeps_at_most_the_event_retention_count(tmp_path, omniforge):
    # The server keeps as many audit entries as events per channel.
    assert omniforge.store.audit.max_entries == omniforge.event_retention_count
    database = Database(tmp_path / "audit.sqlite")
    log = SQLiteAuditLog(database, max_entries=5, commit_interval=0)
    await log.start()
    try:
        for i in range(12):
            log.record("permission.denied", user=f"u{i}", room="idea:1", wanted="write")
            if i % 4 == 3:
                await log.flush()  # several commits, each trimming
        entries = await log.read(limit=100)
        assert [e["user"] for e in entries] == [f"u{i}" for i in range(7, 12)]
    finally:
        await log.close()
        await database.close()


async def test_no_token_or_secret_reaches_the_log(server_process, tmp_path):
    secret_file = tmp_path / "token-secret"
    server = await server_process(
        [
            "--ServerApp.log_level=DEBUG",
            "--OmniForgeApp.log_level=DEBUG",
            f"--OmniForgeApp.token_secret_file={secret_file}",
        ]
    ).start()
    _, minted = await fetch_json(
        server.url + "omniforge/api/tokens",
        method="POST",
        token=server.token,
        body={"user": "bob", "rooms": ["idea:*"], "permissions": ["read", "write", "emit"]},
    )
    jwt = minted["token"]
    by_query = server.url + f"omniforge/api/events?channel=idea:log&token={jwt}"
    status, _ = await fetch_json(by_query)
    assert status == 200
    bearer = {"Authorization": f"Bearer {jwt}"}
    status, _ = await fetch_json(
        server.url + "omniforge/api/events",
        method="POST",
        headers=bearer,
        body={"channel": "idea:log", "type": "idea.updated", "data": {}},
    )
    assert status == 201
    # Refused uses are logged (warnings), with the URI: a room the token does not name, a
    # token that was tampered with.
    status, _ = await fetch_json(
        server.url + f"omniforge/api/events?token={jwt}",
        method="POST",
        body={"channel": "project:log", "type": "idea.updated", "data": {}},
        raise_error=False,
    )
    assert status == 403
    status, _ = await fetch_json(
        server.url + f"omniforge/api/events?channel=idea:log&token={jwt}x", raise_error=False
    )
    assert status in (401, 403)
    doc = Doc()
    async with connect_room(server.url, "idea:log", doc, token=jwt):
        doc.get("code", type=Text).insert(0, "hello")
    status, _ = await fetch_json(
        server.url + f"omniforge/api/tokens/{minted['jti']}", method="DELETE", token=server.token
    )
    assert status == 200
    status, _ = await fetch_json(by_query, raise_error=False)
    assert status in (401, 403)  # revoked
    status, _ = await fetch_json(
        server.url + "omniforge/api/events?channel=idea:log", headers=bearer, raise_error=False
    )
    assert status in (401, 403)
    server.stop()
    log = server.log_path.read_text(errors="replace")
    assert "omniforge/api/events" in log  # the requests were logged
    secret = secret_file.read_text().strip()
    signature = jwt.rsplit(".", 1)[1]
    for needle in (jwt, signature, secret, base64.b64decode(secret).hex()):
        assert needle not in log, needle
    # Nor does the audit trail, as the store holds it.
    store = SQLiteStore(StoreSettings(path=str(server.db)))
    await store.start()
    try:
        entries = await store.audit.read(limit=1000)
    finally:
        await store.close()
    assert {"token.minted", "token.revoked"} <= {e["action"] for e in entries}
    assert signature not in str(entries) and secret not in str(entries)
