"""The README, run as written: every bash, python and js block, against a real server.

A reader installs with the README's first command, starts the server (its URL is ``BASE``, its
token ``TOKEN``), activates the environment and pastes a block. Here each block runs the same way,
in its own process: bash blocks with ``BASE`` and ``TOKEN`` exported, Python blocks as a notebook
cell runs them (top-level ``await``), js blocks with Node.js and the packages of tests/js. The
only changes to a block are the documented placeholders: ``TOKEN`` (in Python and js, the token
as a string literal), ``BASE``, and the server's port for ``127.0.0.1:8888``. The Jupyter
directories are the server's, so a client that finds the server by itself (``jupyter omniforge``,
``build()``) finds it as it would on the reader's machine.

Where a block does something visible, the test checks it: what the room holds afterwards, what
the event history holds, what the block printed. A block that runs until stopped (a subscriber,
``watch``) is driven: the test waits for its effect, or gives it what it waits for. Any other block carries a visible marker right
above it, ``<!-- readme-test: skip (reason) -->``, and shows up here as a skipped test with that
reason. A block marked ``<!-- readme-test: in FILE -->`` shows (part of) a file of the
repository, and must be found in it as it is shown.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import ServerProcess

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
JS_MODULES = ROOT / "tests" / "js" / "node_modules"
INVENTORY = ROOT / "examples" / "inventory"

FENCE = re.compile(r"^```(?P<lang>[\w-]*)\s*$")
MARKER = re.compile(
    r"^<!--\s*readme-test:\s*(?:skip\s*\((?P<reason>.+)\)|in\s+(?P<file>\S+))\s*-->$"
)
RUNNABLE = {"bash", "python", "js"}

#: How a Python block runs: as a notebook cell, where ``await`` works at the top level.
RUN_AS_CELL = textwrap.dedent(
    """
    import ast, asyncio, sys
    source = open(sys.argv[1]).read()
    code = compile(source, "README block", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, {"__name__": "__main__"})
    if asyncio.iscoroutine(result):
        asyncio.run(result)
    """
)


@dataclass
class Block:
    lang: str
    code: str
    line: int  # of the opening fence, 1-based
    skip: str | None  # the reason given by a "skip (reason)" marker
    shown_from: str | None  # the file named by an "in FILE" marker: the block is part of it

    @property
    def id(self) -> str:
        return f"line{self.line}-{self.lang or 'text'}"


def readme_blocks(text: str) -> list[Block]:
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        end = i + 1
        while not lines[end].startswith("```"):
            end += 1
        marker = MARKER.match(lines[i - 1]) if i else None
        blocks.append(
            Block(
                lang=fence["lang"],
                code="\n".join(lines[i + 1 : end]) + "\n",
                line=i + 1,
                skip=marker["reason"] if marker else None,
                shown_from=marker["file"] if marker else None,
            )
        )
        i = end + 1
    return blocks


BLOCKS = readme_blocks(README.read_text())


def test_every_block_runs_or_says_why_not():
    """A block in a language this test cannot run must carry the skip marker; untagged blocks
    show output or a tree, not code."""
    unaccounted = [
        block.id
        for block in BLOCKS
        if block.lang and block.lang not in RUNNABLE and not (block.skip or block.shown_from)
    ]
    assert not unaccounted, f"README blocks neither run nor marked: {unaccounted}"
    assert sum(block.lang in RUNNABLE and block.skip is None for block in BLOCKS) >= 6


# -- the server, as the README starts it ----------------------------------------------------------


class Server:
    """A ServerProcess with the inventory app of examples/ enabled (as after the README's
    ``pip install ./examples/inventory``), plus what the blocks need to find it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.process = ServerProcess(
            home / "root",
            home / "db" / "omniforge.sqlite",
            ["--ServerApp.jpserver_extensions=inventory=True"],
            env={"PYTHONPATH": python_path()},
        )
        self.url = self.process.url
        self.token = self.process.token

    def env(self) -> dict[str, str]:
        """A reader's shell: the environment activated, BASE and TOKEN exported, and the same
        Jupyter directories as the server (so `jupyter server list` shows it)."""
        home = self.process.jupyter_home
        return dict(
            os.environ,
            PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
            VIRTUAL_ENV=sys.prefix,
            PYTHONPATH=python_path(),
            JUPYTER_CONFIG_DIR=str(home / "config"),
            JUPYTER_DATA_DIR=str(home / "data"),
            JUPYTER_RUNTIME_DIR=str(home / "runtime"),
            BASE=self.url,
            TOKEN=self.token,
        )

    def get(self, path: str) -> Any:
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"token {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise

    def post(self, path: str, body: dict) -> dict:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def events(
        self, channel: str, after: str | None = None, prefix: str = "omniforge/api/"
    ) -> list:
        query = f"?channel={channel}&limit=1000" + (f"&after={after}" if after else "")
        return self.get(f"{prefix}events{query}")["events"]

    def last_event_id(self) -> str | None:
        events = self.events("*")
        return events[-1]["id"] if events else None

    def room_text(self, room: str, root: str = "code") -> str:
        info = self.get(f"omniforge/api/rooms/{room}")
        return (info or {}).get("content", {}).get(root) or ""


