"""The History panel of the room editor, in a real browser: two users, one restores a version
while the other types and both end with the same text; a reader sees Restore and "Name this
version" greyed out, saying why; the list pages and is worked from the keyboard; an axe-core scan
in the light and the dark theme finds nothing serious.

The users are named (tests/ui/identities.py) and a rules file decides for them: alice and bob
may write, carol may only read.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_omniforge.auth import color_for

from .conftest import BROWSER_MISSING, CONTRAST, REPO, THEMES, LabPage, LabServer
from .identities import name_browser_user

if BROWSER_MISSING:
    pytest.skip(BROWSER_MISSING, allow_module_level=True)

from playwright.sync_api import expect  # after the skip: it may not be installed

AXE = REPO / "tests" / "js" / "node_modules" / "axe-core" / "axe.min.js"

WRITERS_AND_A_READER = """\
default: none
rules:
  - rooms: "*"
    users: [alice, bob]
    allow: [read, write, presence]
  - rooms: "*"
    users: ["*"]
    allow: [read, presence]
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    home = tmp_path_factory.mktemp("history-panel")
    policy = Path(home) / "policy.yaml"
    policy.write_text(WRITERS_AND_A_READER)
    server = LabServer(
        home,
        [
            "--ServerApp.identity_provider_class=tests.ui.identities.BrowserUsers",
            f"--OmniForgeApp.room_policy_file={policy}",
        ],
    )
    server.start()
    yield server
    server.stop()


def named(new_user, lab: LabServer, name: str) -> LabPage:
    user = new_user(lab)
    name_browser_user(user.page.context, lab.url, name)
    return user.open()


def type_into(user: LabPage, room: str, text: str) -> None:
    user.editor(room).click()
    user.page.keyboard.press("Control+End")
    user.page.keyboard.type(text)


