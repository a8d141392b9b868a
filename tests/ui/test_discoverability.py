"""Finding OmniForge in JupyterLab, as a new user would: a Launcher card and File → New entries
that ask for a room's name (and say clearly what a name may be), a link to a room that opens it,
a keyboard shortcut to the sidebar, tooltips on its icon-only buttons, the setting for when the
others' names show at their carets, and the screenshots of both themes the README shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import BROWSER_MISSING, CONTRAST, REPO, THEMES, LabPage, LabServer, record_results
from .identities import name_browser_user

if BROWSER_MISSING:
    pytest.skip(BROWSER_MISSING, allow_module_level=True)

from playwright.sync_api import expect  # after the skip: it may not be installed

DIALOG = ".jp-Dialog"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A `jupyter lab` whose users are named by a cookie (tests/ui/identities.py)."""
    server = LabServer(
        tmp_path_factory.mktemp("discoverability"),
        ["--ServerApp.identity_provider_class=tests.ui.identities.BrowserUsers"],
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def people(lab: LabServer, browser) -> Iterator[tuple[LabPage, LabPage]]:
    """Alice (who may use the clipboard) and Bob, each in their own browser, for the whole
    module: opening JupyterLab is the slow part."""
    contexts = [browser.new_context(viewport={"width": 1280, "height": 760}) for _ in range(2)]
    contexts[0].grant_permissions(["clipboard-read", "clipboard-write"], origin=lab.url[:-1])
    for context, name in zip(contexts, ("alice", "bob"), strict=True):
        context.set_default_timeout(15_000)
        name_browser_user(context, lab.url, name)
    alice, bob = (LabPage(context.new_page(), lab).open() for context in contexts)
    yield alice, bob
    for context in contexts:
        context.close()
    assert not alice.errors and not bob.errors, alice.errors + bob.errors


def set_theme(user: LabPage, theme: str) -> None:
    if user.page.evaluate("() => document.body.dataset.jpThemeName") == theme:
        return
    user.execute("apputils:change-theme", {"theme": theme})
    light = "true" if theme == "JupyterLab Light" else "false"
    user.page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'")
    user.page.wait_for_function("() => !document.getElementById('jupyterlab-splash')")


#: The mean of the R, G and B of an element's background (0 to 255).
BACKGROUND = """(el) => {
  const c = getComputedStyle(el).backgroundColor.match(/[\\d.]+/g).map(Number);
  return (c[0] + c[1] + c[2]) / 3;
}"""


@pytest.mark.parametrize("theme", THEMES)
def test_screenshots_of_both_themes(
    lab: LabServer, people: tuple[LabPage, LabPage], theme: str, tmp_path: Path
) -> None:
    """The sidebar (rooms, two people, a running and a failed build) beside the room editor,
    readable in the theme; written to docs/ with OMNIFORGE_UI_RECORD=1. First in the module,
    so that the sidebar shows only this story's room."""
    alice, bob = people
    tag = theme.split()[-1].lower()
    room = "idea:pipeline"
    for user in (alice, bob):
        set_theme(user, theme)
        user.show_sidebar()
    if not lab.room_text(room):
        # Newest activity first in the feed: the running build on top. A bot starts them.
        for channel, type_, data in [
            ("deployment:staging-7", "deployment.completed", {"duration": 95.0}),
            ("build:etl-40", "build.started", {}),
            ("build:etl-40", "build.progress", {"percent": 30, "message": "compiling"}),
            ("build:etl-40", "build.failed", {"error": "ImportError: no module named 'pyarrow'"}),
            ("build:etl-41", "build.started", {"message": "make all"}),
            ("build:etl-41", "build.progress", {"percent": 64, "message": "running tests"}),
        ]:
            body = {"channel": channel, "type": type_, "data": data}
            status, answer = lab.request("POST", "omniforge/api/events?user=buildbot", body)
            assert status == 201, answer
    editor = alice.open_room(room)
    bob.open_room(room)
    if not alice.text(room):
        bob.editor(room).click()
        # As pasted: typed, the editor would indent the lines after `def` once more.
        bob.page.keyboard.insert_text(
            "import pandas as pd\n\n\ndef load(path):\n    return pd.read_parquet(path)\n"
        )
        alice.expect_text(room, bob.text(room))
    alice.page.bring_to_front()
    editor.click()
    alice.execute("application:close-other-tabs")
    alice.page.keyboard.press("Control+Home")  # away from Bob's caret, which then shows
    expect(alice.run("build:etl-40")).to_have_attribute("data-state", "failed")
    expect(alice.run("build:etl-41").get_by_role("progressbar")).to_have_attribute(
        "aria-valuenow", "64"
    )
    # The theme's style sheet is in (all of it: the top bar as well as the sidebar).
    dark = theme == "JupyterLab Dark"
    for selector in ("#jp-omniforge-sidebar", "#jp-top-panel"):
        alice.page.wait_for_function(
            f"() => ({BACKGROUND})(document.querySelector('{selector}'))"
            + (" < 80" if dark else " > 200")
        )
    for selector in (".jp-OmniForge-newIdea", ".jp-OmniForge-run-error", ".jp-OmniForge-name"):
        contrast = alice.page.locator(selector).first.evaluate(CONTRAST)
        assert contrast >= 4.5, f"{selector} contrast {contrast:.2f} in {theme}"
    # Bob's name has hidden again (it shows for a moment after his caret moves): the code reads.
    alice.page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.cm-ySelectionInfo'))"
        ".every(el => getComputedStyle(el).opacity === '0')"
    )
    path = REPO / "docs" / f"omniforge-{tag}.png" if record_results() else tmp_path / "shot.png"
    alice.page.mouse.move(0, 0)
    alice.page.set_viewport_size({"width": 1280, "height": 860})
    try:
        alice.page.screenshot(path=str(path), animations="disabled")
    finally:
        alice.page.set_viewport_size({"width": 1280, "height": 760})
        if dark:
            for user in (alice, bob):
                set_theme(user, "JupyterLab Light")


