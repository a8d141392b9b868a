"""Stories of the RealtimeAgent and of the apps extension point it builds on.

An extension registers an app (``tests/agent_app.py``) and gets its own endpoints, hooks and
names; ``jupyter omniforge generate`` turns a spec into such an extension — which installs into
a fresh virtual environment and passes its own tests there — with TypeScript that compiles under
``tsc --strict`` and talks to a real server.
"""

from __future__ import annotations

import ast
import asyncio
import datetime
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest
import yaml
from pycrdt import Text
from tornado.httpclient import HTTPClientError

from jupyter_omniforge import cli
from jupyter_omniforge.agent import RealtimeAgent, SpecError
from jupyter_omniforge.apps import AppRegistry, Channel, DeclarationError, RealtimeApp
from jupyter_omniforge.client.apps import AppClient, AppRoom
from jupyter_omniforge.errors import ValidationError

from . import agent_app
from .conftest import fetch_json, wait_for
from .nodeclient import node_installed
from .realtime import SSE, Gateway

HERE = Path(__file__).parent
ROOT = HERE.parent
EXAMPLE_SPEC = ROOT / "examples" / "inventory.yaml"
EXAMPLE_DIR = ROOT / "examples" / "inventory"
JS_DIR = HERE / "js"
TSC = JS_DIR / "node_modules" / ".bin" / "tsc"
BIN = Path(sys.executable).parent

#: A second spec, of another shape than the inventory example: JSON, four kinds (one without
#: roots or events, one with events only), every Yjs type, enums, nullable and integer fields,
#: a property name that is no identifier, a Draft 2020-12 schema with a $ref, four presence types.
KANBAN: dict[str, Any] = {
    "app": "kanban_board",
    "namespace": "kanban-board",
    "version": "1.2.0",
    "description": "A team's kanban board",
    "channels": [
        {
            "kind": "board",
            "document": {"title": "text", "columns": "array", "settings": "map"},
            "comments": True,
            "events": {
                "card.moved": {
                    "type": "object",
                    "properties": {
                        "card": {"type": "string", "minLength": 3},
                        "to": {"enum": ["todo", "doing", "done"]},
                        "position": {"type": "integer", "minimum": 0, "maximum": 1000},
                        "note": {"type": ["string", "null"]},
                    },
                    "required": ["card", "to"],
                },
                "board.renamed": {
                    "type": "object",
                    "properties": {"title": {"type": "string", "examples": ["Sprint 12"]}},
                    "required": ["title"],
                    "additionalProperties": False,
                },
            },
        },
        {
            "kind": "card",
            "document": {
                "description": "text",
                "labels": "map",
                "checklist": "array",
                "attachments": "xml",
            },
            "events": {
                "card.commented": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string", "pattern": "^\\S", "examples": ["Looks good"]},
                        "mentions": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                        "urgent": {"type": "boolean"},
                        "x-trace": {"type": "string"},
                    },
                    "required": ["text", "mentions"],
                }
            },
        },
        {"kind": "lobby"},
        {
            "kind": "wall",
            "events": {
                "wall.posted": {
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "type": "object",
                    "properties": {"score": {"$ref": "#/$defs/score"}},
                    "required": ["score"],
                    "$defs": {
                        "score": {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.5}
                    },
                }
            },
        },
    ],
    "presence": {
        "fields": {"column": "string", "typing": "boolean", "zoom": "number", "seat": "integer"}
    },
}


#: What a spec's strings may hold that generated code must not choke on: quotes of every kind,
#: backslashes and escape-like text, comment ends and starts, template syntax, non-ASCII.
HOSTILE_LINE = 'q"uo\'te \\back\\slash """triple\'\'\' */ /* <!-- ${x} {{y}} `t` \\N{DASH} ∑ é 😀"'
#: The same with line breaks (allowed in data, not in the one-line description).
HOSTILE_TEXT = HOSTILE_LINE + "\nsecond line\u2028third\r\n\\"
HOSTILE_KEY = "a b\"'*/\\"

#: A spec whose every free-text string is hostile: the description, examples, enum values and
#: property names that land in docstrings, comments and literals.
HOSTILE: dict[str, Any] = {
    "app": "hostile_app",
    "namespace": "hostile",
    "description": HOSTILE_LINE,
    "channels": [
        {
            "kind": "note",
            "document": {"body": "text"},
            "events": {
                "note.posted": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string"},
                        HOSTILE_KEY: {"enum": [HOSTILE_LINE, "plain"]},
                    },
                    "required": ["text", HOSTILE_KEY],
                    "examples": [{"text": HOSTILE_TEXT, HOSTILE_KEY: HOSTILE_LINE}],
                }
            },
        }
    ],
    "presence": {"fields": {"mood": "string"}},
}


