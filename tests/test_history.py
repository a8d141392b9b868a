"""Version history stories: versions taken after a quiet spell and every N updates, with the
users who wrote them; named versions; paging; old content and diffs; a restore that moves
forward while others type; retention that never touches the document; history across a
restart; and the bad input the endpoints refuse."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import pytest
from pycrdt import Doc, Text
from tornado.httpclient import HTTPClientError

from jupyter_omniforge.auth import color_for
from jupyter_omniforge.client import connect_room
from jupyter_omniforge.history import authorship
from jupyter_omniforge.rooms import protocol as p
from jupyter_omniforge.store import SQLiteStore, StoreSettings
from jupyter_omniforge.store.crypto import Cipher, read_key_file, write_key_file
from jupyter_omniforge.store.sqlite import rotation

from .conftest import fetch_json, wait_for
from .identities import USER_HEADER

IDLE = 0.3


@pytest.fixture
def omniforge_config() -> dict:
    return {"history_checkpoint_idle": IDLE}


def api(server_url: str, room: str, path: str = "") -> str:
    return f"{server_url}omniforge/api/rooms/{quote(room)}{path}"


async def mint(server_url: str, token: str, user: str, permissions: list[str]) -> str:
    """A room-scoped token of ``user``, minted by the owner."""
    _, minted = await fetch_json(
        server_url + "omniforge/api/tokens",
        method="POST",
        token=token,
        body={"user": user, "rooms": ["idea:*"], "permissions": permissions},
    )
    return minted["token"]


async def versions(server_url: str, token: str, room: str, query: str = "") -> list[dict]:
    _, page = await fetch_json(api(server_url, room, f"/versions{query}"), token=token)
    return page["versions"]


async def text_of(server_url: str, token: str, room: str, version: str) -> str:
    _, body = await fetch_json(api(server_url, room, f"/versions/{version}"), token=token)
    return body["content"].get("code", "")


async def name(server_url: str, token: str, room: str, label: str, user: str = "") -> dict:
    headers = {USER_HEADER: user} if user else None
    status, version = await fetch_json(
        api(server_url, room, "/versions"),
        method="POST",
        token=token,
        body={"label": label},
        headers=headers,
    )
    assert status == 201, version
    return version


async def write(server_url: str, token: str, room: str, edit) -> None:
    """Connect as the token's user, make ``edit(text)``, and leave once the server has it."""
    doc = Doc()
    async with connect_room(server_url, room, doc, token=token):
        edit(doc.get("code", type=Text))


async def test_a_quiet_spell_makes_a_version_with_its_authors(server_url, token):
    alice = await mint(server_url, token, "alice", ["read", "write"])
    bob = await mint(server_url, token, "bob", ["read", "write"])
    await write(server_url, alice, "idea:h1", lambda text: text.insert(0, "Hello from Alice. "))
    await write(server_url, bob, "idea:h1", lambda text: text.insert(len(text), "Bob here."))

    found = await wait_for(lambda: versions(server_url, token, "idea:h1"), timeout=10)
    (version,) = found
    assert version["kind"] == "auto" and version["label"] is None
    assert {a["username"]: a["updates"] >= 1 for a in version["authors"]} == {
        "alice": True,
        "bob": True,
    }
    assert version["size"] > 0
    assert await text_of(server_url, token, "idea:h1", version["id"]) == (
        "Hello from Alice. Bob here."
    )

    _, blame = await fetch_json(api(server_url, "idea:h1", "/blame?root=code"), token=token)
    assert blame["text"] == "Hello from Alice. Bob here."
    assert [(r["start"], r["end"], r["author"]) for r in blame["ranges"]] == [
        (0, 18, "alice"),
        (18, 27, "bob"),
    ]


