"""Browser fixtures: a `jupyter lab` subprocess and Debian's chromium driven by Playwright.

Each server gets a free port, a random token and its own Jupyter config, data and runtime
directories and database under the test's tmp dir. Each browser context is one user: Jupyter
gives every token login without a cookie its own anonymous identity.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, spawn_jupyter, stop_process

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("OMNIFORGE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

try:
    from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
except ImportError:  # the test extra installs it; test_lab.py skips without it
    sync_playwright = None

#: Why the browser tests cannot run here (test_lab.py skips with it), or None.
BROWSER_MISSING: str | None = None
if sync_playwright is None:
    BROWSER_MISSING = "the playwright package is not installed (pip install -e '.[test]')"
elif not Path(CHROMIUM).exists():
    BROWSER_MISSING = (
        f"chromium not found at {CHROMIUM} (apt-get install -y chromium, or set OMNIFORGE_CHROMIUM)"
    )
else:
    expect.set_options(timeout=15_000)

#: The themes the looks of the UI are checked in.
THEMES = ["JupyterLab Light", "JupyterLab Dark"]

#: WCAG contrast ratio of an element's text against the first opaque background behind it.
CONTRAST = """(el) => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  let bg = null;
  for (let n = el; n && !bg; n = n.parentElement) {
    const c = rgb(getComputedStyle(n).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) { bg = c; }
  }
  const fg = rgb(getComputedStyle(el).color);
  const [a, b] = [lum(fg), lum(bg || [255, 255, 255])].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""

#: Ask for JupyterLab's own news and update checks nowhere: no network, no toasts in screenshots.
PAGE_CONFIG = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}


class LabServer:
    """A `jupyter lab` subprocess. ``restart()`` keeps its port, token, directories and database."""

    def __init__(
        self, home: Path, extra: list[str] | None = None, settings: dict | None = None
    ) -> None:
        self.home = home
        self.extra = list(extra or [])
        #: The user's OmniForge settings (schema/server.json), written before the start.
        self.settings = settings
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.db = home / "db" / "omniforge.sqlite"
        self.root = home / "root"
        self.log_path = home / "lab.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def lab_url(self, workspace: str) -> str:
        return f"{self.url}lab/workspaces/{workspace}?token={self.token}"

    def start(self, timeout: float = 90) -> LabServer:
        for name in ("config/labconfig", "data", "runtime", "root", "db"):
            (self.home / name).mkdir(parents=True, exist_ok=True)
        (self.home / "config/labconfig/page_config.json").write_text(json.dumps(PAGE_CONFIG))
        # This checkout's bundle, not the copy `pip install` put under sys.prefix: the extra
        # path comes first, and the first extension of a name wins.
        bundle = self.home / "labextensions/jupyter_omniforge"
        if not bundle.exists():
            bundle.parent.mkdir(parents=True, exist_ok=True)
            bundle.symlink_to(REPO / "jupyter_omniforge" / "labextension")
        if self.settings is not None:
            path = (
                self.home / "config/lab/user-settings/jupyter_omniforge/server.jupyterlab-settings"
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(self.settings))
        self.proc = spawn_jupyter(
            "jupyterlab",
            home=self.home,
            root=self.root,
            port=self.port,
            token=self.token,
            db=self.db,
            log_path=self.log_path,
            extra=[
                "--LabApp.expose_app_in_browser=True",
                f"--LabApp.extra_labextensions_path={bundle.parent}",
                *self.extra,
            ],
            env={
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(REPO), os.environ.get("PYTHONPATH")])
                )
            },
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"jupyter lab exited early:\n{self.log_path.read_text()}")
            status, _ = self.request("GET", "api/status")
            if status == 200:
                return self
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"jupyter lab not up in {timeout}s:\n{self.log_path.read_text()}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def restart(self) -> LabServer:
        self.stop()
        return self.start()

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """``(status, JSON or text)``; status 0 when nothing answers."""
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except OSError:
            return 0, None
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def emit(self, channel: str, type_: str, data: dict | None = None) -> dict:
        status, envelope = self.request(
            "POST", "omniforge/api/events", {"channel": channel, "type": type_, "data": data or {}}
        )
        assert status == 201, envelope
        return envelope

    def room_text(self, room: str) -> str | None:
        status, info = self.request("GET", f"omniforge/api/rooms/{room}")
        return info["content"].get("code") if status == 200 else None


