"""The server under test: a URL template, optionally a pid to meter, optionally spawned by us.

A URL template is a ``ws://`` URL containing ``{room}``, e.g.
``ws://127.0.0.1:8888/omniforge/rooms/{room}?token=T`` or ``ws://127.0.0.1:1234/{room}`` for the
y-websocket reference server. Spawners, each an async context manager entering to a ready
:class:`ServerUnderTest` and stopping the process on leaving:

- :class:`SpawnedOmniforge`: ``jupyter server`` with this extension (its rooms);
- :class:`SpawnedJupyterYdoc`: ``jupyter server`` without it, jupyter-server-ydoc's rooms;
- :class:`SpawnedNodeServer`: a Node.js server from ``benchmarks/peers`` (the y-websocket
  reference server, Hocuspocus);
- :class:`SpawnedRedis`: a throw-away ``redis-server``;
- :class:`SpawnedTornadoFloor`, :class:`SpawnedJupyterBare`: the floors of ``benchmarks/floors``
  (a bare Tornado y-websocket server, with or without ``RequestHandler``, or a bare asyncio one;
  a bare Jupyter Server extension).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .yprotocol import FRAMINGS, Framing, framing_for

_TOKEN_RE = re.compile(r"(token=)[^&\s'\"]+")


def redact(text: str) -> str:
    """Hide ``token=...`` values, for anything printed or written to a results file."""
    return _TOKEN_RE.sub(r"\1***", text)


@dataclass
class ServerUnderTest:
    url_template: str
    label: str
    pid: int | None = None
    #: Error lines from the log of a server we spawned, filled in once it stopped.
    log_errors: list[str] = field(default_factory=list)
    #: How clients frame messages (a name in ``yprotocol.FRAMINGS``).
    protocol: str = Framing.name

    def url(self, room: str) -> str:
        return self.url_template.replace("{room}", room)

    def framing(self, room: str) -> Framing:
        """The framing of a client of ``room`` on this server."""
        return framing_for(self.protocol, room)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def stop_process(proc: asyncio.subprocess.Process | None, timeout: float) -> bool:
    """SIGTERM ``proc`` and wait up to ``timeout`` seconds, then SIGKILL it; no-op if it ended.

    Returns True if it had to be killed.
    """
    if proc is None or proc.returncode is not None:
        return False
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return True
    return False


class ServerProcess:
    """A server process on a free loopback port, logging to a temp dir, ready once an HTTP GET
    of :meth:`ready_url` answers 200. Subclasses say what to run (:meth:`command`,
    :meth:`environment`) and what it serves (:meth:`make_server`).

    Use as ``async with SpawnedOmniforge() as server:``; :attr:`server` is ready once entered.
    Leaving stops the process (SIGTERM, then SIGKILL after ``stop_timeout``) and removes the temp
    dir; the server log's last ``log_lines`` lines are kept in :attr:`log_tail` for reports and
    its error lines in ``server.log_errors``.
    """

    #: What the process is, for messages.
    what = "server"

    def __init__(
        self,
        startup_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        *,
        log_lines: int = 400,
    ) -> None:
        self.log_lines = log_lines  # how much of the server log :attr:`log_tail` keeps
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.tmpdir: str | None = None
        self._env: dict[str, str] = {}
        self.log_tail = ""
        self.server: ServerUnderTest | None = None
        #: Whether it ignored SIGTERM for ``stop_timeout`` seconds and was killed.
        self.killed = False

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        """The child's environment; :attr:`tmpdir` exists when this is called."""
        return dict(os.environ)

    def ready_url(self) -> urllib.request.Request:
        raise NotImplementedError

    def make_server(self) -> ServerUnderTest:
        raise NotImplementedError

    def _log_path(self) -> Path:
        assert self.tmpdir is not None
        return Path(self.tmpdir) / "server.log"

    def _read_log_tail(self, lines: int = 40) -> str:
        try:
            text = self._log_path().read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    async def __aenter__(self) -> ServerUnderTest:
        self.tmpdir = tempfile.mkdtemp(prefix="omniforge-bench-")
        self._env = self.environment()
        await self._spawn()
        try:
            await self._wait_ready()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        self.server = self.make_server()
        return self.server

    async def _spawn(self) -> None:
        # A local file opened once before the child starts; the child inherits it, we close ours.
        log = open(self._log_path(), "ab")  # noqa: ASYNC230
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self._env,
            )
        finally:
            log.close()

    async def restart(self, poll: float = 0.25) -> None:
        """Stop the server (SIGTERM, as :meth:`__aexit__` does) and start it again with the same
        port, data and token; return once it answers ready (polled every ``poll`` seconds)."""
        if await stop_process(self.proc, self.stop_timeout):
            self.killed = True
        await self._spawn()
        await self._wait_ready(poll)
        if self.server is not None and self.proc is not None:
            self.server.pid = self.proc.pid

    async def _wait_ready(self, poll: float = 0.25) -> None:
        assert self.proc is not None
        request = self.ready_url()
        deadline = time.monotonic() + self.startup_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                raise RuntimeError(
                    f"{self.what} exited with {self.proc.returncode} before it was ready:\n"
                    + self._read_log_tail()
                )
            try:
                status = await asyncio.to_thread(_http_status, request)
            except OSError as e:
                last = str(e)
            else:
                if status == 200:
                    return
                last = f"HTTP {status}"
            await asyncio.sleep(poll)
        raise RuntimeError(
            f"{request.full_url} not ready after {self.startup_timeout:.0f} s ({last}):\n"
            + self._read_log_tail()
        )

    async def __aexit__(self, *exc: object) -> None:
        if await stop_process(self.proc, self.stop_timeout):
            self.killed = True
        if self.tmpdir is not None:
            self.log_tail = self._read_log_tail(self.log_lines)
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
        if self.server is not None:
            self.server.log_errors = log_errors(self.log_tail)


