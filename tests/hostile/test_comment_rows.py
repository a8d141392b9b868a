"""Hostile comment rows: anything with the database file (another tool, an older release, a
damaged page) can write a thread, comment, reaction or notification row of any shape. Each
story writes such rows straight into the SQLite store under a room with good threads, then
checks that the listing still answers with every good thread and comment, that each bad row
was skipped and counted (or, when it is only its anchor that is garbage, listed as orphaned),
that asking for a bad one alone says why, that an admin can delete it, and that the server
and other people carry on."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import pytest
from pycrdt import Doc, Text

from jupyter_omniforge.client import connect_room
from jupyter_omniforge.store import SQLiteStore, StoreSettings
from jupyter_omniforge.store.base import MalformedCommentRow

from ..conftest import close_after_test, fetch_json, wait_for

ROOM = "idea:hostile-comments"
GOOD_USER = '{"username":"mallory","name":"M","color":"#000000"}'


async def call(server_url, token, path, method="GET", body=None):
    return await fetch_json(
        f"{server_url}omniforge/api/rooms/{quote(ROOM)}{path}",
        method=method,
        token=token,
        body=body,
        raise_error=False,
    )


async def good_threads(server_url: str, token: str) -> tuple[dict, dict]:
    """The room's text, an anchored thread with a reply, and a room-wide thread."""
    doc = Doc()
    async with connect_room(server_url, ROOM, doc, token=token) as conn:
        doc.get("code", type=Text).insert(0, "hello world, bye")
        await conn.confirm(10)
    status, anchored = await call(
        server_url, token, "/threads", "POST",
        {"body": "look", "anchor": {"root": "code", "start": 6, "end": 11}},
    )  # fmt: skip
    assert status == 201, anchored
    status, _ = await call(
        server_url, token, f"/threads/{anchored['id']}/comments", "POST", {"body": "a reply"}
    )
    assert status == 201
    status, wide = await call(server_url, token, "/threads", "POST", {"body": "room-wide"})
    assert status == 201
    return anchored, wide


def insert_thread(conn: sqlite3.Connection, **columns) -> int:
    row = {
        "room": ROOM,
        "author": GOOD_USER,
        "created": 1.0,
        "resolved_by": None,
        "resolved_at": None,
        "orphaned": 0,
        "root": None,
        "start": None,
        "end_": None,
        "text": None,
        "kid": None,
        **columns,
    }
    tid = conn.execute(
        f"INSERT INTO comment_threads ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
        tuple(row.values()),
    ).lastrowid
    conn.execute(
        "INSERT INTO comments (thread, room, author, created, body) VALUES (?, ?, ?, 1, ?)",
        (tid, ROOM, GOOD_USER, b"hostile thread's comment"),
    )
    return tid


def insert_comment(conn: sqlite3.Connection, thread: int, **columns) -> int:
    row = {"thread": thread, "room": ROOM, "author": GOOD_USER, "created": 1.0, "body": b"ok"}
    row.update(columns)
    return conn.execute(
        f"INSERT INTO comments ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
        tuple(row.values()),
    ).lastrowid


#: Thread rows no store could have written: each must be skipped with a reason.
BAD_THREADS = [
    {"author": "{not json"},
    {"author": '{"username": NaN}'},
    {"author": "[" * 100_000 + "]" * 100_000},
    {"author": "[" * 1000 + "]" * 1000},
    {"author": '{"username": "x", "name": 1e999}'},
    {"author": '{"username": ' + "9" * 5000 + "}"},
    {"author": '["alice"]'},
    {"author": 42},
    {"author": b"\xff\xfe"},
    {"created": "yesterday"},
    {"created": 1e308 * 10},  # SQLite keeps an infinity
    {"resolved_at": "soon"},
    {"resolved_by": '{"username": 7}', "resolved_at": 2.0},
    {"orphaned": 7},
    {"root": b"code", "start": b"\x00\x01\x00\x00", "end_": b"\x00\x01\x00\x41", "text": b""},
    {"root": "code", "start": 12, "end_": b"\x00\x01\x00\x41", "text": b""},
    {"root": "code", "start": b"\x00" * 10_000, "end_": b"\x00", "text": b""},
    {"root": "code", "start": b"\x00\x01\x00\x00", "end_": b"\x00\x01\x00\x41", "text": b"\xff"},
    {"root": "code", "start": b"\x00", "end_": b"\x00", "text": b"x", "kid": "no-such-key"},
]


