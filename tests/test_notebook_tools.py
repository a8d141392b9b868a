"""Builds from the tools people already use, against a real server: a tqdm bar, a notebook cell
(``%%omniforge``), a pytest session (``--omniforge``), and the pytest fixtures a third party's
tests get from the plugin.

The in-process test server shares this test's event loop: code that reports synchronously
(a bar's loop) runs in a thread, and IPython and pytest run as subprocesses awaited
asynchronously, so the server answers them meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from jupyter_omniforge.client import OmniForge
from jupyter_omniforge.tqdm import tqdm

from .conftest import fetch_json, wait_for

ENDED = ("build.completed", "build.failed")


@pytest.fixture
def forge(server_url: str, token: str) -> OmniForge:
    return OmniForge(server_url, token)


@pytest.fixture
def reporting_env(server_url: str, token: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process' environment pointing at the test server (for bars made here), and the
    same for subprocesses, without the developer's own Jupyter session variables."""
    monkeypatch.setenv("OMNIFORGE_URL", server_url)
    monkeypatch.setenv("OMNIFORGE_TOKEN", token)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "PYTEST_"))}
    return {**env, "OMNIFORGE_URL": server_url, "OMNIFORGE_TOKEN": token}


async def run_ended(forge: OmniForge, channel: str, timeout: float = 30) -> list[dict[str, Any]]:
    """The events of ``channel`` once its run has ended (completed or failed)."""

    async def ended() -> list[dict[str, Any]] | None:
        events = await forge.ahistory(channel, limit=1000)
        return events if events and events[-1]["type"] in ENDED else None

    try:
        return await wait_for(ended, timeout=timeout, interval=0.05)
    finally:
        await forge.aclose()