class SpawnedJupyterServer(ServerProcess):
    """``jupyter server`` on a free port, random token, temp root; rooms at :attr:`room_path`.

    Its Jupyter data dir (hence the omniforge store) is in the same temp dir: every run starts
    from an empty store. Ready once ``GET`` :attr:`ready_path` answered 200.
    """

    what = "jupyter server"
    #: Where rooms are, below the server's root URL, with ``{room}``.
    room_path = "omniforge/rooms/{room}"
    #: Answers 200 once the server can take clients.
    ready_path = "omniforge/health/ready"
    #: ``jupyter server`` arguments every instance gets (after the common ones).
    base_args: tuple[str, ...] = ()

    def __init__(
        self,
        startup_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        *,
        extra_args: Sequence[str] = (),
        token: str | None = None,
        log_lines: int = 400,
        pythonpath: str | None = None,
    ) -> None:
        super().__init__(startup_timeout, stop_timeout, log_lines=log_lines)
        #: More ``jupyter server`` arguments, after ours (e.g. ``--OmniForgeApp.redis_url=...``).
        self.extra_args = list(extra_args)
        #: A checkout whose jupyter_omniforge runs instead of the installed one (a baseline).
        self.pythonpath = pythonpath
        #: Several instances of one deployment share a token, as behind a load balancer.
        self.token = token or secrets.token_hex(16)

    def label(self) -> str:
        return f"jupyter_omniforge {_omniforge_version()} (spawned jupyter server)"

    def environment(self) -> dict[str, str]:
        assert self.tmpdir is not None
        (Path(self.tmpdir) / "root").mkdir()
        (Path(self.tmpdir) / "data").mkdir()
        env = dict(os.environ)
        # Runtime files, the omniforge SQLite store and file ids all go to the temp dir, so a
        # benchmark neither reads nor pollutes the user's Jupyter data.
        env["JUPYTER_RUNTIME_DIR"] = str(Path(self.tmpdir) / "runtime")
        env["JUPYTER_DATA_DIR"] = str(Path(self.tmpdir) / "data")
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        return env

    def command(self) -> list[str]:
        assert self.tmpdir is not None
        return [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            f"--port={self.port}",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.port_retries=0",
            f"--ServerApp.token={self.token}",
            f"--ServerApp.root_dir={Path(self.tmpdir) / 'root'}",
            "--ServerApp.open_browser=False",
            # jupyter server refuses to start as root unless told; containers often are root.
            *(["--allow-root"] if os.geteuid() == 0 else []),
            *self.base_args,
            *self.extra_args,
        ]

    def ready_url(self) -> urllib.request.Request:
        return urllib.request.Request(
            f"http://127.0.0.1:{self.port}/{self.ready_path}",
            headers={"Authorization": f"token {self.token}"},
        )

    def make_server(self) -> ServerUnderTest:
        assert self.proc is not None
        return ServerUnderTest(
            url_template=f"ws://127.0.0.1:{self.port}/{self.room_path}?token={self.token}",
            label=self.label(),
            pid=self.proc.pid,
        )


