"""Stories of the Python client and the ``jupyter omniforge`` CLI, against real servers.

The CLI runs as a subprocess against a ``jupyter server`` subprocess (``server_process``): the
in-process test server shares this test's event loop, so only async calls may reach it — the
sync client is driven from a thread there.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from pycrdt import Doc, Text

import jupyter_omniforge.client as client
from jupyter_omniforge.client import (
    AmbiguousServer,
    EditsNotConfirmed,
    EventRejected,
    NotAuthorized,
    OmniForge,
    ServerNotFound,
    connect_room,
    find_server,
)

from .conftest import fetch_json, free_port, wait_for

CLI = [sys.executable, "-m", "jupyter_omniforge.cli"]


# -- helpers -------------------------------------------------------------------------------------


def runtime_dir_of(server: Any) -> Path:
    """Where ``server`` (a ``server_process``) writes its ``jpserver-*.json`` (see conftest)."""
    return server.runtime_dir


def cli_env(runtime_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI run: no OMNIFORGE_* from the developer's shell, and a runtime
    directory of our choosing, so that discovery sees only the servers of this test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIFORGE_")}
    env.pop("JPY_PARENT_PID", None)
    env["JUPYTER_RUNTIME_DIR"] = str(runtime_dir)
    env.update(extra)
    return env


@dataclass
class Done:
    code: int
    out: str
    err: str


async def run_cli(*args: str, env: dict[str, str], argv0: list[str] = CLI) -> Done:
    proc = await asyncio.create_subprocess_exec(
        *argv0,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return Done(proc.returncode, out.decode(), err.decode())


@dataclass
class Watch:
    """A running ``jupyter omniforge watch``, its stdout lines collected as they come."""

    proc: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    err: str = ""

    @classmethod
    async def start(cls, *args: str, env: dict[str, str]) -> Watch:
        proc = await asyncio.create_subprocess_exec(
            *CLI,
            "watch",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        watch = cls(proc)
        watch._reader = asyncio.ensure_future(watch._read())
        return watch

    async def _read(self) -> None:
        async for line in self.proc.stdout:
            self.lines.append(line.decode().rstrip("\n"))

    async def finish(self, timeout: float = 30) -> int:
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await self._reader
        self.err = (await self.proc.stderr.read()).decode()
        return code


@pytest.fixture
def no_servers(tmp_path: Path) -> Path:
    """An empty Jupyter runtime directory: discovery finds no running server there."""
    path = tmp_path / "empty-runtime"
    path.mkdir()
    return path


def args_for(server: Any) -> list[str]:
    return ["--url", server.url, "--token", server.token]


# -- emit ----------------------------------------------------------------------------------------


async def test_an_event_emitted_from_the_cli_is_in_the_history(server_process, no_servers):
    server = await server_process().start()
    data = {"percent": 40, "message": "compiling"}
    done = await run_cli(
        "emit", "build:42", "build.progress", "--data", json.dumps(data),
        *args_for(server), env=cli_env(no_servers),
    )  # fmt: skip
    assert done.code == 0, done.err
    envelope = json.loads(done.out)
    assert envelope["channel"] == "build:42" and envelope["type"] == "build.progress"
    assert envelope["data"] == data and envelope["id"]

    forge = OmniForge(server.url, server.token)
    assert await forge.ahistory("build:42") == [envelope]
    # The CLI's history prints the same envelope, one JSON document per line.
    listed = await run_cli("history", "build:*", *args_for(server), env=cli_env(no_servers))
    assert [json.loads(line) for line in listed.out.splitlines()] == [envelope]


async def test_the_jupyter_omniforge_command_lists_its_subcommands_and_emits(
    server_process, no_servers
):
    server = await server_process().start()
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent))
    if jupyter is None or not (Path(jupyter).parent / "jupyter-omniforge").exists():
        pytest.skip("the jupyter-omniforge console script is not installed (pip install -e .)")
    helped = await run_cli("omniforge", "--help", env=cli_env(no_servers), argv0=[jupyter])
    assert helped.code == 0
    for command in ("emit", "watch", "history"):
        assert command in helped.out
    done = await run_cli(
        "omniforge", "emit", "deployment:7", "deployment.started", *args_for(server),
        env=cli_env(no_servers), argv0=[jupyter],
    )  # fmt: skip
    assert done.code == 0, done.err
    assert json.loads(done.out)["type"] == "deployment.started"


@pytest.mark.parametrize(
    "channel, type_, data, message",
    [
        ("build:42", "build.exploded", "{}", "unknown event type 'build.exploded'"),
        ("build:42", "build.progress", '{"percent": 140, "message": "x"}', "percent"),
        ("build:42", "build.failed", "{}", "error"),
        ("nope:42", "build.started", "{}", "nope:42"),
        ("build:42", "build.progress", "{not json", "--data is not valid JSON"),
        ("build:42", "build.progress", "[1, 2]", "--data must be a JSON object"),
    ],
)
async def test_an_invalid_event_exits_2_with_the_message_and_reaches_no_one(
    server_process, no_servers, channel, type_, data, message
):
    server = await server_process().start()
    forge = OmniForge(server.url, server.token)
    marker = await forge.aemit("build:0", "build.created")
    done = await run_cli(
        "emit", channel, type_, "--data", data, *args_for(server), env=cli_env(no_servers)
    )
    assert done.code == 2
    assert message in done.err and done.out == ""
    assert await forge.ahistory("*", after=marker["id"]) == []
    # A subscriber following from the marker on gets the next valid event, nothing before it.
    valid = await forge.aemit("build:42", "build.started")
    async for event in forge.subscribe("*", marker["id"]):
        assert event == valid
        break


async def test_an_unreachable_or_missing_server_exits_3(tmp_path, no_servers):
    dead = f"http://127.0.0.1:{free_port()}/"
    for command in (["emit", "build:1", "build.started"], ["watch", "build:1"]):
        done = await run_cli(*command, "--url", dead, "--token", "x", env=cli_env(no_servers))
        assert done.code == 3, done
        assert "cannot reach" in done.err
        done = await run_cli(*command, env=cli_env(no_servers))
        assert done.code == 3, done
        assert "no running Jupyter server" in done.err


async def test_a_wrong_token_exits_4_not_authorized(server_process, no_servers):
    server = await server_process().start()
    wrong = ["--url", server.url, "--token", "not-the-token"]
    for command in (
        ["emit", "build:1", "build.started"],
        ["history", "build:1"],
        ["watch", "build:1", "--since", "0"],
        ["watch", "build:1"],
    ):
        done = await run_cli(*command, *wrong, env=cli_env(no_servers))
        assert done.code == 4, (command, done)
        assert "not authorized" in done.err, done.err
    assert await OmniForge(server.url, server.token).ahistory("build:1") == []
    with pytest.raises(NotAuthorized) as refused:
        await OmniForge(server.url, "not-the-token").aemit("build:1", "build.started")
    assert refused.value.status == 403


async def test_config_lists_every_setting_of_the_extension(no_servers):
    from jupyter_omniforge.app import OmniForgeApp

    traits = OmniForgeApp.class_own_traits(config=True)
    assert len(traits) > 20
    done = await run_cli("config", env=cli_env(no_servers))
    assert done.code == 0, done.err
    for name in traits:
        assert f"--OmniForgeApp.{name}=" in done.out, name
    listed = await run_cli("config", "--json", env=cli_env(no_servers))
    entries = {e["name"]: e for e in map(json.loads, listed.out.splitlines())}
    assert sorted(entries) == sorted(traits)
    assert entries["commit_interval"] == {
        "name": "commit_interval",
        "type": "Float",
        "default": "0.005",
        "help": " ".join(traits["commit_interval"].help.split()),
    }
    helped = await run_cli("--help-all", env=cli_env(no_servers))
    assert helped.code == 0 and "emit" in helped.out
    assert all(f"--OmniForgeApp.{name}=" in helped.out for name in traits)


async def test_the_python_client_raises_the_servers_validation_message(server_url, token):
    forge = OmniForge(server_url, token)
    with pytest.raises(EventRejected, match="unknown event type") as refused:
        await forge.aemit("build:1", "build.exploded")
    assert refused.value.status == 400
    # The blocking client, from a thread: this server shares the test's event loop.
    with pytest.raises(EventRejected, match="percent"):
        await asyncio.to_thread(
            forge.emit, "build:1", "build.progress", {"percent": -1, "message": "x"}
        )
    assert await forge.ahistory("build:1") == []


# -- watch ---------------------------------------------------------------------------------------


async def test_watch_follows_a_build_and_exits_0_when_it_completes(server_process, no_servers):
    server = await server_process().start()
    forge = OmniForge(server.url, server.token)
    await forge.aemit("build:42", "build.started", {"message": "queued"})
    watch = await Watch.start("build:42", *args_for(server), env=cli_env(no_servers))
    # It shows the current run from history first, then follows live from there.
    await wait_for(lambda: watch.lines == ["[  0%] queued"], timeout=20)
    await forge.aemit("build:42", "build.progress", {"percent": 40, "message": "compiling"})
    await wait_for(lambda: len(watch.lines) == 2, timeout=10)
    await forge.aemit("build:42", "build.completed", {"duration": 12.5})
    assert await watch.finish() == 0
    assert watch.lines == ["[  0%] queued", "[ 40%] compiling", "[100%] completed (12.5 s)"]


async def test_watch_exits_1_and_prints_the_error_when_the_build_fails(server_process, no_servers):
    server = await server_process().start()
    forge = OmniForge(server.url, server.token)
    started = await forge.aemit("build:43", "build.started")
    watch = await Watch.start(
        "build:43", "--since", started["id"], *args_for(server), env=cli_env(no_servers)
    )
    # With a cursor there is no race: what is emitted before it subscribes is replayed.
    await forge.aemit("build:43", "build.progress", {"percent": 70, "message": "linking"})
    await forge.aemit("build:43", "build.failed", {"error": "ld: symbol not found"})
    assert await watch.finish() == 1
    assert watch.lines == ["[ 70%] linking", "[ 70%] failed: ld: symbol not found"]
    assert "build:43 failed: ld: symbol not found" in watch.err


async def test_watch_of_a_finished_run_exits_with_its_outcome_at_once(server_process, no_servers):
    server = await server_process().start()
    forge = OmniForge(server.url, server.token)
    await forge.aemit("deployment:7", "deployment.started")
    await forge.aemit("deployment:7", "deployment.failed", {"error": "first try"})
    await forge.aemit("deployment:7", "deployment.started", {"message": "retry"})
    await forge.aemit("deployment:7", "deployment.completed")
    done = await run_cli("watch", "deployment:7", *args_for(server), env=cli_env(no_servers))
    assert done.code == 0, done.err
    assert done.out.splitlines() == ["[  0%] retry", "[100%] completed"]


async def test_watch_gives_up_with_124_after_its_timeout(server_process, no_servers):
    server = await server_process().start()
    forge = OmniForge(server.url, server.token)
    await forge.aemit("build:44", "build.started")
    done = await run_cli(
        "watch", "build:44", "--timeout", "1", *args_for(server), env=cli_env(no_servers)
    )
    assert done.code == 124
    assert "timed out" in done.err


async def test_watch_refuses_bad_arguments_with_2(server_process, no_servers):
    server = await server_process().start()
    for args in (["watch"], ["watch", "build:1", "--timeout", "soon"], ["watch", "nope:1"]):
        done = await run_cli(*args, *args_for(server), env=cli_env(no_servers))
        assert done.code == 2, (args, done)


# -- builds from Python --------------------------------------------------------------------------


async def test_a_failing_build_block_ends_with_build_failed_and_reraises(server_url, token):
    forge = OmniForge(server_url, token)

    def notebook_cell() -> None:
        with forge.build("42", "nightly") as b:
            b.progress(40, "compiling")
            b.log("cc -O2 main.c")
            raise ValueError("disk full")

    with pytest.raises(ValueError, match="disk full"):
        await asyncio.to_thread(notebook_cell)
    events = await forge.ahistory("build:42")
    assert [e["type"] for e in events] == [
        "build.started",
        "build.progress",
        "build.progress",
        "build.failed",
    ]
    assert events[0]["data"] == {"message": "nightly"}
    assert events[1]["data"] == {"percent": 40, "message": "compiling"}
    assert events[2]["data"] == {"percent": 40, "message": "cc -O2 main.c"}
    assert events[3]["data"]["error"] == "ValueError: disk full"
    assert events[3]["data"]["duration"] >= 0
    # One client is one user: the server makes every request carrying only the Jupyter token
    # the owner (owner_username), where Jupyter would mint a new anonymous user per request.
    assert len({e["source"]["username"] for e in events}) == 1


async def test_async_builds_and_deployments_complete_with_their_duration(server_url, token):
    forge = OmniForge(server_url, token)
    async with forge.abuild("7") as b:
        await b.progress(50, "half way")
    async with forge.adeployment("7") as d:
        await d.progress(100, "live")
    with pytest.raises(asyncio.CancelledError):
        async with forge.adeployment("8"):
            raise asyncio.CancelledError
    builds = await forge.ahistory("build:7")
    assert [e["type"] for e in builds] == ["build.started", "build.progress", "build.completed"]
    assert builds[-1]["data"]["duration"] >= 0
    assert b.events == builds
    deployments = await forge.ahistory("deployment:*")
    assert [e["type"] for e in deployments] == [
        "deployment.started",
        "deployment.progress",
        "deployment.completed",
        "deployment.started",
        "deployment.failed",
    ]
    assert deployments[-1]["data"]["error"] == "CancelledError"
    assert len({e["source"]["username"] for e in builds + deployments}) == 1


# -- subscribe -----------------------------------------------------------------------------------


class DroppingProxy:
    """A TCP proxy in front of the server that can cut every connection through it and refuse
    new ones for a while: a network drop, with the server itself up all along."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.down = False
        self.accepted = 0
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()

    async def start(self) -> DroppingProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.down:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        link = (writer, up_writer)
        self._links.add(link)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._links.discard(link)

    def cut(self) -> None:
        self.down = True
        for a, b in list(self._links):
            a.transport.abort()
            b.transport.abort()

    def restore(self) -> None:
        self.down = False

    def close(self) -> None:
        self.cut()
        self._server.close()


