"""Stories in a real browser: JupyterLab with the OmniForge extension, two users, a build."""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from .conftest import BROWSER_MISSING, EDITOR_TEXT, REPO, LabPage, LabServer, record_results

if BROWSER_MISSING:
    pytest.skip(BROWSER_MISSING, allow_module_level=True)

from playwright.sync_api import expect  # after the skip: it may not be installed

CLI = [sys.executable, "-m", "jupyter_omniforge.cli"]
LATENCY_SAMPLES = 60
#: The target is 100 ms at p95 on a quiet machine; the assertion only guards against a broken
#: path (a poll, a debounce) on a busy CI runner.
LATENCY_GUARD_MS = 500


def test_two_users_edit_one_idea_room(shared_lab: LabServer, new_user, tmp_path: Path) -> None:
    room = "idea:together"
    alice, bob = new_user(shared_lab).open(), new_user(shared_lab).open()
    alice_id, bob_id = alice.identity(), bob.identity()
    assert alice_id["username"] != bob_id["username"]

    alice.show_sidebar()
    bob.show_sidebar()
    a_editor, b_editor = alice.open_room(room), bob.open_room(room)
    for user in (alice, bob):
        expect(user.room_status(room)).to_have_attribute("data-state", "connected")

    a_editor.click()
    alice.page.keyboard.type("Alice was here. ")
    bob.expect_text(room, "Alice was here. ")
    b_editor.click()
    bob.page.keyboard.press("Control+End")
    bob.page.keyboard.type("Bob too.")
    alice.expect_text(room, "Alice was here. Bob too.")
    assert shared_lab.room_text(room) == "Alice was here. Bob too."

    # Each sees the other's caret, labelled with the other's name.
    expect(
        bob.page.locator(".cm-ySelectionInfo", has_text=alice_id["display_name"])
    ).to_be_visible()
    expect(
        alice.page.locator(".cm-ySelectionInfo", has_text=bob_id["display_name"])
    ).to_be_visible()

    # Both are listed as collaborators, in this room, in both sidebars.
    for page in (alice, bob):
        for person in (alice_id, bob_id):
            row = page.page.locator(
                f'.jp-OmniForge-collaborator[data-username="{person["username"]}"]'
            )
            expect(row).to_contain_text(person["display_name"])
            expect(row).to_contain_text(room)
        expect(page.page.locator(".jp-OmniForge-statusItem")).to_contain_text("2 here")

    # Undo takes back one's own edits only. (Keystrokes less than 500 ms apart are one undo
    # step, so Alice pauses before her second edit as a person would.)
    alice.page.wait_for_timeout(600)
    alice.page.keyboard.press("Control+End")
    alice.page.keyboard.type("!")
    bob.expect_text(room, "Alice was here. Bob too.!")
    alice.page.keyboard.press("Control+z")
    bob.expect_text(room, "Alice was here. Bob too.")
    alice.page.keyboard.press("Control+z")  # her first edit, not Bob's
    bob.expect_text(room, "Bob too.")
    alice.page.keyboard.press("Control+y")
    bob.expect_text(room, "Alice was here. Bob too.")

    # A running build beside the two users (the README's pictures are test_discoverability's).
    shared_lab.emit("build:webapp-141", "build.started", {})
    shared_lab.emit("build:webapp-141", "build.completed", {"duration": 42.0})
    shared_lab.emit("build:webapp-142", "build.started", {"message": "make all"})
    shared_lab.emit("build:webapp-142", "build.progress", {"percent": 35, "message": "compiling"})
    expect(alice.run("build:webapp-142").get_by_role("progressbar")).to_have_attribute(
        "aria-valuenow", "35"
    )
    screenshot = tmp_path / "sidebar.png"
    alice.page.mouse.move(0, 0)
    alice.page.screenshot(path=str(screenshot), animations="disabled")
    latencies = measure_typing_latency(alice, bob, room)
    p50 = statistics.median(latencies)
    p95 = percentile(latencies, 95)
    assert p95 < LATENCY_GUARD_MS, f"typing latency p95 {p95:.1f} ms"

    if record_results():
        write_latency(latencies, p50, p95)
    assert not alice.errors and not bob.errors, alice.errors + bob.errors


