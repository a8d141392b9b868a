"""Comment stories: a thread on a range of code with replies, reactions, edits and a resolve;
paging in document order; who may comment, edit and delete; authors nobody can forge; the bad
input the endpoints refuse; an anchor that stays on its text while another client types around
it (emoji included) and is kept, orphaned, when its text is deleted; mentions that notify and
survive a restart; events on the room's channel; bodies sealed at rest; and a fuzz test of
anchors under concurrent edits."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from jupyter_omniforge.client import InvalidRequest, OmniForge, RequestFailed, connect_room
from jupyter_omniforge.client.comments import Thread
from jupyter_omniforge.client.errors import EditsNotConfirmed
from jupyter_omniforge.comments.anchors import TextView
from jupyter_omniforge.store import SQLiteStore, StoreSettings
from jupyter_omniforge.store.crypto import Cipher, read_key_file, write_key_file
from jupyter_omniforge.store.sqlite import rotation

from .conftest import fetch_json, wait_for
from .identities import USER_HEADER


def api(server_url: str, room: str, path: str = "") -> str:
    return f"{server_url}omniforge/api/rooms/{quote(room)}{path}"


def as_user(user: str | None) -> dict[str, str] | None:
    return {USER_HEADER: user} if user else None


async def call(server_url, token, room, path, method="GET", body=None, user=None):
    """(status, JSON) of one request to the room's comment endpoints, never raising."""
    return await fetch_json(
        api(server_url, room, path),
        method=method,
        token=token,
        body=body,
        headers=as_user(user),
        raise_error=False,
    )


async def write(server_url: str, token: str, room: str, edit, user: str | None = None) -> None:
    """Connect (as ``user``: a token minted for them), make ``edit(text)`` and leave once the
    server has it."""
    if user is not None:
        token = await mint(server_url, token, user, ["read", "write", "presence"])
    doc = Doc()
    async with connect_room(server_url, room, doc, token=token):
        edit(doc.get("code", type=Text))


async def thread_on(server_url, token, room, start, end, body="look here", user=None) -> dict:
    status, thread = await call(
        server_url,
        token,
        room,
        "/threads",
        "POST",
        {"body": body, "anchor": {"root": "code", "start": start, "end": end}},
        user,
    )
    assert status == 201, thread
    return thread


async def test_a_thread_on_code_with_replies_reactions_edits_and_a_resolve(server_url, token):
    await write(server_url, token, "idea:c1", lambda t: t.insert(0, "hello world, bye"))
    thread = await thread_on(server_url, token, "idea:c1", 6, 11, "Is **world** right?", "alice")
    assert thread["anchor"]["text"] == "world"
    assert (thread["anchor"]["start"], thread["anchor"]["end"]) == (6, 11)
    assert thread["author"]["username"] == "alice" and thread["resolved"] is False
    assert thread["orphaned"] is False and set(thread["anchor"]["relative"]) == {"start", "end"}
    (first,) = thread["comments"]
    assert first["html"] == "<p>Is <strong>world</strong> right?</p>\n"
    assert first["edited"] is None and first["reactions"] == {}

    status, reply = await call(
        server_url, token, "idea:c1", f"/threads/{thread['id']}/comments", "POST",
        {"body": "Yes <script>alert(1)</script> [x](javascript:alert(1))"}, "bob",
    )  # fmt: skip
    assert status == 201 and reply["author"]["username"] == "bob"
    assert "<script>" not in reply["html"] and "javascript:" not in reply["html"].split("[x]")[0]
    assert 'href="javascript' not in reply["html"]

    for user in ("alice", "bob"):
        status, reacted = await call(
            server_url, token, "idea:c1", f"/comments/{reply['id']}/reactions", "POST",
            {"emoji": "👍"}, user,
        )  # fmt: skip
        assert status == 200
    assert reacted["reactions"] == {"👍": ["alice", "bob"]}
    status, reacted = await call(
        server_url, token, "idea:c1", f"/comments/{reply['id']}/reactions", "POST",
        {"emoji": "👍", "on": False}, "alice",
    )  # fmt: skip
    assert reacted["reactions"] == {"👍": ["bob"]}

    status, edited = await call(
        server_url, token, "idea:c1", f"/comments/{reply['id']}", "PATCH", {"body": "Yes."}, "bob"
    )
    assert status == 200 and edited["body"] == "Yes." and edited["edited"] >= edited["created"]

    status, resolved = await call(
        server_url, token, "idea:c1", f"/threads/{thread['id']}", "PATCH", {"resolved": True}
    )
    assert status == 200 and resolved["resolved"] is True and resolved["resolved_by"]
    _, page = await call(server_url, token, "idea:c1", "/threads?resolved=0")
    assert page == {"threads": [], "next": None}
    _, page = await call(server_url, token, "idea:c1", "/threads?resolved=1")
    assert [t["id"] for t in page["threads"]] == [thread["id"]]
    assert [c["body"] for c in page["threads"][0]["comments"]] == ["Is **world** right?", "Yes."]
    status, reopened = await call(
        server_url, token, "idea:c1", f"/threads/{thread['id']}", "PATCH", {"resolved": False}
    )
    assert reopened["resolved"] is False and reopened["resolved_by"] is None

    # A room-wide thread, and deleting: the last comment of a thread takes the thread along.
    status, wide = await call(server_url, token, "idea:c1", "/threads", "POST", {"body": "hi"})
    assert status == 201 and wide["anchor"] is None
    status, _ = await call(
        server_url, token, "idea:c1", f"/comments/{wide['comments'][0]['id']}", "DELETE"
    )
    assert status == 204
    status, gone = await call(server_url, token, "idea:c1", f"/threads/{wide['id']}")
    assert status == 404 and gone["error"] == "thread_not_found"


