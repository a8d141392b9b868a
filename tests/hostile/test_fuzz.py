"""A bounded fuzzer (Hypothesis) against a real server process: y-websocket frames, Yjs updates
(valid ones mutated, deep and odd ``Any`` values), awareness, gateway JSON and event bodies.

Every example ends with the server process alive and two honest clients converged in a room of
their own. The server runs as a separate process, so a crash is an assertion (with the example
that caused it) instead of the end of the test run; it is restarted for the next example.

``OMNIFORGE_FUZZ_EXAMPLES`` sets the examples per target (default 100: about 30 s for all
targets on 2 cores). CI (``.ci/run``) runs a second, longer round with 400, together with
``tests/hostile/test_redis_entries.py``'s fuzzer of Redis entries (400 // 6 examples a kind):
about 85 s for both on 2 cores. Nothing is saved on its own: an input a run finds harmful is
added by hand to ``tests/hostile/corpus/`` (see its README), which
``test_the_corpus_stays_harmless`` replays on every run.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

from jupyter_omniforge.client import connect_room
from jupyter_omniforge.client.rooms import open_connection
from jupyter_omniforge.rooms import protocol as p

from ..conftest import ServerProcess, wait_for
from .lib0 import deep_update, var_uint

EXAMPLES = int(os.environ.get("OMNIFORGE_FUZZ_EXAMPLES", "100"))
CORPUS = Path(__file__).parent / "corpus"
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=False,
    suppress_health_check=list(HealthCheck),
    database=None,
)


class Target:
    """A server process, two honest clients, and a way to attack it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.loop = asyncio.new_event_loop()
        self.server = ServerProcess(
            root / "server",
            root / "db" / "omniforge.sqlite",
            [
                "--OmniForgeApp.max_connections_per_user=1000",
                "--OmniForgeApp.rooms_per_minute=0",
                "--OmniForgeApp.max_messages_per_second=100000",
                "--OmniForgeApp.max_message_burst=100000",
            ],
        )
        self.honest: list[Doc] = []
        self._stack: AsyncExitStack | None = None
        self.crashes = 0

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def start(self) -> None:
        await self.server.start()
        self._stack = AsyncExitStack()
        self.honest = [Doc(), Doc()]
        for doc in self.honest:
            await self._stack.enter_async_context(
                connect_room(self.server.url, "idea:honest", doc, token=self.server.token)
            )

    async def stop(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None

    async def ensure_running(self) -> None:
        if self.server.proc is None or self.server.proc.poll() is not None:
            await self.stop()
            await self.start()

    async def attack(self, coro: Any) -> None:
        """Run one attack, then check the server is alive and the honest clients converge."""
        await self.ensure_running()
        try:
            await asyncio.wait_for(coro, 10)
        except (TimeoutError, OSError, HTTPClientError, StreamClosedError, WebSocketClosedError):
            pass  # refused or dropped: the attacker's problem
        alive = self.server.proc.poll() is None
        if not alive:
            self.crashes += 1
            log = self.server.log_path.read_text(errors="replace")[-3000:]
            raise AssertionError(f"the server died (exit {self.server.proc.returncode}):\n{log}")
        response = await AsyncHTTPClient().fetch(
            self.server.url + "omniforge/health/live", request_timeout=10
        )
        assert response.code == 200
        a, b = self.honest
        a.get("code", type=Text).insert(len(a.get("code", type=Text)), "x")
        want = str(a.get("code", type=Text))
        await wait_for(lambda: str(b.get("code", type=Text)) == want, timeout=10)

    # -- attacks -------------------------------------------------------------------------------

    def ws_url(self, path: str) -> str:
        return "ws" + self.server.url[len("http") :] + path + f"?token={self.server.token}"

    async def room_frames(self, frames: list[bytes], room: str = "idea:fuzz") -> None:
        conn = await open_connection(self.ws_url(f"omniforge/rooms/{room}"))
        try:
            for frame in frames:
                await conn.write_message(frame, binary=True)
            # A barrier: the answer to a sync step 1 comes after everything sent before it,
            # unless the server closed the connection.
            await conn.write_message(p.encode_sync_step1(b"\x00"), binary=True)
            while (message := await conn.read_message()) is not None:
                if message[:2] == b"\x00\x01":
                    break
        finally:
            conn.close()

    async def gateway_frames(self, frames: list[str]) -> None:
        conn = await open_connection(self.ws_url("omniforge/realtime"))
        try:
            for frame in frames:
                await conn.write_message(frame)
            await conn.write_message(json.dumps({"type": "joinRoom", "roomId": "idea:barrier"}))
            while (message := await conn.read_message()) is not None:
                if '"docSync"' in message and "idea:barrier" in message:
                    break
        finally:
            conn.close()

    async def event_body(self, body: bytes) -> None:
        await AsyncHTTPClient().fetch(
            HTTPRequest(
                self.server.url + "omniforge/api/events",
                method="POST",
                headers={"Authorization": f"token {self.server.token}"},
                body=body,
                request_timeout=10,
            ),
            raise_error=False,
        )


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory):
    t = Target(tmp_path_factory.mktemp("fuzz"))
    t.run(t.start())
    yield t
    t.run(t.stop())
    t.server.stop()
    t.loop.close()