@pytest.fixture
def lab_server(tmp_path: Path) -> Iterator[Callable[..., LabServer]]:
    """Factory: ``lab_server(extra=[...], settings={...})`` starts a `jupyter lab` (with those
    command-line arguments and OmniForge user settings); all are stopped at the end."""
    started: list[LabServer] = []

    def make(extra: list[str] | None = None, settings: dict | None = None) -> LabServer:
        server = LabServer(tmp_path / f"lab{len(started)}", extra, settings)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def shared_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """One `jupyter lab` for the stories that need nothing special from it."""
    server = LabServer(tmp_path_factory.mktemp("shared-lab"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> Iterator[None]:
    """Overrides pytest-jupyter's: these tests are synchronous, and Playwright's sync API keeps
    its own event loop marked as running between calls, which that fixture would try to close."""
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> Iterator[None]:
    """Overrides pytest-jupyter's: no in-process server here (see ``jp_asyncio_loop``)."""
    yield


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


#: The text of a CodeMirror content element, without the remote carets (their labels are DOM).
EDITOR_TEXT = """(content) => {
  const copy = content.cloneNode(true);
  copy.querySelectorAll('.cm-ySelectionCaret, .cm-widgetBuffer').forEach(n => n.remove());
  return Array.from(copy.querySelectorAll('.cm-line'), line => line.textContent).join('\\n');
}"""


class LabPage:
    """One user's JupyterLab tab, with the OmniForge parts the stories look at."""

    def __init__(self, page: Page, server: LabServer) -> None:
        self.page = page
        self.server = server
        # Its own workspace, so that what one story leaves open is not restored in the next.
        self.workspace = f"ui-{secrets.token_hex(4)}"
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def open(self) -> LabPage:
        self.page.goto(self.server.lab_url(self.workspace))
        self.page.wait_for_function(
            "() => window.jupyterapp?.commands.hasCommand('omniforge:show-sidebar')",
            timeout=60_000,
        )
        self.page.evaluate("() => window.jupyterapp.restored.then(() => null)")
        return self

    def reload(self) -> LabPage:
        return self.open()

    def show_sidebar(self) -> Any:
        """Click the OmniForge tab of the left sidebar (unless it is open); return the sidebar."""
        sidebar = self.page.locator("#jp-omniforge-sidebar")
        if not sidebar.is_visible():
            self.page.locator('.jp-SideBar.jp-mod-left [data-id="jp-omniforge-sidebar"]').click()
        expect(sidebar).to_be_visible()
        return sidebar

    def execute(self, command: str, args: dict | None = None, wait: bool = True) -> None:
        """Run a JupyterLab command; with ``wait=False`` do not wait for it to finish."""
        self.page.evaluate(
            "([command, args, wait]) => {"
            " const done = window.jupyterapp.commands.execute(command, args).then(() => null);"
            " return wait ? done : null; }",
            [command, args or {}, wait],
        )

    def open_room(self, room: str) -> Any:
        """Open ``room`` in the room editor; return its CodeMirror content element."""
        self.execute("omniforge:open-room", {"room": room})
        content = self.editor(room)
        expect(content).to_be_visible()
        return content

    def editor(self, room: str) -> Any:
        # The room's own text, not the side panels' (a version in the History panel).
        return self.page.locator(
            f'.jp-OmniForge-RoomEditor[data-room="{room}"] .jp-OmniForge-RoomEditor-editor'
            " .cm-content"
        )

    def text(self, room: str) -> str:
        """The editor's text as the user reads it, without the remote carets' name labels."""
        return self.editor(room).evaluate(EDITOR_TEXT)

    def expect_text(self, room: str, text: str, timeout: float = 15) -> None:
        """Wait until the editor of ``room`` shows exactly ``text``."""
        deadline = time.monotonic() + timeout
        while (current := self.text(room)) != text:
            if time.monotonic() > deadline:
                raise AssertionError(f"{room} shows {current!r}, expected {text!r}")
            time.sleep(0.02)

    def room_status(self, room: str) -> Any:
        return self.page.locator(
            f'.jp-OmniForge-RoomEditor[data-room="{room}"] .jp-OmniForge-status'
        )

    def identity(self) -> dict:
        return self.page.evaluate(
            "async () => { const u = window.jupyterapp.serviceManager.user; await u.ready;"
            " return u.identity; }"
        )

    def run(self, channel: str) -> Any:
        return self.page.locator(f'.jp-OmniForge-run[data-channel="{channel}"]')


@pytest.fixture
def new_user(browser: Browser) -> Iterator[Callable[[LabServer], LabPage]]:
    """Factory: ``new_user(server)`` is a fresh browser context (a new Jupyter identity)."""
    contexts: list[BrowserContext] = []

    def make(server: LabServer) -> LabPage:
        context = browser.new_context(viewport={"width": 1280, "height": 760})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return LabPage(context.new_page(), server)

    yield make
    for context in contexts:
        context.close()


def record_results() -> bool:
    """Whether to write the latency figures and the screenshot into the repository."""
    return os.environ.get("OMNIFORGE_UI_RECORD") == "1"