def through(proxy: DroppingProxy, server_url: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, f"127.0.0.1:{proxy.port}", parts.path, "", ""))


async def test_subscribe_resumes_after_a_drop_without_duplicates_or_gaps(server_url, token):
    proxy = await DroppingProxy(urlsplit(server_url).port).start()
    follower = OmniForge(through(proxy, server_url), token)
    emitter = OmniForge(server_url, token)
    first = await emitter.aemit("build:9", "build.started")
    emitted: list[dict[str, Any]] = []
    received: list[dict[str, Any]] = []

    async def follow() -> None:
        # From a cursor: nothing emitted before the subscription is in place can be missed.
        async for event in follower.subscribe(["build:9"], first["id"], backoff=0.05):
            received.append(event)

    task = asyncio.ensure_future(follow())
    try:
        for i in range(20):
            emitted.append(await emitter.aemit("build:9", "build.progress", _step(i)))
        await wait_for(lambda: len(received) == 20)

        proxy.cut()  # the subscriber's socket dies; its reconnection attempts are refused
        for i in range(20, 50):
            emitted.append(await emitter.aemit("build:9", "build.progress", _step(i)))
        accepted = proxy.accepted
        await wait_for(lambda: proxy.accepted > accepted)  # it is trying to come back
        proxy.restore()
        emitted.append(await emitter.aemit("build:9", "build.completed"))

        await wait_for(lambda: len(received) == 51, timeout=20)
        await asyncio.sleep(0.3)  # give a duplicate, if any, the time to arrive
        assert [e["id"] for e in received] == [e["id"] for e in emitted]
        assert received == emitted
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        proxy.close()