def measure_typing_latency(writer: LabPage, reader: LabPage, room: str) -> list[float]:
    """Milliseconds from a keydown in ``writer`` to the character in ``reader``'s editor DOM.

    Both timestamps are taken in the pages (``performance.timeOrigin + performance.now()``, the
    same clock for both pages of one browser), so Playwright's round trips do not count.
    """
    writer.editor(room).click()
    writer.page.keyboard.press("Control+End")
    writer.page.evaluate(
        """() => {
          window.__sent = [];
          document.addEventListener('keydown',
            () => window.__sent.push(performance.timeOrigin + performance.now()), true);
        }"""
    )
    base = reader.editor(room).evaluate(
        """(content, textOf) => {
          textOf = eval(textOf);
          window.__seen = [];
          new MutationObserver(() => window.__seen.push(
            [textOf(content).length, performance.timeOrigin + performance.now()]
          )).observe(content, {childList: true, subtree: true, characterData: true});
          return textOf(content).length;
        }""",
        EDITOR_TEXT,
    )
    for i in range(LATENCY_SAMPLES):
        writer.page.keyboard.type("abcdefghijklmnopqrstuvwxyz"[i % 26])
        reader.page.wait_for_function(
            "(n) => window.__seen.length && window.__seen[window.__seen.length - 1][0] >= n",
            arg=base + i + 1,
            polling=5,
        )
    sent = writer.page.evaluate("() => window.__sent")
    seen = reader.page.evaluate("() => window.__seen")
    assert len(sent) == LATENCY_SAMPLES
    latencies = []
    for i, t_sent in enumerate(sent):
        t_seen = next(t for length, t in seen if length >= base + i + 1)
        latencies.append(t_seen - t_sent)
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def write_latency(latencies: list[float], p50: float, p95: float) -> None:
    path = REPO / "benchmarks" / "results" / "ui.md"
    if not path.exists():
        path.write_text("# UI benchmark results (append-only; written by tests/ui)\n")
    try:
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"

    from playwright.sync_api import sync_playwright  # noqa: F401 - for the version below

    with path.open("a") as f:
        f.write(
            "\n## Typing latency, page to page (two browser contexts, one idea room)\n\n"
            f"- date (UTC): {datetime.now(UTC):%Y-%m-%d %H:%M:%S}\n"
            f"- machine: {platform.machine()}, nproc={os.cpu_count()}, {platform.system()} {platform.release()}\n"
            f"- load average at the end of the run (1/5/15 min): {load}\n"
            f"- browser: Debian chromium, headless, via playwright {md.version('playwright')}; "
            f"jupyterlab {md.version('jupyterlab')}\n"
            "- command: `OMNIFORGE_UI_RECORD=1 .venv/bin/python -m pytest tests/ui -k two_users`\n"
            "- what: keydown in one page (capture listener) → the character in the other page's "
            "CodeMirror DOM (MutationObserver); both stamped in-page with "
            "`performance.timeOrigin + performance.now()`; one keystroke at a time\n\n"
            "| samples | p50 ms | p95 ms | p99 ms | max ms | target p95 ≤ 100 ms |\n"
            "|---|---|---|---|---|---|\n"
            f"| {len(latencies)} | {p50:.1f} | {p95:.1f} | {percentile(latencies, 99):.1f} | "
            f"{max(latencies):.1f} | {'PASS' if p95 <= 100 else 'FAIL'} |\n"
        )


def test_build_feed_follows_builds_and_keeps_history(shared_lab: LabServer, new_user) -> None:
    user = new_user(shared_lab).open()
    sidebar = user.show_sidebar()
    ok, bad = "build:feed-ok", "build:feed-bad"

    shared_lab.emit(ok, "build.started", {"message": "make"})
    row = user.run(ok)
    bar = row.get_by_role("progressbar")
    expect(row).to_have_attribute("data-state", "running")
    expect(bar).to_have_attribute("aria-valuenow", "0")
    shared_lab.emit(ok, "build.progress", {"percent": 60, "message": "linking"})
    expect(bar).to_have_attribute("aria-valuenow", "60")
    expect(row).to_contain_text("linking")
    shared_lab.emit(ok, "build.completed", {"duration": 3.5})
    expect(row).to_have_attribute("data-state", "completed")
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(row.locator(".jp-OmniForge-run-elapsed")).to_have_text("3s")

    shared_lab.emit(bad, "build.started", {})
    shared_lab.emit(bad, "build.failed", {"error": "CompileError: missing semicolon"})
    failed = user.run(bad)
    expect(failed).to_have_attribute("data-state", "failed")
    expect(failed.locator(".jp-OmniForge-run-error")).to_have_text(
        "CompileError: missing semicolon"
    )

    # "New idea room" proposes a fresh name, and opens an editor on that room.
    sidebar.get_by_role("button", name="New idea room").click()
    user.page.locator(".jp-Dialog").get_by_role("button", name="Create").click()
    expect(
        user.page.locator('.jp-OmniForge-RoomEditor[data-room^="idea:"] .cm-content')
    ).to_be_visible()

    # The log opens under the row.
    row.get_by_role("button", name="Show log").click()
    log = row.locator(".jp-OmniForge-run-log li")
    expect(log).to_have_count(3)
    expect(log.nth(1)).to_contain_text("linking")

    # Close and reopen: the history is there, newest first.
    user.reload()
    user.show_sidebar()
    expect(user.run(ok)).to_have_attribute("data-state", "completed")
    expect(user.run(bad)).to_contain_text("CompileError: missing semicolon")
    channels = sidebar.locator(".jp-OmniForge-run").evaluate_all(
        "rows => rows.map(r => r.dataset.channel)"
    )
    assert channels.index(bad) < channels.index(ok)
    # Each event once, even though history and live stream overlap.
    user.run(ok).get_by_role("button", name="Show log").click()
    expect(user.run(ok).locator(".jp-OmniForge-run-log li")).to_have_count(3)
    assert not user.errors, user.errors