async def test_threads_page_in_document_order(server_url, token):
    await write(server_url, token, "idea:pages", lambda t: t.insert(0, "abcdefghij"))
    made = [await thread_on(server_url, token, "idea:pages", i, i + 1) for i in (7, 2, 5, 0, 9)]
    await call(server_url, token, "idea:pages", "/threads", "POST", {"body": "room-wide"})
    seen, after = [], None
    while True:
        query = "?limit=2" + (f"&after={after}" if after else "")
        status, page = await call(server_url, token, "idea:pages", f"/threads{query}")
        assert status == 200 and len(page["threads"]) <= 2
        seen += page["threads"]
        after = page["next"]
        if after is None:
            break
    assert [t["anchor"]["text"] if t["anchor"] else None for t in seen] == [
        "a", "c", "f", "h", "j", None,
    ]  # fmt: skip
    assert len({t["id"] for t in seen}) == len(made) + 1


async def test_an_anchor_moves_with_the_text_and_is_orphaned_when_it_is_deleted(server_url, token):
    room = "idea:moves"
    doc = Doc()
    async with connect_room(server_url, room, doc, token=token) as conn:
        text = doc.get("code", type=Text)
        text.insert(0, "def main():\n    return 42\n")
        await conn.confirm(10)
        thread = await thread_on(server_url, token, room, 16, 25)  # "return 42"
        assert thread["anchor"]["text"] == "return 42"

        # Another client types before it (an emoji: four UTF-8 bytes, one character).
        other = Doc()
        async with connect_room(server_url, room, other, token=token) as conn2:
            theirs = other.get("code", type=Text)
            await wait_for(lambda: str(theirs) == str(text))
            theirs.insert(0, "# 🎉 notes\n")
            await conn2.confirm(10)
        _, moved = await call(server_url, token, room, f"/threads/{thread['id']}")
        assert moved["anchor"]["text"] == "return 42"
        assert (moved["anchor"]["start"], moved["anchor"]["end"]) == (26, 35)

        # Deletes around it and inside it: it covers what is left of its text.
        await wait_for(lambda: str(text).startswith("# 🎉"))
        at = len("# 🎉 notes\ndef main():\n    ".encode())
        with doc.transaction():
            del text[at - 4 : at + 1]  # the indent and the "r"
            text.insert(at - 4 + 4, "!")  # after "etur": inside the range
        await conn.confirm(10)
        _, moved = await call(server_url, token, room, f"/threads/{thread['id']}")
        assert moved["anchor"]["text"] == "etur!n 42" and moved["orphaned"] is False

        # Its whole text deleted: orphaned, with the last text it covered.
        s = str(text)
        start = s.index("etur!n 42")
        a, b = len(s[:start].encode()), len(s[: start + 9].encode())
        del text[a - 2 : b + 1]
        await conn.confirm(10)
        _, gone = await call(server_url, token, room, f"/threads/{thread['id']}")
        assert gone["orphaned"] is True and gone["anchor"]["text"] == "etur!n 42"
        _, page = await call(server_url, token, room, "/threads")
        assert page["threads"][0]["orphaned"] is True


async def test_only_the_author_edits_and_deletes_unless_admin(server_url, token):
    await write(server_url, token, "idea:perm", lambda t: t.insert(0, "some code"))
    thread = await thread_on(server_url, token, "idea:perm", 0, 4, "mine", "alice")
    cid = thread["comments"][0]["id"]
    # Bob writes (a token without admin): he may not edit or delete alice's comment.
    bob = await mint(server_url, token, "bob", ["read", "write"])
    status, refused = await call(server_url, bob, "idea:perm", f"/comments/{cid}", "PATCH",
                                 {"body": "x"})  # fmt: skip
    assert status == 403 and "edit another user" in refused["message"]
    status, _ = await call(server_url, bob, "idea:perm", f"/comments/{cid}", "DELETE")
    assert status == 403
    status, _ = await call(server_url, bob, "idea:perm", f"/threads/{thread['id']}", "DELETE")
    assert status == 403
    # A read-only token may read them, not comment.
    reader = await mint(server_url, token, "rita", ["read"])
    status, _ = await call(server_url, reader, "idea:perm", "/threads")
    assert status == 200
    status, refused = await call(server_url, reader, "idea:perm", "/threads", "POST",
                                 {"body": "hi"})  # fmt: skip
    assert status == 403 and "comment" in refused["message"]
    # The owner (admin) deletes the thread.
    status, _ = await call(server_url, token, "idea:perm", f"/threads/{thread['id']}", "DELETE")
    assert status == 204