def _step(i: int) -> dict[str, Any]:
    return {"percent": i * 2, "message": f"step {i}"}


@pytest.mark.parametrize("omniforge_config", [{"event_retention_count": 5}])
async def test_subscribe_yields_a_reset_when_its_cursor_is_no_longer_kept(server_url, token):
    forge = OmniForge(server_url, token)
    emitted = [
        await forge.aemit("build:r", "build.progress", {"percent": i, "message": str(i)})
        for i in range(10)
    ]
    items = []
    async for item in forge.subscribe("build:r", emitted[0]["id"]):
        items.append(item)
        if item.get("id") == emitted[-1]["id"]:
            break
    assert items[0]["type"] == "reset" and "id" not in items[0] and items[0]["reason"]
    assert items[1:] == emitted[-5:]


# -- discovery -----------------------------------------------------------------------------------


async def test_discovery_takes_the_server_from_the_environment(server_process, tmp_path):
    server = await server_process().start()
    env = cli_env(runtime_dir_of(server), OMNIFORGE_URL=server.url, OMNIFORGE_TOKEN=server.token)
    # A second running server makes the running-server list ambiguous; the variables decide.
    other = await server_process(db=tmp_path / "other-db" / "omniforge.sqlite").start()
    done = await run_cli("emit", "build:env", "build.started", env=env)
    assert done.code == 0, done.err
    assert await OmniForge(server.url, server.token).ahistory("build:env") != []
    assert await OmniForge(other.url, other.token).ahistory("build:env") == []

    # Without them, two running servers and none of them our ancestor: a clear refusal.
    done = await run_cli("emit", "build:env", "build.started", env=cli_env(runtime_dir_of(server)))
    assert done.code == 3
    assert "2 Jupyter servers are running" in done.err and "OMNIFORGE_URL" in done.err