def test_the_feed_shows_the_lines_of_a_command_run(shared_lab: LabServer, new_user) -> None:
    """`jupyter omniforge run` sends a command's output as lines of the run's log: the feed
    lists each one (indentation kept), the last line is the run's status line."""
    channel = "build:feed-run"
    user = new_user(shared_lab).open()
    user.show_sidebar()
    script = "echo compiling; echo '    main.c: 2 warnings'; echo linked"
    server = ["--url", shared_lab.url, "--token", shared_lab.token]
    done = subprocess.run(
        [*CLI, "run", channel, "--name", "nightly", *server, "--", "sh", "-c", script],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    row = user.run(channel)
    expect(row).to_have_attribute("data-state", "completed")
    row.get_by_role("button", name="Show log").click()
    lines = row.locator(".jp-OmniForge-run-log li")
    expect(lines.filter(has_text="compiling")).to_have_count(1)
    warnings = lines.filter(has_text="main.c: 2 warnings")
    expect(warnings).to_have_count(1)
    assert "    main.c: 2 warnings" in warnings.inner_text()  # the indentation is kept
    texts = lines.all_inner_texts()
    order = [
        next(i for i, t in enumerate(texts) if word in t) for word in ("compil", "main.c", "linked")
    ]
    assert order == sorted(order), texts
    assert "nightly" in texts[0] and "build.completed" in texts[-1], texts
    assert not user.errors, user.errors


def test_offline_edits_reach_the_server_after_a_restart(lab_server, new_user) -> None:
    room = "idea:offline"
    server: LabServer = lab_server(settings={"defaultRoom": room, "showPresence": False})
    user = new_user(server).open()
    sidebar = user.show_sidebar()
    # The settings: the default room is proposed, presence is not shown.
    expect(sidebar.get_by_label("Room to open")).to_have_attribute("placeholder", room)
    expect(sidebar.locator(".jp-OmniForge-people")).to_have_count(0)
    sidebar.get_by_role("button", name="Open", exact=True).click()
    editor = user.editor(room)
    status = user.room_status(room)
    expect(status).to_have_attribute("data-state", "connected")
    editor.click()
    user.page.keyboard.type("before. ")
    wait_until(lambda: server.room_text(room) == "before. ")
    shared_before = server.emit("build:resume", "build.started", {})
    expect(user.run("build:resume")).to_have_attribute("data-state", "running")

    server.stop()
    expect(status).not_to_have_attribute("data-state", "connected")
    expect(status).to_have_text("Reconnecting…")
    user.page.keyboard.type("typed while the server was down.")
    user.expect_text(room, "before. typed while the server was down.")
    # Kept in IndexedDB for a reload; shown as offline once reconnecting keeps failing.
    expect(status).to_have_attribute("data-state", "offline", timeout=20_000)

    server.start()
    # Emitted before the page is back: the feed gets it by resuming from its last id.
    server.emit("build:resume", "build.progress", {"percent": 80, "message": "after restart"})
    expect(status).to_have_attribute("data-state", "connected", timeout=30_000)
    wait_until(lambda: server.room_text(room) == "before. typed while the server was down.")
    expect(user.run("build:resume").get_by_role("progressbar")).to_have_attribute(
        "aria-valuenow", "80"
    )
    assert int(shared_before["id"]) > 0


def test_sidebar_explains_a_missing_server_extension(lab_server, new_user) -> None:
    server = lab_server(["--ServerApp.jpserver_extensions=jupyter_omniforge=False"])
    assert server.request("GET", "omniforge/api/rooms")[0] == 404
    user = new_user(server).open()
    sidebar = user.show_sidebar()
    message = sidebar.get_by_role("alert")
    expect(message).to_have_attribute("data-kind", "missing")
    expect(message).to_contain_text("server extension is not enabled")
    expect(message).to_contain_text("jupyter server extension enable jupyter_omniforge")
    expect(user.page.locator(".jp-OmniForge-statusItem")).to_have_attribute(
        "data-state", "unavailable"
    )


def test_sidebar_explains_a_permission_denied(lab_server, new_user) -> None:
    server = lab_server(["--ServerApp.authorizer_class=tests.ui.authorizers.NoOmniForge"])
    # The token alone is the server's owner, whom no authorizer or policy can lock out; the
    # browser's logged-in user is refused.
    assert server.request("GET", "omniforge/api/rooms")[0] == 200
    user = new_user(server).open()
    sidebar = user.show_sidebar()
    message = sidebar.get_by_role("alert")
    expect(message).to_have_attribute("data-kind", "forbidden")
    expect(message).to_contain_text("You do not have permission to use OmniForge")


def wait_until(predicate, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.05)


def test_demo_notebook_reports_its_build_in_the_feed(shared_lab: LabServer, new_user) -> None:
    """binder/demo.ipynb, run in JupyterLab: its kernel finds the server without a URL or token."""
    shutil.copy(REPO / "binder" / "demo.ipynb", shared_lab.root / "demo.ipynb")
    user = new_user(shared_lab).open()
    sidebar = user.show_sidebar()
    user.execute("docmanager:open", {"path": "demo.ipynb"})
    expect(user.page.locator(".jp-Notebook")).to_be_visible()
    # The presence room says where this user is: the notebook.
    me = user.identity()["username"]
    expect(sidebar.locator(f'.jp-OmniForge-collaborator[data-username="{me}"]')).to_contain_text(
        "demo.ipynb"
    )
    user.page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.ready.then(() => null)"
    )
    user.execute("notebook:run-all-cells", wait=False)

    good = sidebar.locator(
        '.jp-OmniForge-run[data-channel^="build:demo-"]:not([data-channel$="-broken"])'
    )
    expect(good).to_have_attribute("data-state", "running", timeout=30_000)
    expect(good).to_have_attribute("data-state", "completed", timeout=30_000)
    broken = sidebar.locator('.jp-OmniForge-run[data-channel$="-broken"]')
    expect(broken).to_have_attribute("data-state", "failed", timeout=30_000)
    expect(broken).to_contain_text("RuntimeError: 3 of 120 tests failed")
    deploy = sidebar.locator('.jp-OmniForge-run[data-channel^="deployment:demo-"]')
    expect(deploy).to_have_attribute("data-state", "completed", timeout=30_000)


