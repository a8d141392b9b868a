"""Drive the stock y-websocket client (``tests/js/yclient.mjs``) from asyncio tests.

Each :class:`NodeClient` is one ``node`` process holding one ``Y.Doc`` connected through
``new WebsocketProvider(server, room, doc, {params: {token}})`` from the pinned
``y-websocket`` npm package — the same code path a browser front-end uses.

Commands are JSON objects written to the process's stdin; the script answers on stdout
with one JSON event per line. Replies carry the ``id`` of their command; other events
(``status``, ``synced``/``unsynced``, ``connection-close``, ``connection-error``,
``awareness``, ``error`` with ``id: null``) arrive spontaneously. Every event is kept
in :attr:`NodeClient.events`.

Example::

    client = await NodeClient.start(f"ws://127.0.0.1:{port}/omniforge/rooms", "idea:42", token)
    try:
        await client.wait_event(lambda e: e["event"] == "synced")
        await client.command({"cmd": "insert", "root": "code", "index": 0, "text": "abc"})
    finally:
        await client.close()

The JS dependencies are installed with ``npm ci --prefix tests/js``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

JS_DIR = Path(__file__).resolve().parent / "js"
SCRIPT = JS_DIR / "yclient.mjs"

#: Commands whose reply may legitimately take up to their own ``timeout`` seconds.
_WAIT_COMMANDS = {"wait_text", "wait_states"}
#: Event kinds that are replies to a command (they carry its ``id``).
_REPLY_EVENTS = {"ok", "doc", "states", "timeout", "error", "info"}
#: How much stderr to keep (the tail is what matters in error messages).
_STDERR_LIMIT = 64 * 1024


def node_executable() -> str | None:
    return shutil.which("node")


def node_installed() -> bool:
    """``node`` is on PATH (tests skip only when this is false)."""
    return node_executable() is not None


def node_available() -> bool:
    """``node`` is on PATH and ``tests/js/node_modules`` has been installed."""
    return node_installed() and (JS_DIR / "node_modules" / "y-websocket").is_dir()


def ensure_node_modules() -> None:
    """Run ``npm ci --prefix tests/js`` if node is installed but the modules are missing."""
    if node_available() or not node_installed():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("node is installed but npm is not; cannot install tests/js deps")
    # One install at a time: the other pytest-xdist worker may be here too (npm ci first
    # deletes node_modules), and finds the modules installed once it holds the lock.
    checkout = hashlib.sha256(str(JS_DIR).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"omniforge-npm-ci-{checkout}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not node_available():
            subprocess.run([npm, "ci", "--prefix", str(JS_DIR)], check=True)


class NodeClientError(RuntimeError):
    pass


class NodeClient:
    """One stock ``WebsocketProvider`` running in a node subprocess."""

    def __init__(self, proc: asyncio.subprocess.Process, server: str, room: str) -> None:
        self.proc = proc
        self.server = server
        self.room = room
        #: Every event read from stdout, in order.
        self.events: list[dict[str, Any]] = []
        #: Set by the ``ready`` event: the client's Yjs clientID and the URL it dials.
        self.client_id: int | None = None
        self.url: str | None = None
        self._consumed: set[int] = set()
        self._changed = asyncio.Condition()
        self._stderr = bytearray()
        self._ids = itertools.count(1)
        self._eof = False
        self._closed = False
        self._stdout_task = asyncio.create_task(self._read_stdout())
        self._stderr_task = asyncio.create_task(self._read_stderr())

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def start(
        cls,
        server: str,
        room: str,
        token: str | None = None,
        *,
        max_backoff_ms: int | None = None,
        ready_timeout: float = 15,
    ) -> NodeClient:
        """Spawn the client and wait until it reports ``ready`` (it then connects)."""
        node = node_executable()
        if node is None:
            raise NodeClientError("node is not installed")
        if not node_available():
            raise NodeClientError(f"JS deps missing: run `npm ci --prefix {JS_DIR}`")
        argv = [node, str(SCRIPT), "--server", server, "--room", room]
        if token is not None:
            argv += ["--token", token]
        if max_backoff_ms is not None:
            argv += ["--max-backoff", str(int(max_backoff_ms))]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=str(JS_DIR),
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
            limit=16 * 1024 * 1024,  # a `get` of a big document is one long line
        )
        client = cls(proc, server, room)
        try:
            ready = await client.wait_event(lambda e: e.get("event") == "ready", ready_timeout)
        except BaseException:
            await client.close()
            raise
        client.client_id = ready.get("clientID")
        client.url = ready.get("url")
        return client

    async def close(self) -> None:
        """Ask the client to exit, then terminate/kill it; always reaps the process."""
        if self._closed:
            return
        self._closed = True
        proc = self.proc
        try:
            if proc.returncode is None and proc.stdin is not None and not self._eof:
                with contextlib.suppress(Exception):
                    proc.stdin.write(b'{"cmd":"exit","id":"__close__"}\n')
                    await asyncio.wait_for(proc.stdin.drain(), 2)
                with contextlib.suppress(Exception):
                    proc.stdin.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(proc.wait(), 5)
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(proc.wait(), 3)
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        finally:
            # Never leave a process behind, and reap it even if we are being cancelled.
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await asyncio.shield(proc.wait())
            # Let the readers drain what the process wrote before it exited.
            readers = {self._stdout_task, self._stderr_task}
            _, pending = await asyncio.wait(readers, timeout=2)
            for task in pending:
                task.cancel()

    async def __aenter__(self) -> NodeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ I/O

    async def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        try:
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    break
                text = line.decode("utf-8", "replace").strip()
                if not text:
                    continue
                try:
                    event = json.loads(text)
                    if not isinstance(event, dict):
                        event = {"event": "raw", "line": text}
                except ValueError:
                    event = {"event": "raw", "line": text}
                async with self._changed:
                    self.events.append(event)
                    self._changed.notify_all()
        finally:
            async with self._changed:
                self._eof = True
                self._changed.notify_all()

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while True:
            chunk = await self.proc.stderr.read(4096)
            if not chunk:
                break
            self._stderr += chunk
            if len(self._stderr) > _STDERR_LIMIT:
                del self._stderr[: len(self._stderr) - _STDERR_LIMIT]

    @property
    def stderr(self) -> str:
        return self._stderr.decode("utf-8", "replace")

    def _describe(self) -> str:
        tail = self.events[-15:]
        return (
            f"[node client room={self.room!r} pid={self.proc.pid} rc={self.proc.returncode}]\n"
            f"last events: {json.dumps(tail, default=str)}\n"
            f"stderr:\n{self.stderr[-4000:]}"
        )

    # ------------------------------------------------------------------ public API

    async def send(self, cmd: dict[str, Any]) -> None:
        """Write one command without waiting for its reply."""
        if self.proc.returncode is not None or self.proc.stdin is None or self._closed:
            raise NodeClientError(f"node client is not running\n{self._describe()}")
        self.proc.stdin.write(json.dumps(cmd).encode() + b"\n")
        await self.proc.stdin.drain()

    async def command(self, cmd: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
        """Send ``cmd`` with a fresh ``id`` and return the reply carrying that id.

        The reply is returned as-is, including ``{"event": "error"}`` and
        ``{"event": "timeout"}`` replies; use :meth:`check` to raise on those.
        """
        cmd_id = next(self._ids)
        cmd = {**cmd, "id": cmd_id}
        if cmd.get("cmd") in _WAIT_COMMANDS:
            timeout = max(timeout, float(cmd.get("timeout", 10)) + 5)
        await self.send(cmd)
        return await self.wait_event(
            lambda e: e.get("id") == cmd_id and e.get("event") in _REPLY_EVENTS, timeout
        )

    async def check(self, cmd: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
        """Like :meth:`command` but raise unless the reply is a success."""
        reply = await self.command(cmd, timeout)
        if reply.get("event") in ("error", "timeout"):
            raise NodeClientError(f"command {cmd!r} failed: {reply!r}\n{self._describe()}")
        return reply

    async def wait_event(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10
    ) -> dict[str, Any]:
        """Return the oldest not-yet-returned event matching ``predicate``.

        Events that arrived before the call count too (so nothing is lost to a race), but
        each event is handed out by ``wait_event``/``command`` at most once. Raises
        ``TimeoutError`` (with the client's recent events and stderr) on timeout, and
        :class:`NodeClientError` if the process exits first.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        start = 0
        async with self._changed:
            while True:
                for i in range(start, len(self.events)):
                    if i in self._consumed:
                        continue
                    event = self.events[i]
                    if predicate(event):
                        self._consumed.add(i)
                        return event
                start = len(self.events)
                if self._eof:
                    raise NodeClientError(
                        f"node client exited before the awaited event\n{self._describe()}"
                    )
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(f"no matching event within {timeout}s\n{self._describe()}")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    # ------------------------------------------------------------------ conveniences

    async def wait_synced(self, timeout: float = 10) -> dict[str, Any]:
        return await self.wait_event(lambda e: e.get("event") == "synced", timeout)

    async def wait_status(self, status: str, timeout: float = 10) -> dict[str, Any]:
        return await self.wait_event(
            lambda e: e.get("event") == "status" and e.get("status") == status, timeout
        )

    def seen(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """All buffered events matching ``predicate`` (consumed or not)."""
        return [e for e in self.events if predicate(e)]
