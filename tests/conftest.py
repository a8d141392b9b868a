"""Shared fixtures: a real Jupyter server (pytest-jupyter) with the extension, and real clients."""

from __future__ import annotations

import asyncio
import faulthandler
import functools
import gc
import logging
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_core.utils import ensure_event_loop
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.ioloop import IOLoop
from tornado.simple_httpclient import HTTPTimeoutError

from jupyter_omniforge.client.rooms import open_connection
from jupyter_omniforge.handlers import fastpath

pytest_plugins = ["pytest_jupyter.jupyter_server"]

#: Whether the servers the tests start read and write through jupyter_omniforge's fast path
#: (CI also runs the suite with OMNIFORGE_TORNADO_FAST_PATH=0: Tornado's stock path).
FAST_PATH = os.environ.get("OMNIFORGE_TORNADO_FAST_PATH", "1") != "0" and fastpath.PROBE.ok
fast_path_only = pytest.mark.skipif(
    not FAST_PATH, reason="a property of the fast path (OMNIFORGE_TORNADO_FAST_PATH=0 here)"
)

HERE = Path(__file__).parent


@pytest.fixture
def jp_asyncio_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """pytest-jupyter's event loop, torn down after every other fixture of the test. Closed
    through Tornado's IOLoop for it (Tornado keeps the IOLoop of a closed asyncio loop, with every
    connection it still watches, until another IOLoop is made); then the leaks are collected."""
    loop = ensure_event_loop(prefer_selector_loop=True)
    yield loop
    io_loop = IOLoop.current(instance=False)
    if io_loop is not None and io_loop.asyncio_loop is loop:
        io_loop.close()
    else:
        loop.close()
    collect_leaks()


@pytest.fixture
def omniforge_config() -> dict[str, Any]:
    """Per-test overrides of OmniForgeApp settings."""
    return {}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "db" / "omniforge.sqlite"


@pytest.fixture
def jp_server_config(omniforge_config: dict[str, Any], db_path: Path) -> dict[str, Any]:
    config = {"db_path": str(db_path), "room_idle_timeout": 0.2, **omniforge_config}
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_omniforge": True},
            # A test may name the user of a request (X-Test-User, ?user=): tests/identities.py
            "identity_provider_class": "tests.identities.NamedUsers",
        },
        "OmniForgeApp": config,
    }


@pytest.fixture
def omniforge(jp_serverapp: Any) -> Any:
    """The running extension app."""
    return jp_serverapp.web_app.settings["omniforge"]


@pytest.fixture
def token(jp_serverapp: Any) -> str:
    return jp_serverapp.identity_provider.token


@pytest.fixture
def server_url(jp_serverapp: Any, http_server: Any, jp_http_port: int, jp_base_url: str) -> str:
    """``http://127.0.0.1:PORT/a%40b/`` of the live test server (listening once requested)."""
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}"


@pytest.fixture
def ws_base(server_url: str) -> str:
    """What a y-websocket client passes as serverUrl: ``ws://…/omniforge/rooms``."""
    return "ws" + server_url[len("http") :] + "omniforge/rooms"


@pytest.fixture
def ws_connect(ws_base: str, token: str) -> Callable[..., Awaitable[Any]]:
    """Open a raw WebSocket to a room: ``await ws_connect("idea:1")``; ``user="alice"`` makes
    the connection alice's (tests/identities.py), else it is the owner's (the token's)."""
    opened: list[Any] = []

    async def connect(
        room: str,
        *,
        token_: str | None = token,
        headers: dict | None = None,
        user: str | None = None,
    ) -> Any:
        query = "&".join(
            f"{key}={value}" for key, value in (("token", token_), ("user", user)) if value
        )
        url = f"{ws_base}/{room}" + (f"?{query}" if query else "")
        conn = await open_connection(url, headers=headers)
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()


#: Closers of what helpers opened for the running test (see ``close_after_test``).
_to_close: list[Callable[[], Awaitable[None]]] = []


def close_after_test(close: Callable[[], Awaitable[None]]) -> None:
    """Have ``close()`` awaited when the running test ends, in its event loop, before the
    server stops: test clients such as tests.realtime.Gateway are closed even when the story
    does not close them (as ``ws_connect`` does for raw sockets). ``close()`` must be idempotent."""
    _to_close.append(close)


@pytest.fixture(autouse=True)
def _close_what_the_test_left_open(jp_asyncio_loop: asyncio.AbstractEventLoop | None):
    yield
    closers, _to_close[:] = list(_to_close), []
    if closers and jp_asyncio_loop is not None and not jp_asyncio_loop.is_closed():
        jp_asyncio_loop.run_until_complete(asyncio.gather(*(close() for close in closers)))


async def wait_for(
    predicate: Callable[[], Any], timeout: float = 10, interval: float = 0.01
) -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        await asyncio.sleep(interval)