class SpawnedOmniforge(SpawnedJupyterServer):
    """``jupyter server`` with the omniforge extension: its rooms at ``omniforge/rooms/{room}``.

    Every load-generator connection authenticates with the token, so all of them are one user
    (the server's owner): the per-user quotas that protect a deployment from one runaway user
    would stop the benchmark, and no peer has them."""

    base_args = (
        "--OmniForgeApp.max_connections_per_user=1000000",
        "--OmniForgeApp.rooms_per_minute=0",
    )


class SpawnedJupyterYdoc(SpawnedJupyterServer):
    """``jupyter server`` with jupyter-server-ydoc and without omniforge: its *transient* rooms.

    ``api/collaboration/room/{id}`` takes the last path segment as the room id; one with fewer
    than two colons (``idea:x``) is not a file but a ``TransientRoom`` (pycrdt-websocket's
    ``YRoom``, never stored, never cleaned up). Authentication is Jupyter's, like ours (the
    token), authorization the ``contents`` resource (the default authorizer allows all).
    """

    room_path = "api/collaboration/room/{room}"
    ready_path = "api/status"
    base_args = ("--ServerApp.jpserver_extensions=jupyter_omniforge=False",)

    def label(self) -> str:
        return f"jupyter-server-ydoc {dist_version('jupyter-server-ydoc')} (spawned jupyter server)"


#: The repository root: the floors run as ``benchmarks.floors.*`` from it.
REPO_ROOT = Path(__file__).resolve().parents[2]


class SpawnedJupyterBare(SpawnedJupyterServer):
    """``jupyter server`` without omniforge, with the Jupyter floor (``benchmarks/floors/
    jupyter_bare.py``): one ``JupyterHandler`` WebSocket route, ``bare/{room}``, token auth as
    ours. The other installed extensions load as they do with ours."""

    room_path = "bare/{room}"
    ready_path = "api/status"
    base_args = (
        "--ServerApp.jpserver_extensions",
        "jupyter_omniforge=False",
        "--ServerApp.jpserver_extensions",
        "benchmarks.floors.jupyter_bare=True",
    )

    def __init__(self, **kwargs: object) -> None:
        super().__init__(pythonpath=str(REPO_ROOT), **kwargs)  # type: ignore[arg-type]

    def label(self) -> str:
        return f"Jupyter floor (jupyter_server {dist_version('jupyter_server')}, tornado {dist_version('tornado')})"


class SpawnedJupyterBareLean(SpawnedJupyterBare):
    """:class:`SpawnedJupyterBare`, its clients on ``bare-lean/{room}``: no keep-alive timer per
    connection, no login cookie on the upgrade (as ours)."""

    room_path = "bare-lean/{room}"

    def label(self) -> str:
        return super().label().replace("floor", "floor, lean")


class SpawnedAtRoot(ServerProcess):
    """A server ready once ``GET /`` answers 200, its rooms at ``ws://127.0.0.1:PORT/{room}``
    with no auth (the floors and the Node.js peers)."""

    def ready_url(self) -> urllib.request.Request:
        return urllib.request.Request(f"http://127.0.0.1:{self.port}/")

    def server_at_root(self, label: str, protocol: str = Framing.name) -> ServerUnderTest:
        assert self.proc is not None
        return ServerUnderTest(
            url_template=f"ws://127.0.0.1:{self.port}/{{room}}",
            label=label,
            pid=self.proc.pid,
            protocol=protocol,
        )