@pytest.fixture
def jp_server_config(request: pytest.FixtureRequest, db_path: Path) -> dict[str, Any]:
    """jupyter_omniforge with the hand-written app of agent_app.py, or with the generated
    inventory app for the tests that ask for it (``inventory_on_path``): not both, as they
    both define ``order.placed`` and an event type belongs to one app."""
    extensions = {"jupyter_omniforge": True, "tests.agent_app": True}
    if "inventory_on_path" in request.fixturenames:
        request.getfixturevalue("inventory_on_path")
        extensions = {"jupyter_omniforge": True, "inventory": True}
    if "kanban_on_path" in request.fixturenames:
        request.getfixturevalue("kanban_on_path")
        extensions = {"jupyter_omniforge": True, "kanban_board": True}
    return {
        "ServerApp": {"jpserver_extensions": extensions},
        "OmniForgeApp": {"db_path": str(db_path), "room_idle_timeout": 0.2},
    }


@pytest.fixture(autouse=True)
def _fresh_arrivals() -> None:
    agent_app.ARRIVALS.clear()


class ShopClient(AppClient):
    namespace = "shop"


class OrderRoom(AppRoom):
    kind = "order"
    roots: ClassVar[dict[str, str]] = {"notes": "text", "lines": "array"}


async def post(server_url: str, token: str, path: str, body: Any) -> tuple[int, Any]:
    return await fetch_json(
        server_url + path, method="POST", token=token, body=body, raise_error=False
    )