class TestRulesPolicy:
    POLICY = """
default: none
rules:
  - rooms: "idea:*"
    users: [alice]
    allow: [read, write, presence, emit, admin]
  - rooms: "idea:*"
    users: [bob]
    allow: [read, comment]
  - rooms: "idea:*"
    users: [carol]
    allow: [read]
"""

    @pytest.fixture
    def omniforge_config(self, tmp_path: Path) -> dict:
        path = tmp_path / "policy.yaml"
        path.write_text(self.POLICY)
        return {"room_policy_file": str(path)}

    async def test_a_reviewer_comments_without_editing_and_an_admin_deletes(
        self, server_url, token
    ):
        await write(server_url, token, "idea:rev", lambda t: t.insert(0, "the code"), "alice")
        # bob may comment (not write); carol may only read.
        thread = await thread_on(server_url, token, "idea:rev", 4, 8, "nit", "bob")
        assert thread["author"]["username"] == "bob"
        with pytest.raises(EditsNotConfirmed):
            await write(server_url, token, "idea:rev", lambda t: t.insert(0, "x"), "bob")
        status, refused = await call(
            server_url, token, "idea:rev", "/threads", "POST", {"body": "me too"}, "carol"
        )
        assert status == 403 and "comment" in refused["message"]
        status, listed = await call(server_url, token, "idea:rev", "/threads", user="carol")
        assert status == 200 and len(listed["threads"]) == 1
        status, _ = await call(server_url, token, "idea:rev", "/threads", user="dave")
        assert status == 403
        # alice (admin) deletes bob's comment; bob may not delete alice's.
        status, mine = await call(
            server_url, token, "idea:rev", f"/threads/{thread['id']}/comments", "POST",
            {"body": "ok"}, "alice",
        )  # fmt: skip
        status, _ = await call(
            server_url, token, "idea:rev", f"/comments/{mine['id']}", "DELETE", None, "bob"
        )
        assert status == 403
        bobs = thread["comments"][0]["id"]
        status, _ = await call(
            server_url, token, "idea:rev", f"/comments/{bobs}", "DELETE", None, "alice"
        )
        assert status == 204
        _, left = await call(server_url, token, "idea:rev", f"/threads/{thread['id']}")
        assert [c["author"]["username"] for c in left["comments"]] == ["alice"]
        # The room's stream says who deleted bob's comment, and that it was bob's.
        _, history = await fetch_json(
            f"{server_url}omniforge/api/events?channel={quote('idea:rev')}", token=token
        )
        (deleted,) = [e for e in history["events"] if e["type"] == "comment.deleted"]
        assert deleted["data"]["comment"] == bobs
        assert deleted["data"]["by"] == deleted["source"]["username"] == "alice"
        assert deleted["data"]["author"] == "bob"


async def test_an_author_cannot_be_forged(server_url, token):
    await write(server_url, token, "idea:forge", lambda t: t.insert(0, "text"))
    status, refused = await call(
        server_url, token, "idea:forge", "/threads", "POST",
        {"body": "hi", "author": {"username": "mallory"}}, "alice",
    )  # fmt: skip
    assert status == 400 and "author" in refused["message"]
    thread = await thread_on(server_url, token, "idea:forge", 0, 2, "hi @mallory", "alice")
    assert thread["comments"][0]["author"]["username"] == "alice"
    _, page = await call(server_url, token, "idea:forge", "/threads")
    authors = {c["author"]["username"] for t in page["threads"] for c in t["comments"]}
    assert authors == {"alice"}