class SpawnedTornadoFloor(SpawnedAtRoot):
    """A floor without Jupyter, ``benchmarks/floors/{floor}.py``: ``tornado_bare`` (a
    ``WebSocketHandler``), ``tornado_delegate`` (the upgrade answered below ``RequestHandler``)
    or ``asyncio_raw`` (no Tornado).
    Rooms at ``ws://127.0.0.1:PORT/{room}``, no auth; ``loop`` is asyncio (as ``jupyter server``)
    or uvloop."""

    what = "floor"

    def __init__(self, floor: str = "tornado_bare", loop: str = "asyncio", **kwargs: float) -> None:
        super().__init__(**kwargs)
        self.floor = floor
        self.loop = loop

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", f"benchmarks.floors.{self.floor}",
            "--port", str(self.port), "--loop", self.loop,
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}

    def make_server(self) -> ServerUnderTest:
        return self.server_at_root(
            f"Tornado floor {self.floor} (tornado {dist_version('tornado')}, {self.loop})"
        )


#: The Node.js peers' package (``npm ci --prefix benchmarks/peers`` installs them).
PEERS_DIR = Path(__file__).resolve().parents[1] / "peers"


class SpawnedNodeServer(SpawnedAtRoot):
    """A Node.js server from ``benchmarks/peers``: ``node SCRIPT`` with ``HOST=127.0.0.1`` and
    ``PORT`` in its environment, ready once ``GET /`` answers 200. Rooms are
    ``ws://127.0.0.1:PORT/{room}``; ``protocol`` names the framing its clients need."""

    what = "node server"

    def __init__(
        self, script: Path, label: str, protocol: str = Framing.name, **kwargs: float
    ) -> None:
        super().__init__(**kwargs)
        self.script = script
        self._label = label
        self.protocol = protocol

    def command(self) -> list[str]:
        if not self.script.exists():
            raise RuntimeError(f"{self.script} is missing: run `npm ci --prefix {PEERS_DIR}`")
        return [shutil.which("node") or "node", str(self.script)]

    def environment(self) -> dict[str, str]:
        return {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port)}

    def make_server(self) -> ServerUnderTest:
        return self.server_at_root(self._label, self.protocol)


def peer_version(package: str) -> str:
    """The version of an npm package installed in ``benchmarks/peers``, or ``?``."""
    import json

    try:
        manifest = PEERS_DIR / "node_modules" / package / "package.json"
        return json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


def node_version() -> str:
    """``v20.20.2`` from ``node --version``, or ``?``."""
    return _tool_version(["node", "--version"], r"(v\S+)")


class SpawnedYWebsocket(SpawnedNodeServer):
    """The y-websocket reference server (npm ``y-websocket`` 1.5, its ``bin/server.js``), in
    memory (no ``YPERSISTENCE``), garbage collection of Yjs on (its default)."""

    def __init__(self, **kwargs: float) -> None:
        super().__init__(
            PEERS_DIR / "node_modules" / "y-websocket" / "bin" / "server.js",
            f"y-websocket {peer_version('y-websocket')} reference server (node {node_version()})",
            **kwargs,
        )


class SpawnedHocuspocus(SpawnedNodeServer):
    """Hocuspocus (npm ``@hocuspocus/server`` 4) through ``benchmarks/peers/hocuspocus-server.mjs``:
    no extensions, in memory, stateless messages broadcast to the document's connections."""

    def __init__(self, **kwargs: float) -> None:
        super().__init__(
            PEERS_DIR / "hocuspocus-server.mjs",
            f"Hocuspocus {peer_version('@hocuspocus/server')} (node {node_version()})",
            protocol="hocuspocus",
            **kwargs,
        )


@asynccontextmanager
async def spawn_omniforge_servers(
    count: int, extra_args: Sequence[str] = (), token: str | None = None
) -> AsyncIterator[list[SpawnedOmniforge]]:
    """``count`` :class:`SpawnedOmniforge` instances with the same ``extra_args`` and one token,
    started concurrently; all are stopped on leaving (also when one failed to start).

    Yields the spawners (entered): ``.server`` is each one's :class:`ServerUnderTest`,
    ``.port``, ``.token`` and ``.tmpdir`` are at hand.
    """
    token = token or secrets.token_hex(16)
    spawners = [SpawnedOmniforge(extra_args=extra_args, token=token) for _ in range(count)]
    async with AsyncExitStack() as stack:
        started = await asyncio.gather(
            *(stack.enter_async_context(s) for s in spawners), return_exceptions=True
        )
        failures = [e for e in started if isinstance(e, BaseException)]
        if failures:
            raise failures[0]
        yield spawners