def name_prompt(user: LabPage, kind: str):
    """The "New … room" dialog: it proposes a fresh id after the kind."""
    dialog = user.page.locator(DIALOG)
    expect(dialog).to_contain_text(f"New {kind} room")
    expect(dialog.locator(".jp-InputDialog-inputPrefix")).to_have_text(f"{kind}:")
    return dialog


def test_the_launcher_and_file_new_start_a_room_under_a_name_the_server_accepts(
    lab: LabServer, people: tuple[LabPage, LabPage]
) -> None:
    alice, _ = people
    page = alice.page
    if not page.locator(".jp-Launcher").is_visible():  # a fresh workspace opens with one
        alice.execute("launcher:create", wait=False)
    section = page.locator(".jp-Launcher-section", has_text="OmniForge")
    card = section.locator(".jp-LauncherCard", has_text="Idea Room")
    expect(card).to_be_visible()
    expect(section.locator(".jp-LauncherCard", has_text="Project Room")).to_be_visible()
    card.click()

    dialog = name_prompt(alice, "idea")
    field = dialog.get_by_role("textbox", name="Room name")
    suggested = field.input_value()
    assert len(suggested) == 8 and suggested.isalnum(), suggested
    create = dialog.get_by_role("button", name="Create")
    problem = dialog.locator(".jp-OmniForge-roomName-problem")
    expect(problem).to_have_text("")
    # A name the server would refuse: the dialog will not take it, and says why as it is typed.
    field.fill("my plans?")
    expect(create).to_be_disabled()
    expect(problem).to_have_text(
        'A room name cannot hold space, "?": use letters, digits, ".", "_" and "-".'
    )
    expect(field).to_have_attribute("aria-invalid", "true")
    assert problem.evaluate(CONTRAST) >= 4.5
    field.fill("x" * 129)
    expect(problem).to_have_text("A room name has at most 128 characters; this one has 129.")
    field.fill("")
    expect(problem).to_have_text("A room needs a name.")
    expect(create).to_be_disabled()
    field.fill("plans-2026")
    expect(problem).to_have_text("")
    page.locator(DIALOG).get_by_role("button", name="Create").click()
    expect(alice.editor("idea:plans-2026")).to_be_visible()
    alice.editor("idea:plans-2026").click()
    page.keyboard.type("roadmap")
    expect(alice.room_status("idea:plans-2026")).to_have_attribute("data-state", "connected")

    # The same name again: the room exists, so it is opened only when asked.
    alice.execute("omniforge:new-room", {"kind": "idea"}, wait=False)
    name_prompt(alice, "idea").locator("input").fill("idea:plans-2026")  # the kind may be typed
    page.locator(DIALOG).get_by_role("button", name="Create").click()
    expect(page.locator(DIALOG)).to_contain_text("idea:plans-2026 already exists")
    page.locator(DIALOG).get_by_role("button", name="Open idea:plans-2026").click()
    expect(page.locator(DIALOG)).to_have_count(0)
    expect(alice.editor("idea:plans-2026")).to_have_count(1)

    # File → New → Project Room.
    page.locator(".lm-MenuBar-itemLabel", has_text="File").click()
    page.locator(".lm-Menu-itemLabel", has_text="New").first.hover()
    page.locator(".lm-Menu-item", has_text="Project Room").click()
    field = name_prompt(alice, "project").locator("input")
    project = f"project:{field.input_value()}"
    page.locator(DIALOG).get_by_role("button", name="Create").click()
    expect(alice.editor(project)).to_be_visible()