class TestSmallBodies:
    @pytest.fixture
    def omniforge_config(self) -> dict:
        return {"comment_max_bytes": 100}

    async def test_bad_input_gets_a_4xx_with_the_reason(self, server_url, token):
        room = "idea:bad"
        await write(server_url, token, room, lambda t: t.insert(0, "héllo"))
        thread = await thread_on(server_url, token, room, 0, 5)
        cases = [
            ("/threads", "POST", {"body": "x", "anchor": {"start": 2, "end": 9}}, 400, "outside"),
            ("/threads", "POST", {"body": "x", "anchor": {"start": 3, "end": 3}}, 400, "empty"),
            ("/threads", "POST", {"body": "x", "anchor": {"start": -1, "end": 2}}, 400, "outside"),
            ("/threads", "POST", {"body": "x", "anchor": {"start": "0", "end": 2}}, 400, "integer"),
            ("/threads", "POST", {"body": "x", "anchor": {"root": "tokens", "start": 0, "end": 1}},
             400, "not a text"),
            ("/threads", "POST", {"body": "x", "anchor": {"relative": {"start": "AA==", "end": "!"}}},
             400, "base64"),
            ("/threads", "POST", {"body": "x", "anchor": {"relative": {"start": "AAEC", "end": "AAEC"}}},
             400, "relative"),
            ("/threads", "POST", {"body": "é" * 51}, 413, "comment_max_bytes"),
            ("/threads", "POST", {"body": "  "}, 400, "non-empty"),
            ("/threads", "POST", {"body": 3}, 400, "non-empty"),
            ("/threads", "POST", [1], 400, "object"),
            ("/threads/999/comments", "POST", {"body": "x"}, 404, "no thread"),
            ("/threads/abc", "GET", None, 404, "no thread"),
            ("/threads/999", "PATCH", {"resolved": True}, 404, "no thread"),
            (f"/threads/{thread['id']}", "PATCH", {"resolved": "yes"}, 400, "resolved"),
            ("/comments/999", "PATCH", {"body": "x"}, 404, "no comment"),
            ("/comments/999/reactions", "POST", {"emoji": "👍"}, 404, "no comment"),
            (f"/comments/{thread['comments'][0]['id']}/reactions", "POST", {"emoji": "a b"}, 400,
             "emoji"),
            ("/threads?limit=0", "GET", None, 400, "limit"),
            ("/threads?after=zzz", "GET", None, 400, "cursor"),
            ("/threads?resolved=maybe", "GET", None, 400, "resolved"),
        ]  # fmt: skip
        for path, method, body, code, reason in cases:
            status, answer = await call(server_url, token, room, path, method, body)
            assert status == code, (path, body, answer)
            assert reason in json.dumps(answer, ensure_ascii=False), (path, answer)
        for raw in (b'{"body": NaN}', b'{"body": ' + b"[" * 200 + b"]" * 200 + b"}"):
            status, answer = await _raw_post(
                server_url, token, api(server_url, room, "/threads"), raw
            )
            assert status == 400, answer
        status, answer = await call(
            server_url, token, "idea:nowhere", "/threads", "POST", {"body": "x"}
        )
        assert status == 404
        status, answer = await fetch_json(
            server_url + "omniforge/api/notifications/read", method="POST", token=token,
            body={"ids": "all"}, raise_error=False,
        )  # fmt: skip
        assert status == 400 and "ids" in answer["message"]


async def _raw_post(server_url, token, url, raw: bytes):
    request = HTTPRequest(url, method="POST", headers={"Authorization": f"token {token}"}, body=raw)
    response = await AsyncHTTPClient().fetch(request, raise_error=False)
    return response.code, response.body.decode()


async def test_events_on_the_room_channel(server_url, token):
    room = "idea:ev"
    await write(server_url, token, room, lambda t: t.insert(0, "text"))
    thread = await thread_on(server_url, token, room, 0, 4, "first", "alice")
    cid = thread["comments"][0]["id"]
    await call(server_url, token, room, f"/comments/{cid}", "PATCH", {"body": "1st"}, "alice")
    await call(server_url, token, room, f"/comments/{cid}/reactions", "POST", {"emoji": "🎉"})
    await call(server_url, token, room, f"/threads/{thread['id']}", "PATCH", {"resolved": True})
    await call(server_url, token, room, f"/threads/{thread['id']}", "PATCH", {"resolved": False})
    await call(server_url, token, room, f"/comments/{cid}", "DELETE", None, "alice")
    _, history = await fetch_json(
        f"{server_url}omniforge/api/events?channel={quote(room)}", token=token
    )
    events = [e for e in history["events"] if e["type"].split(".")[0] in ("comment", "thread")]
    assert [e["type"] for e in events] == [
        "comment.created", "comment.edited", "comment.reacted",
        "thread.resolved", "thread.reopened", "comment.deleted",
    ]  # fmt: skip
    assert all(e["data"]["thread"] == thread["id"] for e in events)
    assert (
        events[0]["data"]["item"]["body"] == "first" and events[0]["source"]["username"] == "alice"
    )
    assert events[-1]["data"]["thread_deleted"] is True
    assert events[-1]["data"]["by"] == events[-1]["data"]["author"] == "alice"
    # Nobody else may post these types.
    status, refused = await fetch_json(
        server_url + "omniforge/api/events", method="POST", token=token,
        body={"channel": room, "type": "comment.created", "data": {"thread": "1", "by": "x"}},
        raise_error=False,
    )  # fmt: skip
    assert status == 400 and refused["error"] == "reserved"


async def test_deleting_the_room_deletes_its_comments(server_url, token, omniforge):
    await write(server_url, token, "idea:gone", lambda t: t.insert(0, "text"))
    await thread_on(server_url, token, "idea:gone", 0, 4, "hey @bob")
    status, _ = await fetch_json(api(server_url, "idea:gone"), method="DELETE", token=token)
    assert status == 204
    assert await omniforge.store.comments.threads("idea:gone") == []
    notes, unread = await omniforge.store.comments.notifications("bob")
    assert notes == [] and unread == 0


async def mint(server_url: str, token: str, user: str, permissions: list[str]) -> str:
    _, minted = await fetch_json(
        server_url + "omniforge/api/tokens", method="POST", token=token,
        body={"user": user, "rooms": ["idea:*"], "permissions": permissions},
    )  # fmt: skip
    return minted["token"]


async def notifications(url: str, token: str, query: str = "?unread=1") -> dict:
    _, found = await fetch_json(f"{url}omniforge/api/notifications{query}", token=token)
    return found


