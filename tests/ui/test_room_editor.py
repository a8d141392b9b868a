"""The room editor is JupyterLab's own editor: a room's text is highlighted in the room's language
(Python unless someone in the room chose another, in the toolbar, for everyone), it follows the
user's text editor settings as a file editor does, and an axe-core scan finds nothing serious in
the light or the dark theme."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import BROWSER_MISSING, REPO, THEMES, LabPage, LabServer

if BROWSER_MISSING:
    pytest.skip(BROWSER_MISSING, allow_module_level=True)

from playwright.sync_api import expect  # after the skip: it may not be installed

AXE = REPO / "tests" / "js" / "node_modules" / "axe-core" / "axe.min.js"
OMNIFORGE_SETTINGS = "lab/api/settings/jupyter_omniforge:server"

#: The classes and colour of the token holding ``text`` in an editor, and the theme's keyword
#: colour (a variable JupyterLab's highlight style paints keywords with).
TOKEN = """(content, text) => {
  const span = Array.from(content.querySelectorAll('.cm-line span'))
    .find(s => s.textContent === text && !s.closest('.cm-ySelectionCaret'));
  const probe = document.createElement('span');
  probe.style.color = 'var(--jp-mirror-editor-keyword-color)';
  content.append(probe);
  const keyword = getComputedStyle(probe).color;
  probe.remove();
  return span ? {classes: span.className, color: getComputedStyle(span).color, keyword}
              : {classes: null, color: null, keyword};
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    server = LabServer(tmp_path_factory.mktemp("room-editor"))
    server.start()
    yield server
    server.stop()


def room_widget(user: LabPage, room: str) -> Any:
    """The room's main area widget: its toolbar and the editor."""
    return user.page.locator(
        f'.jp-MainAreaWidget:has(.jp-OmniForge-RoomEditor[data-room="{room}"])'
    )


def language_select(user: LabPage, room: str) -> Any:
    return room_widget(user, room).locator(".jp-OmniForge-languageSelect select")


def set_theme(user: LabPage, theme: str) -> None:
    user.execute("apputils:change-theme", {"theme": theme})
    light = "true" if theme == "JupyterLab Light" else "false"
    user.page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'")
    # JupyterLab covers the page with its splash while the theme loads.
    expect(user.page.locator("#jupyterlab-splash")).to_have_count(0)


def test_python_is_highlighted_and_a_language_chosen_by_one_reaches_the_other(
    lab: LabServer, new_user
) -> None:
    room = "idea:languages"
    alice, bob = new_user(lab).open(), new_user(lab).open()
    a_editor, b_editor = alice.open_room(room), bob.open_room(room)
    expect(alice.room_status(room)).to_have_attribute("data-state", "connected")
    a_editor.click()
    alice.page.keyboard.type("def answer(): return 42")
    bob.expect_text(room, "def answer(): return 42")

    # Python by default: both editors parse it, and paint `def` as a keyword.
    for user, editor in ((alice, a_editor), (bob, b_editor)):
        expect(editor).to_have_attribute("data-language", "python")
        expect(language_select(user, room)).to_have_value("Python")
        expect(language_select(user, room)).to_be_enabled()
        token = editor.evaluate(TOKEN, "def")
        assert token["classes"], f"`def` is not a token of its own: {token}"
        assert token["color"] == token["keyword"], token

    # Alice makes it Markdown: Bob's editor follows, and the server keeps it in the room.
    language_select(alice, room).select_option("Markdown")
    for user, editor in ((alice, a_editor), (bob, b_editor)):
        expect(editor).to_have_attribute("data-language", "markdown")
        expect(language_select(user, room)).to_have_value("Markdown")
    assert editor.evaluate(TOKEN, "def")["color"] != token["keyword"]
    status, info = lab.request("GET", f"omniforge/api/rooms/{room}?roots=meta:map")
    assert status == 200, info
    assert info["content"]["meta"] == {"language": "Markdown"}
    assert info["content"]["code"] == "def answer(): return 42"
    # Nothing else was added to the room's document (JupyterLab's own binding writes a
    # `state` map into the document it binds: not into the room's).
    assert sorted(info["roots"]) == ["code", "meta"], info["roots"]
    assert not alice.errors and not bob.errors, alice.errors + bob.errors


def test_the_editor_follows_the_text_editor_settings_and_the_default_language(
    lab: LabServer, new_user
) -> None:
    room = "idea:settings"
    # The language of a room nobody chose one for is a setting.
    status, reply = lab.request("PUT", OMNIFORGE_SETTINGS, {"raw": '{"defaultLanguage": "sql"}'})
    assert status == 204, reply
    try:
        user = new_user(lab).open()
        editor = user.open_room(room)
        expect(editor).to_have_attribute("data-language", "sql")
        expect(language_select(user, room)).to_have_value("SQL")
    finally:
        lab.request("PUT", OMNIFORGE_SETTINGS, {"raw": "{}"})

    scroller = room_widget(user, room).locator(".cm-editor")
    expect(scroller.locator(".cm-lineNumbers")).to_have_count(1)
    size = editor.evaluate("(c) => parseFloat(getComputedStyle(c).fontSize)")
    try:
        # What Settings → Text Editor changes (here through JupyterLab's own commands).
        user.execute("fileeditor:change-font-size", {"delta": 5})
        user.page.wait_for_function(
            "([c, size]) => parseFloat(getComputedStyle(c).fontSize) === size",
            arg=[editor.element_handle(), size + 5],
        )
        user.execute("fileeditor:toggle-line-numbers")
        expect(scroller.locator(".cm-lineNumbers")).to_have_count(0)
    finally:
        user.execute("fileeditor:toggle-line-numbers")
        user.execute("fileeditor:change-font-size", {"delta": -5})
    expect(scroller.locator(".cm-lineNumbers")).to_have_count(1)
    # A new font size makes JupyterLab's editor set its state anew: the room is still bound.
    editor.click()
    user.page.keyboard.type("select 1")
    deadline = time.monotonic() + 10
    while lab.room_text(room) != "select 1":
        assert time.monotonic() < deadline, lab.room_text(room)
        time.sleep(0.05)
    assert not user.errors, user.errors


#: Run axe on the room's main area widget (its toolbar and the editor): the serious and critical
#: violations, the rules that passed or did not apply, and how many nodes the contrast rule saw.
AXE_SCAN = (
    "async (room) => { const before = document.body.style.height;"
    " document.body.style.height = '100vh';"
    " try { const r = await axe.run(document.querySelector("
    '`.jp-MainAreaWidget:has(.jp-OmniForge-RoomEditor[data-room="${room}"])`));'
    " const ids = list => list.map(p => p.id);"
    " return {passes: ids(r.passes), inapplicable: ids(r.inapplicable),"
    " contrastNodes: [...r.passes, ...r.violations, ...r.incomplete]"
    ".filter(p => p.id === 'color-contrast').reduce((n, p) => n + p.nodes.length, 0),"
    " violations: r.violations.filter(v => ['serious', 'critical'].includes(v.impact))"
    # JupyterLab's toolbar buttons put `aria-pressed` on their <jp-button> element rather than
    # on the button inside it (jupyterlab/jupyterlab#16891, open): the Comments and History
    # toggles of the toolbar have it. Only that finding is left out.
    ".map(v => ({...v, nodes: v.nodes.filter(n => !(v.id === 'aria-allowed-attr'"
    " && n.html.startsWith('<jp-button') && /aria-pressed/.test(n.failureSummary)"
    " && !/aria-(?!pressed)[a-z]+=/.test(n.failureSummary)))}))"
    ".filter(v => v.nodes.length)"
    ".map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)};"
    " } finally { document.body.style.height = before; } }"
)


def test_axe_finds_nothing_serious_in_the_room_editor(lab: LabServer, new_user) -> None:
    """In the light and the dark theme, with code of every kind of token."""
    assert AXE.exists(), "run `npm ci --prefix tests/js` (axe-core)"
    room = "idea:editor-axe"
    user = new_user(lab).open()
    editor = user.open_room(room)
    editor.click()
    # Keywords, a decorator, strings, numbers, None and True, brackets and a comment.
    user.page.keyboard.type(
        "@cache\ndef f(x=None, y=True): return [x, {'k': 1.5}, f'{y}']  # a comment\n"
    )
    expect(editor).to_have_attribute("data-language", "python")
    user.page.add_script_tag(path=str(AXE))
    try:
        for theme in THEMES:
            set_theme(user, theme)
            # JupyterLab's <body> lays out 0 px high (its shell is placed absolutely): axe then
            # takes the main area for clipped and silently skips the contrast rule. The window's
            # height changes nothing on screen and lets it run; it must have looked at the code.
            result = user.page.evaluate(AXE_SCAN, room)
            assert "color-contrast" not in result["inapplicable"], (theme, result)
            assert result["contrastNodes"] >= 10, (theme, result)
            assert {"color-contrast", "select-name"} <= set(result["passes"]), (theme, result)
            assert result["violations"] == [], (theme, result["violations"])
            user.page.screenshot(path=f"/tmp/room-editor-{theme.split()[-1].lower()}.png")
        assert not user.errors, user.errors
    finally:
        set_theme(user, "JupyterLab Light")