class TestEveryNUpdates:
    @pytest.fixture
    def omniforge_config(self) -> dict:
        return {"history_checkpoint_idle": 600, "history_checkpoint_updates": 5}

    async def test_a_version_every_five_updates(self, server_url, token):
        doc = Doc()
        async with connect_room(server_url, "idea:n", doc, token=token) as conn:
            text = doc.get("code", type=Text)
            for i in range(12):
                text.insert(len(text), str(i % 10))
                await conn.confirm(10)  # one update each, as a typist's keystrokes

        found = await wait_for(
            lambda: _at_least(versions(server_url, token, "idea:n"), 2), timeout=10
        )
        assert all(v["kind"] == "auto" for v in found)
        newest = await text_of(server_url, token, "idea:n", found[0]["id"])
        assert "0123456789".startswith(newest[:10]) and len(newest) >= 10


async def _at_least(listing, count: int):
    found = await listing
    return found if len(found) >= count else None


async def test_named_versions_page_newest_first(server_url, token):
    await write(server_url, token, "idea:pages", lambda text: text.insert(0, "v"))
    made = []
    for i in range(5):
        made.append(await name(server_url, token, "idea:pages", f"step {i}"))
    assert [v["kind"] for v in made] == ["named"] * 5

    seen, before = [], None
    while True:
        query = "?limit=2" + (f"&before={before}" if before else "")
        _, page = await fetch_json(api(server_url, "idea:pages", f"/versions{query}"), token=token)
        assert len(page["versions"]) <= 2
        seen += page["versions"]
        before = page["next"]
        if before is None:
            break
    labels = [v["label"] for v in seen if v["kind"] == "named"]
    assert labels == [f"step {i}" for i in reversed(range(5))]
    assert len({v["id"] for v in seen}) == len(seen)


async def test_old_content_and_a_diff_with_authors(server_url, token):
    alice = await mint(server_url, token, "alice", ["read", "write"])
    await write(server_url, alice, "idea:diff", lambda text: text.insert(0, "one\ntwo\n"))
    first = await name(server_url, token, "idea:diff", "before")
    bob = await mint(server_url, token, "bob", ["read", "write"])

    def edit(text: Text) -> None:
        del text[0:4]  # "one\n", written by alice
        text.insert(len(text), "three\n")

    await write(server_url, bob, "idea:diff", edit)
    assert await text_of(server_url, token, "idea:diff", first["id"]) == "one\ntwo\n"

    _, diff = await fetch_json(
        api(server_url, "idea:diff", f"/versions/{first['id']}/diff/current"), token=token
    )
    assert diff["from"] == first["id"] and diff["to"] == "current"
    code = diff["roots"]["code"]
    assert code["type"] == "text"
    assert "-one" in code["unified"] and "+three" in code["unified"]
    assert [(d["text"], d["author"]) for d in code["deleted"]] == [("one\n", "alice")]
    assert [(i["text"], i["author"]) for i in code["inserted"]] == [("three\n", "bob")]

    second = await name(server_url, token, "idea:diff", "after")
    _, between = await fetch_json(
        api(server_url, "idea:diff", f"/versions/{first['id']}/diff/{second['id']}"), token=token
    )
    assert between["roots"]["code"] == code