async def test_discovery_picks_the_only_running_server(server_process, monkeypatch):
    server = await server_process().start()
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime_dir_of(server)))
    monkeypatch.delenv("OMNIFORGE_URL", raising=False)
    monkeypatch.delenv("OMNIFORGE_TOKEN", raising=False)
    found = find_server()
    assert (found.url, found.token, found.source) == (server.url, server.token, "only-running")
    # The module-level helper uses the discovered server.
    await asyncio.to_thread(_complete_build, "solo")
    events = await OmniForge(server.url, server.token).ahistory("build:solo")
    assert [e["type"] for e in events] == ["build.started", "build.completed"]


def _complete_build(build_id: str) -> None:
    with client.build(build_id):
        pass


def test_discovery_errors_say_what_to_do():
    with pytest.raises(ServerNotFound, match="OMNIFORGE_URL"):
        find_server(environ={}, servers=list)
    two = [{"url": "http://a:1/", "pid": -1}, {"url": "http://b:2/", "pid": -2}]
    with pytest.raises(AmbiguousServer) as ambiguous:
        find_server(environ={}, servers=lambda: two)
    assert ambiguous.value.urls == ["http://a:1/", "http://b:2/"]
    # The server this process descends from wins over the others.
    mine = {"url": "http://c:3/", "pid": os.getppid(), "token": "t"}
    found = find_server(environ={}, servers=lambda: [*two, mine])
    assert (found.url, found.token, found.source) == ("http://c:3/", "t", "ancestor")
    # An explicit URL takes its token from the running server with that URL.
    found = find_server("http://c:3", environ={}, servers=lambda: [*two, mine])
    assert (found.url, found.token, found.source) == ("http://c:3/", "t", "argument")