def wait_clipboard(user: LabPage, text: str) -> None:
    user.page.wait_for_function(
        "async (text) => (await navigator.clipboard.readText()) === text", arg=text
    )


def test_a_copied_room_link_opens_the_room_in_jupyterlab(
    lab: LabServer, people: tuple[LabPage, LabPage]
) -> None:
    alice, bob = people
    room = "idea:linked"
    alice.show_sidebar()
    alice.open_room(room)
    expected = f"{lab.url}lab?omniforge-room={room}"

    # From the room's row in the sidebar: its context menu, and its icon button (a tooltip).
    alice.page.evaluate("() => navigator.clipboard.writeText('')")
    row = alice.page.locator(f'.jp-OmniForge-room[data-room="{room}"]')
    row.locator(".jp-OmniForge-where").click(button="right")
    alice.page.locator(".lm-Menu-item", has_text="Copy Room Link").click()
    wait_clipboard(alice, expected)
    expect(
        alice.page.locator(".jp-toast-message", has_text=f"Copied a link to {room}")
    ).to_be_visible()
    button = row.locator(".jp-OmniForge-copyRoomLink")
    expect(button).to_have_attribute("title", f"Copy Link to {room}")
    alice.page.evaluate("() => navigator.clipboard.writeText('')")
    button.click()
    wait_clipboard(alice, expected)
    # And from the room editor's toolbar.
    alice.page.evaluate("() => navigator.clipboard.writeText('')")
    toolbar = alice.page.locator(f'.jp-MainAreaWidget:has([data-room="{room}"]) .jp-Toolbar')
    toolbar.locator(".jp-OmniForge-copyLinkButton button").click()
    wait_clipboard(alice, expected)

    # Bob opens it (signed in with his token): JupyterLab opens the room, and the address bar
    # no longer names it, so that a reload does not open it again.
    bob.page.goto(f"{expected}&token={lab.token}")
    expect(bob.editor(room)).to_be_visible(timeout=60_000)
    bob.page.wait_for_function("() => !location.search.includes('omniforge-room')")
    expect(bob.room_status(room)).to_have_attribute("data-state", "connected")