async def test_mentions_notify_and_survive_a_restart(server_process):
    server = await server_process(["--OmniForgeApp.compact_idle=600"]).start()
    url, owner = server.url, server.token
    alice = await mint(url, owner, "alice", ["read", "write"])
    bob = await mint(url, owner, "bob", ["read", "comment"])
    await write(url, alice, "idea:life", lambda t: t.insert(0, "one two three"))
    thread = await thread_on(url, alice, "idea:life", 4, 7, "@bob what about this? cc @carol")
    found = await notifications(url, bob)
    assert found["unread"] == 1
    (note,) = found["notifications"]
    assert note["by"]["username"] == "alice" and note["thread"] == thread["id"]
    assert note["excerpt"].startswith("@bob what") and note["read"] is False
    # Replying does not notify the author; mentioning the author does.
    status, _ = await call(url, bob, "idea:life", f"/threads/{thread['id']}/comments", "POST",
                           {"body": "@alice fine by me"})  # fmt: skip
    assert status == 201
    server.stop()

    server = await server_process(db=server.db).start()
    url = server.url
    assert (await notifications(url, bob))["unread"] == 1
    assert (await notifications(url, alice))["notifications"][0]["excerpt"] == "@alice fine by me"
    _, page = await call(url, server.token, "idea:life", "/threads")
    (kept,) = page["threads"]
    assert kept["anchor"]["text"] == "two" and len(kept["comments"]) == 2
    status, marked = await fetch_json(
        f"{url}omniforge/api/notifications/read", method="POST", token=bob,
        body={"ids": [note["id"]]},
    )  # fmt: skip
    assert status == 200 and marked == {"unread": 0}
    everything = await notifications(url, bob, "?unread=0")
    assert [n["read"] for n in everything["notifications"]] == [True]
    assert (await notifications(url, bob))["notifications"] == []


class TestSealed:
    @pytest.fixture
    def omniforge_config(self, tmp_path: Path) -> dict:
        key = tmp_path / "key"
        write_key_file(key)
        return {"encryption_key_file": str(key)}

    async def test_bodies_texts_and_excerpts_are_sealed_at_rest(self, server_url, token, db_path):
        await write(server_url, token, "idea:sealed", lambda t: t.insert(0, "secret code"))
        thread = await thread_on(server_url, token, "idea:sealed", 0, 6, "hush @bob", "alice")
        assert thread["comments"][0]["body"] == "hush @bob"
        assert thread["anchor"]["text"] == "secret"
        with closing(sqlite3.connect(db_path)) as conn:
            bodies = conn.execute("SELECT body, kid FROM comments").fetchall()
            texts = conn.execute("SELECT text, kid, author FROM comment_threads").fetchall()
            notes = conn.execute('SELECT excerpt, kid, "user" FROM notifications').fetchall()
        assert bodies and all(kid and b"hush" not in body for body, kid in bodies)
        assert texts and all(kid and b"secret" not in text for text, kid, _ in texts)
        assert notes and all(kid and b"hush" not in ex for ex, kid, _ in notes)
        assert "alice" in texts[0][2] and notes[0][2] == "bob"  # metadata, in the clear


# -- anchors under concurrent edits -------------------------------------------------------------

_CHARS = "ab é🎉中\n"


@st.composite
def edit_scripts(draw):
    """Per step: which client edits, an insert (position fraction, text) or a delete (position
    fraction, length), and whether clients exchange their updates after it."""
    steps = draw(st.integers(8, 30))
    return [
        (
            draw(st.integers(0, 2)),
            draw(st.booleans()),
            draw(st.floats(0, 1)),
            draw(st.text(_CHARS, min_size=1, max_size=3)),
            draw(st.integers(1, 4)),
            draw(st.booleans()),
        )
        for _ in range(steps)
    ]


def _apply(text: Text, insert: bool, where: float, chars: str, length: int) -> None:
    s = str(text)
    at = min(int(where * (len(s) + 1)), len(s))
    if insert or not s:
        text.insert(len(s[:at].encode()), chars)
    else:
        at = min(at, len(s) - 1)
        end = min(len(s), at + length)
        del text[len(s[:at].encode()) : len(s[:end].encode())]


def _sync(docs: list[Doc]) -> None:
    for a in docs:
        for b in docs:
            if a is not b:
                b.apply_update(a.get_update(b.get_state()))


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=edit_scripts())
def test_anchors_never_drift_under_concurrent_edits(script):
    """Three clients edit at random, some anchors made on the way by one of them; once every
    client has every update, each anchor covers the same text in every document, and a thread
    made from it on a server document reads the same (what the server does, without HTTP)."""
    docs = [Doc() for _ in range(3)]
    docs[0].get("code", type=Text).insert(0, "seed 🎉 text 中文\n")
    _sync(docs)
    anchors = []
    for who, insert, where, chars, length, exchange in script:
        text = docs[who].get("code", type=Text)
        _apply(text, insert, where, chars, length)
        s = str(text)
        if len(s) >= 2 and where < 0.3:
            start = int(where * (len(s) - 1))
            view = TextView(docs[who], "code")
            made = view.anchor(start, min(len(s), start + 1 + length))
            assert view.resolve(*made).text == s[start : min(len(s), start + 1 + length)]
            anchors.append(made)
        if exchange:
            _sync(docs)
    _sync(docs)
    server = Doc()
    server.apply_update(docs[0].get_update())
    views = [TextView(d, "code") for d in [*docs, server]]
    for start, end in anchors:
        seen = {
            (r.start, r.end, r.text, r.orphaned) for r in (v.resolve(start, end) for v in views)
        }
        assert len(seen) == 1, seen