async def test_malformed_thread_rows_are_skipped_and_everything_else_lists(
    server_url, token, omniforge, db_path, witness
):
    await witness.write()
    anchored, wide = await good_threads(server_url, token)
    store = omniforge.store.comments
    before = store.malformed
    with closing(sqlite3.connect(db_path)) as conn, conn:
        bad = [insert_thread(conn, **row) for row in BAD_THREADS]
    status, page = await call(server_url, token, "/threads?limit=200")
    assert status == 200, page
    assert [t["id"] for t in page["threads"]] == [anchored["id"], wide["id"]]
    assert [c["body"] for c in page["threads"][0]["comments"]] == ["look", "a reply"]
    assert page["threads"][0]["anchor"]["text"] == "world"
    assert store.malformed - before == len(BAD_THREADS)

    # Alone, a bad thread says why; its author is unknown, so only an admin deletes it.
    status, refused = await call(server_url, token, f"/threads/{bad[0]}")
    assert status == 500 and "author" in refused["message"], refused
    status, refused = await call(server_url, token, f"/threads/{bad[3]}")
    assert status == 500 and "nested deeper" in refused["message"], refused
    status, _ = await call(server_url, token, f"/threads/{bad[0]}", "PATCH", {"resolved": True})
    assert status == 500
    for tid in bad:
        status, _ = await call(server_url, token, f"/threads/{tid}", "DELETE")
        assert status == 204
    await deleted_by_an_admin(server_url, token, "thread", {str(tid): None for tid in bad})
    status, page = await call(server_url, token, "/threads?limit=200")
    assert [t["id"] for t in page["threads"]] == [anchored["id"], wide["id"]]
    await witness.check()


async def test_garbage_anchors_read_as_orphaned_without_reaching_pycrdt(
    server_url, token, omniforge, db_path, witness, capfd
):
    """Anchors whose bytes are no relative position of this text (random bytes, truncated or
    overlong varints, positions relative to a whole type, trailing bytes, ids from another
    document, huge clocks) list as orphaned threads with their stored text, whether the room is
    open (its anchors followed on every edit) or not; nothing panics inside pycrdt."""
    await witness.write()
    anchored, wide = await good_threads(server_url, token)
    garbage = [
        b"",
        b"\x00",
        b"\x00\xff",
        b"\x00" + b"\xff" * 20 + b"\x01\x00\x00",
        b"\x01\x04code\x00",
        b"\x02\x05\x00\x00",
        b"\x00\x01\x02\x00\x00\x00",  # trailing bytes
        b"\x00\x01\x02\x07",  # assoc 7
        b"\x00\x05\x00\x00",  # a client this document never saw
        b"\x00\xff\xff\xff\xff\x0f\xff\xff\xff\xff\x0f\x00",  # huge client and clock
        bytes(range(40)),
    ]
    with closing(sqlite3.connect(db_path)) as conn, conn:
        ids = [insert_thread(conn, root="code", start=g, end_=g, text=b"was here") for g in garbage]
        ids.append(insert_thread(conn, root="tokens", start=b"\x00\x01\x00\x00",
                                 end_=b"\x00\x01\x00\x41", text=b"a map"))  # fmt: skip
    listed: dict[str, dict] = {}
    doc = Doc()
    # Open (a client types, the server follows anchors) and closed.
    async with connect_room(server_url, ROOM, doc, token=token) as conn:
        await wait_for(lambda: str(doc.get("code", type=Text)) == "hello world, bye")
        for _ in range(3):
            doc.get("code", type=Text).insert(0, "> ")
            await conn.confirm(10)
            status, page = await call(server_url, token, "/threads?limit=200")
            assert status == 200, page
            listed = {t["id"]: t for t in page["threads"]}
    await wait_for(lambda: omniforge.room_manager.get(ROOM) is None)
    status, page = await call(server_url, token, "/threads?limit=200")
    assert status == 200 and {t["id"] for t in page["threads"]} == set(listed)
    assert listed[anchored["id"]]["anchor"]["text"] == "world"
    assert listed[wide["id"]]["anchor"] is None
    for tid in ids:
        thread = listed[str(tid)]
        assert thread["orphaned"] is True
        assert thread["anchor"]["text"] in ("was here", "a map")
    assert "panicked" not in capfd.readouterr().err
    await witness.check()