async def test_code_in_a_kernel_finds_its_own_server(server_process, tmp_path):
    """Two servers run; a kernel of the first emits without arguments and reaches the first."""
    server = await server_process().start()
    other = await server_process(db=tmp_path / "other-db" / "omniforge.sqlite").start()
    code = (
        "from jupyter_omniforge.client import build, find_server\n"
        "print(find_server().source)\n"
        "with build('kernel') as b:\n"
        "    b.progress(50, 'from a kernel')\n"
    )
    output = await run_in_kernel(server, code)
    assert output.strip() == "ancestor"
    events = await OmniForge(server.url, server.token).ahistory("build:kernel")
    assert [e["type"] for e in events] == ["build.started", "build.progress", "build.completed"]
    assert await OmniForge(other.url, other.token).ahistory("build:kernel") == []


async def run_in_kernel(server: Any, code: str, timeout: float = 60) -> str:
    """Start a kernel on ``server``, run ``code``, return its stdout (raise on an error)."""
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest

    from jupyter_omniforge.client.rooms import open_connection

    headers = {"Authorization": f"token {server.token}"}
    http = AsyncHTTPClient()
    response = await http.fetch(
        HTTPRequest(
            server.url + "api/kernels",
            method="POST",
            headers=headers,
            body="{}",
            request_timeout=timeout,
        )
    )
    kernel = json.loads(response.body)["id"]
    ws_url = "ws" + server.url[4:] + f"api/kernels/{kernel}/channels?token={server.token}"
    conn = await open_connection(ws_url, timeout=timeout)
    try:
        msg_id = uuid.uuid4().hex
        request = {
            "header": {
                "msg_id": msg_id,
                "msg_type": "execute_request",
                "session": uuid.uuid4().hex,
                "username": "test",
                "version": "5.3",
            },
            "parent_header": {},
            "metadata": {},
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
            "channel": "shell",
            "buffers": [],
        }  # fmt: skip
        await conn.write_message(json.dumps(request))
        stdout: list[str] = []
        while True:
            raw = await asyncio.wait_for(conn.read_message(), timeout)
            assert raw is not None, "the kernel channel closed"
            message = json.loads(raw)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream" and content["name"] == "stdout":
                stdout.append(content["text"])
            elif kind == "error":
                raise AssertionError("\n".join(content["traceback"]))
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(stdout)
    finally:
        conn.close()
        await http.fetch(
            HTTPRequest(server.url + f"api/kernels/{kernel}", method="DELETE", headers=headers),
            raise_error=False,
        )


