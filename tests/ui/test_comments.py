"""Comments in a real browser, two named users in one room: alice comments on a line while bob
inserts lines above it, and the highlight stays on the same text for both (and on the server);
her mention of bob reaches him (a notification, the sidebar's unread badge); threads are
answered, reacted to, resolved and reopened from the keyboard; the panel passes an axe-core scan
in the light and the dark theme."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import BROWSER_MISSING, CONTRAST, REPO, THEMES, LabPage, LabServer
from .identities import name_browser_user

if BROWSER_MISSING:
    pytest.skip(BROWSER_MISSING, allow_module_level=True)

from playwright.sync_api import expect  # after the skip: it may not be installed

AXE = REPO / "tests" / "js" / "node_modules" / "axe-core" / "axe.min.js"

#: The text of every highlighted range of a room's editor, by thread (remote carets left out).
HIGHLIGHTS = """(root) => {
  const ranges = {};
  for (const span of root.querySelectorAll('.jp-OmniForge-commentRange[data-thread]')) {
    const copy = span.cloneNode(true);
    copy.querySelectorAll('.cm-ySelectionCaret, .cm-widgetBuffer').forEach(n => n.remove());
    ranges[span.dataset.thread] = (ranges[span.dataset.thread] || '') + copy.textContent;
  }
  return ranges;
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A `jupyter lab` whose users are named by a cookie (tests/ui/identities.py)."""
    server = LabServer(
        tmp_path_factory.mktemp("comments"),
        ["--ServerApp.identity_provider_class=tests.ui.identities.BrowserUsers"],
    )
    server.start()
    yield server
    server.stop()


def named(new_user, lab: LabServer, name: str) -> LabPage:
    user = new_user(lab)
    name_browser_user(user.page.context, lab.url, name)
    return user.open()


def room_node(user: LabPage, room: str) -> Any:
    return user.page.locator(f'.jp-OmniForge-RoomEditor[data-room="{room}"]')


def panel(user: LabPage, room: str) -> Any:
    return user.page.locator(f'.jp-OmniForge-comments[data-room="{room}"]')


def highlights(user: LabPage, room: str) -> dict[str, str]:
    return room_node(user, room).evaluate(HIGHLIGHTS)


def expect_highlight(user: LabPage, room: str, thread: str, text: str, timeout: float = 10) -> None:
    """Wait until ``thread``'s highlight in ``user``'s editor covers exactly ``text``."""
    deadline = user.page.evaluate("() => performance.now()") + timeout * 1000
    while (shown := highlights(user, room).get(thread)) != text:
        if user.page.evaluate("() => performance.now()") > deadline:
            raise AssertionError(f"thread {thread} highlights {shown!r}, expected {text!r}")
        user.page.wait_for_timeout(30)


def type_lines_at_top(user: LabPage, room: str, lines: str) -> None:
    user.editor(room).click()
    user.page.keyboard.press("Control+Home")
    user.page.keyboard.type(lines)


def select_line(user: LabPage, room: str, text: str) -> None:
    """Put the caret on the line holding ``text`` and select that line with the keyboard."""
    user.editor(room).locator(".cm-line", has_text=text).click()
    user.page.keyboard.press("Home")
    user.page.keyboard.press("Shift+End")


def thread_server_view(lab: LabServer, room: str) -> list[dict]:
    status, reply = lab.request("GET", f"omniforge/api/rooms/{room}/threads?user=alice")
    assert status == 200, reply
    return reply["threads"]


def test_a_comment_stays_on_its_line_while_lines_are_inserted_above_and_reaches_the_mentioned(
    lab: LabServer, new_user
) -> None:
    room = "idea:comments-anchor"
    alice, bob = named(new_user, lab, "alice"), named(new_user, lab, "bob")
    bob.show_sidebar()
    alice.open_room(room)
    bob.open_room(room)
    for user in (alice, bob):
        expect(user.room_status(room)).to_have_attribute("data-state", "connected")
        expect(panel(user, room)).to_be_visible()

    alice.editor(room).click()
    alice.page.keyboard.type("alpha\nbeta target line\ngamma")
    bob.expect_text(room, "alpha\nbeta target line\ngamma")

    # Alice selects the line and asks for a comment from the keyboard; while she writes it, bob
    # inserts lines above.
    select_line(alice, room, "beta target")
    alice.page.keyboard.press("Control+Alt+m")
    composer = panel(alice, room).locator(".jp-OmniForge-draft textarea")
    expect(composer).to_be_focused()
    expect(panel(alice, room).locator(".jp-OmniForge-draft .jp-OmniForge-quote")).to_have_text(
        "beta target line"
    )
    type_lines_at_top(bob, room, "new 1\nnew 2\n")
    alice.expect_text(room, "new 1\nnew 2\nalpha\nbeta target line\ngamma")

    # `@` suggests the people of the room; Enter picks one.
    composer.press_sequentially("Please look, @bo")
    option = panel(alice, room).get_by_role("option", name="Bob @bob")
    expect(option).to_be_visible()
    composer.press("Enter")
    composer.press_sequentially("the name is wrong <img src=x onerror=alert(1)>")
    expect(composer).to_have_value(
        "Please look, @bob the name is wrong <img src=x onerror=alert(1)>"
    )
    composer.press("Control+Enter")

    thread = panel(alice, room).locator(".jp-OmniForge-thread:not(.jp-OmniForge-draft)")
    expect(thread).to_have_count(1)
    thread_id = thread.get_attribute("data-thread")
    for user in (alice, bob):
        card = panel(user, room).locator(f'[data-thread="{thread_id}"]')
        expect(card.locator(".jp-OmniForge-commentBody")).to_contain_text("Please look, @bob")
        expect_highlight(user, room, thread_id, "beta target line")
        # The gutter marker sits on that line: the fourth, after bob's two.
        marker = room_node(user, room).locator(
            f'.jp-OmniForge-commentMarker[data-threads="{thread_id}"]'
        )
        expect(marker).to_have_count(1)
    # The server's copy of the anchor agrees.
    (on_server,) = thread_server_view(lab, room)
    assert on_server["anchor"]["text"] == "beta target line", on_server["anchor"]

    # More lines above, and typing right before and after it: the same text for everyone.
    type_lines_at_top(bob, room, "new 0\n")
    bob.editor(room).locator(".cm-line", has_text="beta target").click()
    bob.page.keyboard.press("End")
    bob.page.keyboard.type("!")
    bob.page.keyboard.press("Home")
    bob.page.keyboard.type(">> ")
    expected = "new 0\nnew 1\nnew 2\nalpha\n>> beta target line!\ngamma"
    alice.expect_text(room, expected)
    for user in (alice, bob):
        expect_highlight(user, room, thread_id, "beta target line")
    (on_server,) = thread_server_view(lab, room)
    assert on_server["anchor"]["text"] == "beta target line", on_server["anchor"]

    # The HTML shown went through the sanitizers: nothing that runs.
    body = panel(bob, room).locator(f'[data-thread="{thread_id}"] .jp-OmniForge-commentBody')
    expect(body).to_contain_text("the name is wrong <img src=x onerror=alert(1)>")  # as text
    assert body.locator("img, script, [onerror]").count() == 0

    # The mention reaches bob: a notification, and the unread badge on the sidebar's tab.
    expect(bob.page.locator(".jp-toast-message", has_text="mentioned you")).to_be_visible()
    tab = bob.page.locator('.jp-SideBar [data-id="jp-omniforge-sidebar"]')
    expect(tab).to_have_attribute("data-unread", "1")
    mention = bob.page.locator("#jp-omniforge-sidebar .jp-OmniForge-mention")
    expect(mention).to_contain_text("Please look")
    # Opening it shows the thread and marks it read.
    mention.locator("button").click()
    expect(panel(bob, room).locator(f'[data-thread="{thread_id}"]')).to_have_class(
        "jp-OmniForge-thread jp-mod-active"
    )
    expect(tab).not_to_have_attribute("data-unread", "1")
    status, unread = lab.request("GET", "omniforge/api/notifications?unread=1&user=bob")
    assert status == 200 and unread["unread"] == 0, unread
    # Alice was not mentioned.
    expect(alice.page.locator(".jp-toast-message", has_text="mentioned you")).to_have_count(0)
    assert not alice.errors and not bob.errors, alice.errors + bob.errors


def test_reply_react_resolve_and_reopen_from_the_keyboard(lab: LabServer, new_user) -> None:
    room = "idea:comments-keys"
    alice, bob = named(new_user, lab, "alice"), named(new_user, lab, "bob")
    alice.open_room(room)
    bob.open_room(room)
    alice.editor(room).click()
    alice.page.keyboard.type("answer = 42\nprint(answer)")
    bob.expect_text(room, "answer = 42\nprint(answer)")

    # Only the keyboard: select, Ctrl+Alt+M, write, Ctrl+Enter.
    select_line(alice, room, "answer = 42")
    alice.page.keyboard.press("Control+Alt+m")
    alice.page.keyboard.type("Why 42?")
    alice.page.keyboard.press("Control+Enter")
    card = panel(bob, room).locator(".jp-OmniForge-thread", has_text="Why 42?")
    expect(card).to_be_visible()
    thread_id = card.get_attribute("data-thread")
    expect_highlight(bob, room, thread_id, "answer = 42")

    # Bob answers in the reply box, Ctrl+Enter sends; alice sees it live.
    card.get_by_role("button", name="Reply to Alice").press("Enter")
    expect(card.get_by_role("textbox", name="Reply to Alice")).to_be_focused()
    bob.page.keyboard.type("The answer.")
    bob.page.keyboard.press("Control+Enter")
    alice_card = panel(alice, room).locator(f'[data-thread="{thread_id}"]')
    expect(alice_card.locator(".jp-OmniForge-comment")).to_have_count(2)
    expect(alice_card.locator(".jp-OmniForge-comment").nth(1)).to_contain_text("The answer.")

    # A reaction, from the keyboard: the picker button, then an emoji.
    first = alice_card.locator(".jp-OmniForge-comment").first
    first.get_by_role("button", name="Add a reaction").press("Enter")
    first.get_by_role("button", name="React with 🎉").press("Enter")
    expect(card.locator(".jp-OmniForge-reaction", has_text="🎉 1")).to_be_visible()

    # Resolve: Tab from the reply box reaches the button; the highlight goes, for both.
    card.get_by_role("textbox", name="Reply to Alice").focus()
    bob.page.keyboard.press("Tab")
    expect(card.get_by_role("button", name="Resolve")).to_be_focused()
    bob.page.keyboard.press("Enter")
    for user in (alice, bob):
        expect(panel(user, room).locator(".jp-OmniForge-comments-resolved")).to_contain_text(
            "Resolved 1"
        )
        expect(room_node(user, room).locator(".jp-OmniForge-commentRange")).to_have_count(0)
    # Reopen it from the resolved section.
    toggle = panel(alice, room).get_by_role("button", name="Resolved 1")
    toggle.press("Enter")
    reopen = (
        panel(alice, room)
        .locator(f'[data-thread="{thread_id}"]')
        .get_by_role("button", name="Reopen")
    )
    reopen.press("Enter")
    for user in (alice, bob):
        expect_highlight(user, room, thread_id, "answer = 42")
    expect(panel(bob, room).locator(".jp-OmniForge-comments-resolved")).to_have_count(0)

    # Escape in a new comment's box cancels it and gives the editor the focus back.
    select_line(alice, room, "print(answer)")
    alice.page.keyboard.press("Control+Alt+m")
    expect(panel(alice, room).locator(".jp-OmniForge-draft textarea")).to_be_focused()
    alice.page.keyboard.press("Escape")
    expect(panel(alice, room).locator(".jp-OmniForge-draft")).to_have_count(0)
    expect(alice.editor(room)).to_be_focused()

    # A thread whose whole text is deleted is kept, in the Orphaned section, with its last text.
    status, made = lab.request(
        "POST",
        f"omniforge/api/rooms/{room}/threads?user=carol",
        {"body": "Print it?", "anchor": {"root": "code", "start": 12, "end": 25}},
    )
    assert status == 201, made
    expect_highlight(bob, room, made["id"], "print(answer)")
    select_line(alice, room, "print(answer)")
    alice.page.keyboard.press("Backspace")
    bob.expect_text(room, "answer = 42\n")
    for user in (alice, bob):
        orphan = panel(user, room).locator(
            f'.jp-OmniForge-comments-orphaned [data-thread="{made["id"]}"]'
        )
        expect(orphan.locator(".jp-OmniForge-quote")).to_have_text("print(answer)")
    assert not alice.errors and not bob.errors, alice.errors + bob.errors


#: Texts of the panel below whose contrast axe must have checked (and found good): it finds 20.
CONTRAST_NODES_MIN = 15


@pytest.mark.parametrize("theme", THEMES)
def test_the_comments_panel_reads_well_and_axe_finds_nothing_serious(
    lab: LabServer, new_user, theme: str
) -> None:
    assert AXE.exists(), "run `npm ci --prefix tests/js` (axe-core)"
    tag = theme.split()[-1].lower()
    room = f"idea:comments-axe-{tag}"
    user = named(new_user, lab, "alice")
    user.execute("apputils:change-theme", {"theme": theme})
    light = "true" if theme == "JupyterLab Light" else "false"
    user.page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'")
    try:
        user.open_room(room)
        user.editor(room).click()
        user.page.keyboard.type("x = 1\ny = 2\n")
        # A thread by someone else, with a link and code, and a room-wide one.
        status, made = lab.request(
            "POST",
            f"omniforge/api/rooms/{room}/threads?user=carol",
            {
                "body": "See [the docs](https://jupyter.org) and `x`",
                "anchor": {"root": "code", "start": 0, "end": 5},
            },
        )
        assert status == 201, made
        status, _ = lab.request(
            "POST", f"omniforge/api/rooms/{room}/threads?user=carol", {"body": "Room-wide note"}
        )
        assert status == 201
        card = panel(user, room).locator(f'[data-thread="{made["id"]}"]')
        expect(card.locator(".jp-OmniForge-commentBody a")).to_have_text("the docs")
        expect_highlight(user, room, made["id"], "x = 1")
        card.get_by_role("button", name="Add a reaction").click()
        card.get_by_role("button", name="React with 👍").click()
        expect(card.locator(".jp-OmniForge-reaction[aria-pressed='true']")).to_be_visible()
        for selector in (
            ".jp-OmniForge-commentBody",
            ".jp-OmniForge-commentAuthor",
            ".jp-OmniForge-commentTime",
            ".jp-OmniForge-quote",
        ):
            contrast = card.locator(selector).first.evaluate(CONTRAST)
            assert contrast >= 4.5, f"{selector} contrast {contrast:.2f} in {theme}"
        user.page.add_script_tag(path=str(AXE))
        # JupyterLab's shell is absolutely placed inside a `.jp-ThemedContainer` that may lay
        # out 0 px high with `overflow: hidden`: axe then takes everything for clipped and
        # skips the contrast rule. Give the wrapper the window's height for the scan.
        result = user.page.evaluate(
            "async (room) => { const w = document.querySelector('.jp-ThemedContainer');"
            " const before = w ? w.style.height : ''; if (w) { w.style.height = '100vh'; }"
            " try { const r = await axe.run(document.querySelector("
            '`.jp-OmniForge-comments[data-room="${room}"]`));'
            " return {passes: r.passes.map(p => p.id), violations: r.violations"
            ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
            ".map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).join(', ')}`),"
            " contrastPassed: r.passes.filter(p => p.id === 'color-contrast')"
            ".reduce((n, p) => n + p.nodes.length, 0)};"
            " } finally { if (w) { w.style.height = before; } } }",
            room,
        )
        assert {"color-contrast", "button-name"} <= set(result["passes"]), result["passes"]
        # The contrast rule looked at the panel's texts (a rule with no node to check "passes"
        # too): its title, the quotes, authors, times, bodies, reactions and buttons.
        assert result["contrastPassed"] >= CONTRAST_NODES_MIN, result
        assert result["violations"] == [], result["violations"]
        user.page.screenshot(path=f"/tmp/comments-{tag}.png")
    finally:
        user.execute("apputils:change-theme", {"theme": "JupyterLab Light"})


REVIEWERS = """\
default: none
rules:
  - rooms: "*"
    users: [alice]
    allow: [read, write, presence]
  - rooms: "*"
    users: ["*"]
    allow: [read, presence, comment]
"""


def test_a_reviewer_comments_on_a_room_they_cannot_edit(lab_server, new_user, tmp_path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(REVIEWERS)
    lab = lab_server(
        [
            "--ServerApp.identity_provider_class=tests.ui.identities.BrowserUsers",
            f"--OmniForgeApp.room_policy_file={policy}",
        ]
    )
    room = "idea:comments-review"
    alice, rita = named(new_user, lab, "alice"), named(new_user, lab, "rita")
    alice.open_room(room)
    alice.editor(room).click()
    alice.page.keyboard.type("total = price * qty")
    rita.open_room(room)
    rita.expect_text(room, "total = price * qty")
    expect(room_node(rita, room)).to_have_attribute("data-read-only", "true")

    # Her editor is read-only, but she selects and comments.
    select_line(rita, room, "total")
    rita.page.keyboard.press("Control+Alt+m")
    rita.page.keyboard.type("Rounding? @alice")
    rita.page.keyboard.press("Control+Enter")
    card = panel(alice, room).locator(".jp-OmniForge-thread", has_text="Rounding?")
    expect(card).to_be_visible()
    expect_highlight(alice, room, card.get_attribute("data-thread"), "total = price * qty")
    assert lab.room_text(room) == "total = price * qty"  # her keys changed nothing
    expect(alice.page.locator(".jp-toast-message", has_text="mentioned you")).to_be_visible()
