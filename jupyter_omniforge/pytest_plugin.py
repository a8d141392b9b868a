"""The pytest plugin of jupyter_omniforge (a ``pytest11`` entry point: installed with the package).

**Reporting a test run**, only when asked for: ``pytest --omniforge build:ci-123`` reports the
session on that channel: ``build.started`` with the number of tests collected, ``build.progress``
as tests finish (percent done, the running test's node id; at most 5 events a second), each
failure in the run's log with its short traceback, and ``build.completed`` or ``build.failed``
with pytest's summary (``"1 failed, 3 passed in 2.10s"``). The server is the one
``OMNIFORGE_URL`` and ``OMNIFORGE_TOKEN`` name, or the Jupyter server found as
:func:`~jupyter_omniforge.client.discovery.find_server` says. Without the option, nothing of this
is loaded; an unreachable server is one warning in the summary, never a failed test.

**Fixtures** for testing apps built on OmniForge, on top of pytest-jupyter (load its server
plugin: ``pytest_plugins = ["pytest_jupyter.jupyter_server"]`` in ``conftest.py``). Requesting
any of them starts pytest-jupyter's ``jp_serverapp`` with jupyter_omniforge enabled, on top of
whatever ``jp_server_config`` the tests give:

- ``omniforge_app``: the running extension (``OmniForgeApp``);
- ``omniforge_url`` / ``omniforge_token``: where the live server listens, and its token;
- ``omniforge_room``: ``async with omniforge_room("idea:1") as room:`` a pycrdt ``Doc``
  (``room.doc``) kept in sync with the room (:func:`~jupyter_omniforge.client.connect_room`);
- ``omniforge_events``: ``events = await omniforge_events("build:*")`` subscribes, and
  ``await events.wait_for("build.completed")`` waits for what it collects (``events.envelopes``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pycrdt import Doc

    from .client.events import OmniForge
    from .client.mirror import RunMirror
    from .client.rooms import RoomConnection

#: How long the end of a session waits for the last events to reach the server.
FINISH_TIMEOUT = 10.0

# -- reporting a session -------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("omniforge", "report the run to an OmniForge server")
    group.addoption(
        "--omniforge",
        metavar="CHANNEL",
        dest="omniforge_channel",
        default=None,
        help="report this test session on CHANNEL (build:{id} or deployment:{id}) of the "
        "OmniForge server in OMNIFORGE_URL/OMNIFORGE_TOKEN (or the running Jupyter server)",
    )


def pytest_configure(config: pytest.Config) -> None:
    channel = config.getoption("omniforge_channel", None)
    # Under pytest-xdist the controller reports the whole session; its workers report nothing.
    if channel is None or hasattr(config, "workerinput"):
        return
    from .client.mirror import RunMirror

    try:
        mirror = RunMirror(channel)
    except ValueError as e:
        raise pytest.UsageError(f"--omniforge: {e}") from None
    config.pluginmanager.register(SessionReporter(mirror), "omniforge-reporter")


class SessionReporter:
    """Reports one pytest session through a :class:`~jupyter_omniforge.client.mirror.RunMirror`."""

    def __init__(self, mirror: RunMirror) -> None:
        self.mirror = mirror
        self.started_at = time.monotonic()
        self.total = 0
        self.done = 0
        #: outcome -> count, in the words of pytest's summary ("failed", "passed", "error"…)
        self.counts: dict[str, int] = {}

    def pytest_sessionstart(self) -> None:
        self.started_at = time.monotonic()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = len(session.items)
        tests = "test" if self.total == 1 else "tests"
        self.mirror.start(f"{self.total} {tests} collected", tests=self.total)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.mirror.progress(self._percent(), nodeid)

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self.done += 1
        self.mirror.progress(self._percent(), nodeid)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Iterator[None]:
        report = yield
        if report.failed and call.excinfo is not None:
            report._omniforge_traceback = _short_traceback(item, call.excinfo)
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome = _outcome(report)
        if outcome is not None:
            self.counts[outcome] = self.counts.get(outcome, 0) + 1
        if report.failed:
            what = "FAILED" if report.when == "call" else f"ERROR at {report.when} of"
            text = getattr(report, "_omniforge_traceback", None) or report.longreprtext
            self.mirror.log(f"{what} {report.nodeid}\n{text}".rstrip())

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.counts["error"] = self.counts.get("error", 0) + 1
            self.mirror.log(f"ERROR collecting {report.nodeid}\n{report.longreprtext}".rstrip())

    def pytest_sessionfinish(self, exitstatus: int) -> None:
        summary = self.summary()
        if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            self.mirror.finish(None, message=summary)
        else:
            failures = any(self.counts.get(o) for o in ("failed", "error"))
            reason = pytest.ExitCode(exitstatus).name.lower().replace("_", " ")
            error = summary if failures else f"{reason}: {summary}"
            self.mirror.finish(error, message=summary)
        self.mirror.join(FINISH_TIMEOUT)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.mirror.problem:
            terminalreporter.write_line(f"omniforge: {self.mirror.problem}", yellow=True)

    def summary(self) -> str:
        """pytest's summary line: ``"1 failed, 3 passed in 2.10s"``."""
        order = ("failed", "passed", "skipped", "xfailed", "xpassed", "error")
        parts = []
        for outcome in order:
            count = self.counts.get(outcome, 0)
            if count:
                word = "errors" if outcome == "error" and count > 1 else outcome
                parts.append(f"{count} {word}")
        elapsed = time.monotonic() - self.started_at
        return f"{', '.join(parts) or 'no tests ran'} in {elapsed:.2f}s"

    def _percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 0.0