async def test_a_restore_while_someone_types_converges_and_keeps_their_typing(
    server_url, token, omniforge
):
    alice = await mint(server_url, token, "alice", ["read", "write"])
    await write(server_url, alice, "idea:restore", lambda text: text.insert(0, "kept\n"))
    good = await name(server_url, token, "idea:restore", "good")
    await write(server_url, alice, "idea:restore", lambda text: text.insert(5, "mistake\n"))

    events_before = await _restored_events(server_url, token, "idea:restore")
    doc = Doc()
    async with connect_room(server_url, "idea:restore", doc, token=alice):
        text = doc.get("code", type=Text)
        typing = asyncio.Event()
        typed = 0

        async def type_along() -> None:
            nonlocal typed
            for i in range(40):
                text.insert(len(text), "z")
                typed += 1
                if i == 5:
                    typing.set()
                await asyncio.sleep(0.01)

        typist = asyncio.ensure_future(type_along())
        await typing.wait()
        status, restored = await fetch_json(
            api(server_url, "idea:restore", f"/versions/{good['id']}/restore"),
            method="POST",
            token=token,
        )
        assert status == 200, restored
        typed_before_the_answer = typed
        await typist
        text.insert(len(text), "\nafter")

    room = omniforge.room_manager.get("idea:restore")
    server_text = await wait_for(
        lambda: str(room.doc.get("code", type=Text)) == str(text) and str(text), timeout=10
    )
    assert server_text.startswith("kept\n") and "mistake" not in server_text
    assert server_text.endswith("\nafter")
    # What alice typed once the restore was answered is all there (and what it did not see
    # yet when it was made).
    assert server_text.count("z") >= 40 - typed_before_the_answer > 0
    version = restored["version"]
    assert version["kind"] == "restored"
    assert version["label"] == f"restored from {good['id']}"

    events = await _restored_events(server_url, token, "idea:restore")
    (event,) = events[len(events_before) :]
    assert event["data"] == {
        "version": good["id"],
        "restored_as": version["id"],
        "username": event["source"]["username"],
    }
    _, audit = await fetch_json(server_url + "omniforge/api/audit", token=token)
    assert "room.restored" in {entry["action"] for entry in audit["entries"]}


async def _restored_events(server_url: str, token: str, room: str) -> list[dict]:
    _, page = await fetch_json(
        server_url + f"omniforge/api/events?channel={quote(room)}", token=token
    )
    return [e for e in page["events"] if e["type"] == "room.restored"]


async def test_an_offline_client_merges_on_top_of_a_restore(server_url, token, omniforge):
    await write(server_url, token, "idea:offline", lambda text: text.insert(0, "base\n"))
    base = await name(server_url, token, "idea:offline", "base")
    await write(server_url, token, "idea:offline", lambda text: text.insert(5, "later\n"))

    offline = Doc()
    async with connect_room(server_url, "idea:offline", offline, token=token):
        pass  # synced, then gone
    offline.get("code", type=Text).insert(0, "OFFLINE ")  # while away

    status, _ = await fetch_json(
        api(server_url, "idea:offline", f"/versions/{base['id']}/restore"),
        method="POST",
        token=token,
    )
    assert status == 200
    async with connect_room(server_url, "idea:offline", offline, token=token):
        pass
    await omniforge.store.rooms.flush()
    _, room = await fetch_json(api(server_url, "idea:offline"), token=token)
    assert room["content"]["code"] == "OFFLINE base\n"
    assert str(offline.get("code", type=Text)) == "OFFLINE base\n"


class TestRetention:
    @pytest.fixture
    def omniforge_config(self) -> dict:
        return {
            "history_checkpoint_idle": 600,
            "history_checkpoint_updates": 1,
            "history_max_versions": 3,
        }

    async def test_pruning_keeps_named_versions_and_never_changes_the_document(
        self, server_url, token
    ):
        doc = Doc()
        async with connect_room(server_url, "idea:ret", doc, token=token) as conn:
            text = doc.get("code", type=Text)
            text.insert(0, "start ")
            await conn.confirm(10)
            named = await name(server_url, token, "idea:ret", "keep me")
            for i in range(8):
                text.insert(len(text), f"{i}")
                await conn.confirm(10)
        expected = "start 01234567"
        # Pruned down to 3 (fails by timing out otherwise).
        listed = await wait_for(
            lambda: _newest_holds(server_url, token, "idea:ret", expected, at_most=3), timeout=10
        )
        assert named["id"] in {v["id"] for v in listed}
        assert await text_of(server_url, token, "idea:ret", named["id"]) == "start "
        _, room = await fetch_json(api(server_url, "idea:ret"), token=token)
        assert room["content"]["code"] == expected


async def _newest_holds(server_url: str, token: str, room: str, expected: str, at_most: int):
    listed = await versions(server_url, token, room, "?limit=1000")
    if len(listed) > at_most:
        return None
    try:
        if listed and await text_of(server_url, token, room, listed[0]["id"]) == expected:
            return listed
    except HTTPClientError as e:
        if e.code != 404:  # pruned between the list and the read: list again
            raise
    return None