# -- strategies -------------------------------------------------------------------------------


def _valid_update(ops: list[tuple[int, int, str]]) -> bytes:
    doc = Doc(client_id=1234)  # the same bytes for the same ops: Hypothesis replays them
    text, tokens, items = (
        doc.get("code", type=Text),
        doc.get("tokens", type=Map),
        doc.get("components", type=Array),
    )
    before = doc.get_state()
    for kind, number, word in ops:
        if kind == 0:
            text.insert(_byte_offset(text, number), word)
        elif kind == 1:
            tokens[word or "k"] = {"n": number, "w": [word, number / 7, None, True]}
        elif kind == 2:
            items.append([number, word])
        elif len(text):
            del text[0 : _byte_offset(text, number % 3 + 1)]
    return doc.get_update(before)


def _byte_offset(text: Text, chars: int) -> int:
    """pycrdt indexes a Text in UTF-8 bytes, and an index inside a character makes it write a
    corrupt update or panic (README, Known issues): a valid edit counts whole characters."""
    return len(str(text)[:chars].encode())


ops = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 10_000), st.text(max_size=8)),
    min_size=1,
    max_size=8,
)
valid_updates = ops.map(_valid_update)


@st.composite
def mutated(draw: Any, data: bytes) -> bytes:
    """``data`` with a few random edits: byte flips, cuts, insertions, huge varuints."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 4))
        at = draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == 0 and out:
            out[at] ^= draw(st.integers(1, 255))
        elif kind == 1:
            del out[at : at + draw(st.integers(1, 8))]
        elif kind == 2:
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == 3:
            out[at:at] = var_uint(draw(st.sampled_from([2**31, 2**32 - 1, 2**53, 2**63])))
        else:
            out[at:at] = bytes(draw(st.sampled_from([(0x75, 1), (0x76, 1)]))) * draw(
                st.integers(1, 5000)
            )
    return bytes(out)


updates = st.one_of(
    valid_updates,
    valid_updates.flatmap(mutated),
    st.builds(deep_update, st.integers(50, 40_000), st.sampled_from(["array", "object"])),
    st.binary(max_size=64),
)

json_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
awareness_states = st.one_of(
    st.just("null"),
    st.sampled_from(['{"c": NaN}', '{"c": Infinity}', "[1]", "5", "{", '"x"', "{}"]),
    st.builds(lambda n: "[" * n + "]" * n, st.integers(1, 5000)),
    st.dictionaries(json_text, st.integers() | json_text, max_size=4).map(json.dumps),
)
awareness_frames = st.lists(
    st.tuples(st.integers(0, 2**53), st.integers(0, 2**40), awareness_states),
    min_size=0,
    max_size=8,
).map(
    lambda entries: p.encode_awareness(
        p.encode_awareness_update([p.AwarenessEntry(c, k, s) for c, k, s in entries])
    )
)

room_frames = st.lists(
    st.one_of(
        updates.map(p.encode_update),
        updates.map(p.encode_sync_step2),
        st.binary(max_size=40).map(p.encode_sync_step1),
        awareness_frames,
        st.binary(max_size=100),
        st.tuples(st.integers(0, 300), st.binary(max_size=30)).map(lambda t: var_uint(t[0]) + t[1]),
    ),
    min_size=1,
    max_size=5,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers()
    | json_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_text, children, max_size=4)
    ),
    max_leaves=20,
)
gateway_types = st.sampled_from(
    ["joinRoom", "leaveRoom", "applyUpdate", "awareness", "message", "subscribe", "unsubscribe"]
)
gateway_frame = st.one_of(
    st.fixed_dictionaries(
        {"type": gateway_types},
        optional={
            "roomId": st.sampled_from(["idea:fuzz", "presence", "nosuch/x:1", "idea:", ""])
            | json_values,
            "update": updates.map(lambda u: base64.b64encode(u).decode()) | json_values,
            "awareness": json_values,
            "data": json_values,
            "channels": st.lists(st.sampled_from(["*", "build:*", "x/*", "idea:1"]) | json_text)
            | json_values,
            "lastEventId": json_text | json_values,
        },
    ).map(json.dumps),
    json_text,
    st.builds(lambda n: "[" * n + "]" * n, st.integers(60, 50_000)),
)
event_bodies = st.one_of(
    st.fixed_dictionaries(
        {
            "channel": st.sampled_from(["build:1", "idea:2", "presence", "x/y:1"]) | json_text,
            "type": st.sampled_from(
                ["build.progress", "build.failed", "user.joined", "idea.committed", "nope"]
            ),
            "data": json_values,
        }
    ).map(lambda body: json.dumps(body).encode()),
    st.binary(max_size=200),
)


# -- the fuzz targets ---------------------------------------------------------------------------


def test_fuzz_room_frames(target: Target) -> None:
    @FUZZ_SETTINGS
    @given(room_frames)
    def attack(frames: list[bytes]) -> None:
        target.run(target.attack(target.room_frames(frames)))

    attack()


def test_fuzz_gateway_frames(target: Target) -> None:
    @FUZZ_SETTINGS
    @given(st.lists(gateway_frame, min_size=1, max_size=6))
    def attack(frames: list[str]) -> None:
        target.run(target.attack(target.gateway_frames(frames)))

    attack()


def test_fuzz_event_bodies(target: Target) -> None:
    @FUZZ_SETTINGS
    @given(event_bodies)
    def attack(body: bytes) -> None:
        target.run(target.attack(target.event_body(body)))

    attack()


def _read(path: Path) -> bytes:
    """A corpus file's bytes (large ones are kept gzipped)."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def test_the_corpus_stays_harmless(target: Target) -> None:
    """Every input of the corpus (what a fuzz run or a review found harmful, added by hand; see
    corpus/README.md), replayed: ``corpus/room/*`` as room frames, ``corpus/gateway/*`` as gateway frames (one per
    line), ``corpus/events/*`` as event bodies."""
    replayed = 0
    for path in sorted(CORPUS.glob("room/*")):
        target.run(target.attack(target.room_frames([_read(path)])))
        replayed += 1
    for path in sorted(CORPUS.glob("gateway/*")):
        frames = _read(path).decode("utf-8", errors="surrogateescape").splitlines()
        target.run(target.attack(target.gateway_frames(frames)))
        replayed += 1
    for path in sorted(CORPUS.glob("events/*")):
        target.run(target.attack(target.event_body(_read(path))))
        replayed += 1
    assert replayed > 0, "the corpus is empty"