def test_a_shortcut_opens_the_sidebar_and_its_tooltip_says_which(
    people: tuple[LabPage, LabPage],
) -> None:
    _, bob = people
    page = bob.page
    sidebar = page.locator("#jp-omniforge-sidebar")
    tab = page.locator('.jp-SideBar.jp-mod-left [data-id="jp-omniforge-sidebar"]')
    expect(tab).to_have_attribute(
        "title", "OmniForge: rooms, collaborators, builds and deployments (Ctrl+Shift+O)"
    )
    # The file browser in front: the shortcut brings the sidebar, with the focus in it.
    bob.execute("filebrowser:activate")
    expect(sidebar).to_be_hidden()
    page.locator(".jp-DirListing-content").click()
    page.keyboard.press("Control+Shift+O")
    expect(sidebar).to_be_visible()
    assert page.evaluate(
        "() => document.querySelector('#jp-omniforge-sidebar').contains(document.activeElement)"
    )
    # Every button that shows only an icon says what it does.
    bob.open_room("idea:tooltips")
    expect(sidebar.locator('.jp-OmniForge-room[data-room="idea:tooltips"]')).to_be_visible()
    unnamed = sidebar.evaluate(
        "(root) => Array.from(root.querySelectorAll('button'))"
        ".filter(b => !b.textContent.trim() && !(b.title && b.getAttribute('aria-label')))"
        ".map(b => b.outerHTML.slice(0, 120))"
    )
    assert unnamed == []


def caret_label(user: LabPage, room: str, name: str):
    return user.page.locator(
        f'.jp-OmniForge-RoomEditor[data-room="{room}"] .cm-ySelectionInfo', has_text=name
    )


def wait_opacity(user: LabPage, room: str, name: str, value: str) -> None:
    user.page.wait_for_function(
        """([room, name, value]) => Array.from(document.querySelectorAll(
             `.jp-OmniForge-RoomEditor[data-room="${room}"] .cm-ySelectionInfo`))
           .some(el => el.textContent === name && getComputedStyle(el).opacity === value)""",
        arg=[room, name, value],
        timeout=10_000,
    )


def test_the_names_at_remote_carets_show_as_the_setting_says(
    lab: LabServer, people: tuple[LabPage, LabPage]
) -> None:
    alice, bob = people
    room = "idea:names"
    name = alice.identity()["display_name"]
    a_editor = alice.open_room(room)
    bob.open_room(room)
    alice.page.bring_to_front()
    a_editor.click()
    alice.page.keyboard.type("x = 1\ny = 2\n")
    bob.expect_text(room, "x = 1\ny = 2\n")
    try:
        # The default: hidden once the caret has been still for a moment.
        wait_opacity(bob, room, name, "0")
        bob.execute("omniforge:cursor-labels", {"mode": "always"})
        wait_opacity(bob, room, name, "1")
        status, settings = lab.request("GET", "lab/api/settings/jupyter_omniforge:server")
        assert status == 200 and settings["settings"]["cursorLabels"] == "always"  # saved
        bob.execute("omniforge:cursor-labels", {"mode": "never"})
        wait_opacity(bob, room, name, "0")
        # Alice moves: her label is marked as recent, and still not shown.
        alice.page.keyboard.press("ArrowUp")
        expect(caret_label(bob, room, name)).to_have_class("cm-ySelectionInfo jp-mod-recent")
        assert caret_label(bob, room, name).evaluate("el => getComputedStyle(el).opacity") == "0"
        assert bob.page.evaluate(
            "() => window.jupyterapp.commands.isToggled('omniforge:cursor-labels', {mode: 'never'})"
        )
    finally:
        bob.execute("omniforge:cursor-labels", {"mode": "hover"})
    wait_opacity(bob, room, name, "1")  # her caret moved a moment ago: shown again
    wait_opacity(bob, room, name, "0")