class TestPermissions:
    @pytest.fixture
    def omniforge_config(self, tmp_path: Path) -> dict:
        policy = tmp_path / "policy.yaml"
        policy.write_text(
            "default: none\nrules:\n"
            '  - rooms: "idea:*"\n    users: [alice]\n    allow: [read, write, presence]\n'
            '  - rooms: "idea:*"\n    users: [carol]\n    allow: [read, presence]\n'
        )
        return {"history_checkpoint_idle": IDLE, "room_policy_file": str(policy)}

    async def test_a_reader_may_list_but_not_name_or_restore(self, server_url, token):
        await write(server_url, token, "idea:perm", lambda text: text.insert(0, "x"))
        version = await name(server_url, token, "idea:perm", "by alice", user="alice")
        carol = {USER_HEADER: "carol"}
        status, page = await fetch_json(
            api(server_url, "idea:perm", "/versions"), token=token, headers=carol
        )
        assert status == 200 and version["id"] in {v["id"] for v in page["versions"]}
        for path, body in (
            ("/versions", {"label": "mine"}),
            (f"/versions/{version['id']}/restore", None),
        ):
            status, refused = await fetch_json(
                api(server_url, "idea:perm", path),
                method="POST",
                token=token,
                body=body,
                headers=carol,
                raise_error=False,
            )
            assert status == 403, refused
            assert "carol may not write" in refused["message"]
        status, _ = await fetch_json(
            api(server_url, "idea:perm", "/versions"),
            token=token,
            headers={USER_HEADER: "mallory"},
            raise_error=False,
        )
        assert status == 403


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "reason"),
    [
        ("GET", "/versions?limit=-1", None, 400, "limit"),
        ("GET", f"/versions?limit={10**30}", None, 400, "limit"),
        ("GET", "/versions?limit=NaN", None, 400, "limit"),
        ("GET", "/versions?limit=0", None, 400, "limit"),
        ("GET", "/versions?limit=1001", None, 400, "limit"),
        ("GET", "/versions?before=abc", None, 400, "before"),
        ("GET", "/versions/999999", None, 404, "no version"),
        ("GET", "/versions/abc", None, 404, "no version"),
        ("GET", f"/versions/{'9' * 40}", None, 404, "no version"),
        ("GET", "/versions/999999/diff/current", None, 404, "no version"),
        ("POST", "/versions/nope/restore", None, 404, "no version"),
        ("POST", "/versions", {"label": "x" * 201}, 400, "label"),
        ("POST", "/versions", {"label": ""}, 400, "label"),
        ("POST", "/versions", {"label": 7}, 400, "label"),
        ("POST", "/versions", [1, 2], 400, "label"),
        ("GET", "/blame?root=nothere", None, 400, "no root"),
    ],
)
async def test_bad_input_gets_a_reason(server_url, token, method, path, body, status, reason):
    await write(server_url, token, "idea:bad", lambda text: text.insert(0, "x"))
    got, answer = await fetch_json(
        api(server_url, "idea:bad", path),
        method=method,
        token=token,
        body=body if method == "POST" else None,
        raise_error=False,
    )
    assert got == status, answer
    assert reason in answer["message"]


async def test_an_unknown_room_has_no_history(server_url, token):
    for method, path in (("GET", "/versions"), ("POST", "/versions")):
        status, answer = await fetch_json(
            api(server_url, "idea:ghost", path),
            method=method,
            token=token,
            body={"label": "x"} if method == "POST" else None,
            raise_error=False,
        )
        assert status == 404, answer
        assert "does not exist" in answer["message"]


async def test_deleting_a_room_deletes_its_history(server_url, token, omniforge):
    await write(server_url, token, "idea:gone", lambda text: text.insert(0, "x"))
    await name(server_url, token, "idea:gone", "soon gone")
    status, _ = await fetch_json(api(server_url, "idea:gone"), method="DELETE", token=token)
    assert status == 204
    assert await omniforge.store.history.list_versions("idea:gone") == []


