"""Real processes for scale-out stories: a redis-server on a free port, a TCP load balancer, and
awareness frames to send and read."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import time
from pathlib import Path

from jupyter_omniforge.rooms import protocol as p

from .conftest import free_port


def awareness_frame(client_id: int, clock: int, state) -> bytes:
    """A y-websocket awareness message setting ``client_id``'s state."""
    entry = p.AwarenessEntry(client_id, clock, json.dumps(state))
    return p.encode_awareness(p.encode_awareness_update([entry]))


async def read_awareness(conn, states: dict) -> None:
    """Read ``conn`` until it closes, keeping the latest awareness state of each client."""
    while (frame := await conn.read_message()) is not None:
        message = p.parse_message(frame)
        if message.type == p.MESSAGE_AWARENESS:
            for entry in p.decode_awareness_update(message.payload):
                states[entry.client_id] = json.loads(entry.state)


class RedisProcess:
    """A ``redis-server`` of the test's own (never the shared one on 6379)."""

    def __init__(self, directory: Path, *, appendonly: bool = True, cluster: bool = False) -> None:
        """``cluster``: a Redis Cluster of this one node, holding every slot (it refuses a
        command or script whose keys lie in different slots, as a real cluster does)."""
        self.dir = directory
        self.port = free_port()
        self.appendonly = appendonly
        self.cluster = cluster
        self.proc: subprocess.Popen[bytes] | None = None
        self._started = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        """Start it and wait until it accepts connections. Should another process take the port
        between ``free_port()`` and the first bind, it starts again on another port (a restart
        keeps its port: the servers know its URL)."""
        for _ in range(1 if self._started else 3):
            if self._start():
                self._started = True
                return self
            if not self._started:
                self.port = free_port()
        raise RuntimeError(f"redis-server exited at once (is port {self.port} taken?)")

    def _start(self) -> bool:
        """False when redis-server exited at once (its port was taken)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
                # The cluster bus listens on a port of its own (by default port + 10000,
                # which may not exist above 55535).
                *(
                    ["--cluster-enabled", "yes", "--cluster-port", str(free_port())]
                    if self.cluster
                    else []
                ),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            if self._answers():
                if self.cluster:
                    self._assign_slots()
                return True
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def _answers(self) -> bool:
        """Whether the redis-server on the port is this one (not another process's)."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = redis.Redis(
            port=self.port,
            socket_timeout=1,
            socket_connect_timeout=0.2,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            return client.info("server")["process_id"] == self.proc.pid
        except (OSError, redis.RedisError):
            return False
        finally:
            client.close()

    def _assign_slots(self) -> RedisProcess:
        import redis

        client = redis.Redis(port=self.port)
        try:
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
            deadline = time.monotonic() + 10
            while b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
                if time.monotonic() > deadline:
                    raise RuntimeError("the one-node Redis Cluster did not come up")
                time.sleep(0.05)
        finally:
            client.close()
        return self

    def stop(self, *, wipe: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None
        if wipe:
            shutil.rmtree(self.dir, ignore_errors=True)


class LoadBalancer:
    """A TCP proxy in front of several servers: each new connection goes to the next backend
    that accepts it (no sticky sessions)."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.port = free_port()
        self._next = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def start(self) -> LoadBalancer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(len(self.backends)):
            port = self.backends[self._next % len(self.backends)]
            self._next += 1
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            for src, dst in ((reader, up_writer), (up_reader, writer)):
                task = asyncio.ensure_future(self._pipe(src, dst))
                self._pipes.add(task)
                task.add_done_callback(self._pipes.discard)
            return
        writer.close()

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                dst.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