def python_path() -> str:
    """This checkout first (its code is what runs), then examples/inventory (the installed app)."""
    return os.pathsep.join(filter(None, [str(ROOT), str(INVENTORY), os.environ.get("PYTHONPATH")]))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("readme"))
    server.process.start_blocking()
    yield server
    server.process.stop()


# -- running a block ------------------------------------------------------------------------------


def fill_in(code: str, server: Server, lang: str) -> str:
    """The README's placeholders, filled in with this server's."""
    code = code.replace("127.0.0.1:8888", f"127.0.0.1:{server.process.port}")
    if lang in ("python", "js"):
        code = re.sub(r"\bTOKEN\b", repr(server.token), code)
    return code


class Run:
    """A block running in its own process (its output goes to files, read at any time)."""

    def __init__(self, block: Block, server: Server, work: Path) -> None:
        code = fill_in(block.code, server, block.lang)
        self.out, self.err = work / "stdout", work / "stderr"
        if block.lang == "bash":
            command = ["bash", "-euo", "pipefail", "-c", code]
        elif block.lang == "python":
            script = work / "block.py"
            script.write_text(code)
            command = [sys.executable, "-c", RUN_AS_CELL, str(script)]
        else:
            script = work / "block.mjs"
            script.write_text(code)
            (work / "node_modules").symlink_to(JS_MODULES, target_is_directory=True)
            # Browsers and Node.js 22+ have a global WebSocket; older Node gets the ws package.
            prelude = work / "websocket.mjs"
            prelude.write_text("import WebSocket from 'ws';\nglobalThis.WebSocket ??= WebSocket;\n")
            command = ["node", "--import", prelude.as_uri(), str(script)]
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                command,
                cwd=work,
                env=server.env(),
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def wait(self, timeout: float = 90) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"the block ran over {timeout}s:\n{self.report()}") from None

    def stop(self) -> None:
        """Ctrl-C (to the whole process group, as a terminal sends it), then kill."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def report(self) -> str:
        return f"--- stdout\n{self.stdout()[-3000:]}\n--- stderr\n{self.stderr()[-3000:]}"

    def until(self, predicate: Callable[[], Any], timeout: float = 30) -> Any:
        """Wait for ``predicate()`` while the block runs; fail if it ends or times out first."""
        deadline = time.monotonic() + timeout
        while not (value := predicate()):
            if self.proc.poll() is not None:
                raise AssertionError(f"the block exited ({self.proc.returncode}):\n{self.report()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s:\n{self.report()}")
            time.sleep(0.1)
        return value


def until(predicate: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.1)
    return value


def succeeds(run: Run) -> None:
    code = run.wait()
    assert code == 0, f"exit status {code}:\n{run.report()}"


# -- what each block does, checked ----------------------------------------------------------------


def yjs_client(run: Run, server: Server, after: str | None) -> None:
    """The stock y-websocket client writes into idea:42 and announces its cursor; it stays
    connected until stopped."""
    run.until(lambda: "hello" in server.room_text("idea:42"))
    run.until(lambda: (server.get("omniforge/api/rooms/idea:42") or {}).get("awareness"))
    run.stop()
    assert "Error" not in run.stderr(), run.report()


def pycrdt_client(run: Run, server: Server, after: str | None) -> None:
    succeeds(run)
    until(lambda: "hello from Python" in server.room_text("idea:42"), timeout=10)


def emits(run: Run, server: Server, after: str | None) -> None:
    succeeds(run)
    progress = [e for e in server.events("build:42", after) if e["type"] == "build.progress"]
    assert [e["data"] for e in progress] == [{"percent": 40, "message": "compiling"}] * 2


def emits_batch(run: Run, server: Server, after: str | None) -> None:
    """Two of the three lines are stored, in order; the answer names the third's error."""
    succeeds(run)
    answer = json.loads(run.stdout())
    assert (answer["stored"], answer["refused"]) == (2, 1), answer
    assert answer["events"][2]["index"] == 2 and answer["events"][2]["error"] == "invalid"
    stored = server.events("build:43", after)
    assert [e["type"] for e in stored] == ["build.started", "build.progress"]
    assert [e["id"] for e in stored] == [e["id"] for e in answer["events"][:2]]