async def test_history_survives_a_restart_and_shutdown_takes_a_last_version(server_process):
    # Long idles: only the shutdown can take the version of the second edit.
    server = await server_process(
        ["--OmniForgeApp.history_checkpoint_idle=600", "--OmniForgeApp.compact_idle=600"]
    ).start()
    await write(server.url, server.token, "idea:life", lambda text: text.insert(0, "one"))
    named = await name(server.url, server.token, "idea:life", "first")
    await write(server.url, server.token, "idea:life", lambda text: text.insert(3, " two"))
    server.stop()

    server = await server_process(db=server.db).start()
    listed = await versions(server.url, server.token, "idea:life")
    assert [v["kind"] for v in listed] == ["auto", "named"]
    assert listed[1]["id"] == named["id"]
    assert await text_of(server.url, server.token, "idea:life", named["id"]) == "one"
    assert await text_of(server.url, server.token, "idea:life", listed[0]["id"]) == "one two"


class TestSealed:
    @pytest.fixture
    def omniforge_config(self, tmp_path: Path) -> dict:
        key = tmp_path / "key"
        write_key_file(key)
        # The room stays open and uncompacted, so the update log still holds its rows to look at.
        return {
            "history_checkpoint_idle": IDLE,
            "encryption_key_file": str(key),
            "room_idle_timeout": 60,
            "compact_idle": 60,
        }

    async def test_a_version_is_sealed_at_rest_and_reads_in_the_clear(
        self, server_url, token, db_path
    ):
        alice = await mint(server_url, token, "alice", ["read", "write"])
        await write(server_url, alice, "idea:sealed", lambda text: text.insert(0, "secret words"))
        version = await name(server_url, token, "idea:sealed", "sealed")
        assert await text_of(server_url, token, "idea:sealed", version["id"]) == "secret words"

        with closing(sqlite3.connect(db_path)) as conn:
            rows = conn.execute("SELECT state, runs, kid FROM room_versions").fetchall()
            (author,) = conn.execute("SELECT DISTINCT author FROM room_updates").fetchone()
        assert rows and all(kid is not None for _, _, kid in rows)
        assert not any(b"secret" in state or b"alice" in runs for state, runs, _ in rows)
        assert author == "alice"  # metadata, beside the sealed update