async def fetch_json(
    url: str,
    *,
    method: str = "GET",
    token: str | None = None,
    body: Any = None,
    raise_error: bool = True,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    import json

    headers = {**({"Authorization": f"token {token}"} if token else {}), **(headers or {})}
    request = HTTPRequest(
        url,
        method=method,
        headers=headers,
        body=None if body is None else json.dumps(body),
        allow_nonstandard_methods=True,
    )
    response = await AsyncHTTPClient().fetch(request, raise_error=raise_error)
    text = response.body.decode() if response.body else ""
    try:
        return response.code, json.loads(text) if text else None
    except ValueError:
        return response.code, text


def _worker() -> tuple[int, int]:
    """``(index, count)`` of this pytest-xdist worker; ``(0, 1)`` outside xdist."""
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(name[2:]) if name[2:].isdigit() else 0
    return index % count, count


#: The ports :func:`free_port` gave in this process.
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nothing listens on now, for a process about to be started. Under pytest-xdist each
    worker only takes ports of its own share (``(port >> 1) % workers``; the kernel hands out
    odd ports to ``bind`` first), so two workers never pick the same port between this call and
    the bind of the process that gets it."""
    index, count = _worker()
    for _ in range(100 * count):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        # Never the same port twice in one process: three servers made in a row pick their
        # ports before the first one binds.
        if (port >> 1) % count == index and port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError(f"no free port of worker {index}'s share in {100 * count} tries")


def spawn_jupyter(
    module: str,
    *,
    home: Path,
    root: Path,
    port: int,
    token: str,
    db: Path,
    log_path: Path,
    extra: list[str],
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``python -m module`` (jupyter_server or jupyterlab) on ``port`` with the extension,
    isolated from the user's Jupyter config (config, data and runtime dirs under ``home``);
    the extension is enabled by the config file that installing the package put under
    sys.prefix. Its output goes to ``log_path``."""
    for name in ("config", "data", "runtime"):
        (home / name).mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    environment = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        **(env or {}),
    )
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                module,
                "--no-browser",
                f"--port={port}",
                "--ip=127.0.0.1",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
                "--allow-root",
                f"--OmniForgeApp.db_path={db}",
                *extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=root,
        )


def stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 20 s."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class ServerProcess:
    """A `jupyter server` subprocess with the extension, for restart and kill -9 stories."""

    def __init__(
        self,
        root: Path,
        db: Path,
        extra: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.db = db
        self.extra = extra or []
        self.env = env
        self.port = free_port()
        self.token = os.urandom(12).hex()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = root / f"server-{self.port}.log"
        self._started = False  # once ready: a restart keeps the port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def jupyter_home(self) -> Path:
        """Where this server's Jupyter config, data and runtime directories live."""
        return self.root.parent / "jupyter-home"

    @property
    def runtime_dir(self) -> Path:
        return self.jupyter_home / "runtime"

    def _spawn(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.proc = spawn_jupyter(
            "jupyter_server",
            home=self.jupyter_home,
            root=self.root,
            port=self.port,
            token=self.token,
            db=self.db,
            log_path=self.log_path,
            extra=self.extra,
            env=self.env,
        )

    def _port_taken(self) -> bool:
        """Whether the server exited at its first start because something else (a process
        outside the tests, a client's ephemeral port) took its port since :func:`free_port`:
        then it moves to another one (a restart keeps its port, and its URL)."""
        if self._started or self.proc is None or self.proc.poll() is None:
            return False
        if "is not available" not in self.log_path.read_text():
            return False
        self.port = free_port()
        self.log_path = self.root / f"server-{self.port}.log"
        return True

    async def start(self, timeout: float = 60) -> ServerProcess:
        """Start the server and wait until ``/omniforge/health/ready`` answers 200."""
        self._spawn()
        client = AsyncHTTPClient()

        async def ready() -> bool:
            if self._port_taken():
                self._spawn()
                return False
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log_path.read_text()[-4000:]}")
            try:
                r = await client.fetch(
                    self.url + "omniforge/health/ready", raise_error=False, request_timeout=2
                )
                if r.code == 404:  # the web app is up without our extension
                    raise AssertionError(
                        f"omniforge is not loaded:\n{self.log_path.read_text()[-4000:]}"
                    )
                return r.code == 200
            except (OSError, HTTPTimeoutError):  # not listening yet, or too busy to answer
                return False

        await wait_for(ready, timeout=timeout, interval=0.2)
        self._started = True
        return self

    def start_blocking(self, timeout: float = 60) -> ServerProcess:
        """``start()`` for code that has no event loop running (module-scoped fixtures)."""
        self._spawn()
        deadline = time.monotonic() + timeout
        while True:
            if self._port_taken():
                self._spawn()
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log_path.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(self.url + "omniforge/health/ready", timeout=2) as r:
                    if r.status == 200:
                        self._started = True
                        return self
            except urllib.error.HTTPError as e:
                if e.code == 404:
                    raise AssertionError(
                        f"omniforge is not loaded:\n{self.log_path.read_text()[-4000:]}"
                    ) from None
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server not ready within {timeout}s")
            time.sleep(0.2)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        stop_process(self.proc)


class _DestroyedPendingTasks(logging.Handler):
    """Keeps asyncio's "Task was destroyed but it is pending!" reports: a task that a test left
    running when its event loop went away. (pyproject.toml's filterwarnings make unclosed
    resources errors; this does the same for tasks.)"""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.reports: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Task was destroyed but it is pending"):
            self.reports.append(self.format(record))


_destroyed_pending_tasks = _DestroyedPendingTasks()
logging.getLogger("asyncio").addHandler(_destroyed_pending_tasks)


def collect_leaks() -> None:
    """Collect the garbage now, so that what a leaked object reports when it is collected (a
    ResourceWarning, an unraisable exception, a destroyed pending task) counts against the test
    that is ending, not a later one: pytest turns the first two into errors of this test's
    teardown (pyproject.toml), and this fails it for the third."""
    gc.unfreeze()  # an in-process server froze the heap (OmniForgeApp.gc_freeze)
    gc.collect()
    reports, _destroyed_pending_tasks.reports[:] = list(_destroyed_pending_tasks.reports), []
    if reports:
        pytest.fail("the test left asyncio tasks pending:\n" + "\n".join(reports), False)


#: Where the watchdog prints: the terminal's stderr, taken before pytest captures a test's.
_WATCHDOG_OUT: list[int] = [2]


def pytest_configure(config: pytest.Config) -> None:
    _WATCHDOG_OUT[0] = os.dup(2)  # capturing is suspended between conftest loading and tests


#: What makes a test module share a fixture between its tests (see ``_xdist_group``).
_SHARED_FIXTURE = re.compile(r"""scope\s*=\s*["'](module|package|class)["']""")


@functools.cache
def _xdist_group(path: str) -> str | None:
    """The group of the tests of the module at ``path`` (relative to the rootdir) that one
    pytest-xdist worker runs, None for tests any worker may run alone. The browser stories are
    one group: one Chromium and one `jupyter lab` at a time, whose timings some of them measure.
    A module with a fixture of module scope (a server, an installed app) is a group, which makes
    that fixture once."""
    if path.startswith("tests/ui/"):
        return "ui"
    try:
        source = (HERE.parent / path).read_text()
    except OSError:
        return None
    return path if _SHARED_FIXTURE.search(source) else None


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, which may not be installed
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """The README's run (pyproject.toml's addopts, ``-n 2``): xdist's ``load`` distribution, but
    the tests of one group (``_xdist_group``) go to one worker, as one unit of work; groups and
    then the slow tests are handed out first, so that none is left to run alone at the end.
    (xdist's own ``loadgroup`` marks node ids in a way pytest 9.2 no longer sees.)"""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _xdist_group(nodeid.split("::", 1)[0]) or nodeid

    return GroupScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, the slow tests first (each worker collects; the scheduler hands the
    units out in this order, the larger groups before). Without xdist the order stays as written."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """A watchdog past pytest-timeout: its signal fails a test only when the main thread runs
    Python code that lets the failure through. A test (or its teardown) that hangs anyway gets
    every thread's stack printed and ends the run, rather than stalling CI until its own limit."""
    marker = item.get_closest_marker("timeout")
    limit = float(marker.args[0]) if marker and marker.args else 120.0
    if limit > 0:  # timeout(0): no limit
        faulthandler.dump_traceback_later(2 * limit + 60, exit=True, file=_WATCHDOG_OUT[0])
    try:
        return (yield)
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Keep each phase's report on the test item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def server_process(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., ServerProcess]:
    """Factory of `jupyter server` subprocesses sharing one database file per test. When the
    test fails, the tail of each server's log is printed (pytest shows it with the failure)."""
    started: list[ServerProcess] = []

    def make(extra: list[str] | None = None, db: Path | None = None) -> ServerProcess:
        server = ServerProcess(
            tmp_path / "root", db or tmp_path / "proc-db" / "omniforge.sqlite", extra
        )
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for server in started:
            if server.log_path.exists():
                print(f"--- log of the server on port {server.port} (tail) ---")
                print(server.log_path.read_text(errors="replace")[-8000:])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A PostgreSQL server of the session's own (tests/postgres.py); skips with the reason when
    initdb/pg_ctl or psycopg are missing."""
    from .postgres import PostgresProcess, missing_reason

    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    server = PostgresProcess().start()
    yield server
    server.remove()


@pytest.fixture
def postgres_url(postgres_server: Any) -> str:
    """The URL of a fresh, empty database of its own on the session's PostgreSQL."""
    return postgres_server.create_database()