async def test_anchors_made_by_a_client_hold_on_the_server(server_url, token):
    """A client sends relative positions it made on its own document; the server adopts them
    and reads them where the client does while both edit."""
    room = "idea:rel"
    doc = Doc()
    async with connect_room(server_url, room, doc, token=token) as conn:
        text = doc.get("code", type=Text)
        text.insert(0, "x = 1  # 🎉 fix me\ny = 2\n")
        await conn.confirm(10)
        s = str(text)
        start = s.index("fix")
        rel = TextView(doc, "code").anchor(start, start + 6)
        relative = {
            "start": base64.b64encode(rel[0]).decode(),
            "end": base64.b64encode(rel[1]).decode(),
        }
        status, thread = await call(
            server_url, token, room, "/threads", "POST",
            {"body": "from the client", "anchor": {"root": "code", "relative": relative}},
        )  # fmt: skip
        assert status == 201, thread
        assert thread["anchor"]["text"] == "fix me"
        assert thread["anchor"]["relative"] == relative
        text.insert(0, "🎉🎉\n")
        await conn.confirm(10)
        _, now = await call(server_url, token, room, f"/threads/{thread['id']}")
        mine = TextView(doc, "code").resolve(*rel)
        assert (now["anchor"]["start"], now["anchor"]["end"], now["anchor"]["text"]) == (
            mine.start, mine.end, "fix me",
        )  # fmt: skip


async def test_the_python_client_comments_replies_resolves_and_reads_mentions(server_url, token):
    room = "idea:client"
    alice = await mint(server_url, token, "alice", ["read", "write"])
    bob = await mint(server_url, token, "bob", ["read", "write"])
    await write(server_url, alice, room, lambda t: t.insert(0, "🎉 x = compute()\n"))
    async with OmniForge(server_url, alice) as forge, OmniForge(server_url, bob) as bobs:
        thread = await forge.acomment(room, "Why compute twice, @bob?", range=(6, 15))
        assert isinstance(thread, Thread) and thread["anchor"]["text"] == "compute()"
        reply = await bobs.areply(room, thread.id, "It is cached.")
        assert reply["author"]["username"] == "bob"
        await thread.areply("Thanks")
        assert [c["body"] for c in (await thread.arefresh())["comments"]] == [
            "Why compute twice, @bob?", "It is cached.", "Thanks",
        ]  # fmt: skip
        await thread.aresolve()
        assert thread["resolved"] is True and thread["resolved_by"]["username"] == "alice"
        assert await forge.athreads(room, resolved=False) == []
        await forge.acomment(room, "About the whole room")
        # The blocking methods, from a thread: this test's loop runs the server.
        listed = await asyncio.to_thread(forge.room(room).threads)
        assert [t["anchor"] is None for t in listed] == [False, True]
        reacted = await asyncio.to_thread(bobs.react, room, reply["id"], "👍")
        assert reacted["reactions"] == {"👍": ["bob"]}
        mentions = await bobs.anotifications()
        assert mentions["unread"] == 1 and mentions["notifications"][0]["thread"] == thread.id
        assert await bobs.amark_read() == 0
        with pytest.raises(InvalidRequest):
            await forge.acomment(room, "outside", range=(5, 500))
        with pytest.raises(RequestFailed) as failed:
            await forge.areply(room, "424242", "lost")
        assert failed.value.status == 404