async def test_a_key_rotation_reseals_versions(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    write_key_file(one)
    write_key_file(two)
    path = tmp_path / "rotate.sqlite"
    store = SQLiteStore(StoreSettings(path=str(path), cipher=Cipher(read_key_file(one))))
    await store.start()
    made = await store.history.add_version("idea:r", b"state bytes", {"code": [[3, "alice"]]})
    await store.close()

    rotation.rotate(path, Cipher(read_key_file(one)), Cipher(read_key_file(two)))

    store = SQLiteStore(StoreSettings(path=str(path), cipher=Cipher(read_key_file(two))))
    await store.start()  # refuses to start if a row is still sealed with the old key
    try:
        version, state, runs = await store.history.get_version("idea:r", made["id"])
    finally:
        await store.close()
    assert (version, state, runs) == (made, b"state bytes", {"code": [[3, "alice"]]})


async def test_a_restore_first_keeps_what_it_replaces_as_a_version(server_url, token):
    """Edits no version holds yet are not lost to a restore: they become a version first."""
    alice = await mint(server_url, token, "alice", ["read", "write"])
    await write(server_url, alice, "idea:undo", lambda text: text.insert(0, "draft"))
    draft = await name(server_url, token, "idea:undo", "draft")
    doc = Doc()
    async with connect_room(server_url, "idea:undo", doc, token=alice):
        doc.get("code", type=Text).insert(5, " and unsaved work")
        status, restored = await fetch_json(
            api(server_url, "idea:undo", f"/versions/{draft['id']}/restore"),
            method="POST",
            token=token,
        )
        assert status == 200
        await wait_for(lambda: str(doc.get("code", type=Text)) == "draft")
    listed = await versions(server_url, token, "idea:undo")
    assert listed[0]["id"] == restored["version"]["id"]
    kept = next(v for v in listed if v["label"] == f"before restoring {draft['id']}")
    assert await text_of(server_url, token, "idea:undo", kept["id"]) == "draft and unsaved work"
    assert [a["username"] for a in kept["authors"]] == ["alice"]


async def test_a_restore_opens_a_room_nobody_is_in_and_lets_it_go(server_url, token, omniforge):
    await write(server_url, token, "idea:closed", lambda text: text.insert(0, "first"))
    first = await name(server_url, token, "idea:closed", "first")
    await write(server_url, token, "idea:closed", lambda text: text.insert(5, " second"))
    await wait_for(lambda: omniforge.room_manager.get("idea:closed") is None)

    status, _ = await fetch_json(
        api(server_url, "idea:closed", f"/versions/{first['id']}/restore"),
        method="POST",
        token=token,
    )
    assert status == 200
    _, room = await fetch_json(api(server_url, "idea:closed"), token=token)
    assert room["content"]["code"] == "first"
    await wait_for(lambda: omniforge.room_manager.get("idea:closed") is None)
    await omniforge.store.rooms.flush()
    _, stored = await fetch_json(api(server_url, "idea:closed"), token=token)
    assert stored["open"] is False and stored["content"]["code"] == "first"


async def test_two_users_typing_at_once_are_each_credited_with_their_own_keys(
    server_url, token, omniforge
):
    # Their updates reach the server in the same batches: each user's part is still theirs.
    tokens = {
        user: await mint(server_url, token, user, ["read", "write"]) for user in ("alice", "bob")
    }

    async def type_as(user: str, char: str) -> None:
        doc = Doc()
        async with connect_room(server_url, "idea:both", doc, token=tokens[user]):
            text = doc.get("code", type=Text)
            for _ in range(60):
                text.insert(len(text) if char == "a" else 0, char)
                await asyncio.sleep(0.002)

    await asyncio.gather(type_as("alice", "a"), type_as("bob", "b"))
    _, blame = await fetch_json(api(server_url, "idea:both", "/blame?root=code"), token=token)
    text = blame["text"]
    assert sorted(text) == ["a"] * 60 + ["b"] * 60
    owners = {"a": "alice", "b": "bob"}
    for r in blame["ranges"]:
        assert {owners[c] for c in text[r["start"] : r["end"]]} == {r["author"]}, r


async def test_nobody_can_forge_a_restore_event(server_url, token):
    data = {"version": "1", "restored_as": "2", "username": "mallory"}
    status, refused = await fetch_json(
        server_url + "omniforge/api/events",
        method="POST",
        token=token,
        body={"channel": "idea:forged", "type": "room.restored", "data": data},
        raise_error=False,
    )
    assert status == 400 and refused["error"] == "reserved", refused


async def test_a_build_event_is_credited_to_whoever_emitted_it(server_url, token):
    status, _ = await fetch_json(
        server_url + "omniforge/api/events",
        method="POST",
        token=token,
        headers={USER_HEADER: "alice"},
        body={"channel": "build:hist", "type": "build.started", "data": {}},
    )
    assert status in (200, 201)
    (version,) = await wait_for(lambda: versions(server_url, token, "build:hist"))
    assert [a["username"] for a in version["authors"]] == ["alice"]


def _logged_authors(db: Path, room: str) -> set[str]:
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT author FROM room_updates WHERE room = ?", (room,))
        return {author for (author,) in rows}


async def test_after_a_kill_9_the_updates_no_version_held_keep_their_authors(server_process):
    # Long idles: no version is taken and nothing is folded before the kill.
    slow = ["--OmniForgeApp.history_checkpoint_idle=600", "--OmniForgeApp.compact_idle=600"]
    server = await server_process(slow).start()
    alice = await mint(server.url, server.token, "alice", ["read", "write"])
    bob = await mint(server.url, server.token, "bob", ["read", "write"])
    await write(server.url, alice, "idea:crash", lambda text: text.insert(0, "Alice wrote. "))
    await write(server.url, bob, "idea:crash", lambda text: text.insert(13, "Bob wrote."))
    await wait_for(lambda: _logged_authors(server.db, "idea:crash") == {"alice", "bob"})
    server.kill9()

    quick = [f"--OmniForgeApp.history_checkpoint_idle={IDLE}"]
    server = await server_process(quick, db=server.db).start()
    assert await versions(server.url, server.token, "idea:crash") == []
    # Someone opens the room again: its log is read back with its authors.
    async with connect_room(server.url, "idea:crash", Doc(), token=server.token):
        (version,) = await wait_for(lambda: versions(server.url, server.token, "idea:crash"))
    assert {a["username"]: a["updates"] for a in version["authors"]} == {"alice": 1, "bob": 1}
    _, blame = await fetch_json(
        api(server.url, "idea:crash", "/blame?root=code"), token=server.token
    )
    assert [(r["start"], r["end"], r["author"]) for r in blame["ranges"]] == [
        (0, 13, "alice"),
        (13, 23, "bob"),
    ]
    # Opened again later (evicted, say): what a version holds is not counted twice.
    server.stop()
    server = await server_process(quick, db=server.db).start()
    async with connect_room(server.url, "idea:crash", Doc(), token=server.token):
        await asyncio.sleep(IDLE * 3)
    assert [v["id"] for v in await versions(server.url, server.token, "idea:crash")] == [
        version["id"]
    ]


class TestCompactionWaitsForTheVersion:
    @pytest.fixture
    def omniforge_config(self) -> dict:
        # Compaction after 0.2 s of quiet, versions after 1.5 s: compaction takes no version.
        return {"history_checkpoint_idle": 1.5, "compact_idle": 0.2, "room_idle_timeout": 60}

    async def test_a_quiet_room_is_compacted_once_its_version_holds_the_log(
        self, server_url, token, omniforge, db_path
    ):
        alice = await mint(server_url, token, "alice", ["read", "write"])
        doc = Doc()
        async with connect_room(server_url, "idea:fold", doc, token=alice) as conn:
            text = doc.get("code", type=Text)
            text.insert(0, "first words")
            await conn.confirm(10)
            await asyncio.sleep(0.8)  # four compact_idle spells of quiet
            # Nothing folded: no version holds the log yet, and none was taken for the fold.
            assert _logged_authors(db_path, "idea:fold") == {"alice"}
            assert await versions(server_url, token, "idea:fold") == []

            (version,) = await wait_for(lambda: versions(server_url, token, "idea:fold"))
            assert [a["username"] for a in version["authors"]] == ["alice"]
            # Its version taken, the log is folded (the store was asked to compact it).
            await wait_for(lambda: _logged_authors(db_path, "idea:fold") == set(), timeout=5)
            _, room = await fetch_json(api(server_url, "idea:fold"), token=token)
            assert room["content"]["code"] == "first words"
            # Typing again, then quiet: one more version, not one per compaction.
            text.insert(len(text), ", more")
            await conn.confirm(10)
            found = await wait_for(lambda: _at_least(versions(server_url, token, "idea:fold"), 2))
        assert len(found) == 2
        assert await text_of(server_url, token, "idea:fold", found[0]["id"]) == "first words, more"
        assert omniforge.store.rooms.compactions >= 1


async def test_authors_keep_the_colour_they_are_shown_in_and_each_version_is_announced(
    server_url, token, ws_connect
):
    """Alice's JupyterLab shows her in a collaborator colour it picked (her identity has none),
    Bob's claims nothing: the version credits each in the colour the room showed them in, as
    the sidebar does; a version named by Carol, who is not in the room, has hers. Every version
    is announced on the room's channel (``room.versioned``), for the History panels."""
    room = "idea:colours"
    alice = await ws_connect(room, user="alice")
    bob = await ws_connect(room, user="bob")
    claimed = "var(--jp-collaborator-color3)"
    state = {"user": {"name": "x", "color": claimed}}
    entry = p.AwarenessEntry(4242, 1, json.dumps(state))
    await alice.write_message(p.encode_awareness(p.encode_awareness_update([entry])), binary=True)
    for conn, words in ((alice, "Alice typed this. "), (bob, "Bob typed that.")):
        doc = Doc()
        doc.get("code", type=Text).insert(0, words)
        await conn.write_message(p.encode_update(doc.get_update()), binary=True)

    (auto,) = await wait_for(lambda: versions(server_url, token, room), timeout=10)
    colours = {a["username"]: a.get("color") for a in auto["authors"]}
    assert colours == {"alice": claimed, "bob": color_for("bob")}

    named = await name(server_url, token, room, "checked", user="carol")
    assert [(a["username"], a["color"]) for a in named["authors"]] == [
        ("carol", color_for("carol"))
    ]
    _, page = await fetch_json(
        server_url + f"omniforge/api/events?channel={quote(room)}", token=token
    )
    announced = [e for e in page["events"] if e["type"] == "room.versioned"]
    assert [(e["data"]["id"], e["source"]["username"]) for e in announced] == [
        (auto["id"], "server"),
        (named["id"], "carol"),
    ]
    assert announced[0]["data"]["authors"] == auto["authors"]
    assert announced[0]["data"]["authors_total"] == 2
    assert announced[1]["data"]["kind"] == "named" and announced[1]["data"]["label"] == "checked"

    status, refused = await fetch_json(
        server_url + "omniforge/api/events",
        method="POST",
        token=token,
        body={"channel": room, "type": "room.versioned", "data": announced[0]["data"]},
        raise_error=False,
    )
    assert status == 400 and refused["error"] == "reserved", refused


def test_a_checkpoint_credits_merged_keystrokes_as_one_by_one_and_skips_what_it_holds():
    """The recorder replays a typist's consecutive keystrokes merged (one apply, not one per
    key): who wrote each character comes out as when they are replayed one by one; updates
    the previous version holds already, and bytes that are no update, change nothing."""
    doc = Doc()
    text = doc.get("code", type=Text)
    keys: list[tuple[str, bytes]] = []

    def key(author: str, edit) -> None:
        before = doc.get_state()
        edit()
        keys.append((author, doc.get_update(before)))

    for i, char in enumerate("Hello, world"):
        key("alice", lambda i=i, char=char: text.insert(i, char))
    key("alice", lambda: text.__delitem__(slice(5, 7)))  # a backspace run: delete only
    for i, char in enumerate(" and Bob"):
        key("bob", lambda i=i, char=char: text.insert(10 + i, char))
    key("bob", lambda: text.insert(0, "¡"))
    key("alice", lambda: text.__delitem__(slice(12, 15)))  # Alice deletes some of Bob's
    for char in "!😀":
        key("alice", lambda char=char: text.insert(len(text), char))

    held = Doc()
    for _, update in keys[:6]:  # the previous version holds Alice's first keys
        held.apply_update(update)
    base = held.get_update()
    _, base_runs = authorship.replay(b"", {}, [("alice", base)])
    # Read back after a restart: what the version holds, garbage, then what it lacks.
    pending = [*keys[:6], ("mallory", b"\x01\x02garbage"), *keys[6:]]

    _, slow_runs = authorship.replay(base, base_runs, keys[6:])
    runs, new = authorship.replay_changes(base, base_runs, pending)
    assert runs == slow_runs and {author for _, author in runs["code"]} == {"alice", "bob"}
    assert sum(n for n, _ in runs["code"]) == len(str(text))
    # Alice's first keys were in the version already (merged, they change nothing), the
    # garbage is nobody's.
    assert new == keys[6:]