def notebook_client(run: Run, server: Server, after: str | None) -> None:
    """The build context manager reports a whole build, the emit is stored, then the block
    follows build:* until stopped: it prints what comes."""

    def types() -> list[str]:
        return [e["type"] for e in server.events("build:42", after)]

    run.until(lambda: "build.completed" in types())
    assert types() == ["build.started", "build.progress", "build.progress", "build.completed"]
    run.until(lambda: [e["data"] for e in server.events("idea:7", after)] == [{"commit": "a1b2c3"}])

    def printed() -> bool:  # emitted until the subscriber (connecting meanwhile) shows one
        server.post(
            "omniforge/api/events",
            {
                "channel": "build:43",
                "type": "build.progress",
                "data": {"percent": 5, "message": "seen by the subscriber"},
            },
        )
        return "seen by the subscriber" in run.stdout()

    run.until(printed)
    run.stop()


def shell_watch(run: Run, server: Server, after: str | None) -> None:
    """`watch` follows build:42 until the build ends: the test completes it, then the block
    goes on to `history`."""
    run.until(lambda: "build.started" in [e["type"] for e in server.events("build:42", after)])
    server.post("omniforge/api/events", {"channel": "build:42", "type": "build.completed"})
    succeeds(run)
    history = [json.loads(line) for line in run.stdout().splitlines() if line.startswith("{")]
    assert history and history[-1]["type"] == "build.completed", run.report()
    assert all(event["channel"] == "build:42" for event in history)


def shell_run(run: Run, server: Server, after: str | None) -> None:
    """`omniforge run` reports a command that succeeds and one that fails (whose status the
    block prints)."""
    succeeds(run)
    assert "compiling\nlinking\n" in run.stdout(), run.report()
    assert "exit status 3" in run.stdout(), run.report()
    nightly = server.events("build:44", after)
    types = [e["type"] for e in nightly]
    assert (types[0], types[-1]) == ("build.started", "build.completed"), types
    assert nightly[0]["data"]["name"] == "nightly" and "compiling" in nightly[0]["data"]["command"]
    log = [line for e in nightly if e["type"] == "build.progress" for line in e["data"]["log"]]
    assert log == ["compiling", "linking"]
    failed = server.events("build:45", after)[-1]
    assert failed["type"] == "build.failed", failed
    assert failed["data"]["exit_code"] == 3 and failed["data"]["error"] == "2 tests failed"


