"""The build feed of JupyterLab on one server of a cluster shows the builds run through another:
two servers share one Redis (its own redis-server on a free port), whose event ids are opaque
strings (``{ms}-{seq}@{epoch}``), not the numbers of a lone server."""

from __future__ import annotations

import asyncio
import json
import shutil
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.cluster import RedisProcess
from tests.conftest import ServerProcess

from .conftest import BROWSER_MISSING, LabServer

if BROWSER_MISSING:
    pytest.skip(BROWSER_MISSING, allow_module_level=True)
if shutil.which("redis-server") is None:
    pytest.skip("redis-server is not installed", allow_module_level=True)

from playwright.sync_api import expect  # after the skip: it may not be installed


def emit(server: ServerProcess, channel: str, type_: str, data: dict | None = None) -> dict:
    request = urllib.request.Request(
        server.url + "omniforge/api/events",
        method="POST",
        data=json.dumps({"channel": channel, "type": type_, "data": data or {}}).encode(),
        headers={"Authorization": f"token {server.token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        return json.loads(response.read())


@pytest.fixture
def redis(tmp_path: Path):
    server = RedisProcess(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def other_server(tmp_path: Path, redis: RedisProcess):
    """Server B: a `jupyter server` of the same cluster (same Redis, its own database)."""
    server = ServerProcess(
        tmp_path / "b-root",
        tmp_path / "b-db" / "omniforge.sqlite",
        [f"--OmniForgeApp.redis_url={redis.url}"],
    )
    # Its start is asyncio; Playwright's sync API keeps its own loop running in this thread.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, server.start()).result(90)
    yield server
    server.stop()


def test_the_feed_shows_builds_emitted_on_another_server(
    lab_server, new_user, redis: RedisProcess, other_server: ServerProcess
) -> None:
    lab: LabServer = lab_server([f"--OmniForgeApp.redis_url={redis.url}"])
    user = new_user(lab).open()
    sidebar = user.show_sidebar()
    expect(sidebar.locator(".jp-OmniForge-feed")).to_contain_text("No builds or deployments yet.")

    first = emit(other_server, "build:cluster-1", "build.started", {"message": "make"})
    assert "@" in first["id"], first  # the premise: a Redis stream id, not a number
    row = user.run("build:cluster-1")
    bar = row.get_by_role("progressbar")
    expect(row).to_have_attribute("data-state", "running")
    emit(other_server, "build:cluster-1", "build.progress", {"percent": 40, "message": "compiling"})
    expect(bar).to_have_attribute("aria-valuenow", "40")
    expect(row).to_contain_text("compiling")
    emit(other_server, "build:cluster-1", "build.progress", {"percent": 90, "message": "linking"})
    expect(bar).to_have_attribute("aria-valuenow", "90")
    emit(other_server, "build:cluster-1", "build.completed", {"duration": 2.0})
    expect(row).to_have_attribute("data-state", "completed")
    expect(bar).to_have_attribute("aria-valuenow", "100")
    row.get_by_role("button", name="Show log").click()
    expect(row.locator(".jp-OmniForge-run-log li")).to_have_count(4)

    # Server A goes away while B carries on; back, the feed resumes from the last id it saw:
    # what it missed arrives, nothing twice, without a reload. (JupyterLab itself may report a
    # failed request while its server is down: errors are checked before and after.)
    assert not user.errors, user.errors
    lab.stop()
    emit(other_server, "build:cluster-2", "build.started", {})
    emit(other_server, "build:cluster-2", "build.progress", {"percent": 55, "message": "tests"})
    lab.start()
    missed = user.run("build:cluster-2")
    expect(missed.get_by_role("progressbar")).to_have_attribute(
        "aria-valuenow", "55", timeout=30_000
    )
    expect(row.locator(".jp-OmniForge-run-log li")).to_have_count(4)
    # Newest activity first.
    channels = sidebar.locator(".jp-OmniForge-run").evaluate_all(
        "rows => rows.map(r => r.dataset.channel)"
    )
    assert channels.index("build:cluster-2") < channels.index("build:cluster-1"), channels

    # A new page: the history (oldest first from the server) and the live stream overlap;
    # each event is shown once, and the runs are in the order they happened.
    user.reload()
    user.errors.clear()
    sidebar = user.show_sidebar()
    expect(user.run("build:cluster-1")).to_have_attribute("data-state", "completed")
    user.run("build:cluster-1").get_by_role("button", name="Show log").click()
    log = user.run("build:cluster-1").locator(".jp-OmniForge-run-log li")
    expect(log).to_have_count(4)
    expect(log.nth(0)).to_contain_text("build.started")
    expect(log.nth(3)).to_contain_text("build.completed")
    emit(other_server, "build:cluster-2", "build.completed", {})
    expect(user.run("build:cluster-2")).to_have_attribute("data-state", "completed")
    channels = sidebar.locator(".jp-OmniForge-run").evaluate_all(
        "rows => rows.map(r => r.dataset.channel)"
    )
    assert channels.index("build:cluster-2") < channels.index("build:cluster-1"), channels
    assert not user.errors, user.errors