def _outcome(report: pytest.TestReport) -> str | None:
    """What the report adds to the summary, in its words; None for a phase that adds nothing."""
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed" if report.when == "call" else None
    if report.failed:
        return "failed" if report.when == "call" else "error"
    if report.skipped:
        return "skipped"
    return "passed" if report.when == "call" else None


def _short_traceback(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """The failure as ``--tb=short`` prints it, whatever the session's ``--tb`` is."""
    # pytest's own pruning of its frames (pytest 8); without it, __tracebackhide__ only.
    prune = getattr(item, "_traceback_filter", None)
    try:
        return str(excinfo.getrepr(style="short", tbfilter=prune if callable(prune) else True))
    except Exception:  # an older pytest: the report's own text is used
        return ""


# -- fixtures ------------------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> None:
    """Enable jupyter_omniforge in ``jp_server_config`` just before pytest-jupyter starts
    ``jp_serverapp`` for a test that uses these fixtures (whatever order it requests them in)."""
    if fixturedef.argname == "jp_serverapp" and "omniforge_app" in request.fixturenames:
        config = request.getfixturevalue("jp_server_config")
        server = config.setdefault("ServerApp", {})
        server.setdefault("jpserver_extensions", {})["jupyter_omniforge"] = True


@pytest.fixture
def omniforge_app(jp_serverapp: Any) -> Any:
    """The running jupyter_omniforge extension (its ``OmniForgeApp``) of ``jp_serverapp``."""
    app = jp_serverapp.web_app.settings.get("omniforge")
    if app is None:
        pytest.fail(
            "jupyter_omniforge is not loaded in jp_serverapp: it was started before "
            "omniforge_app could enable it (request omniforge_app through a fixture argument, "
            "not request.getfixturevalue after the server started), or jp_server_config "
            "disables it",
            pytrace=False,
        )
    return app


@pytest.fixture
def omniforge_url(omniforge_app: Any, http_server: Any, jp_http_port: int, jp_base_url: str) -> str:
    """``http://127.0.0.1:{port}{base_url}`` of the live test server, listening."""
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}"


@pytest.fixture
def omniforge_token(omniforge_app: Any, jp_serverapp: Any) -> str:
    """The test server's token (its owner's): ``Authorization: token {omniforge_token}``."""
    return jp_serverapp.identity_provider.token


@pytest.fixture
def omniforge_room(
    omniforge_url: str, omniforge_token: str
) -> Callable[..., AbstractAsyncContextManager[RoomConnection]]:
    """``async with omniforge_room("idea:1") as room:`` a connected pycrdt client of the room:
    ``room.doc`` (a new ``Doc``, or the ``doc=`` given) is synced when the block starts, and
    leaving it waits until the server holds every edit (see ``connect_room``)."""
    from pycrdt import Doc

    from .client.rooms import connect_room

    def open_room(
        room: str, doc: Doc | None = None, *, timeout: float = 10
    ) -> AbstractAsyncContextManager[RoomConnection]:
        return connect_room(
            omniforge_url,
            room,
            Doc() if doc is None else doc,
            token=omniforge_token,
            timeout=timeout,
        )

    return open_room


class EventCollector:
    """The envelopes of a live subscription, in the server's order (``envelopes``)."""

    def __init__(self, forge: OmniForge, channels: str | list[str]) -> None:
        self.forge = forge
        self.channels = channels
        self.envelopes: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout: float) -> EventCollector:
        """Subscribe; return once the server confirmed it (every later event is collected)."""
        self._task = asyncio.ensure_future(self._collect())
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"the subscription to {self.channels} was not confirmed within {timeout}s"
            ) from None
        if self._task.done():
            self._task.result()  # the subscription was refused: raise why
        return self

    async def _collect(self) -> None:
        try:
            async for envelope in self.forge.subscribe(self.channels, ready=self._ready):
                if "id" in envelope:  # not a reset: a fresh subscription has nothing to miss
                    self.envelopes.append(envelope)
                    self._arrived.set()
        finally:
            self._ready.set()  # a subscription that failed wakes start(), which raises why

    def of_type(self, type: str) -> list[dict[str, Any]]:
        """The envelopes collected so far of event type ``type`` (``"build.completed"``)."""
        return [e for e in self.envelopes if e["type"] == type]

    async def wait_for(
        self, type: str | None = None, *, count: int = 1, timeout: float = 10
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` envelopes (of ``type``, if given) are collected; return them
        all. Raises ``TimeoutError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.envelopes if type is None else self.of_type(type)
            if len(found) >= count:
                return found
            if self._task is not None and self._task.done():
                self._task.result()  # the subscription ended: raise why
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"{len(found)} of {count} {type or 'events'} on {self.channels} within "
                    f"{timeout}s; collected: {[e['type'] for e in self.envelopes]}"
                )
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                pass

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # or the error a test already saw
                pass
        await self.forge.aclose()


@pytest.fixture
def omniforge_events(
    omniforge_url: str, omniforge_token: str, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> Iterator[Callable[..., Awaitable[EventCollector]]]:
    """``events = await omniforge_events("build:*")``: a subscription (names or patterns) that
    collects what arrives in ``events.envelopes``; ``await events.wait_for("build.completed")``.
    Returns once the server confirmed it, so every event emitted afterwards is collected.
    Closed when the test ends."""
    from .client.events import OmniForge

    collectors: list[EventCollector] = []

    async def subscribe(channels: str | list[str], *, timeout: float = 10) -> EventCollector:
        collector = EventCollector(OmniForge(omniforge_url, omniforge_token), channels)
        collectors.append(collector)
        return await collector.start(timeout)

    yield subscribe
    if collectors and not jp_asyncio_loop.is_closed():
        jp_asyncio_loop.run_until_complete(asyncio.gather(*(c.close() for c in collectors)))
