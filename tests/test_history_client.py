"""Stories of a room's version history from Python and from ``jupyter omniforge``: list, read,
compare, name, restore and blame, against a real server and real pycrdt clients (issue 17)."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest
from pycrdt import Doc, Text

from jupyter_omniforge.client import InvalidRequest, OmniForge, RequestFailed, connect_room

from .conftest import fetch_json

CLI = [sys.executable, "-m", "jupyter_omniforge.cli"]


@pytest.fixture
def omniforge_config() -> dict:
    return {"history_checkpoint_idle": 600}  # only the versions a test names or restores


async def mint(server_url: str, token: str, user: str) -> str:
    """A token of ``user`` that may read and write ``idea:*`` rooms, minted by the owner."""
    _, minted = await fetch_json(
        server_url + "omniforge/api/tokens",
        method="POST",
        token=token,
        body={"user": user, "rooms": ["idea:*"], "permissions": ["read", "write"]},
    )
    return minted["token"]


async def type_as(server_url: str, token: str, room: str, edit) -> None:
    """Connect with ``token``, make ``edit(text)``, and leave once the server has it."""
    doc = Doc()
    async with connect_room(server_url, room, doc, token=token):
        edit(doc.get("code", type=Text))


async def alice_then_bob(server_url: str, token: str, room: str, forge: OmniForge) -> dict:
    """Alice writes a line, the owner names that version, Bob appends one; returns the
    named version."""
    alice, bob = await mint(server_url, token, "alice"), await mint(server_url, token, "bob")
    await type_as(server_url, alice, room, lambda text: text.insert(0, "héllo from Alice 😀\n"))
    first = await forge.aname(room, "alice only")
    await type_as(server_url, bob, room, lambda text: text.insert(len(text), "Bob here\n"))
    return first


async def test_the_python_client_reads_compares_and_restores_versions(server_url, token):
    room = "idea:client"
    async with OmniForge(server_url, token) as forge:
        first = await alice_then_bob(server_url, token, room, forge)
        assert first["kind"] == "named" and first["label"] == "alice only"

        old = await forge.aat(room, first["id"], roots="code:text")
        assert old["content"]["code"] == "héllo from Alice 😀\n"
        assert old["version"]["id"] == first["id"]

        code = (await forge.adiff(room, first["id"]))["roots"]["code"]
        assert "+Bob here" in code["unified"]
        assert [(i["text"], i["author"]) for i in code["inserted"]] == [("Bob here\n", "bob")]
        assert code["deleted"] == []

        blame = await forge.ablame(room)
        text = blame["text"]
        assert text == "héllo from Alice 😀\nBob here\n"
        assert [(text[r["start"] : r["end"]], r["author"]) for r in blame["ranges"]] == [
            ("héllo from Alice 😀\n", "alice"),
            ("Bob here\n", "bob"),
        ]

        restored = (await forge.arestore(room, first["id"]))["version"]
        assert restored["kind"] == "restored"
        assert restored["label"] == f"restored from {first['id']}"
        assert (await forge.ablame(room))["text"] == "héllo from Alice 😀\n"
        newest = (await forge.aversions(room, limit=1))["versions"]
        assert [v["id"] for v in newest] == [restored["id"]]


async def test_the_blocking_client_pages_through_versions(server_url, token):
    room = "idea:pages"
    async with OmniForge(server_url, token) as forge:
        await type_as(server_url, token, room, lambda text: text.insert(0, "x"))
        for i in range(3):
            await forge.aname(room, f"step {i}")
        # The blocking methods, from a thread: this test's loop runs the server.
        seen, before = [], None
        while True:
            page = await asyncio.to_thread(forge.versions, room, before, 2)
            assert len(page["versions"]) <= 2
            seen += page["versions"]
            before = page["next"]
            if before is None:
                break
        named = [v["label"] for v in seen if v["kind"] == "named"]
        assert named == ["step 2", "step 1", "step 0"]
        made = await asyncio.to_thread(forge.name, room, "from a thread")
        diff = await asyncio.to_thread(forge.diff, room, seen[-1]["id"], made["id"])
        assert diff["from"] == seen[-1]["id"] and diff["to"] == made["id"]
        assert (await asyncio.to_thread(forge.blame, room))["text"] == "x"


async def test_bad_input_and_unknown_versions_raise_client_errors(server_url, token):
    room = "idea:bad"
    async with OmniForge(server_url, token) as forge:
        await type_as(server_url, token, room, lambda text: text.insert(0, "x"))
        for call in (
            forge.aversions(room, limit=0),
            forge.aversions(room, limit=100_000),
            forge.aname(room, ""),
            forge.aname(room, "x" * 201),
        ):
            with pytest.raises(InvalidRequest):
                await call
        for version in ("999999999", "no such version", "../../x", "a/b"):
            with pytest.raises(RequestFailed) as failed:
                await forge.aat(room, version)
            assert failed.value.status in (400, 404), version
            with pytest.raises(RequestFailed) as failed:
                await forge.arestore(room, version)
            assert failed.value.status in (400, 404), version
        with pytest.raises(RequestFailed) as failed:
            await forge.aversions("idea:never-made")
        assert failed.value.status == 404


async def run_cli(*args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIFORGE_")}
    proc = await asyncio.create_subprocess_exec(
        *CLI, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


async def test_the_cli_lists_diffs_and_restores(server_url, token):
    room = "idea:cli"
    server = ["--url", server_url, "--token", token]
    async with OmniForge(server_url, token) as forge:
        first = await alice_then_bob(server_url, token, room, forge)

    code, out, err = await run_cli("versions", room, "--limit", "1", *server)
    assert code == 0, err
    (listed,) = [json.loads(line) for line in out.splitlines()]
    assert listed["id"] == first["id"] and listed["label"] == "alice only"

    code, out, err = await run_cli("diff", room, first["id"], *server)
    assert code == 0, err
    assert out.splitlines() == [
        "--- a/code",
        "+++ b/code",
        "@@ -1 +1,2 @@",
        " héllo from Alice 😀",
        "+Bob here",
    ]

    code, out, err = await run_cli("restore", room, first["id"], *server)
    assert code == 0, err
    restored = json.loads(out)
    assert restored["kind"] == "restored"
    code, out, err = await run_cli("diff", room, first["id"], "current", *server)
    assert code == 0 and out == "", (out, err)

    code, _, err = await run_cli("versions", room, "--limit", "0", *server)
    assert code == 2 and "limit" in err
    code, _, err = await run_cli("restore", room, "no-such-version", *server)
    assert code != 0 and err