def test_two_users_edit_one_notebook(shared_lab: LabServer, new_user) -> None:
    """jupyter-collaboration makes a notebook one shared document: each user sees the other's
    typing, the file converges, and the OmniForge sidebar shows both of them in it."""
    name = "together.ipynb"
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": [],
    }
    kernel = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    notebook = {
        "cells": [cell],
        "metadata": {"kernelspec": kernel},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (shared_lab.root / name).write_text(json.dumps(notebook))
    alice, bob = new_user(shared_lab).open(), new_user(shared_lab).open()
    people = [alice.identity(), bob.identity()]
    editors = []
    for user in (alice, bob):
        user.show_sidebar()
        user.execute("docmanager:open", {"path": name})
        editor = user.page.locator(".jp-NotebookPanel .jp-Cell .cm-content").first
        expect(editor).to_be_visible()
        editors.append(editor)

    editors[0].click()
    alice.page.keyboard.type("alice = 1")
    expect_cell_text(bob, "alice = 1")
    editors[1].click()
    bob.page.keyboard.press("Control+End")
    bob.page.keyboard.type("; bob = 2")
    expect_cell_text(alice, "alice = 1; bob = 2")
    # The server holds the same document, and saves it.
    wait_until(lambda: notebook_source(shared_lab, name) == "alice = 1; bob = 2", timeout=30)

    for user in (alice, bob):
        for person in people:
            row = user.page.locator(
                f'.jp-OmniForge-collaborator[data-username="{person["username"]}"]'
            )
            expect(row).to_contain_text(person["display_name"])
            expect(row).to_contain_text(name)
    assert not alice.errors and not bob.errors, alice.errors + bob.errors


def expect_cell_text(user: LabPage, text: str, timeout: float = 15) -> None:
    """Wait until the first cell of the user's notebook shows exactly ``text``."""
    editor = user.page.locator(".jp-NotebookPanel .jp-Cell .cm-content").first
    deadline = time.monotonic() + timeout
    while (current := editor.evaluate(EDITOR_TEXT)) != text:
        if time.monotonic() > deadline:
            raise AssertionError(f"the cell shows {current!r}, expected {text!r}")
        time.sleep(0.02)


def notebook_source(server: LabServer, name: str) -> str | None:
    """The source of the first cell of ``name`` as saved on the server."""
    status, model = server.request("GET", f"api/contents/{name}?content=1")
    if status != 200:
        return None
    source = model["content"]["cells"][0]["source"]
    return "".join(source) if isinstance(source, list) else source