async def test_a_key_rotation_reseals_comments(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    write_key_file(one)
    write_key_file(two)
    path = tmp_path / "rotate.sqlite"
    alice = {"username": "alice", "name": "Alice", "color": "#e6194b"}

    def store(key: Path) -> SQLiteStore:
        return SQLiteStore(StoreSettings(path=str(path), cipher=Cipher(read_key_file(key))))

    before = store(one)
    await before.start()
    anchor = {"root": "code", "start": b"\x00\x01", "end": b"\x00\x02", "text": "old text"}
    thread, comment = await before.comments.add_thread("idea:r", alice, "hi @bob", anchor)
    await before.comments.add_thread("idea:r", alice, "room-wide", None)
    await before.comments.notify([
        {"user": "bob", "room": "idea:r", "thread": thread["id"], "comment": comment["id"],
         "by": alice, "excerpt": "hi @bob"},
    ])  # fmt: skip
    await before.close()

    done = rotation.rotate(path, Cipher(read_key_file(one)), Cipher(read_key_file(two)))
    assert (done["comment_threads"], done["comments"], done["notifications"]) == (1, 2, 1)

    after = store(two)
    await after.start()  # refuses to start if a row is still sealed with the old key
    try:
        assert await after.comments.thread("idea:r", thread["id"]) == thread
        assert (await after.comments.comment("idea:r", comment["id"]))["body"] == "hi @bob"
        notes, unread = await after.comments.notifications("bob")
        assert [n["excerpt"] for n in notes] == ["hi @bob"] and unread == 1
    finally:
        await after.close()


#: How long the five clients of the drift test type (CI's longer run sets 60).
DRIFT_SECONDS = float(os.environ.get("OMNIFORGE_DRIFT_SECONDS", "5"))

# What the UI does with a thread's relative positions (src/comments/anchors.ts, positionOf):
# Yjs's own createAbsolutePositionFromRelativePosition in its copy of the document, a range of
# UTF-16 units [from, max(from, to)).
_YJS_POSITIONS = """
import * as Y from 'yjs'
let input = ''
for await (const chunk of process.stdin) input += chunk
const { update, anchors } = JSON.parse(input)
const doc = new Y.Doc()
Y.applyUpdate(doc, Buffer.from(update, 'base64'))
const text = doc.getText('code')
const s = text.toString()
const out = anchors.map(([a, b]) => {
  const from = Y.createAbsolutePositionFromRelativePosition(
    Y.decodeRelativePosition(Buffer.from(a, 'base64')), doc)
  const to = Y.createAbsolutePositionFromRelativePosition(
    Y.decodeRelativePosition(Buffer.from(b, 'base64')), doc)
  if (!from || !to || from.type !== text || to.type !== text) return null
  const end = Math.max(from.index, to.index)
  return [s.slice(0, from.index).length, from.index, end, s.slice(from.index, end)]
})
process.stdout.write(JSON.stringify({ text: s, out }))
"""


async def _yjs_positions(update: bytes, anchors: list[list[str]]) -> dict:
    node = shutil.which("node")
    assert node, "node is needed (the README's test command installs tests/js)"
    proc = await asyncio.create_subprocess_exec(
        node, "--input-type=module", "-e", _YJS_POSITIONS,
        cwd=Path(__file__).parent / "js",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    payload = {"update": base64.b64encode(update).decode(), "anchors": anchors}
    out, err = await asyncio.wait_for(proc.communicate(json.dumps(payload).encode()), 60)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


def _code_points(s: str, units: int) -> int:
    """The character index of UTF-16 offset ``units`` of ``s``."""
    return len(s.encode("utf-16-le")[: 2 * units].decode("utf-16-le"))


async def _all_threads(server_url: str, token: str, room: str) -> list[dict]:
    threads, after = [], ""
    while True:
        status, page = await call(server_url, token, room, f"/threads?limit=200{after}")
        assert status == 200, page
        threads += page["threads"]
        if not page["next"]:
            return threads
        after = f"&after={page['next']}"


async def test_five_clients_typing_for_a_while_agree_with_the_server_on_every_anchor(
    server_url, token
):
    """Anchors never drift: five pycrdt clients of a real server type at random positions at
    once (inserts and deletes, non-ASCII included) for ``OMNIFORGE_DRIFT_SECONDS``, while
    threads are made over REST on ranges of the server's text and from relative positions a
    client made on its own copy. Once all have synced, every thread's range and text as each
    client computes it from the relative positions (anchors.py, as the server does; and Yjs's
    own resolution, as the UI does) is the server's REST answer.

    Typed characters stay in the BMP (é and 中: two and three UTF-8 bytes, one UTF-16 unit),
    and the seed's emoji is typed once, before anyone else: pycrdt 0.14 clients typing
    concurrently next to a character beyond the BMP (two UTF-16 units) can send updates
    another pycrdt client panics on (``update.rs``, a split inside the pair)."""
    seed = random.randrange(1 << 30)
    print(f"drift seed {seed}, {DRIFT_SECONDS} s")
    room = "idea:drift"
    docs = [Doc() for _ in range(5)]
    loop = asyncio.get_running_loop()
    refused = made = 0
    async with contextlib.AsyncExitStack() as stack:
        conns = [
            await stack.enter_async_context(connect_room(server_url, room, d, token=token))
            for d in docs
        ]
        docs[0].get("code", type=Text).insert(0, "start 🎉 of the text\n")
        await conns[0].confirm(10)
        await wait_for(lambda: all(str(d.get("code", type=Text)) for d in docs), timeout=10)
        deadline = loop.time() + DRIFT_SECONDS

        async def typist(who: int) -> None:
            rng = random.Random(seed * 8 + who)
            text = docs[who].get("code", type=Text)
            while loop.time() < deadline:
                long = len(str(text)) > 300
                _apply(
                    text,
                    rng.random() < (0.3 if long else 0.65),
                    rng.random(),
                    "".join(rng.choice("ab é中\n") for _ in range(rng.randint(1, 4))),
                    rng.randint(1, 4),
                )
                await asyncio.sleep(rng.uniform(0.01, 0.05))

        async def commenter() -> None:
            nonlocal refused, made
            rng = random.Random(seed * 8 + 7)
            while loop.time() < deadline:
                await asyncio.sleep(rng.uniform(0, 0.02))
                if rng.random() < 0.5:  # indices in the server's text as it is now
                    _, info = await fetch_json(api(server_url, room), token=token)
                    length = len(info["content"]["code"])
                    start = rng.randrange(max(1, length - 1))
                    anchor = {"root": "code", "start": start,
                              "end": min(length, start + rng.randint(1, 6))}  # fmt: skip
                else:  # relative positions a client made on its copy
                    who = rng.randrange(5)
                    await conns[who].confirm(10)
                    s = str(docs[who].get("code", type=Text))
                    if len(s) < 2:
                        continue
                    start = rng.randrange(len(s) - 1)
                    rel = TextView(docs[who], "code").anchor(
                        start, min(len(s), start + rng.randint(1, 6))
                    )
                    anchor = {"root": "code", "relative": {
                        "start": base64.b64encode(rel[0]).decode(),
                        "end": base64.b64encode(rel[1]).decode(),
                    }}  # fmt: skip
                status, thread = await call(server_url, token, room, "/threads", "POST",
                                            {"body": "here", "anchor": anchor})  # fmt: skip
                if status == 201:
                    made += 1
                else:  # the range moved or went meanwhile
                    assert (status, thread.get("error")) == (400, "invalid_anchor"), thread
                    refused += 1

        await asyncio.gather(*(typist(i) for i in range(5)), commenter())
        t0 = loop.time()
        for conn in conns:
            await conn.confirm(30)
        await wait_for(lambda: len({str(d.get("code", type=Text)) for d in docs}) == 1, timeout=30)
        threads = await _all_threads(server_url, token, room)
        print(f"synced and listed in {loop.time() - t0:.2f} s")
        print(
            f"{made} threads, {refused} refused, text of {len(str(docs[0].get('code', type=Text)))}"
        )
        assert len(threads) == made >= 5
        orphaned = sum(t["orphaned"] for t in threads)
        assert orphaned < made  # the test reads live ranges, not only orphaned ones
        decoded = [
            [base64.b64decode(t["anchor"]["relative"][k]) for k in ("start", "end")]
            for t in threads
        ]
        for doc in docs:
            views = TextView(doc, "code").resolve_all([tuple(d) for d in decoded])
            for thread, mine in zip(threads, views, strict=True):
                on_server = thread["anchor"]
                assert (mine.start, mine.end, mine.orphaned) == (
                    on_server["start"], on_server["end"], thread["orphaned"],
                ), thread  # fmt: skip
                if not mine.orphaned:
                    assert mine.text == on_server["text"], thread
        yjs = await _yjs_positions(
            docs[0].get_update(), [[t["anchor"]["relative"][k] for k in ("start", "end")]
                                   for t in threads]
        )  # fmt: skip
        s = yjs["text"]
        assert s == str(docs[0].get("code", type=Text))
        for thread, found in zip(threads, yjs["out"], strict=True):
            assert found is not None, thread
            start, from16, to16, covered = found
            on_server = thread["anchor"]
            assert start == on_server["start"], (thread, found)
            if thread["orphaned"]:
                assert from16 == to16, (thread, found)
            else:
                assert _code_points(s, to16) == on_server["end"], (thread, found)
                assert covered == on_server["text"], (thread, found)


async def test_an_orphaned_thread_keeps_the_text_it_covered_just_before(server_url, token):
    """Nobody reads the thread between an edit inside its range and the deletion of the whole
    range: the server, which follows the open room, still shows the edited text."""
    room = "idea:last"
    doc = Doc()
    async with connect_room(server_url, room, doc, token=token) as conn:
        text = doc.get("code", type=Text)
        text.insert(0, "keep: old words :end")
        await conn.confirm(10)
        thread = await thread_on(server_url, token, room, 6, 15)
        assert thread["anchor"]["text"] == "old words"
        text.insert(len("keep: old "), "new ")  # inside: "old new words"
        await conn.confirm(10)
        del text[len("keep: ") : len("keep: old new words")]
        await conn.confirm(10)
        _, gone = await call(server_url, token, room, f"/threads/{thread['id']}")
        assert gone["orphaned"] is True and gone["anchor"]["text"] == "old new words"
        assert gone["anchor"]["start"] == gone["anchor"]["end"] == 6


async def test_a_thread_on_a_text_root_the_kind_does_not_declare(server_url, token):
    doc = Doc()
    async with connect_room(server_url, "idea:roots", doc, token=token):
        doc.get("notes", type=Text).insert(0, "todo: ship it")
    status, thread = await call(server_url, token, "idea:roots", "/threads", "POST",
                                {"body": "when?", "anchor": {"root": "notes", "start": 6, "end": 13}})  # fmt: skip
    assert status == 201 and thread["anchor"]["text"] == "ship it", thread
    status, refused = await call(server_url, token, "idea:roots", "/threads", "POST",
                                 {"body": "x", "anchor": {"root": "nothing", "start": 0, "end": 1}})  # fmt: skip
    assert status == 400 and "outside" in refused["message"]