# -- rooms: no lost edits ------------------------------------------------------------------------

README_SNIPPET = """
import asyncio, sys
from pycrdt import Doc, Text
from jupyter_omniforge.client import connect_room

async def main(url, token, room, size):
    doc = Doc()
    async with connect_room(url, room, doc, token=token):
        doc.get("code", type=Text).insert(0, "x" * (size - 17) + "hello from Python")

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""


@pytest.mark.parametrize("size", [17, 1 << 20], ids=["small", "1MB"])
async def test_an_edit_made_as_the_block_exits_is_on_the_server(server_process, size):
    """The README's snippet, as a script: its edit is the last thing the block does, and the
    process ends right after. The server holds it: through REST, and for a second client."""
    server = await server_process().start()
    room = f"idea:snippet{size}"
    done = await run_cli(
        "-c", README_SNIPPET, server.url, server.token, room, str(size),
        env=dict(os.environ), argv0=[sys.executable],
    )  # fmt: skip
    assert done.code == 0, done.err
    _, body = await fetch_json(f"{server.url}omniforge/api/rooms/{room}", token=server.token)
    text = body["content"]["code"]
    assert len(text) == size and text.endswith("hello from Python")
    other = Doc()
    async with connect_room(server.url, room, other, token=server.token):
        assert str(other.get("code", type=Text)) == text


async def test_the_block_raises_when_the_server_cannot_have_an_edit(server_url, token):
    doc = Doc()
    with pytest.raises(EditsNotConfirmed, match="closed"):
        async with connect_room(server_url, "idea:gone", doc, token=token) as conn:
            doc.get("code", type=Text).insert(0, "kept")
            code, _ = await fetch_json(
                server_url + "omniforge/api/rooms/idea:gone", method="DELETE", token=token
            )
            assert code == 204
            await wait_for(lambda: conn.close_code is not None)
            doc.get("code", type=Text).insert(0, "lost on a closed connection: ")
    # The document keeps the edit: a new connection brings it to the server.
    async with connect_room(server_url, "idea:gone", doc, token=token):
        pass
    _, body = await fetch_json(server_url + "omniforge/api/rooms/idea:gone", token=token)
    assert body["content"]["code"] == "lost on a closed connection: kept"
    # A block that only read leaves at once, whatever the server does.
    async with connect_room(server_url, "idea:gone", Doc(), token=token) as conn:
        assert conn.confirmed


# -- token ---------------------------------------------------------------------------------------


async def test_a_token_from_the_cli_reads_its_room_and_nothing_more(server_process, no_servers):
    import time

    from tornado.httpclient import HTTPClientError

    from jupyter_omniforge.client.rooms import open_connection, room_url

    server = await server_process().start()
    written = Doc()
    async with connect_room(server.url, "idea:42", written, token=server.token):
        written.get("code", type=Text).insert(0, "for bob")
    done = await run_cli(
        "token", "create", "idea:42", "--user", "bob", "--read", "--ttl", "1h",
        *args_for(server), env=cli_env(no_servers),
    )  # fmt: skip
    assert done.code == 0, done.err
    minted = json.loads(done.out)
    assert minted["user"] == "bob" and 3590 < minted["expires"] - time.time() <= 3600
    # It reads idea:42 ...
    read = Doc()
    async with connect_room(server.url, "idea:42", read, token=minted["token"]):
        assert str(read.get("code", type=Text)) == "for bob"
    # ... but may not write there, nor open another room.
    doc = Doc()
    with pytest.raises(EditsNotConfirmed, match="may not write in idea:42"):
        async with connect_room(server.url, "idea:42", doc, token=minted["token"]):
            doc.get("code", type=Text).insert(0, "by bob ")
    with pytest.raises(HTTPClientError) as refused:
        await open_connection(room_url(server.url, "idea:43", minted["token"]))
    assert refused.value.code == 403
    # Without saying what it may do, nothing is minted.
    done = await run_cli(
        "token", "create", "idea:42", "--user", "bob", *args_for(server), env=cli_env(no_servers)
    )
    assert done.code == 2 and "--read" in done.err


async def test_revoking_a_token_from_the_cli_closes_the_socket_using_it(server_process, no_servers):
    from jupyter_omniforge.client.rooms import open_connection, room_url

    server = await server_process().start()
    done = await run_cli(
        "token", "create", "idea:42", "--user", "bob", "--write",
        *args_for(server), env=cli_env(no_servers),
    )  # fmt: skip
    minted = json.loads(done.out)
    conn = await open_connection(room_url(server.url, "idea:42", minted["token"]))

    async def read_until_closed() -> None:
        while await conn.read_message() is not None:
            pass

    reader = asyncio.ensure_future(read_until_closed())
    done = await run_cli(
        "token", "revoke", minted["jti"], *args_for(server), env=cli_env(no_servers)
    )
    assert done.code == 0, done.err
    assert json.loads(done.out) == {"revoked": minted["jti"], "closed": 1}
    await asyncio.wait_for(reader, 10)
    conn.close()
    assert conn.close_code == 4401 and "revoked" in conn.close_reason