class SpawnedRedis:
    """A throw-away ``redis-server`` on a free loopback port, no persistence, in a temp dir.

    Use as ``async with SpawnedRedis() as redis:``; :attr:`url` is ``redis://127.0.0.1:PORT/0``
    and :attr:`pid` the server's pid (for its CPU). Leaving stops it (SIGTERM, then SIGKILL).
    Never the shared Redis on 6379: the port is always a fresh ephemeral one.
    """

    def __init__(
        self,
        executable: str = "redis-server",
        startup_timeout: float = 10.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self.executable = executable
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.port = free_port()
        while self.port == 6379:
            self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.tmpdir: str | None = None
        self.log_tail = ""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    async def __aenter__(self) -> SpawnedRedis:
        self.tmpdir = tempfile.mkdtemp(prefix="omniforge-bench-redis-")
        log = Path(self.tmpdir) / "redis.log"
        self.proc = await asyncio.create_subprocess_exec(
            self.executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self.tmpdir,
            "--logfile", str(log),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            await self._wait_ready()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.port), 1.0
                )
                try:
                    writer.write(b"PING\r\n")
                    await writer.drain()
                    line = await asyncio.wait_for(reader.readline(), 1.0)
                finally:
                    writer.close()
                if line.startswith(b"+PONG"):
                    return
                last = repr(line)
            except (TimeoutError, OSError) as e:
                last = str(e) or type(e).__name__
            await asyncio.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} not ready ({last})")

    async def __aexit__(self, *exc: object) -> None:
        await stop_process(self.proc, self.stop_timeout)
        if self.tmpdir is not None:
            try:
                self.log_tail = (Path(self.tmpdir) / "redis.log").read_text(errors="replace")[
                    -4000:
                ]
            except OSError:
                pass
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None


def redis_server_version(executable: str = "redis-server") -> str:
    """``7.0.15`` from ``redis-server --version``, or ``?``."""
    return _tool_version([executable, "--version"], r"v=(\S+)")


def _tool_version(command: list[str], pattern: str) -> str:
    """The first group of ``pattern`` in what ``command`` prints, or ``?``."""
    import subprocess

    try:
        out = subprocess.run(
            command, capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    match = re.search(pattern, out)
    return match.group(1) if match else "?"


def log_errors(log: str) -> list[str]:
    """Error records of a Jupyter server log: ``[E ...]`` lines and each traceback's exception line."""
    errors = []
    in_traceback = False
    for line in log.splitlines():
        if line.startswith("Traceback"):
            in_traceback = True
        elif in_traceback and line and not line[0].isspace():
            errors.append(line)
            in_traceback = False
        elif line.startswith("[E "):
            errors.append(line)
    return errors


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The options naming the server under test, shared by every benchmark."""
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--url",
        help="server URL template with {room}, e.g. "
        "'ws://127.0.0.1:8888/omniforge/rooms/{room}?token=T' or 'ws://127.0.0.1:1234/{room}'",
    )
    target.add_argument(
        "--spawn-omniforge",
        action="store_true",
        help="start our jupyter server (free port, random token, temp root dir), stop it at the end",
    )
    parser.add_argument("--label", help="server name for the results file (default: from the URL)")
    parser.add_argument("--server-pid", type=int, help="server process id, to report its CPU share")
    parser.add_argument(
        "--framing",
        choices=tuple(FRAMINGS),
        default=Framing.name,
        help="how the --url server frames messages (hocuspocus: document-name prefix, auth first)",
    )


@asynccontextmanager
async def server_from_args(args: argparse.Namespace) -> AsyncIterator[ServerUnderTest]:
    """The server named by :func:`add_server_arguments` options, spawned and stopped if asked.

    Raises RuntimeError (with the server log's tail) if a spawned server never became ready.
    """
    if not args.spawn_omniforge:
        yield ServerUnderTest(
            args.url, args.label or redact(args.url), args.server_pid, protocol=args.framing
        )
        return
    async with SpawnedOmniforge() as server:
        if args.label:
            server.label = args.label
        yield server


# Loopback only: never go through an HTTP proxy from the environment.
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http_status(request: urllib.request.Request) -> int:
    try:
        with _NO_PROXY_OPENER.open(request, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def dist_version(dist: str) -> str:
    """The installed version of Python distribution ``dist``, or ``-``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "-"


def _omniforge_version() -> str:
    return dist_version("jupyter_omniforge")
