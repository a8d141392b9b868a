"""Stories in a real browser about who may do what in a room: an admin shares a room with a link
that a stock y-websocket client opens, and a read-only user follows a room without changing it.

The users are named (tests/ui/identities.py) and a rules file decides for them: alice may do
everything, everybody else may read and show presence.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import wait_for
from tests.nodeclient import NodeClient, node_available

from .conftest import BROWSER_MISSING, LabPage, LabServer
from .identities import name_browser_user

if BROWSER_MISSING:
    pytest.skip(BROWSER_MISSING, allow_module_level=True)

from playwright.sync_api import expect  # after the skip: it may not be installed

ADMIN_AND_READERS = """\
default: none
rules:
  - rooms: "*"
    users: [alice]
    allow: [read, write, presence, emit, delete, admin]
  - rooms: "*"
    users: ["*"]
    allow: [read, presence]
"""

#: alice loses write (and admin); the rest as before.
ALICE_READS_ONLY = """\
default: none
rules:
  - rooms: "*"
    users: ["*"]
    allow: [read, presence]
"""


@pytest.fixture
def policy_lab(lab_server, tmp_path: Path) -> Callable[[], tuple[LabServer, Path]]:
    """Factory: a `jupyter lab` whose users are named by a cookie and decided by a rules file
    (``ADMIN_AND_READERS``, which the story may rewrite)."""

    def make() -> tuple[LabServer, Path]:
        policy = tmp_path / "policy.yaml"
        policy.write_text(ADMIN_AND_READERS)
        server = lab_server(
            [
                "--ServerApp.identity_provider_class=tests.ui.identities.BrowserUsers",
                f"--OmniForgeApp.room_policy_file={policy}",
            ]
        )
        return server, policy

    return make


def named_user(new_user, server: LabServer, name: str) -> LabPage:
    user = new_user(server)
    name_browser_user(user.page.context, server.url, name)
    return user.open()


def editor_panel(user: LabPage, room: str) -> Any:
    """The main-area widget (toolbar and editor) of ``room``'s editor."""
    return user.page.locator(
        f'.jp-MainAreaWidget:has(.jp-OmniForge-RoomEditor[data-room="{room}"])'
    )


def read_only_badge(user: LabPage, room: str) -> Any:
    return user.page.locator(f'.jp-OmniForge-RoomEditor[data-room="{room}"] .jp-OmniForge-readOnly')


def jwt_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class StockClient:
    """The stock y-websocket client (tests/nodeclient.py) opening a shared link. Its story runs
    in a thread of its own (``asyncio.run``): Playwright's sync API keeps its loop running in
    this one."""

    def __init__(self, link: str) -> None:
        url = urlsplit(link)
        self.server_url, _, self.room = f"{url.scheme}://{url.netloc}{url.path}".rpartition("/")
        self.token = parse_qs(url.query)["token"][0]
        self.handled = threading.Event()
        self.synced_text: str | None = None
        self.stderr = ""
        self.followed: dict[str, Any] = {}

    async def story(self, then: str, observer_token: str) -> None:
        """Sync, make an edit and then announce ``note: "edited"`` in awareness; once another
        client (``observer_token``'s) sees the note, the server has handled the edit (a
        connection's frames are handled in order) and ``handled`` is set. Then wait for the
        room's text to become ``then`` (after the guest's own, kept locally)."""
        client = await NodeClient.start(self.server_url, self.room, self.token)
        observer = await NodeClient.start(self.server_url, self.room, observer_token)
        try:
            await client.wait_synced(15)
            reply = await client.check({"cmd": "get", "roots": {"code": "text"}})
            self.synced_text = reply["json"]["code"]
            await client.check(
                {"cmd": "insert", "root": "code", "index": 0, "text": "guest was here. "}
            )
            await client.check({"cmd": "awareness_field", "field": "note", "value": "edited"})
            await observer.wait_synced(15)

            async def note_seen() -> bool:
                states = (await observer.check({"cmd": "states"}))["states"]
                return any(state.get("note") == "edited" for state in states.values())

            await wait_for(note_seen, timeout=15, interval=0.05)
            # y-websocket's own handler of the auth message says so on the console.
            self.stderr = client.stderr
            self.handled.set()
            self.followed = await client.command(
                {"cmd": "wait_text", "root": "code", "value": "guest was here. " + then}
            )
        finally:
            await observer.close()
            await client.close()


def wait_until(predicate: Callable[[], Any], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.05)


