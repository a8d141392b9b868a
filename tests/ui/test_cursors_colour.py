"""The other users' cursors and colours, as two people in real browsers see them: names that
show on hover and for a moment after a caret moves, text readable on every collaborator colour
in the light and the dark theme, one colour per person everywhere, presence marked stale while
offline, and presence rows that open what a person is looking at."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jupyter_omniforge.auth import color_for

from .conftest import BROWSER_MISSING, CONTRAST, THEMES, LabPage, LabServer

if BROWSER_MISSING:
    pytest.skip(BROWSER_MISSING, allow_module_level=True)

from playwright.sync_api import expect  # after the skip: it may not be installed

#: The computed `rgb(…)` of a CSS colour (a variable included) in this page's theme.
RESOLVE = """(color) => {
  const probe = document.createElement('span');
  probe.style.color = color;
  document.body.appendChild(probe);
  const value = getComputedStyle(probe).color;
  probe.remove();
  return value;
}"""

#: Change the `user` of this page's awareness in ``room`` (what a client claims of itself).
SET_AWARENESS_USER = """([room, fields]) => {
  const widget = Array.from(window.jupyterapp.shell.widgets('main'))
    .find(w => w.content && w.content.omniforgeRoom === room);
  const awareness = widget.content._provider.awareness;
  awareness.setLocalStateField('user', { ...awareness.getLocalState().user, ...fields });
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    server = LabServer(tmp_path_factory.mktemp("cursors-colour"))
    server.start()
    yield server
    server.stop()


def set_theme(user: LabPage, theme: str) -> None:
    if user.page.evaluate("() => document.body.dataset.jpThemeName") == theme:
        return
    user.execute("apputils:change-theme", {"theme": theme})
    light = "true" if theme == "JupyterLab Light" else "false"
    user.page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'")
    # JupyterLab's splash screen covers a theme change; a second change before it is gone
    # makes JupyterLab remove it twice (an error on the page).
    user.page.wait_for_function("() => !document.getElementById('jupyterlab-splash')")


@pytest.fixture(scope="module")
def people(lab: LabServer, browser) -> Iterator[tuple[LabPage, LabPage]]:
    """Alice and Bob, each in their own browser context (their own Jupyter identity) with the
    sidebar open, for the whole module: opening JupyterLab is the slow part."""
    contexts = [browser.new_context(viewport={"width": 1280, "height": 760}) for _ in range(2)]
    for context in contexts:
        context.set_default_timeout(15_000)
    alice, bob = (LabPage(context.new_page(), lab).open() for context in contexts)
    for user in (alice, bob):
        user.show_sidebar()
    yield alice, bob
    for context in contexts:
        context.close()
    assert not alice.errors and not bob.errors, alice.errors + bob.errors


@pytest.fixture
def pair(people: tuple[LabPage, LabPage]) -> Iterator[tuple[LabPage, LabPage]]:
    """Alice and Bob; the theme is set back to light afterwards (the server keeps it in the
    user settings)."""
    yield people
    for user in people:
        set_theme(user, "JupyterLab Light")
        user.page.mouse.move(5, 5)


def caret_of(page: LabPage, room: str, name: str):
    """The remote caret labelled ``name`` in ``page``'s editor of ``room``."""
    return page.page.locator(
        f'.jp-OmniForge-RoomEditor[data-room="{room}"] .cm-ySelectionCaret',
        has=page.page.locator(".cm-ySelectionInfo", has_text=name),
    )


def wait_opacity(page: LabPage, room: str, name: str, value: str) -> None:
    """Wait until the label ``name`` in ``room`` has the computed opacity ``value`` (the caret
    is looked up each time: CodeMirror may draw it anew)."""
    page.page.wait_for_function(
        """([room, name, value]) => Array.from(document.querySelectorAll(
             `.jp-OmniForge-RoomEditor[data-room="${room}"] .cm-ySelectionInfo`))
           .some(el => el.textContent === name && getComputedStyle(el).opacity === value)""",
        arg=[room, name, value],
        timeout=10_000,
    )


def both_in_room(alice: LabPage, bob: LabPage, room: str) -> tuple[dict, dict]:
    alice_id, bob_id = alice.identity(), bob.identity()
    a_editor = alice.open_room(room)
    bob.open_room(room)
    alice.page.bring_to_front()  # her caret is shared while her page has the focus
    a_editor.click()
    alice.page.keyboard.type("print('hello')\nprint('world')\n")
    bob.expect_text(room, "print('hello')\nprint('world')\n")
    return alice_id, bob_id


def test_a_remote_name_shows_on_hover_and_for_a_moment_after_its_caret_moves(
    pair: tuple[LabPage, LabPage],
) -> None:
    alice, bob = pair
    room = "idea:labels"
    alice_id, _ = both_in_room(alice, bob, room)
    name = alice_id["display_name"]
    caret = caret_of(bob, room, name)
    expect(caret).to_have_count(1)
    # Not shown while nothing happens: it would hide the code on the line above.
    wait_opacity(bob, room, name, "0")
    # Alice moves her caret: her name shows for a moment, then hides by itself.
    alice.page.keyboard.press("ArrowUp")
    wait_opacity(bob, room, name, "1")
    wait_opacity(bob, room, name, "0")
    # On hover it shows; away, it hides.
    caret.hover()
    wait_opacity(bob, room, name, "1")
    bob.page.mouse.move(5, 5)
    wait_opacity(bob, room, name, "0")
    # Typing moves the caret too.
    alice.page.keyboard.type("x")
    wait_opacity(bob, room, name, "1")
    wait_opacity(bob, room, name, "0")
    label = caret.locator(".cm-ySelectionInfo")
    # The label does not take the clicks meant for the code under it.
    assert label.evaluate("el => getComputedStyle(el).pointerEvents") == "none"


@pytest.mark.parametrize("theme", THEMES)
def test_names_and_initials_read_on_every_collaborator_colour(
    pair: tuple[LabPage, LabPage], theme: str
) -> None:
    alice, bob = pair
    room = f"idea:contrast-{theme.split()[-1].lower()}"
    alice_id, _ = both_in_room(alice, bob, room)
    set_theme(bob, theme)
    caret = caret_of(bob, room, alice_id["display_name"])
    label = caret.locator(".cm-ySelectionInfo")
    header_avatar = bob.page.locator(
        f'.jp-OmniForge-RoomEditor[data-room="{room}"] '
        f'.jp-OmniForge-RoomEditor-people [data-username="{alice_id["username"]}"]'
    )
    sidebar_avatar = bob.page.locator(
        f'.jp-OmniForge-collaborator[data-username="{alice_id["username"]}"] .jp-OmniForge-avatar'
    )
    ratios = {}
    for n in range(1, 8):
        color = f"var(--jp-collaborator-color{n})"
        expected = bob.page.evaluate(RESOLVE, color)
        alice.page.evaluate(SET_AWARENESS_USER, [room, {"color": color}])
        expect(caret).to_have_css("background-color", expected)
        expect(header_avatar).to_have_css("background-color", expected)
        # Drawn in the next frame, once CodeMirror has put the caret in.
        bob.page.evaluate("() => new Promise(r => requestAnimationFrame(() => r(null)))")
        for what, node in (("label", label), ("editor avatar", header_avatar)):
            ratios[(n, what)] = node.evaluate(CONTRAST)
    for (n, what), ratio in ratios.items():
        assert ratio >= 4.5, f"{what} on collaborator colour {n} in {theme}: {ratio:.2f}:1"
    # The sidebar's avatars, in Alice's own colour.
    expect(sidebar_avatar).to_be_visible()
    assert sidebar_avatar.evaluate(CONTRAST) >= 4.5
    # Both labels and avatars are checked against a real colour, not a transparent one.
    assert label.evaluate("el => getComputedStyle(el).backgroundColor") not in (
        "rgba(0, 0, 0, 0)",
        "transparent",
    )
    bob.page.screenshot(path=f"/tmp/cursors-contrast-{theme.split()[-1].lower()}.png")


@pytest.mark.parametrize("theme", THEMES)
def test_a_person_has_the_same_colour_in_the_top_bar_presence_and_their_caret(
    pair: tuple[LabPage, LabPage], theme: str
) -> None:
    alice, bob = pair
    room = f"idea:colour-{theme.split()[-1].lower()}"
    alice_id, _ = both_in_room(alice, bob, room)
    set_theme(alice, theme)
    set_theme(bob, theme)
    assert alice_id["color"].startswith("var(--jp-collaborator-color"), alice_id
    # JupyterLab's top bar shows Alice in her identity's colour…
    top_bar = alice.page.locator("#jp-UserMenu .jp-MenuBar-anonymousIcon")
    expected = top_bar.evaluate("el => getComputedStyle(el).backgroundColor")
    assert expected == alice.page.evaluate(RESOLVE, alice_id["color"])
    # …and so does OmniForge, in her own sidebar and in Bob's: avatar, editor header, caret.
    selector = f'[data-username="{alice_id["username"]}"]'
    for page in (alice, bob):
        expect(
            page.page.locator(f".jp-OmniForge-collaborator{selector} .jp-OmniForge-avatar")
        ).to_have_css("background-color", expected)
        expect(
            page.page.locator(
                f'.jp-OmniForge-room[data-room="{room}"] .jp-OmniForge-avatar{selector}'
            )
        ).to_have_css("background-color", expected)
    expect(
        bob.page.locator(
            f'.jp-OmniForge-RoomEditor[data-room="{room}"] '
            f".jp-OmniForge-RoomEditor-people .jp-OmniForge-avatar{selector}"
        )
    ).to_have_css("background-color", expected)
    caret = caret_of(bob, room, alice_id["display_name"])
    expect(caret).to_have_css("background-color", expected)
    # The selection is a translucent variant of the same colour.
    alice.page.keyboard.press("Shift+ArrowUp")
    selection = bob.page.locator(
        f'.jp-OmniForge-RoomEditor[data-room="{room}"] .cm-content span[style*="rgba("]'
    ).first
    expect(selection).to_be_visible()
    rgba = selection.evaluate("el => el.style.backgroundColor")
    assert rgba.startswith(expected.replace("rgb(", "rgba(").rstrip(")")), (rgba, expected)


def test_a_colour_that_is_not_safe_is_not_painted(pair: tuple[LabPage, LabPage]) -> None:
    alice, bob = pair
    room = "idea:hostile-colour"
    alice_id, _ = both_in_room(alice, bob, room)
    caret = caret_of(bob, room, alice_id["display_name"])
    expect(caret).to_have_count(1)
    alice.page.evaluate(
        SET_AWARENESS_USER, [room, {"color": "red; background-image: url(https://x.invalid/)"}]
    )
    # The server puts its own stable colour for Alice in its place.
    expect(caret).to_have_css(
        "background-color", bob.page.evaluate(RESOLVE, color_for(alice_id["username"]))
    )
    style = caret.evaluate("el => el.getAttribute('style')")
    assert "url(" not in style and "red" not in style, style


def test_presence_is_marked_stale_while_offline(lab_server, new_user) -> None:
    server: LabServer = lab_server()
    alice, bob = new_user(server).open(), new_user(server).open()
    alice_id = alice.identity()
    sidebar = bob.show_sidebar()
    alice.show_sidebar()
    row = sidebar.locator(f'.jp-OmniForge-collaborator[data-username="{alice_id["username"]}"]')
    expect(row).to_be_visible()
    people = sidebar.locator(".jp-OmniForge-people .jp-OmniForge-list")
    expect(people).to_have_attribute("data-stale", "false")
    notice = sidebar.locator(".jp-OmniForge-stalePresence")
    expect(notice).to_have_count(0)

    server.stop()
    expect(notice).to_be_visible(timeout=30_000)
    expect(people).to_have_attribute("data-stale", "true")
    expect(sidebar.locator(".jp-OmniForge-follow")).to_have_count(0)
    bob.page.screenshot(path="/tmp/cursors-stale-presence.png")

    server.start()
    expect(notice).to_have_count(0, timeout=30_000)
    expect(people).to_have_attribute("data-stale", "false")
    expect(row).to_be_visible(timeout=30_000)


def test_a_path_in_presence_opens_it_and_follow_jumps_to_the_cursor(
    pair: tuple[LabPage, LabPage], lab: LabServer
) -> None:
    alice, bob = pair
    alice_id = alice.identity()
    status, _ = lab.request(
        "PUT", "api/contents/notes.txt", {"type": "file", "format": "text", "content": "hi"}
    )
    assert status in (200, 201)
    alice.execute("docmanager:open", {"path": "notes.txt"})
    row = bob.page.locator(f'.jp-OmniForge-collaborator[data-username="{alice_id["username"]}"]')
    link = row.get_by_role("button", name="notes.txt")
    expect(link).to_be_visible()
    link.click()
    bob.page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget?.context?.path === 'notes.txt'"
    )

    # Alice writes a long text in a room and stays at its end; Bob follows her there.
    room = "idea:follow"
    alice.page.bring_to_front()  # her caret is shared while her page has the focus
    alice.open_room(room).click()
    alice.page.keyboard.insert_text("\n".join(f"line {i}" for i in range(200)))
    alice.page.keyboard.press("Control+End")
    follow = row.get_by_role("button", name=f"Follow {alice_id['display_name']}")
    expect(follow).to_be_visible()
    follow.click()
    # CodeMirror draws only the lines in view: the last ones are, not the first.
    expect(bob.page.locator(".cm-line", has_text="line 199")).to_be_in_viewport()
    expect(bob.page.locator(".cm-line", has_text="line 0")).not_to_be_in_viewport()
    expect(caret_of(bob, room, alice_id["display_name"])).to_be_in_viewport()