async def test_malformed_comment_reaction_and_notification_rows_are_skipped(
    server_url, token, omniforge, db_path, witness
):
    await witness.write()
    anchored, _ = await good_threads(server_url, token)
    tid = int(anchored["id"])
    limit = omniforge.comment_max_bytes
    with closing(sqlite3.connect(db_path)) as conn, conn:
        bad = [
            insert_comment(conn, tid, body=b"\xff\xfe not utf-8"),
            insert_comment(conn, tid, body=b"x" * (limit + 1)),
            insert_comment(conn, tid, author="{}"),
            insert_comment(conn, tid, author='{"username": "x"' + "}" * 3),
            insert_comment(conn, tid, created="NaN"),
            insert_comment(conn, tid, edited="later"),
            insert_comment(conn, tid, body=12345),
            insert_comment(conn, tid, kid="no-such-key"),
        ]
        fine = insert_comment(conn, tid, body="stored as TEXT, still readable")
        conn.execute(
            "INSERT INTO comment_reactions (comment, emoji, username) VALUES (?, ?, ?), "
            "(?, ?, ?), (?, ?, ?)",
            (fine, b"\xf0", "alice", fine, "👍", b"\x07", fine, "👍", "bob"),
        )
        for by in ("{", '{"username": Infinity}', GOOD_USER):
            conn.execute(
                'INSERT INTO notifications ("user", room, thread, comment, by, created, read, '
                "excerpt) VALUES ('victim', ?, ?, ?, ?, 1, 0, ?)",
                (ROOM, tid, fine, by, b"hi"),
            )
        conn.execute(
            'INSERT INTO notifications ("user", room, thread, comment, by, created, read, '
            "excerpt) VALUES ('victim', ?, ?, ?, ?, 1, 5, ?)",
            (ROOM, tid, fine, GOOD_USER, b"hi"),
        )
    status, page = await call(server_url, token, "/threads?limit=200")
    assert status == 200, page
    (thread, _) = page["threads"]
    assert [c["body"] for c in thread["comments"]] == [
        "look", "a reply", "stored as TEXT, still readable",
    ]  # fmt: skip
    assert thread["comments"][-1]["reactions"] == {"👍": ["bob"]}
    status, one = await call(server_url, token, f"/threads/{tid}")
    assert status == 200 and len(one["comments"]) == 3
    # Alone: why; a reaction or an edit on it is refused with the reason, an admin deletes it.
    status, refused = await call(server_url, token, f"/comments/{bad[0]}/reactions", "POST",
                                 {"emoji": "👍"})  # fmt: skip
    assert status == 500 and "UTF-8" in refused["message"], refused
    status, refused = await call(server_url, token, f"/comments/{bad[1]}/reactions", "POST",
                                 {"emoji": "👍"})  # fmt: skip
    assert status == 500 and "comment_max_bytes" in refused["message"], refused
    status, _ = await call(server_url, token, f"/comments/{bad[2]}", "PATCH", {"body": "x"})
    assert status == 500
    for cid in bad:
        status, _ = await call(server_url, token, f"/comments/{cid}", "DELETE")
        assert status == 204
    # Whose each was is unknown, but for the body too long to show: the store reads its author.
    authors = {str(cid): None for cid in bad} | {str(bad[1]): "mallory"}
    await deleted_by_an_admin(server_url, token, "comment", authors)
    # The victim's notifications: the good one lists, the rest are skipped.
    victim = await mint(server_url, token, "victim")
    status, notes = await fetch_json(
        server_url + "omniforge/api/notifications", token=victim, raise_error=False
    )
    assert status == 200, notes
    assert [n["by"]["username"] for n in notes["notifications"]] == ["mallory"]
    await witness.check()