def test_an_admin_shares_a_room_read_only_with_a_stock_client(policy_lab, new_user) -> None:
    if not node_available():
        pytest.skip("node or tests/js/node_modules missing (npm ci --prefix tests/js)")
    server, _ = policy_lab()
    room = "idea:shared"
    alice = named_user(new_user, server, "alice")
    alice.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    assert alice.identity()["username"] == "alice"

    alice.show_sidebar()
    alice.open_room(room).click()
    alice.page.keyboard.type("Hello from Alice.")
    wait_until(lambda: server.room_text(room) == "Hello from Alice.")

    # alice may administer the room: "Share…" is in the editor's toolbar and on the room's row.
    share = editor_panel(alice, room).locator(".jp-OmniForge-shareButton")
    expect(share).to_be_visible()
    row = alice.page.locator(f'.jp-OmniForge-room[data-room="{room}"]')
    expect(row.locator(".jp-OmniForge-shareRoom")).to_be_visible()
    share.click()

    dialog = alice.page.locator(".jp-Dialog")
    expect(dialog).to_contain_text(f"Share {room}")
    expect(dialog.get_by_role("radio", name="Read only")).to_be_checked()
    dialog.locator("select").select_option("3600")  # 1 hour
    dialog.get_by_role("textbox").fill("Reviewer")
    started = time.time()
    dialog.get_by_role("button", name="Create link").click()

    expect(dialog).to_contain_text(f"Link to {room}")
    expect(dialog).to_contain_text("Copied to the clipboard.")
    link = dialog.locator(".jp-OmniForge-share-link").input_value()
    ws_base = f"ws://127.0.0.1:{server.port}/omniforge/rooms"
    assert link.startswith(f"{ws_base}/{room}?token="), link
    assert alice.page.evaluate("() => navigator.clipboard.readText()") == link
    token = parse_qs(urlsplit(link).query)["token"][0]
    claims = jwt_claims(token)
    assert claims["rooms"] == [room]
    assert sorted(claims["permissions"]) == ["presence", "read"]
    assert claims["name"] == "Reviewer" and claims["sub"].startswith("guest-")
    assert started + 3600 - 5 <= claims["exp"] <= time.time() + 3600 + 5
    # The expiry and a y-websocket snippet with the same URL and token are shown.
    expect(dialog.locator(".jp-OmniForge-share-expires")).to_contain_text("(in 1 hour)")
    snippet = dialog.locator(".jp-OmniForge-share-snippet")
    expect(snippet).to_contain_text(f"'{ws_base}'")
    expect(snippet).to_contain_text(f"'{room}'")
    expect(snippet).to_contain_text(token)
    expect(dialog.locator(".jp-OmniForge-share-warning")).to_have_count(0)
    dialog.get_by_role("button", name="Done").click()
    expect(dialog).to_have_count(0)

    # A stock y-websocket client, given nothing but the link (its serverUrl, room and token):
    # it syncs the room, shows up in alice's editor, its edit is refused, and it follows on.
    guest = StockClient(link)
    with ThreadPoolExecutor(1) as pool:
        story = pool.submit(
            asyncio.run, guest.story(then="Hello from Alice. Bye.", observer_token=server.token)
        )
        guest.handled.wait(60) or story.result(0)
        assert guest.synced_text == "Hello from Alice."
        assert "Permission denied" in guest.stderr and "read-only" in guest.stderr, guest.stderr
        avatar = alice.page.locator(
            f'.jp-OmniForge-RoomEditor[data-room="{room}"] '
            '.jp-OmniForge-RoomEditor-people [data-username^="guest-"]'
        )
        expect(avatar).to_have_attribute("title", "Reviewer")
        # Nothing of the guest's edit reached the server or alice.
        assert server.room_text(room) == "Hello from Alice."
        alice.expect_text(room, "Hello from Alice.")
        alice.editor(room).click()
        alice.page.keyboard.press("Control+End")
        alice.page.keyboard.type(" Bye.")
        story.result(60)
    assert guest.followed["event"] == "ok", guest.followed
    assert server.room_text(room) == "Hello from Alice. Bye."

    # An editable link for a guest whom the room's policy lets only read: the dialog says so.
    alice.execute("omniforge:share-room", {"room": room}, wait=False)
    dialog.get_by_role("radio", name="Edit").check()
    dialog.get_by_role("button", name="Create link").click()
    expect(dialog.locator(".jp-OmniForge-share-warning")).to_contain_text(
        "less than asked: the link cannot write, emit"
    )
    token = parse_qs(urlsplit(dialog.locator(".jp-OmniForge-share-link").input_value()).query)
    assert sorted(jwt_claims(token["token"][0])["permissions"]) == [
        "emit",
        "presence",
        "read",
        "write",
    ]
    dialog.get_by_role("button", name="Done").click()
    assert not alice.errors, alice.errors