def app_client(run: Run, server: Server, after: str | None) -> None:
    succeeds(run)
    orders = [
        e
        for e in server.events("order:42", after, prefix="inventory/")
        if e["type"].startswith("order.")
    ]
    assert [(e["type"], e["data"]) for e in orders] == [("order.placed", {"total": 12})]
    until(lambda: "two bolts" in server.room_text("inventory/order:42", "notes"), timeout=10)


def tqdm_bar(run: Run, server: Server, after: str | None) -> None:
    """The bar's loop is mirrored into build:train-7, from its first display to its close."""
    succeeds(run)
    events = server.events("build:train-7", after)
    types = [e["type"] for e in events]
    assert (types[0], types[-1]) == ("build.started", "build.completed"), types
    assert events[0]["data"]["message"] == "train"
    last = [e["data"] for e in events if e["type"] == "build.progress"][-1]
    assert last["percent"] == 100 and "100/100" in last["message"], last


def pytest_session(run: Run, server: Server, after: str | None) -> None:
    """The test session is reported on build:ci-123: how many tests, and the summary."""
    succeeds(run)
    assert "1 passed" in run.stdout(), run.report()
    events = server.events("build:ci-123", after)
    assert events[0]["type"] == "build.started", events
    assert events[0]["data"] == {"message": "1 test collected", "tests": 1}
    assert events[-1]["type"] == "build.completed", events
    assert events[-1]["data"]["message"].startswith("1 passed in ")


def story(block: Block) -> Callable[[Run, Server, str | None], None]:
    """How to check ``block`` (given the id of the last event before it ran), chosen by what
    it does."""
    code = block.code
    if block.lang == "js" and "WebsocketProvider" in code:
        return yjs_client
    if block.lang == "python" and "connect_room(" in code:
        return pycrdt_client
    if block.lang == "bash" and "x-ndjson" in code:
        return emits_batch
    if block.lang == "bash" and "omniforge/api/events" in code:
        return emits
    if block.lang == "python" and ".subscribe(" in code:
        return notebook_client
    if block.lang == "bash" and "omniforge watch" in code:
        return shell_watch
    if block.lang == "bash" and "omniforge run" in code:
        return shell_run
    if block.lang == "python" and "InventoryClient(" in code:
        return app_client
    if block.lang == "python" and "jupyter_omniforge.tqdm" in code:
        return tqdm_bar
    if block.lang == "bash" and "pytest" in code and "--omniforge" in code:
        return pytest_session
    return lambda run, server, after: succeeds(run)


#: Checks that fail until a fix elsewhere lands (strict: they must fail until then).
#: Stories a known bug still breaks (none now), as an xfail(strict) with the reason.
KNOWN_FAILURES: dict[Any, str] = {}


def cases() -> Iterator[Any]:
    for block in BLOCKS:
        if not (block.lang in RUNNABLE or block.skip or block.shown_from):
            continue  # output or a tree, not code
        marks = []
        if block.skip:
            marks.append(pytest.mark.skip(reason=f"README line {block.line}: {block.skip}"))
        elif block.shown_from:
            pass
        elif block.lang == "js" and (shutil.which("node") is None or not JS_MODULES.is_dir()):
            marks.append(pytest.mark.skip(reason="needs node and `npm ci --prefix tests/js`"))
        elif (reason := KNOWN_FAILURES.get(story(block))) is not None:
            marks.append(pytest.mark.xfail(strict=True, reason=reason))
        yield pytest.param(block, id=block.id, marks=marks)


@pytest.mark.parametrize("block", list(cases()))
def test_readme_block(block: Block, server: Server, tmp_path: Path) -> None:
    if block.shown_from:
        assert block.code in (ROOT / block.shown_from).read_text(), (
            f"README line {block.line} is not (any longer) what {block.shown_from} holds"
        )
        return
    check = story(block)
    after = server.last_event_id()
    run = Run(block, server, tmp_path)
    try:
        check(run, server, after)
    finally:
        run.stop()