def wait_server_text(lab: LabServer, room: str, predicate, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while not predicate(text := lab.room_text(room) or ""):
        if time.monotonic() > deadline:
            raise AssertionError(f"{room} holds {text!r} on the server")
        time.sleep(0.05)
    return text


def name_version(lab: LabServer, room: str, label: str) -> dict:
    status, version = lab.request("POST", f"omniforge/api/rooms/{room}/versions", {"label": label})
    assert status == 201, version
    return version


def open_history(user: LabPage, room: str) -> Any:
    """Click the History button of ``room``'s editor toolbar; return the panel."""
    widget = user.page.locator(
        f'.jp-MainAreaWidget:has(.jp-OmniForge-RoomEditor[data-room="{room}"])'
    )
    widget.locator(".jp-OmniForge-historyButton").click()
    panel = user.page.locator(f'.jp-OmniForge-History[data-room="{room}"]')
    expect(panel).to_be_visible()
    return panel


def option(panel: Any, version: dict) -> Any:
    return panel.locator(f'[role="option"][data-version="{version["id"]}"]')


def test_one_restores_while_the_other_types_and_both_end_the_same(lab: LabServer, new_user) -> None:
    room = "idea:hist-restore"
    alice, bob = named(new_user, lab, "alice"), named(new_user, lab, "bob")
    alice.open_room(room)
    bob.open_room(room)
    draft = "first draft\n"
    type_into(alice, room, draft)
    wait_server_text(lab, room, lambda t: t == draft)
    first = name_version(lab, room, "draft one")
    type_into(alice, room, "second thoughts\n")
    wait_server_text(lab, room, lambda t: t.endswith("thoughts\n"))
    second = name_version(lab, room, "draft two")

    panel = open_history(alice, room)
    # Newest first, each with its label and its authors' avatars.
    options = panel.get_by_role("option")
    expect(options.first).to_have_attribute("data-version", second["id"])
    expect(option(panel, first)).to_contain_text("draft one")
    expect(
        option(panel, first).locator('.jp-OmniForge-avatar[data-username="alice"]')
    ).to_be_visible()
    assert option(panel, first).locator(".jp-OmniForge-avatar").first.get_attribute("title")

    # The first draft, read-only, with what was added since marked and its author on hover.
    option(panel, first).click()
    expect(option(panel, first)).to_have_attribute("aria-selected", "true")
    detail = panel.locator(".jp-OmniForge-History-detail")
    expect(detail).to_have_attribute("data-version", first["id"])
    added = detail.locator("ins.jp-OmniForge-History-inserted")
    expect(added).to_have_text("second thoughts")
    assert added.first.get_attribute("title") == "Added since this version by Alice"
    expect(detail.locator('.cm-content[aria-readonly="true"]')).to_be_visible()
    shown = detail.locator(".cm-content").inner_text()
    detail.locator(".cm-content").click()
    alice.page.keyboard.type("x")  # read-only: the keys move nothing
    assert detail.locator(".cm-content").inner_text() == shown

    # Bob types; his first letters reach the server before the restore.
    type_into(bob, room, "ab")
    wait_server_text(lab, room, lambda t: t.endswith("ab"))
    panel.get_by_role("button", name="Restore this version").click()
    dialog = alice.page.locator(".jp-Dialog")
    dialog.get_by_role("button", name="Restore").click()
    # ... and goes on typing while the restore travels.
    typed = "cdefghijklmnopqrstuvwxyz"
    bob.page.keyboard.type(typed, delay=40)
    expect(panel.locator(".jp-OmniForge-History-status")).to_contain_text("Restored")
    bob.page.keyboard.type("!")  # surely after the restore
    typed += "!"

    # Both end with the same text as the server: the first draft, then what Bob typed after
    # the restore reached him (what he had typed before it was undone with the rest).
    deadline = time.monotonic() + 15
    while True:
        texts = {alice.text(room), bob.text(room), lab.room_text(room)}
        if len(texts) == 1:
            break
        assert time.monotonic() < deadline, texts
        time.sleep(0.05)
    (final,) = texts
    assert final.startswith(draft) and "second thoughts" not in final, final
    tail = final[len(draft) :]
    assert tail and typed.endswith(tail), final
    # The restore is a version of its own, at the top of the list.
    expect(options.first).to_have_attribute("data-kind", "restored")
    assert not alice.errors and not bob.errors, alice.errors + bob.errors


def test_a_reader_sees_restore_and_naming_greyed_out_saying_why(lab: LabServer, new_user) -> None:
    room = "idea:hist-reader"
    alice, carol = named(new_user, lab, "alice"), named(new_user, lab, "carol")
    alice.open_room(room)
    type_into(alice, room, "only alice writes here")
    wait_server_text(lab, room, lambda t: t.endswith("here"))
    version = name_version(lab, room, "kept")

    carol.open_room(room)
    panel = open_history(carol, room)
    expect(option(panel, version)).to_contain_text("kept")  # reading is allowed
    restore = panel.get_by_role("button", name="Restore this version")
    name = panel.get_by_role("button", name="Name this version…")
    for button in (restore, name):
        expect(button).to_have_attribute("aria-disabled", "true")
        expect(button).to_have_attribute(
            "title",
            "Restoring and naming versions need the write permission in idea:hist-reader; yours are presence, read.",
        )
        expect(button).to_have_accessible_description(
            "Restoring and naming versions need the write permission in idea:hist-reader; yours are presence, read."
        )
    expect(panel.locator(".jp-OmniForge-History-reason")).to_be_visible()
    # Greyed out: the tooltip is reachable from the keyboard, a click does nothing.
    restore.focus()
    assert restore.evaluate("b => document.activeElement === b")
    expect(restore).to_be_disabled()  # as Playwright reads aria-disabled
    carol.page.keyboard.press("Enter")
    name.click(force=True)
    carol.page.wait_for_timeout(300)
    expect(carol.page.locator(".jp-Dialog")).to_have_count(0)
    status, page = lab.request("GET", f"omniforge/api/rooms/{room}/versions")
    assert status == 200 and len(page["versions"]) == 1, page

    # A writer's are not.
    panel = open_history(alice, room)
    expect(panel.get_by_role("button", name="Restore this version")).to_have_attribute(
        "aria-disabled", "false"
    )
    expect(panel.locator(".jp-OmniForge-History-reason")).to_be_hidden()
    # Alice names the current state: it is kept, listed first and selected.
    panel.get_by_role("button", name="Name this version…").click()
    dialog = alice.page.locator(".jp-Dialog")
    dialog.locator("input").fill("  reviewed by alice  ")
    dialog.get_by_role("button", name="Ok").click()
    named_first = panel.get_by_role("option").first
    expect(named_first).to_contain_text("reviewed by alice")
    expect(named_first).to_have_attribute("aria-selected", "true")
    status, page = lab.request("GET", f"omniforge/api/rooms/{room}/versions")
    assert [v["label"] for v in page["versions"]] == ["reviewed by alice", "kept"], page
    assert not alice.errors and not carol.errors, alice.errors + carol.errors


def test_the_list_pages_and_is_worked_from_the_keyboard(lab: LabServer, new_user) -> None:
    room = "idea:hist-keys"
    bob = named(new_user, lab, "bob")
    bob.open_room(room)
    type_into(bob, room, "v")
    wait_server_text(lab, room, lambda t: t == "v")
    versions = [name_version(lab, room, f"step {k}") for k in range(53)]

    panel = open_history(bob, room)
    options = panel.get_by_role("option")
    expect(options).to_have_count(50)  # one page
    listbox = panel.get_by_role("listbox")
    expect(listbox).to_be_focused()  # opened, the list has the focus
    newest, second = versions[-1], versions[-2]
    expect(option(panel, newest)).to_have_attribute("aria-selected", "true")
    bob.page.keyboard.press("ArrowDown")
    expect(option(panel, second)).to_have_attribute("aria-selected", "true")
    expect(listbox).to_have_attribute(
        "aria-activedescendant", option(panel, second).get_attribute("id")
    )
    expect(option(panel, newest)).to_have_attribute("aria-selected", "false")
    bob.page.keyboard.press("End")
    expect(options.last).to_have_attribute("aria-selected", "true")
    bob.page.keyboard.press("Home")
    expect(options.first).to_have_attribute("aria-selected", "true")
    expect(panel.locator(".jp-OmniForge-History-detail")).to_have_attribute(
        "data-version", newest["id"]
    )

    # Tab goes on to the older page's button; Enter loads it (`before` the last one listed).
    bob.page.keyboard.press("Tab")
    more = panel.get_by_role("button", name="Load older versions")
    expect(more).to_be_focused()
    bob.page.keyboard.press("Enter")
    expect(options).to_have_count(53)
    expect(more).to_be_hidden()
    expect(options.last).to_have_attribute("data-version", versions[0]["id"])
    # ... and on to the version's buttons.
    listbox.focus()
    bob.page.keyboard.press("End")
    expect(option(panel, versions[0])).to_have_attribute("aria-selected", "true")
    expect(panel.locator(".jp-OmniForge-History-detail")).to_have_attribute(
        "data-version", versions[0]["id"]
    )
    for _ in range(3):
        bob.page.keyboard.press("Tab")
        if panel.get_by_role("button", name="Restore this version").evaluate(
            "b => document.activeElement === b"
        ):
            break
    expect(panel.get_by_role("button", name="Restore this version")).to_be_focused()
    assert not bob.errors, bob.errors


def set_theme(user: LabPage, theme: str) -> None:
    user.execute("apputils:change-theme", {"theme": theme})
    light = "true" if theme == "JupyterLab Light" else "false"
    user.page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'")
    # JupyterLab's splash covers a theme change; a second change before it is gone makes
    # JupyterLab remove it twice ("removeChild … not a child", an error on the page).
    user.page.wait_for_function("() => !document.getElementById('jupyterlab-splash')")


def contrast_of(probe: Any, timeout: float = 10) -> float:
    """The probe's contrast, once the theme's stylesheet is in (while it loads, the colours
    have no value and the ratio is NaN)."""
    deadline = time.monotonic() + timeout
    while math.isnan(contrast := probe.evaluate(CONTRAST)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return contrast


#: Texts of the panel below whose contrast axe must have checked (and found good): it finds 16.
CONTRAST_NODES_MIN = 12


def test_axe_finds_nothing_serious_in_the_history_panel(lab: LabServer, new_user) -> None:
    """In the light and the dark theme: a version with insertions and deletions marked."""
    assert AXE.exists(), "run `npm ci --prefix tests/js` (axe-core)"
    room = "idea:hist-axe"
    alice = named(new_user, lab, "alice")
    alice.open_room(room)
    type_into(alice, room, "one 🎉 two three\n")
    wait_server_text(lab, room, lambda t: t.endswith("three\n"))
    old = name_version(lab, room, "before")
    alice.page.keyboard.press("Control+Home")
    alice.page.keyboard.press("Shift+End")
    alice.page.keyboard.type("one 🎉 2 three four")
    wait_server_text(lab, room, lambda t: "four" in t)
    panel = open_history(alice, room)
    option(panel, old).click()
    detail = panel.locator(".jp-OmniForge-History-detail")
    expect(detail).to_have_attribute("data-version", old["id"])
    # The marks sit on the right characters after an emoji (one character for the server, two
    # UTF-16 units for the browser).
    expect(detail.locator("del.jp-OmniForge-History-deleted")).to_have_text(["two"])
    expect(detail.locator("ins.jp-OmniForge-History-inserted")).to_have_text(["2", " four"])
    alice.page.add_script_tag(path=str(AXE))
    # JupyterLab's <body> is 0 px high with overflow hidden (its shell is positioned absolutely):
    # axe takes the main area's text for clipped and skips its contrast check. Its real height
    # changes nothing on screen and lets the check run.
    alice.page.evaluate("() => { document.body.style.height = '100vh'; }")
    try:
        for theme in THEMES:
            set_theme(alice, theme)
            # Readable: the list's text, the legend and the marked text reach 4.5:1.
            for probe in (
                option(panel, old).locator(".jp-OmniForge-History-time"),
                option(panel, old).locator(".jp-OmniForge-History-label"),
                panel.locator(".jp-OmniForge-History-added"),
                panel.locator(".jp-OmniForge-History-removed"),
                detail.locator("ins.jp-OmniForge-History-inserted").first,
                detail.locator("del.jp-OmniForge-History-deleted").first,
            ):
                contrast = contrast_of(probe)
                assert contrast >= 4.5, f"{probe} contrast {contrast:.2f} in {theme}"
            for _ in range(3):
                result = alice.page.evaluate(
                    "async () => { const r = await axe.run("
                    "document.querySelector('.jp-OmniForge-History'));"
                    " return {passes: r.passes.map(p => p.id), violations: r.violations"
                    ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
                    ".map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' '))"
                    ".join(', ')}`), contrastPassed: r.passes"
                    ".filter(p => p.id === 'color-contrast')"
                    ".reduce((n, p) => n + p.nodes.length, 0)}; }"
                )
                if result["contrastPassed"] >= CONTRAST_NODES_MIN:
                    break
                # Colours still moving to the new theme's leave axe unsure ("incomplete"):
                # scan again once the page has settled.
                alice.page.wait_for_timeout(500)
            # The scan looked at what matters here (it is not vacuous), and found nothing serious.
            assert {"color-contrast", "button-name", "aria-required-children"} <= set(
                result["passes"]
            ), (theme, result["passes"])
            # A rule with no node to check "passes" too: the contrast of the list, the legend
            # and the marked text was checked.
            assert result["contrastPassed"] >= CONTRAST_NODES_MIN, (theme, result)
            assert result["violations"] == [], (theme, result["violations"])
            alice.page.screenshot(path=f"/tmp/history-panel-{theme.split()[-1].lower()}.png")
        assert not alice.errors, alice.errors
    finally:
        set_theme(alice, "JupyterLab Light")


PAINTED = """(el) => getComputedStyle(el).backgroundColor"""
#: The colour ``css`` is painted in on this page (a variable resolved in the current theme).
RESOLVED = """(css) => { const probe = document.createElement('span');
  probe.style.backgroundColor = css; document.body.appendChild(probe);
  const painted = getComputedStyle(probe).backgroundColor; probe.remove(); return painted; }"""


def test_avatars_keep_their_authors_colours_and_the_list_follows_the_rooms_events(
    lab: LabServer, new_user
) -> None:
    """Bob types and leaves; the owner, who is never in the room, names the version. In
    Alice's History panel each is drawn in the colour the room showed them in (Bob's
    JupyterLab colour, the owner's identity colour), in both themes; versions kept while her
    panel is open appear at once (from the room's event stream, not a poll)."""
    room = "idea:hist-colours"
    bob = named(new_user, lab, "bob")
    bob.open_room(room)
    bob_colour = bob.identity()["color"]
    type_into(bob, room, "bob was here\n")
    wait_server_text(lab, room, lambda t: t == "bob was here\n")
    bob.page.close()  # offline from now on: only the version knows his colour
    kept = name_version(lab, room, "bob's draft")
    owner = next(a["username"] for a in kept["authors"] if a["username"] != "bob")

    alice = named(new_user, lab, "alice")
    alice.open_room(room)
    panel = open_history(alice, room)
    avatar = option(panel, kept).locator(".jp-OmniForge-avatar")
    expect(avatar).to_have_count(2)
    try:
        for theme in THEMES:
            set_theme(alice, theme)
            for username, colour in (("bob", bob_colour), (owner, color_for(owner))):
                node = option(panel, kept).locator(
                    f'.jp-OmniForge-avatar[data-username="{username}"]'
                )
                want = alice.page.evaluate(RESOLVED, colour)
                expect(node).to_have_css("background-color", want)
                contrast = contrast_of(node)
                assert contrast >= 4.5, f"{username}'s avatar: contrast {contrast:.2f} in {theme}"
    finally:
        set_theme(alice, "JupyterLab Light")

    # Versions kept now show up within a second or two: the list follows the room's events
    # (it would otherwise be asked again only every 20 s).
    started = time.monotonic()
    later = name_version(lab, room, "named while alice looks")
    expect(option(panel, later)).to_contain_text("named while alice looks", timeout=5_000)
    status, restored = lab.request(
        "POST", f"omniforge/api/rooms/{room}/versions/{kept['id']}/restore", {}
    )
    assert status == 200, restored
    expect(panel.get_by_role("option").first).to_have_attribute(
        "data-version", restored["version"]["id"], timeout=5_000
    )
    assert time.monotonic() - started < 10
    assert not alice.errors, alice.errors