def test_a_user_without_admin_sees_no_share_action(policy_lab, new_user) -> None:
    server, _ = policy_lab()
    room = "idea:noshare"
    alice = named_user(new_user, server, "alice")
    bob = named_user(new_user, server, "bob")
    alice.open_room(room)
    bob.show_sidebar()
    bob.open_room(room)
    # Once bob's permissions are known (the badge says so), there is no share action anywhere.
    expect(read_only_badge(bob, room)).to_be_visible()
    expect(editor_panel(bob, room).locator(".jp-OmniForge-shareButton")).to_be_hidden()
    row = bob.page.locator(f'.jp-OmniForge-room[data-room="{room}"]')
    expect(row).to_be_visible()
    expect(row.locator(".jp-OmniForge-shareRoom")).to_have_count(0)
    assert not bob.page.evaluate(
        "(room) => window.jupyterapp.commands.isVisible('omniforge:share-room', {room})", room
    )
    # Run anyway (a palette entry, a keyboard shortcut): refused with the reason, nothing minted.
    bob.execute("omniforge:share-room", {"room": room}, wait=False)
    dialog = bob.page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Sharing a room needs the admin permission")
    status, audit = server.request("GET", f"omniforge/api/audit?room={room}")
    assert status == 200
    assert not [e for e in audit["entries"] if e["action"] == "token.minted"], audit


def test_a_read_only_user_follows_a_room_without_changing_it(policy_lab, new_user) -> None:
    server, policy = policy_lab()
    room = "idea:readonly"
    alice = named_user(new_user, server, "alice")
    bob = named_user(new_user, server, "bob")

    alice.open_room(room).click()
    alice.page.keyboard.type("Written by Alice.")
    wait_until(lambda: server.room_text(room) == "Written by Alice.")
    expect(read_only_badge(alice, room)).to_be_hidden()

    bob.open_room(room)
    expect(bob.room_status(room)).to_have_attribute("data-state", "connected")
    bob.expect_text(room, "Written by Alice.")
    badge = read_only_badge(bob, room)
    expect(badge).to_be_visible()
    expect(badge).to_have_text("Read-only")
    expect(badge).to_have_attribute(
        "title",
        "You can read idea:readonly but not edit it: your permissions here are presence, read.",
    )

    # bob types: nothing changes, in his editor or on the server.
    bob.editor(room).click()
    bob.page.keyboard.press("Control+End")
    bob.page.keyboard.type("Bob was here.")
    bob.page.keyboard.press("Enter")
    bob.page.keyboard.press("Control+a")
    bob.page.keyboard.press("Delete")
    assert bob.text(room) == "Written by Alice."

    # alice's edits reach bob, and bob's caret (presence) reaches alice.
    alice.page.keyboard.type(" More.")
    bob.expect_text(room, "Written by Alice. More.")
    expect(alice.page.locator(".cm-ySelectionInfo", has_text="Bob")).to_be_visible()
    expect(
        alice.page.locator(f'.jp-OmniForge-RoomEditor[data-room="{room}"] [data-username="bob"]')
    ).to_be_visible()
    assert server.room_text(room) == "Written by Alice. More."

    # alice loses write while her editor is open: the server refuses her next edit, and her
    # editor turns read-only, saying why.
    policy.write_text(ALICE_READS_ONLY)
    wait_until(
        lambda: (
            "write"
            not in (
                server.request("GET", f"omniforge/api/access?room={room}&user=alice")[1] or {}
            ).get("actions", ["write"])
        )
    )
    alice.editor(room).click()
    alice.page.keyboard.press("Control+End")
    alice.page.keyboard.type("!")
    alice_badge = read_only_badge(alice, room)
    expect(alice_badge).to_be_visible()
    expect(alice_badge).to_have_attribute(
        "title",
        "You can read idea:readonly but not edit it: your permissions here are presence, read.",
    )
    before = alice.text(room)
    alice.page.keyboard.type("more")
    assert alice.text(room) == before
    assert server.room_text(room) == "Written by Alice. More."
    assert not alice.errors and not bob.errors, alice.errors + bob.errors