async def deleted_by_an_admin(
    server_url: str, token: str, what: str, authors: dict[str, str | None]
) -> None:
    """The room's stream has a ``comment.deleted`` for each ``what`` (thread or comment) of
    ``authors``, saying who deleted it (the admin, never its author) and whose it was (None:
    unknown)."""
    status, history = await fetch_json(
        f"{server_url}omniforge/api/events?channel={quote(ROOM)}&limit=500", token=token
    )
    assert status == 200, history
    deleted = {e["data"].get(what): e for e in history["events"] if e["type"] == "comment.deleted"}
    for row_id, author in authors.items():
        event = deleted[row_id]["data"]
        assert event["by"] == deleted[row_id]["source"]["username"] not in ("", "mallory")
        assert event["author"] == author, event


async def mint(server_url: str, token: str, user: str) -> str:
    status, minted = await fetch_json(
        server_url + "omniforge/api/tokens",
        method="POST",
        token=token,
        body={"user": user, "rooms": ["idea:*"], "permissions": ["read"]},
    )
    assert status in (200, 201), minted
    return minted["token"]


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path):
    """A store of either engine, and how to run SQL on its database beside it."""
    if request.param == "sqlite":
        path = tmp_path / "s.sqlite"
        store = SQLiteStore(StoreSettings(path=str(path)))

        async def execute(sql: str, params: tuple) -> None:
            with closing(sqlite3.connect(path)) as conn, conn:
                conn.execute(sql, params)

        return store, execute, "?"
    import psycopg

    from jupyter_omniforge.store.postgres import PostgresStore

    url = request.getfixturevalue("postgres_url")
    store = PostgresStore(StoreSettings(url=url))
    close_after_test(store.close)

    async def execute(sql: str, params: tuple) -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute(sql, params)

    return store, execute, "%s"


async def test_both_engines_skip_malformed_rows_in_lists_and_refuse_them_alone(engine):
    """The same shaping on SQLite and PostgreSQL, where the columns' types allow less garbage:
    text that is no USER, negative and infinite times, undecodable text, an unknown key."""
    store, execute, mark = engine
    await store.start()
    comments = store.comments
    ann = {"username": "ann", "name": "Ann", "color": "#123456"}
    anchor = {"root": "code", "start": b"\x00\x01\x00\x00", "end": b"\x00\x01\x00\x41",
              "text": "t"}  # fmt: skip
    good, first = await comments.add_thread("r", ann, "fine", anchor)
    rows = [
        ("{not json", 1.0, b"t", None),
        ('{"username": NaN}', 1.0, b"t", None),
        ("[" * 5000 + "]" * 5000, 1.0, b"t", None),
        (GOOD_USER, -1.0, b"t", None),
        (GOOD_USER, float("inf"), b"t", None),
        (GOOD_USER, 1.0, b"\xff\xfe", None),
        (GOOD_USER, 1.0, b"t", "no-such-key"),
    ]
    values = ", ".join([mark] * 8)
    for author, created, text, kid in rows:
        await execute(
            "INSERT INTO comment_threads (id, room, author, created, root, start, end_, text, "
            f"kid) VALUES ((SELECT max(id) + 1 FROM comment_threads), {values})",
            ("r", author, created, "code", b"\x00\x01\x00\x00", b"\x00\x01\x00\x41", text, kid),
        )
        await execute(
            "INSERT INTO comments (id, thread, room, author, created, body, kid) VALUES "
            f"((SELECT max(id) + 1 FROM comments), {mark}, {mark}, {mark}, {mark}, {mark}, "
            f"{mark})",
            (int(good["id"]), "r", author, created, text, kid),
        )
    before = comments.malformed
    assert [t["id"] for t in await comments.threads("r")] == [good["id"]]
    listed = await comments.comments("r", [good["id"]])
    assert [c["id"] for c in listed[good["id"]]] == [first["id"]]
    assert comments.malformed - before == 2 * len(rows)
    with pytest.raises(MalformedCommentRow, match="author"):
        await comments.thread("r", str(int(good["id"]) + 1))
    with pytest.raises(MalformedCommentRow, match="created"):
        await comments.comment("r", str(int(first["id"]) + 4))
    await store.close()