async def run(*args: Any, env: dict[str, str], cwd: Path, timeout: float = 120) -> tuple[int, str]:
    """Run a subprocess without blocking the test server; its exit code and output."""
    proc = await asyncio.create_subprocess_exec(
        *map(str, args),
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, out.decode(errors="replace")


# -- tqdm ----------------------------------------------------------------------------------------


async def test_a_tqdm_loop_is_mirrored_into_its_build_room_at_most_5_events_a_second(
    reporting_env: dict[str, str], forge: OmniForge, server_url: str, token: str
) -> None:
    def train() -> float:
        started = time.monotonic()
        # mininterval=0: the bar refreshes on every step, 150 times in about 1.5 s
        for _ in tqdm(range(150), omniforge="build:train-7", desc="train", mininterval=0):
            time.sleep(0.01)
        return time.monotonic() - started

    elapsed = await asyncio.to_thread(train)
    events = await run_ended(forge, "build:train-7")

    types = [e["type"] for e in events]
    assert types[0] == "build.started" and types[-1] == "build.completed"
    assert events[0]["data"]["message"] == "train"
    # started, one progress per 200 ms, and the final state and end sent at once
    assert len(events) <= 5 * elapsed + 3, (elapsed, types)
    progress = [e["data"] for e in events if e["type"] == "build.progress"]
    assert len(progress) >= 4, types  # it reported while the loop ran, not only at the end
    percents = [p["percent"] for p in progress]
    assert percents == sorted(percents) and 0 < percents[0] < 100
    assert progress[-1]["percent"] == 100 and "150/150" in progress[-1]["message"]
    # The build room holds the run's live state, for a late joiner.
    _, room = await fetch_json(f"{server_url}omniforge/api/rooms/build:train-7", token=token)
    assert room["content"]["status"]["state"] == "completed"


async def test_a_tqdm_loop_that_raises_fails_its_build_with_the_reason(
    reporting_env: dict[str, str], forge: OmniForge
) -> None:
    def broken_loader():
        yield from range(5)
        raise KeyError("shard-3")

    def loops() -> None:
        with pytest.raises(KeyError):
            for _ in tqdm(broken_loader(), omniforge="build:loader"):
                pass
        with pytest.raises(ValueError):
            for step in tqdm(range(100), omniforge="build:body"):
                if step == 37:
                    raise ValueError("nan loss")
        with pytest.raises(RuntimeError), tqdm(total=10, omniforge="build:manual") as bar:
            bar.update(4)
            raise RuntimeError("disk full")
        for _ in tqdm(range(3), omniforge="build:fine"):
            pass

    await asyncio.to_thread(loops)
    failed = {}
    for channel in ("build:loader", "build:body", "build:manual", "build:fine"):
        events = await run_ended(OmniForge(forge.url, forge.token), channel)
        failed[channel] = events[-1]["data"].get("error")
    assert failed == {
        "build:loader": "KeyError: 'shard-3'",
        # An exception in the loop's body never reaches the bar: it sees the loop stop short.
        "build:body": "stopped at 37/100",
        "build:manual": "RuntimeError: disk full",
        "build:fine": None,
    }
    await forge.aclose()


async def test_an_unresponsive_server_never_slows_the_loop_and_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A server that accepts connections and never answers: each request would hang.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
    monkeypatch.setenv("OMNIFORGE_URL", url)
    monkeypatch.setenv("OMNIFORGE_TOKEN", "nobody")
    caplog.set_level(logging.WARNING, "jupyter_omniforge.client.mirror")

    def loops() -> tuple[float, list[tqdm]]:
        started = time.monotonic()
        bars = [tqdm(range(50), omniforge=f"build:offline-{i}", mininterval=0) for i in (1, 2)]
        for bar in bars:
            for _ in bar:
                time.sleep(0.002)
        return time.monotonic() - started, bars

    elapsed, bars = await asyncio.to_thread(loops)
    assert elapsed < 2, elapsed  # 0.2 s of sleeping; the mirrors wait on their own threads
    silent.close()  # the pending requests are refused now: the mirrors give up
    for bar in bars:
        assert await asyncio.to_thread(bar.omniforge.join, 30)
        assert bar.omniforge.problem and url in bar.omniforge.problem
    warnings = [r.getMessage() for r in caplog.records if url in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "progress is not mirrored" in warnings[0]


def test_without_tqdm_the_import_says_what_to_install() -> None:
    code = "import sys; sys.modules['tqdm'] = None; import jupyter_omniforge.tqdm"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: jupyter_omniforge.tqdm needs tqdm"), result.stderr
    assert "pip install 'jupyter_omniforge[tqdm]'" in last


def test_a_bar_refuses_a_channel_that_is_not_a_run() -> None:
    with pytest.raises(ValueError, match="expected build:"):
        tqdm(range(3), omniforge="idea:1")


# -- %%omniforge ---------------------------------------------------------------------------------

NOTEBOOK = """
import sys
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
shell.run_line_magic("colors", "nocolor")
# What ipykernel sets in a notebook's kernel (from JPY_SESSION_NAME).
shell.user_ns["__session__"] = "/home/ana/work/Daily report (v2).ipynb"
cells = [
    "%load_ext jupyter_omniforge",
    "%%omniforge build:cell-ok\\nimport sys\\nfor i in range(3):\\n    print('step', i)\\n"
    "print('warn', file=sys.stderr)\\n",
    "%%omniforge build:cell-bad\\nprint('before')\\nraise ValueError('bad input')\\n",
    "%%omniforge\\nprint('anonymous')\\n",
    "%%omniforge idea:1\\nprint('never')\\n",
]
for cell in cells:
    result = shell.run_cell(cell, store_history=True)
    print(f"[{cell.splitlines()[0]}: {result.success}]")
"""


async def test_a_cell_runs_as_a_build_its_output_logged_and_its_exception_failing_it(
    reporting_env: dict[str, str], forge: OmniForge, tmp_path: Path
) -> None:
    code, out = await run(sys.executable, "-c", NOTEBOOK, env=reporting_env, cwd=tmp_path)
    assert code == 0, out
    # The cells still print, and a failing cell still shows its exception and fails.
    assert "step 2" in out and "warn" in out and "anonymous" in out
    assert "ValueError: bad input" in out
    assert "[%%omniforge build:cell-ok: True]" in out
    assert "[%%omniforge build:cell-bad: False]" in out
    assert "UsageError" in out and "[%%omniforge idea:1: False]" in out

    ok = await run_ended(OmniForge(forge.url, forge.token), "build:cell-ok")
    assert (ok[0]["type"], ok[-1]["type"]) == ("build.started", "build.completed")
    assert log_lines(ok) == ["step 0", "step 1", "step 2", "warn"]

    bad = await run_ended(OmniForge(forge.url, forge.token), "build:cell-bad")
    assert bad[-1]["type"] == "build.failed"
    assert bad[-1]["data"]["error"] == "ValueError: bad input"
    assert "before" in log_lines(bad)

    # Without a channel: named after the notebook and the cell (In [4]).
    anonymous = await run_ended(forge, "build:Daily-report-v2-4")
    assert anonymous[-1]["type"] == "build.completed"
    assert "anonymous" in log_lines(anonymous)


def log_lines(events: list[dict]) -> list[str]:
    """The output lines a run's progress events carry in their ``log``, in order."""
    return [
        line for e in events if e["type"].endswith(".progress") for line in e["data"].get("log", [])
    ]


# -- pytest --------------------------------------------------------------------------------------

SUITE = """
import time
import pytest

def test_one():
    time.sleep(0.05)

def test_two():
    pass

def expect_two(x):
    assert x == 2, "x is not two"

def test_broken():
    expect_two(1)

@pytest.mark.skip(reason="later")
def test_later():
    pass

def test_last():
    pass
"""


async def test_pytest_omniforge_reports_the_session_as_a_build(
    reporting_env: dict[str, str], forge: OmniForge, tmp_path: Path
) -> None:
    (tmp_path / "test_suite.py").write_text(SUITE)
    pytest_cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_suite.py"]
    code, out = await run(*pytest_cmd, "--omniforge", "build:ci-1", env=reporting_env, cwd=tmp_path)
    assert code == 1, out  # the suite's own outcome, unchanged
    assert "1 failed, 3 passed, 1 skipped" in out
    assert "omniforge:" not in out  # no complaint: it was reported

    events = await run_ended(forge, "build:ci-1")
    started, *progress, end = events
    assert started["type"] == "build.started"
    assert started["data"] == {"message": "5 tests collected", "tests": 5}
    assert {e["type"] for e in progress} == {"build.progress"}
    percents = [e["data"]["percent"] for e in progress]
    assert percents == sorted(percents) and percents[-1] == 100
    messages = "\n".join(log_lines(progress))
    # The failure, with its short traceback (the suite ran with pytest's default --tb=auto).
    assert "FAILED test_suite.py::test_broken\ntest_suite.py:15: in test_broken" in messages
    assert "E   AssertionError: x is not two" in messages
    assert end["type"] == "build.failed"
    assert end["data"]["error"].startswith("1 failed, 3 passed, 1 skipped in ")


async def test_pytest_without_the_option_reports_nothing_and_a_bad_channel_is_a_usage_error(
    reporting_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "test_ok.py").write_text("def test_ok():\n    pass\n")
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_ok.py"]
    code, out = await run(*base, env=reporting_env, cwd=tmp_path)
    assert code == 0 and "1 passed" in out, out
    code, out = await run(*base, "--omniforge", "idea:1", env=reporting_env, cwd=tmp_path)
    assert code == pytest.ExitCode.USAGE_ERROR, out
    assert "--omniforge: 'idea:1' is not a run's channel" in out


def test_the_plugin_costs_nothing_until_asked() -> None:
    # Loaded by every pytest run where jupyter_omniforge is installed: no client, no server.
    code = (
        "import sys, jupyter_omniforge.pytest_plugin\n"
        "heavy = [m for m in ('httpx', 'tornado', 'pycrdt', 'jupyter_server') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


THIRD_PARTY_CONFTEST = """
pytest_plugins = ["pytest_jupyter.jupyter_server"]
"""

THIRD_PARTY_TESTS = """
import pytest
from pycrdt import Text

from jupyter_omniforge.client import OmniForge


@pytest.fixture
def jp_server_config():  # your settings; the fixtures add jupyter_omniforge to them
    return {"OmniForgeApp": {"room_idle_timeout": 0.3}}


async def test_an_edit_is_on_the_server_when_the_block_ends(omniforge_room):
    async with omniforge_room("idea:1") as room:
        room.doc.get("code", type=Text).insert(0, "hello")
    async with omniforge_room("idea:1") as again:
        assert str(again.doc.get("code", type=Text)) == "hello"


async def test_a_subscriber_sees_a_build(omniforge_events, omniforge_url, omniforge_token):
    events = await omniforge_events("build:*")
    async with OmniForge(omniforge_url, omniforge_token) as forge:
        await forge.aemit("build:7", "build.started", {"message": "go"})
    (started,) = await events.wait_for("build.started")
    assert started["channel"] == "build:7"


async def test_the_settings_and_pytest_jupyters_fixtures(jp_fetch, omniforge_app):
    assert omniforge_app.room_idle_timeout == 0.3
    response = await jp_fetch("omniforge", "health", "ready")
    assert response.code == 200


async def test_a_wait_that_is_not_met_fails(omniforge_events):
    events = await omniforge_events(["deployment:*"])
    with pytest.raises(TimeoutError, match="0 of 1 deployment.completed"):
        await events.wait_for("deployment.completed", timeout=0.3)


async def test_a_refused_subscription_says_why(omniforge_events):
    from jupyter_omniforge.client import SubscriptionRefused

    with pytest.raises(SubscriptionRefused, match="nope"):
        await omniforge_events("nope:*")
"""


def test_the_fixtures_serve_a_third_partys_tests(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(textwrap.dedent(THIRD_PARTY_CONFTEST))
    (tmp_path / "test_app.py").write_text(textwrap.dedent(THIRD_PARTY_TESTS))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNIFORGE_", "PYTEST_"))}
    result = subprocess.run(
        # The plugin comes from its pytest11 entry point: nothing names it here.
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_app.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "5 passed" in result.stdout