async def open_sse(server_url: str, token: str, path: str, after: str) -> SSE:
    """Server-Sent Events of ``path`` (an app's stream), replayed from the cursor ``after``."""
    parts = urlsplit(server_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    request = [
        f"GET {parts.path}{path} HTTP/1.0",
        f"Host: {parts.netloc}",
        f"Authorization: token {token}",
        f"Last-Event-ID: {after}",
    ]
    writer.write(("\r\n".join(request) + "\r\n\r\n").encode())
    sse = SSE(reader, writer)
    await wait_for(lambda: sse.status)
    assert sse.status == 200
    return sse


# -- the extension point ---------------------------------------------------------------------------


async def test_an_app_gets_its_own_room_endpoint_serving_its_declared_roots(
    server_url, token, omniforge
):
    client = ShopClient(server_url, token)
    async with OrderRoom(client, "1") as alice, OrderRoom(client, "1") as bob:
        alice.doc.get("notes", type=Text).insert(0, "two bolts")
        await wait_for(lambda: str(bob.doc.get("notes", type=Text)) == "two bolts")
        # Inside the server the room is namespaced: no built-in room can be called that.
        assert "shop/order:1" in omniforge.room_manager.rooms
        _, room = await fetch_json(server_url + "omniforge/api/rooms/shop/order:1", token=token)
        assert room["content"] == {"notes": "two bolts"}
        # The multiplexed gateway serves the app's rooms too, by their full name.
        gateway = await Gateway.connect(server_url, token)
        await gateway.send(type="joinRoom", roomId="shop/order:1")
        assert (await gateway.next("docSync"))["roomId"] == "shop/order:1"
        gateway.close()


@pytest.mark.parametrize("size", [5, 1 << 20], ids=["small", "1MB"])
async def test_an_edit_made_as_an_app_rooms_block_exits_is_on_the_server(server_url, token, size):
    client = ShopClient(server_url, token)
    text = "x" * (size - 5) + "bolts"
    async with OrderRoom(client, f"flush{size}") as room:
        room.doc.get("notes", type=Text).insert(0, text)
    _, body = await fetch_json(
        server_url + f"omniforge/api/rooms/shop/order:flush{size}", token=token
    )
    assert body["content"]["notes"] == text
    async with OrderRoom(client, f"flush{size}") as other:
        assert str(other.doc.get("notes", type=Text)) == text


async def test_presence_is_announced_and_seen_by_the_others(server_url, token):
    client = ShopClient(server_url, token)
    seen: list[dict[int, dict[str, Any]]] = []
    async with OrderRoom(client, "here") as one, OrderRoom(client, "here") as two:
        two.on_presence(seen.append)
        # Connecting announces a connection, before any field is set.
        await wait_for(lambda: one.awareness.client_id in two.presence)
        await one.set_presence(status="packing")
        state = await wait_for(lambda: two.presence.get(one.awareness.client_id, {}).get("status"))
        assert state == "packing" and two.presence[one.awareness.client_id]["user"]["username"]
        assert seen and one.awareness.client_id not in one.presence
        await one.set_presence(status=None)
        await wait_for(lambda: "status" not in two.presence[one.awareness.client_id])
    # Leaving removes the state for the others (the server removes a closed connection's).
    async with OrderRoom(client, "here") as three:
        assert one.awareness.client_id not in three.presence


async def test_an_apps_event_passes_its_hook_then_reaches_subscribers_and_history(
    server_url, token, omniforge
):
    gateway = await Gateway.connect(server_url, token)
    await gateway.send(type="subscribe", channels=["shop/*"])
    await gateway.next("subscribed")
    code, envelope = await post(
        server_url,
        token,
        "shop/events",
        {"channel": "order:7", "type": "order.placed", "data": {"total": 12}},
    )
    assert code == 201, envelope
    assert envelope["channel"] == "shop/order:7" and envelope["data"] == {"total": 12}
    [arrival] = agent_app.ARRIVALS
    assert (arrival.room, arrival.channel, arrival.type) == (
        "order:7",
        "shop/order:7",
        "order.placed",
    )
    assert arrival.data == {"total": 12} and arrival.source["username"]
    await wait_for(lambda: envelope in gateway.events())
    _, page = await fetch_json(server_url + "shop/events?channel=order:*", token=token)
    assert page["events"] == [envelope]
    assert await omniforge.apps["shop"].history(["order:7"]) == [envelope]  # for hooks
    sse = await open_sse(server_url, token, "shop/events/stream?channels=order:*", after="0")
    await wait_for(lambda: sse.messages() == [envelope])
    sse.close()
    # A client joining an app's room is announced on the room's channel, like anywhere else.
    client = ShopClient(server_url, token)
    async with OrderRoom(client, "7"):
        await wait_for(lambda: any(e["type"] == "user.joined" for e in gateway.events()))
    gateway.close()


async def test_an_event_a_hook_refuses_or_breaks_on_is_not_stored(server_url, token):
    for data, type_, status, error in [
        ({"total": 5000}, "order.placed", 400, "rejected"),
        ({}, "order.audited", 500, "hook_failed"),
        ({"total": -1}, "order.placed", 400, "invalid"),
    ]:
        code, body = await post(
            server_url, token, "shop/events", {"channel": "order:1", "type": type_, "data": data}
        )
        assert (code, body["error"]) == (status, error), body
    _, body = await post(
        server_url,
        token,
        "shop/events",
        {"channel": "order:1", "type": "order.placed", "data": {"total": 5000}},
    )
    assert (
        body["message"] == "order.placed refused by the shop app: orders over 1000 need a manager"
    )
    _, page = await fetch_json(server_url + "shop/events", token=token)
    assert page["events"] == []


async def test_an_apps_batch_passes_each_event_through_its_hook(server_url, token):
    batch = [
        {"channel": "order:2", "type": "order.placed", "data": {"total": 10}},
        {"channel": "order:2", "type": "order.placed", "data": {"total": 5000}},
        {"channel": "order:2", "type": "order.audited", "data": {}},
        {"channel": "order:3", "type": "order.placed", "data": {"total": 20}},
    ]
    code, body = await post(server_url, token, "shop/events", batch)
    assert code == 200, body
    assert [r.get("error") for r in body["events"]] == [None, "rejected", "hook_failed", None]
    stored = [r for r in body["events"] if "id" in r]
    assert [e["channel"] for e in stored] == ["shop/order:2", "shop/order:3"]
    _, page = await fetch_json(server_url + "shop/events", token=token)
    assert page["events"] == stored


async def test_an_apps_names_and_event_types_stay_inside_the_app(
    server_url, token, ws_connect, omniforge
):
    for room in ("ghost/order:1", "shop/nope:1", "shop/presence"):
        with pytest.raises(HTTPClientError) as info:
            await ws_connect(room)
        assert info.value.code == 400, room
    client = ShopClient(server_url, token)
    for room in ("idea:1", "shop/order:1"):
        with pytest.raises(HTTPClientError) as info:
            await _open(client, room)
        assert info.value.code == 400, room
    refusals = [
        ("omniforge/api/events", "shop/order:1", "order.placed", "emit it through shop/events"),
        ("shop/events", "till:1", "order.placed", "go on order:{id} rooms"),
        ("shop/events", "order:1", "build.progress", "do not go on an app's rooms"),
        ("omniforge/api/events", "ghost/order:1", "user.joined", "no app is registered"),
    ]
    for path, channel, type_, message in refusals:
        code, body = await post(
            server_url, token, path, {"channel": channel, "type": type_, "data": {"total": 1}}
        )
        assert code == 400 and message in body["message"], body
    with pytest.raises(ValidationError, match="emit it through shop/events"):
        await omniforge.emit("shop/order:1", "order.placed", {"total": 1})
    envelope = await omniforge.apps["shop"].emit("order:1", "order.placed", {"total": 1})
    assert envelope["source"] == {"username": "server"} and agent_app.ARRIVALS


async def _open(client: AppClient, room: str) -> None:
    from jupyter_omniforge.client.rooms import open_connection

    conn = await open_connection(client.room_url(room))
    conn.close()


def test_a_declaration_that_clashes_is_refused_and_changes_nothing():
    registry = AppRegistry()
    registry.add(
        RealtimeApp("shop", [Channel("order", events={"order.placed": {"type": "object"}})])
    )
    cases = [
        (RealtimeApp("shop", [Channel("till")]), "namespace: 'shop' is registered already"),
        (RealtimeApp("api", [Channel("till")]), "namespace: 'api' is a URL prefix"),
        (RealtimeApp("b", [Channel("build")]), "channels[0].kind: 'build' is a built-in room kind"),
        (
            RealtimeApp("b", [Channel("x", events={"build.progress": {"type": "object"}})]),
            "events.build.progress: an event type with this name exists already",
        ),
        (
            RealtimeApp("b", [Channel("x", events={"order.placed": {"type": "object"}})]),
            "events.order.placed: an event type with this name exists already",
        ),
        (
            RealtimeApp("b", [Channel("x", {"doc": "txt"})]),
            "channels[0].document.doc: unknown Yjs type 'txt'",
        ),
        (
            RealtimeApp("b", [Channel("x", events={"x.y": {"type": "nmber"}})]),
            "channels[0].events.x.y.type: invalid JSON Schema",
        ),
    ]
    for app, message in cases:
        with pytest.raises(DeclarationError) as info:
            registry.add(app)
        assert message in str(info.value)
    assert registry.names.namespaces == ["shop"] and len(registry) == 1


# -- the generator: specs --------------------------------------------------------------------------


INVALID_SPECS = [
    (
        "unknown Yjs type",
        {"document": {"notes": "txt"}},
        "channels[0].document.notes: unknown Yjs type 'txt'",
    ),
    (
        "bad event name",
        {"events": {"Order.Placed": {"type": "object"}}},
        "channels[0].events.Order.Placed: invalid event name",
    ),
    (
        "invalid JSON Schema",
        {
            "events": {
                "order.placed": {"type": "object", "properties": {"total": {"type": "nmber"}}}
            }
        },
        "channels[0].events.order.placed.properties.total.type: invalid JSON Schema",
    ),
    ("built-in kind", {"kind": "build"}, "channels[0].kind: 'build' is a built-in room kind"),
    (
        "built-in event type",
        {"events": {"build.progress": {"type": "object"}}},
        "channels[0].events.build.progress: 'build.progress' is a built-in event type",
    ),
    (
        "data not an object",
        {"events": {"order.placed": {"type": "string"}}},
        "channels[0].events.order.placed: the data of an event is a JSON object",
    ),
]


def _spec(**channel: Any) -> dict[str, Any]:
    return {"app": "shop", "namespace": "shop", "channels": [{"kind": "order", **channel}]}


@pytest.mark.parametrize(
    ("case", "channel", "message"), INVALID_SPECS, ids=[c[0] for c in INVALID_SPECS]
)
def test_an_invalid_spec_exits_2_names_the_path_and_writes_nothing(
    tmp_path, capsys, case, channel, message
):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(_spec(**channel)))
    out = tmp_path / "out"
    assert cli.main(["generate", str(spec), "-o", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_duplicate_kinds_and_keys_are_refused_with_their_paths(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "app: shop\nnamespace: shop\nchannels:\n  - kind: order\n  - kind: order\n"
        "  - kind: till\n    events:\n      till.opened: {type: object}\n"
        "      till.opened: {type: object}\n"
    )
    out = tmp_path / "out"
    assert cli.main(["generate", str(spec), "-o", str(out)]) == 2
    assert "channels[2].events.till.opened: duplicate key 'till.opened'" in capsys.readouterr().err
    spec.write_text(spec.read_text().replace("      till.opened: {type: object}\n", "", 1))
    assert cli.main(["generate", str(spec), "-o", str(out)]) == 2
    assert (
        "channels[1].kind: duplicate kind 'order' (also channels[0].kind)"
        in capsys.readouterr().err
    )
    with pytest.raises(
        SpecError, match=r"channels\[1\]\.events\.order\.placed: duplicate event type"
    ):
        RealtimeAgent(
            {
                "app": "shop",
                "namespace": "shop",
                "channels": [
                    {"kind": "a", "events": {"order.placed": {"type": "object"}}},
                    {"kind": "b", "events": {"order.placed": {"type": "object"}}},
                ],
            }
        )
    assert not out.exists()


def test_hostile_strings_are_escaped_where_they_land(tmp_path):
    out = tmp_path / "out"
    RealtimeAgent(HOSTILE).generate(out)
    package = out / "hostile_app"
    for module in ("__init__", "client", "_generated"):
        compile((package / f"{module}.py").read_text(), module, "exec")
    # The docstrings say what the spec says, and end where they should.
    init_doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
    assert init_doc.startswith(HOSTILE_LINE + ": the hostile_app app")
    client_doc = ast.get_docstring(ast.parse((package / "client.py").read_text()))
    assert "second line" in client_doc and "note.posted" in client_doc
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((out / "pyproject.toml").read_text())["project"]
    assert project["description"] == HOSTILE_LINE
    ts = (out / "ts" / "src" / "hostile_app.ts").read_text()
    header, rest = ts.split("*/", 1)  # the doc comment ends where it should
    assert "second line" in header and "import * as Y" in rest
    assert "\u2028" not in ts and "\u2029" not in ts
    result = subprocess.run(
        [BIN / "ruff", "check", "."], cwd=out, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


REFUSED_SPECS = [
    ("description with a line break", {"description": "one\ntwo"}, "description: one line"),
    ("description with a control character", {"description": "a\x00b"}, "description: one line"),
    ("app shadowing a dependency", {"app": "tornado"}, "app: 'tornado' would shadow"),
    ("app as a path", {"app": "../evil"}, "app: '../evil' does not match"),
    ("namespace as a path", {"namespace": "a/../b"}, "namespace: 'a/../b' does not match"),
    ("a date in an example", {"examples": [{"when": datetime.date(2024, 1, 1)}]}, "quote it"),
    ("an infinite number", {"examples": [{"n": float("inf")}]}, "inf is not a JSON number"),
    ("a lone surrogate", {"examples": [{"s": "\ud800"}]}, "lone surrogate"),
    (
        "a schema referring to itself",
        {"schema": {"type": "object", "$ref": "#"}},
        "refers to itself",
    ),
]


@pytest.mark.parametrize(
    ("case", "change", "message"), REFUSED_SPECS, ids=[c[0] for c in REFUSED_SPECS]
)
def test_hostile_specs_are_refused_with_their_path(case, change, message):
    spec: dict[str, Any] = {
        "app": "shop",
        "namespace": "shop",
        "channels": [{"kind": "order", "events": {"order.placed": {"type": "object"}}}],
    }
    events = spec["channels"][0]["events"]
    if "examples" in change:
        events["order.placed"]["examples"] = change["examples"]
    elif "schema" in change:
        events["order.placed"] = change["schema"]
    else:
        spec.update(change)
    with pytest.raises(SpecError) as refused:
        RealtimeAgent(spec)
    assert message in str(refused.value)


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path, capsys):
    # "Billion laughs": 9 levels of 9 aliases expand to 9**9 strings if they are followed.
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [{','.join(['*' + previous] * 9)}]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\napp: x\nnamespace: x\nchannels: *i\n")
    assert len(bomb.read_bytes()) < 600
    started = time.monotonic()
    assert cli.main(["generate", str(bomb), "-o", str(tmp_path / "out")]) == 2
    assert time.monotonic() - started < 0.5
    assert "anchors and aliases" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    # A spec that nests without end is refused too, not a crash.
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert cli.main(["generate", str(deep), "-o", str(tmp_path / "out")]) == 2
    assert "nested too deeply" in capsys.readouterr().err


def test_the_output_depends_on_the_spec_alone(tmp_path):
    # The same spec as YAML and as JSON with its keys in another order: the same bytes.
    spec = yaml.safe_load(EXAMPLE_SPEC.read_text())
    reordered = tmp_path / "inventory.json"
    reordered.write_text(json.dumps(spec, sort_keys=True))
    RealtimeAgent(EXAMPLE_SPEC).generate(tmp_path / "a")
    RealtimeAgent(reordered).generate(tmp_path / "b")
    files_a = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    files_b = sorted(
        p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file()
    )
    assert files_a == files_b
    for path in files_a:
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes(), path


def test_regenerating_rewrites_generated_files_keeps_user_files_and_check_sees_drift(
    tmp_path, capsys
):
    spec = tmp_path / "inventory.yaml"
    spec.write_text(EXAMPLE_SPEC.read_text())
    out = tmp_path / "out"
    assert cli.main(["generate", str(spec), "-o", str(out)]) == 0
    assert cli.main(["generate", str(spec), "-o", str(out), "--check"]) == 0
    handlers = out / "inventory" / "handlers.py"
    mine = handlers.read_bytes() + b"\n# my own notes, \xc3\xa9t\xc3\xa9\n"
    handlers.write_bytes(mine)
    generated = out / "inventory" / "_generated.py"
    generated.write_text(generated.read_text() + "x = 1\n")
    capsys.readouterr()
    # A hand edit of a generated file is drift; an edit of a user file is not.
    assert cli.main(["generate", str(spec), "-o", str(out), "--check"]) == 1
    diff = capsys.readouterr().out
    assert "--- a/inventory/_generated.py" in diff and "-x = 1" in diff
    assert "handlers.py" not in diff
    # The spec gains an event type: --check shows it, generate writes it, handlers.py stays.
    data = yaml.safe_load(spec.read_text())
    data["channels"][0]["events"]["order.cancelled"] = {"type": "object"}
    spec.write_text(yaml.safe_dump(data))
    assert cli.main(["generate", str(spec), "-o", str(out), "--check"]) == 1
    assert "+class OrderCancelled(TypedDict):" in capsys.readouterr().out
    assert cli.main(["generate", str(spec), "-o", str(out)]) == 0
    output = capsys.readouterr()
    assert (
        "wrote inventory/_generated.py" in output.out
        and "kept  inventory/handlers.py" in output.out
    )
    assert "handlers.py has no on_order_cancelled(event) for order.cancelled" in output.err
    assert handlers.read_bytes() == mine
    assert "order.cancelled" in generated.read_text()
    assert cli.main(["generate", str(spec), "-o", str(out), "--check"]) == 0
    # A deleted user file is written again (and is what --check reports missing).
    handlers.unlink()
    assert cli.main(["generate", str(spec), "-o", str(out), "--check"]) == 1
    assert cli.main(["generate", str(spec), "-o", str(out)]) == 0
    assert "async def on_order_cancelled(" in handlers.read_text()


def test_the_checked_in_example_is_what_its_spec_generates():
    # CI runs this test: examples/inventory must be regenerated whenever the spec or the
    # templates change. Through the installed command, as a user runs it.
    result = subprocess.run(
        [BIN / "jupyter", "omniforge", "generate", EXAMPLE_SPEC, "-o", EXAMPLE_DIR, "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr


def test_generated_python_is_lint_clean_and_formatted(tmp_path):
    for name, spec in [("inventory", EXAMPLE_SPEC), ("kanban", KANBAN)]:
        out = tmp_path / name
        RealtimeAgent(spec).generate(out)
        for command in (["check", "."], ["format", "--check", "--diff", "."]):
            result = subprocess.run(
                [BIN / "ruff", *command], cwd=out, capture_output=True, text=True, timeout=60
            )
            assert result.returncode == 0, f"{name}: ruff {command}\n{result.stdout}{result.stderr}"


# -- the generated apps, installed -----------------------------------------------------------------


@dataclass
class Installed:
    app: str
    out: Path  # the generated DIR
    venv: Path
    python: Path
    site_packages: Path


def install(spec: Path | dict[str, Any], work: Path) -> Installed:
    """Generate ``spec`` into ``work/app`` and ``pip install`` it into a fresh virtual
    environment that sees this one's packages (a .pth file): its dependencies are then resolved
    as installed, with no index and no build isolation, in a few seconds."""
    agent = RealtimeAgent(spec)
    out = work / "app"
    agent.generate(out)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=60)
    python = venv / "bin" / "python"
    site_packages = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    ours = sysconfig.get_paths()["purelib"]
    (site_packages / "_omniforge_project.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n"
    )
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-index", "--no-build-isolation", out],
        check=True,
        cwd=work,
        timeout=300,
        capture_output=True,
    )
    return Installed(agent.spec.app, out, venv, python, site_packages)


@pytest.fixture(scope="module")
def inventory_installed(tmp_path_factory) -> Installed:
    return install(EXAMPLE_SPEC, tmp_path_factory.mktemp("inventory"))


@pytest.fixture(scope="module")
def hostile_installed(tmp_path_factory) -> Installed:
    work = tmp_path_factory.mktemp("hostile")
    spec = work / "hostile.json"
    spec.write_text(json.dumps(HOSTILE, indent=2))
    return install(spec, work)


@pytest.fixture(scope="module")
def kanban_installed(tmp_path_factory) -> Installed:
    work = tmp_path_factory.mktemp("kanban")
    spec = work / "kanban.json"
    spec.write_text(json.dumps(KANBAN, indent=2))
    return install(spec, work)


def compile_typescript(installed: Installed) -> Path:
    """``tsc --strict`` the generated TypeScript (with declarations); returns the JS module."""
    if not node_installed():
        pytest.skip("node is not installed")
    if not TSC.exists():
        subprocess.run([shutil.which("npm") or "npm", "ci", "--prefix", JS_DIR], check=True)
    ts = installed.out / "ts"
    modules = ts / "node_modules"
    if not modules.exists():
        modules.symlink_to(JS_DIR / "node_modules", target_is_directory=True)
    result = subprocess.run(
        [TSC, "-p", ts, "--strict"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return ts / "lib" / f"{installed.app}.js"


# Each app's own suite in its own venv takes 10-20 s: the README's test command runs one, CI
# runs all three (OMNIFORGE_ALL_APPS=1, in .ci/run).
_ALL_APPS = os.environ.get("OMNIFORGE_ALL_APPS") == "1"
_ONE_APP = pytest.mark.skipif(not _ALL_APPS, reason="CI runs it: OMNIFORGE_ALL_APPS=1")


@pytest.mark.parametrize(
    "name",
    ["inventory", pytest.param("kanban", marks=_ONE_APP), pytest.param("hostile", marks=_ONE_APP)],
)
def test_a_generated_app_installs_into_a_fresh_venv_and_passes_its_own_tests(request, name):
    installed: Installed = request.getfixturevalue(f"{name}_installed")
    elsewhere = installed.out.parent  # not the generated DIR: imports must find the install
    origin = subprocess.check_output(
        [installed.python, "-c", f"import {installed.app}; print({installed.app}.__file__)"],
        cwd=elsewhere,
        text=True,
    )
    assert Path(origin.strip()).is_relative_to(installed.site_packages), origin
    config = (
        installed.venv / "etc" / "jupyter" / "jupyter_server_config.d" / f"{installed.app}.json"
    )
    assert json.loads(config.read_text()) == {
        "ServerApp": {"jpserver_extensions": {installed.app: True}}
    }
    result = subprocess.run(
        [installed.python, "-m", "pytest", installed.out / "tests", "-q", "-p", "no:cacheprovider"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
    compile_typescript(installed)


@pytest.fixture
def inventory_on_path(inventory_installed, monkeypatch) -> Installed:
    """The installed inventory app importable here, for an in-process server to load it."""
    monkeypatch.syspath_prepend(str(inventory_installed.site_packages))
    return inventory_installed


@pytest.fixture(scope="module")
def kanban_generated(tmp_path_factory) -> Installed:
    """The kanban app generated (not installed: a second of work, not ten)."""
    out = tmp_path_factory.mktemp("kanban-generated") / "app"
    RealtimeAgent(KANBAN).generate(out)
    return Installed("kanban_board", out, out, Path(sys.executable), out)


@pytest.fixture
def kanban_on_path(kanban_generated, monkeypatch) -> Installed:
    """The generated kanban app (its board kind has ``comments: true``) importable here."""
    monkeypatch.syspath_prepend(str(kanban_generated.out))
    return kanban_generated


#: Node.js: the generated kanban client comments on a board's title, replies, resolves, lists.
TS_COMMENTS = """
import { pathToFileURL } from 'node:url';
const [clientPath, wsPath, baseUrl, token] = process.argv.slice(2);
const { KanbanBoardClient } = await import(pathToFileURL(clientPath).href);
const { default: WebSocket } = await import(pathToFileURL(wsPath).href);
const client = new KanbanBoardClient({ baseUrl, token, WebSocketPolyfill: WebSocket });
const board = client.board('ts');
const thread = await board.comment({ start: 7, end: 11 }, 'Which **plan**?');
const reply = await board.reply(thread.id, 'The new one');
const resolved = await board.resolve(thread.id);
const open = await board.threads(false);
const all = await board.threads();
const reopened = await board.reopen(thread.id);
const wide = await board.comment(null, 'About the board');
let refused = null;
try {
  await board.comment({ start: 5, end: 500 }, 'outside');
} catch (error) {
  refused = { status: error.status, code: error.code };
}
await board.close();
process.stdout.write(JSON.stringify({ thread, reply, resolved, open, all, reopened, wide, refused }));
process.exit(0);
"""


async def test_comments_true_gives_the_generated_python_client_threads_comment_and_resolve(
    kanban_on_path, server_url, token
):
    """A kind with ``comments: true``: the generated Python client starts threads on a range of
    its first text root, replies, resolves and lists them, over the server's comments API; a
    kind without it has none of these."""
    import kanban_board

    client = kanban_board.KanbanBoardClient(server_url, token)
    async with client.board("py") as board:
        board.title.insert(0, "Sprint planning")
    thread = await board.comment("Why now?", range=(7, 15))
    assert thread["anchor"]["text"] == "planning" and thread["anchor"]["root"] == "title"
    await board.reply(thread.id, "@bob says so")
    assert (await board.resolve(thread.id))["resolved"]
    assert await board.threads(resolved=False) == []
    assert [t.id for t in await board.threads()] == [thread.id]
    assert not hasattr(client.card("x"), "threads")  # card has no comments: true


@_ONE_APP  # tsc takes its seconds: CI runs it
async def test_comments_true_gives_the_generated_typescript_client_the_same(
    kanban_on_path, server_url, token
):
    import kanban_board

    async with kanban_board.KanbanBoardClient(server_url, token).board("ts") as board:
        board.title.insert(0, "Sprint plan 12")
    client_js = compile_typescript(kanban_on_path)
    script = kanban_on_path.out / "comments.mjs"
    script.write_text(TS_COMMENTS)
    node = await asyncio.create_subprocess_exec(
        shutil.which("node") or "node",
        script,
        client_js,
        JS_DIR / "node_modules" / "ws" / "index.js",
        server_url,
        token,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(node.communicate(), 60)
    assert node.returncode == 0, (out + err).decode()[-4000:]
    got = json.loads(out)
    assert got["thread"]["anchor"]["text"] == "plan" and got["thread"]["anchor"]["root"] == "title"
    assert got["reply"]["thread"] == got["thread"]["id"]
    assert got["resolved"]["resolved"] and got["open"] == []
    assert [c["body"] for c in got["all"][0]["comments"]] == ["Which **plan**?", "The new one"]
    assert not got["reopened"]["resolved"] and got["wide"]["anchor"] is None
    assert got["refused"] == {"status": 400, "code": "invalid_anchor"}
    status, listed = await fetch_json(
        server_url + "omniforge/api/rooms/kanban-board/board:ts/threads", token=token
    )
    assert status == 200 and len(listed["threads"]) == 2


def test_comments_need_a_text_root_and_keep_their_method_names():
    base = {"app": "notes_app", "namespace": "notes"}
    with pytest.raises(SpecError) as info:
        RealtimeAgent({**base, "channels": [{"kind": "page", "document": {"items": "array"},
                                             "comments": True}]})  # fmt: skip
    assert ("channels[0].comments", "comments need a text root to anchor threads to") in (
        info.value.problems
    )
    with pytest.raises(SpecError) as info:
        RealtimeAgent({**base, "channels": [{"kind": "page", "document": {"threads": "text"},
                                             "comments": True}]})  # fmt: skip
    assert info.value.problems[0][0] == "channels[0].document.threads"
    # Without comments, a root may be called so.
    RealtimeAgent({**base, "channels": [{"kind": "page", "document": {"threads": "text"}}]})


#: Node.js: the generated inventory client edits a room and leaves with close() at once, then exits.
TS_LAST_EDIT = """
import { pathToFileURL } from 'node:url';
const [clientPath, wsPath, baseUrl, token, room, size] = process.argv.slice(2);
const { InventoryClient } = await import(pathToFileURL(clientPath).href);
const { default: WebSocket } = await import(pathToFileURL(wsPath).href);
const client = new InventoryClient({ baseUrl, token, WebSocketPolyfill: WebSocket });
const order = client.order(room);
// Before the socket is even open: y-websocket sends it with its sync, once connected.
order.notes.insert(0, 'x'.repeat(Number(size) - 5) + 'bolts');
await order.close();
process.exit(0); // at once: nothing left to send may be lost
"""


@pytest.mark.parametrize("size", [5, 1 << 20], ids=["small", "1MB"])
async def test_an_edit_the_typescript_client_makes_as_it_closes_is_on_the_server(
    inventory_on_path, server_url, token, tmp_path, size
):
    client_js = compile_typescript(inventory_on_path)
    script = tmp_path / "last-edit.mjs"
    script.write_text(TS_LAST_EDIT)
    room = f"tslast{size}"
    node = await asyncio.create_subprocess_exec(
        shutil.which("node") or "node",
        script,
        client_js,
        JS_DIR / "node_modules" / "ws" / "index.js",
        server_url,
        token,
        room,
        str(size),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(node.communicate(), 60)
    assert node.returncode == 0, (out + err).decode()[-4000:]
    text = "x" * (size - 5) + "bolts"
    _, body = await fetch_json(
        server_url + f"omniforge/api/rooms/inventory/order:{room}", token=token
    )
    assert body["content"]["notes"] == text

    class Order(AppRoom):
        kind = "order"
        roots: ClassVar[dict[str, str]] = {"notes": "text"}

    class Inventory(AppClient):
        namespace = "inventory"

    async with Order(Inventory(server_url, token), room) as python:
        assert str(python.doc.get("notes", type=Text)) == text


async def test_the_generated_typescript_client_edits_emits_and_shares_presence(
    inventory_on_path, server_url, token
):
    client_js = compile_typescript(inventory_on_path)
    node = await asyncio.create_subprocess_exec(
        shutil.which("node") or "node",
        JS_DIR / "appclient.mjs",
        client_js,
        server_url,
        token,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )

    async def step() -> dict[str, Any]:
        line = await asyncio.wait_for(node.stdout.readline(), 30)
        if not line:
            raise AssertionError((await node.stderr.read()).decode()[-4000:])
        message = json.loads(line)
        assert message["step"] != "error", message["message"]
        return message

    try:
        ready = await step()
        assert ready["placed"]["channel"] == "inventory/order:ts"
        assert ready["received"]["id"] == ready["placed"]["id"]
        assert ready["refused"]["refused"] and ready["refused"]["status"] == 400
        assert ready["refused"]["code"] == "invalid"
        history = [e["type"] for e in ready["history"]]
        assert history.count("order.placed") == 1 and set(history) <= {
            "user.joined",
            "order.placed",
        }
        # What the TypeScript client wrote is in the declared roots, as the server sees them.
        _, room = await fetch_json(
            server_url + "omniforge/api/rooms/inventory/order:ts", token=token
        )
        assert room["content"] == {
            "notes": "from TypeScript",
            "items": ["bolt"],
            "meta": {"priority": "high"},
            "body": "typed",
        }

        class Order(AppRoom):
            kind = "order"

        class Inventory(AppClient):
            namespace = "inventory"

        async with Order(Inventory(server_url, token), "ts") as python:
            state = await wait_for(
                lambda: next((s for s in python.presence.values() if "status" in s), None)
            )
            assert state["status"] == "packing" and state["user"]["username"]
            await python.set_presence(status="watching")
            await python.emit("order.shipped", {"carrier": "bike"})
            node.stdin.write(b"go\n")
            shipped = await step()
            assert shipped["event"]["data"] == {"carrier": "bike"}
            assert {"status": "watching"}.items() <= shipped["others"][0].items()
            assert (await step())["step"] == "done"
    finally:
        if node.returncode is None:
            node.kill()
        await node.wait()
