"""The sidebar and the build feed as a demanding JupyterLab user reads them, in the light and the
dark theme: sections that fold, the feed scrolling on its own, whole run names, who started a
run, stale runs, dismissing and filtering, failures, the status bar from the keyboard, and an
axe-core scan with no serious or critical violation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .conftest import BROWSER_MISSING, CONTRAST, REPO, THEMES, LabPage, LabServer

if BROWSER_MISSING:
    pytest.skip(BROWSER_MISSING, allow_module_level=True)

from playwright.sync_api import expect  # after the skip: it may not be installed

AXE = REPO / "tests" / "js" / "node_modules" / "axe-core" / "axe.min.js"
#: Short enough that a test sees a run go stale, long enough that a busy machine does not see a
#: run it just reported go stale before it is checked.
STALE_AFTER = 6


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    server = LabServer(
        tmp_path_factory.mktemp("feed-polish"), settings={"staleAfter": STALE_AFTER, "feedSize": 60}
    )
    server.start()
    yield server
    server.stop()


def set_theme(user: LabPage, theme: str) -> None:
    user.execute("apputils:change-theme", {"theme": theme})
    light = "true" if theme == "JupyterLab Light" else "false"
    user.page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'")


@pytest.fixture
def user(lab: LabServer, new_user) -> Iterator[LabPage]:
    """A user with the sidebar open; the theme is set back to light afterwards (the server keeps
    it in the user's settings)."""
    page = new_user(lab).open()
    page.show_sidebar()
    yield page
    set_theme(page, "JupyterLab Light")


def section(user: LabPage, name: str):
    return user.page.locator(f"#jp-omniforge-sidebar .jp-OmniForge-{name}")


def test_sections_fold_show_counts_and_sort_numbers_as_numbers(
    lab: LabServer, user: LabPage
) -> None:
    # Rooms named with numbers, opened out of order; a build's room (its live state) too.
    for room in ("idea:n100", "idea:n9", "idea:n42"):
        user.open_room(room)
    lab.emit("build:sorting", "build.started", {})
    rooms = section(user, "rooms")
    expect(rooms.locator(".jp-OmniForge-room")).to_have_count(3)
    names = rooms.locator(".jp-OmniForge-room").evaluate_all("rs => rs.map(r => r.dataset.room)")
    assert names == ["idea:n9", "idea:n42", "idea:n100"], names
    expect(rooms.locator(".jp-OmniForge-count")).to_have_text("3")
    # Build and deployment rooms are the feed's, never listed under "Open rooms".
    status, listing = lab.request("GET", "omniforge/api/rooms")
    assert status == 200, listing
    assert "build:sorting" in [r["name"] for r in listing["rooms"]], listing  # the premise
    expect(rooms.locator('[data-room^="build:"], [data-room^="deployment:"]')).to_have_count(0)

    toggle = rooms.get_by_role("button", name="Open rooms")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(rooms.locator(".jp-OmniForge-room")).to_have_count(0)
    expect(rooms.locator(".jp-OmniForge-count")).to_have_text("3")  # still counted
    toggle.click()
    expect(rooms.locator(".jp-OmniForge-room")).to_have_count(3)

    feed = section(user, "feed")
    feed_toggle = feed.get_by_role("button", name="Builds & deployments")
    feed_toggle.click()
    expect(feed.locator(".jp-OmniForge-run")).to_have_count(0)
    feed_toggle.click()
    expect(user.run("build:sorting")).to_be_visible()
    assert not user.errors, user.errors


def test_the_feed_scrolls_on_its_own(lab: LabServer, user: LabPage) -> None:
    for k in range(30):
        lab.emit(f"build:scroll-{k}", "build.started", {"message": "make"})
    feed = section(user, "feed")
    expect(feed.locator('[data-channel^="build:scroll-"]')).to_have_count(30)
    body = feed.locator(".jp-OmniForge-sectionBody")
    assert body.evaluate("b => b.scrollHeight > b.clientHeight + 100"), "the feed does not scroll"
    body.evaluate("b => { b.scrollTop = b.scrollHeight; }")
    # Scrolled to its end, the sections above are where they were, in view.
    sidebar = user.page.locator("#jp-omniforge-sidebar").bounding_box()
    for name in ("rooms", "people"):
        header = section(user, name).locator(".jp-OmniForge-sectionHeader").bounding_box()
        assert header and sidebar["y"] <= header["y"] < sidebar["y"] + sidebar["height"], name
    assert (
        user.page.locator("#jp-omniforge-sidebar .jp-OmniForge-sidebar-body").evaluate(
            "b => b.scrollTop"
        )
        == 0
    )
    # The last run is reachable inside the feed.
    last = feed.locator(".jp-OmniForge-run").last
    box, area = last.bounding_box(), body.bounding_box()
    assert box and area and box["y"] + box["height"] <= area["y"] + area["height"] + 1


@pytest.mark.parametrize("theme", THEMES)
def test_a_run_shows_its_whole_name_and_who_started_it(
    lab: LabServer, user: LabPage, theme: str
) -> None:
    set_theme(user, theme)
    # The longest id the grammar allows, one word: it wraps rather than being cut.
    run_id = f"{theme.split()[-1].lower()}-" + "x" * 100 + "-end"
    channel = f"build:{run_id}"
    envelope = lab.emit(channel, "build.started", {"message": "make"})
    source = envelope["source"]
    row = user.run(channel)
    name = row.locator(".jp-OmniForge-run-name")
    expect(name).to_contain_text(run_id)
    assert name.evaluate("n => n.scrollWidth <= n.clientWidth"), "the name is cut"
    sidebar = user.page.locator("#jp-omniforge-sidebar").bounding_box()
    box = name.bounding_box()
    assert box and box["x"] + box["width"] <= sidebar["x"] + sidebar["width"]
    expect(row.locator(".jp-OmniForge-run-by")).to_have_text(
        f"by {source.get('name') or source['username']}"
    )
    expect(row.locator(".jp-OmniForge-run-by")).to_have_attribute(
        "data-username", source["username"]
    )
    contrast = name.evaluate(CONTRAST)
    assert contrast >= 4.5, f"run name contrast {contrast:.2f} in {theme}"
    by_contrast = row.locator(".jp-OmniForge-run-by").evaluate(CONTRAST)
    assert by_contrast >= 4.5, f"'started by' contrast {by_contrast:.2f} in {theme}"
    user.page.screenshot(path=f"/tmp/feed-polish-{theme.split()[-1].lower()}.png")


def test_a_click_on_the_header_opens_the_log_and_toggles_name_their_run(
    lab: LabServer, user: LabPage
) -> None:
    for run in ("42", "43"):
        lab.emit(f"build:head-{run}", "build.started", {})
        lab.emit(f"build:head-{run}", "build.progress", {"percent": 50, "message": "half"})
    row = user.run("build:head-42")
    expect(row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "50")
    # Each toggle says which run it is for.
    labels = (
        section(user, "feed")
        .locator(".jp-OmniForge-run-toggle")
        .evaluate_all("bs => bs.map(b => b.getAttribute('aria-label'))")
    )
    assert len(labels) == len(set(labels)), labels
    toggle = row.get_by_role("button", name="Show log for build head-42")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    # A click on the name (not the toggle) opens the log.
    row.locator(".jp-OmniForge-run-name").click()
    expect(row.locator(".jp-OmniForge-run-log li")).to_have_count(2)
    hide = row.get_by_role("button", name="Hide log for build head-42")
    expect(hide).to_have_attribute("aria-expanded", "true")
    # And from the keyboard (focus and key in one step: JupyterLab may move the focus between
    # two separate calls).
    hide.press("Enter")
    expect(row.locator(".jp-OmniForge-run-log li")).to_have_count(0)
    expect(user.run("build:head-43").locator(".jp-OmniForge-run-log li")).to_have_count(0)


def test_a_run_without_news_goes_stale(lab: LabServer, user: LabPage) -> None:
    channel = "build:quiet"
    lab.emit(channel, "build.started", {})
    row = user.run(channel)
    state = row.locator(".jp-OmniForge-run-state")
    expect(state).to_have_text("running")
    expect(row).to_have_attribute("data-stale", "false")
    expect(row).to_have_attribute("data-stale", "true", timeout=(STALE_AFTER + 10) * 1000)
    expect(state).to_have_text("stale")
    expect(row.locator(".jp-OmniForge-run-elapsed")).to_contain_text("quiet")
    # News: running again.
    lab.emit(channel, "build.progress", {"percent": 10, "message": "tests"})
    expect(row).to_have_attribute("data-stale", "false")
    expect(state).to_have_text("running")


def test_runs_are_dismissed_cleared_and_filtered(lab: LabServer, user: LabPage) -> None:
    lab.emit("build:f-ok", "build.started", {})
    lab.emit("build:f-ok", "build.completed", {})
    lab.emit("build:f-bad", "build.started", {})
    lab.emit("build:f-bad", "build.failed", {"error": "boom"})
    lab.emit("deployment:f-live", "deployment.started", {})
    feed = section(user, "feed")
    ours = feed.locator('.jp-OmniForge-run[data-channel*=":f-"]')
    expect(ours).to_have_count(3)

    choose = feed.get_by_role("combobox", name="Show builds and deployments by state")
    choose.select_option("failed")
    expect(ours).to_have_count(1)
    expect(user.run("build:f-bad")).to_be_visible()
    choose.select_option("completed")
    expect(ours).to_have_count(1)
    expect(user.run("build:f-ok")).to_be_visible()
    choose.select_option("running")
    expect(user.run("deployment:f-live")).to_be_visible()
    expect(feed.locator('.jp-OmniForge-run[data-state="failed"]')).to_have_count(0)
    choose.select_option("all")
    expect(ours).to_have_count(3)

    # Dismissed, a run stays away until it has news.
    user.run("deployment:f-live").get_by_role("button", name="Dismiss deployment f-live").click()
    expect(user.run("deployment:f-live")).to_have_count(0)
    lab.emit("deployment:f-live", "deployment.progress", {"percent": 30, "message": "rollout"})
    expect(user.run("deployment:f-live")).to_have_count(1)

    feed.get_by_role("button", name="Clear finished builds and deployments").click()
    expect(ours).to_have_count(1)
    expect(user.run("deployment:f-live")).to_have_count(1)
    expect(feed.locator('.jp-OmniForge-run[data-state="completed"]')).to_have_count(0)
    expect(feed.locator('.jp-OmniForge-run[data-state="failed"]')).to_have_count(0)

    # Reloaded, the page remembers what was dismissed, until the run has news.
    user.reload()
    user.show_sidebar()
    expect(user.run("deployment:f-live")).to_have_count(1)
    expect(user.run("build:f-ok")).to_have_count(0)
    expect(user.run("build:f-bad")).to_have_count(0)
    lab.emit("build:f-bad", "build.started", {})
    expect(user.run("build:f-bad")).to_have_attribute("data-state", "running")
    assert not user.errors, user.errors


@pytest.mark.parametrize("theme", THEMES)
def test_a_failure_shows_red_and_a_preview_of_its_error(
    lab: LabServer, user: LabPage, theme: str
) -> None:
    set_theme(user, theme)
    channel = f"build:fail-{theme.split()[-1].lower()}"
    # Hostile and long: HTML in it is text, and it has many lines.
    error = "<img src=x onerror=\"document.body.dataset.owned='1'\">Traceback\n" + "\n".join(
        f"  line {k}: " + "y" * 200 for k in range(50)
    )
    lab.emit(channel, "build.started", {})
    lab.emit(channel, "build.failed", {"error": error})
    row = user.run(channel)
    expect(row).to_have_attribute("data-state", "failed")
    assert row.locator("img").count() == 0
    assert user.page.evaluate("() => document.body.dataset.owned") is None

    # At 0%, the bar is still red, across the track.
    bar = row.get_by_role("progressbar")
    expect(bar).to_have_attribute("aria-valuenow", "0")
    red = bar.evaluate(
        "b => { const [r, g, bl] = getComputedStyle(b).backgroundColor.match(/\\d+/g).map(Number);"
        " return {r, g, b: bl, width: b.getBoundingClientRect().width}; }"
    )
    assert red["width"] > 50 and red["r"] > 150 and red["r"] > red["g"] + 40, (theme, red)
    assert red["r"] > red["b"] + 40, (theme, red)

    # A preview of the error, that expands to all of it.
    text = row.locator(".jp-OmniForge-run-error")
    expect(text).to_have_attribute("data-expanded", "false")
    short = text.bounding_box()["height"]
    assert short < 80, short
    assert text.evaluate("t => t.textContent") == error
    more = row.get_by_role("button", name=f"Show the full error of build {channel[6:]}")
    more.click()
    expect(text).to_have_attribute("data-expanded", "true")
    assert text.bounding_box()["height"] > 4 * short
    row.get_by_role("button", name=f"Show less of the error of build {channel[6:]}").click()
    expect(text).to_have_attribute("data-expanded", "false")
    contrast = text.evaluate(CONTRAST)
    assert contrast >= 4.5, f"error text contrast {contrast:.2f} in {theme}"
    row.screenshot(path=f"/tmp/feed-polish-failure-{theme.split()[-1].lower()}.png")
    # A short error is shown whole, without a toggle.
    lab.emit(f"{channel}-short", "build.failed", {"error": "CompileError"})
    short_row = user.run(f"{channel}-short")
    expect(short_row.locator(".jp-OmniForge-run-error")).to_have_text("CompileError")
    expect(short_row.locator(".jp-OmniForge-run-errorToggle")).to_have_count(0)


@pytest.mark.parametrize("theme", THEMES)
def test_axe_finds_nothing_serious_in_the_sidebar(
    lab: LabServer, user: LabPage, theme: str
) -> None:
    assert AXE.exists(), "run `npm ci --prefix tests/js` (axe-core)"
    set_theme(user, theme)
    tag = theme.split()[-1].lower()
    user.open_room(f"idea:axe-{tag}")
    lab.emit(f"build:axe-run-{tag}", "build.progress", {"percent": 20, "message": "compiling"})
    lab.emit(f"build:axe-bad-{tag}", "build.failed", {"error": "x\n" * 10})
    lab.emit(f"deployment:axe-ok-{tag}", "deployment.completed", {})
    running = user.run(f"build:axe-run-{tag}")
    running.locator(".jp-OmniForge-run-name").click()
    expect(running.locator(".jp-OmniForge-run-log li")).to_have_count(1)
    expect(section(user, "rooms").locator(f'[data-room="idea:axe-{tag}"]')).to_be_visible()
    user.page.add_script_tag(path=str(AXE))
    # JupyterLab's <body> lays out 0 px high (its shell is placed absolutely): axe then takes
    # most of the sidebar for clipped and checks the contrast of 2 texts instead of ~27. The
    # window's height changes nothing on screen and lets it check them all.
    result = user.page.evaluate(
        "async () => { const before = document.body.style.height;"
        " document.body.style.height = '100vh';"
        " try { const r = await axe.run(document.querySelector('#jp-omniforge-sidebar'));"
        " return {passes: r.passes.map(p => p.id), violations: r.violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).join(', ')}`),"
        " contrastNodes: [...r.passes, ...r.violations, ...r.incomplete]"
        ".filter(p => p.id === 'color-contrast').reduce((n, p) => n + p.nodes.length, 0)};"
        " } finally { document.body.style.height = before; } }"
    )
    # The scan looked at what matters here (it is not vacuous), and found nothing serious.
    assert {"color-contrast", "button-name", "aria-valid-attr-value"} <= set(result["passes"])
    assert result["contrastNodes"] >= 15, result
    assert result["violations"] == [], result["violations"]


def test_the_status_bar_item_is_a_labelled_button_and_hides_the_count_offline(
    lab_server, new_user
) -> None:
    lab = lab_server()
    user = new_user(lab).open()
    item = user.page.locator(".jp-OmniForge-statusItem")
    expect(item).to_have_attribute("role", "button")
    expect(item).to_have_attribute("tabindex", "0")
    user.open_room("idea:status")
    expect(item).to_contain_text("1 here")
    expect(item).to_have_attribute(
        "aria-label", "OmniForge: Connected, 1 person in idea:status. Show the sidebar"
    )
    # Tab reaches it: from the element before it in the document's order.
    user.page.evaluate(
        "() => { const all = [...document.querySelectorAll('button, [tabindex], a[href], input')]"
        ".filter(e => e.tabIndex >= 0 && !e.disabled && e.offsetParent);"
        " const k = all.indexOf(document.querySelector('.jp-OmniForge-statusItem'));"
        " all[k - 1].focus(); }"
    )
    user.page.keyboard.press("Tab")
    assert user.page.evaluate(
        "() => document.activeElement?.classList.contains('jp-OmniForge-statusItem')"
    )
    # Enter opens the sidebar.
    expect(user.page.locator("#jp-omniforge-sidebar")).to_be_hidden()
    user.page.keyboard.press("Enter")
    expect(user.page.locator("#jp-omniforge-sidebar")).to_be_visible()

    lab.stop()
    expect(item).not_to_have_attribute("data-state", "connected", timeout=30_000)
    expect(item).not_to_contain_text("here")
    assert "person" not in (item.get_attribute("aria-label") or "")
    lab.start()
    expect(item).to_contain_text("1 here", timeout=30_000)
