"""What version history costs: working out who wrote what, and the bytes its versions take.

(a) ``--updates`` keystrokes (default 100,000) typed by ``--authors`` users, each on their own
pycrdt Doc syncing with the others as real clients do (mostly typing at their own cursor, a
backspace now and then, a jump elsewhere once in a while), then
:func:`~jupyter_omniforge.history.authorship.replay` over the whole log (cost per update, in
one go and in version-sized chunks of ``--every`` updates) and
:func:`~jupyter_omniforge.history.authorship.blame` of the result.

(b) The storage of issue 17's design for ``--authors`` users typing for ``--minutes`` minutes
at ``--keys-per-second`` each: a version (full state + runs as JSON) every ``--every`` updates
or every 60 s of simulated time, against the compacted document plus its update log.

Over HTTP, against a spawned ``jupyter server`` with this extension (``--http``):

(c) Content of a version of a room with ``--log-updates`` keystrokes in its history (issue
17: at most 300 ms for 100,000): one client types them, waiting for the server every
``--confirm-every`` (so the server stores small batches, as from a typist; a version every 500
stored updates, the default), then ``GET versions/{id}`` of the oldest, a middle and the newest versions and of
``--samples`` random ones, each timed end to end.

(d) Restore while ``--editors`` pycrdt clients type (issue 17: every client converges, nothing
lost, under 1 s): each types ``--keys-per-second`` keystrokes at its own line; a version is
named, a marker typed, and ``POST versions/{id}/restore`` sent while they type. Timed: the
POST, and until every client sees the marker gone. Then each client types a last line; all
must end identical, holding every line typed after the restore.

Example::

    python -m benchmarks.history --updates 100000 --minutes 10
    python -m benchmarks.history --http --log-updates 100000 --editors 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
from pycrdt import Doc, Text

from jupyter_omniforge.client import connect_room
from jupyter_omniforge.history import authorship

from .loadgen.report import RESULTS_DIR, append_run, command_line, environment, markdown_table
from .loadgen.servers import SpawnedOmniforge

VERSION_SECONDS = 60.0


class Typists:
    """``authors`` clients typing into one room's ``code`` text, every edit synced at once.

    ASCII only: pycrdt counts UTF-8 bytes, and a cursor inside a character panics yrs; the
    unit conversion replay does costs the same either way (one pass over the runs)."""

    def __init__(self, authors: int, seed: int) -> None:
        self.names = [f"user{i}" for i in range(authors)]
        self.docs = [Doc() for _ in self.names]
        self.texts = [doc.get("code", type=Text) for doc in self.docs]
        self.cursors = [0] * authors
        self.random = random.Random(seed)
        # What a client sends is its transaction's update (as y-websocket does), not a diff
        # against a state vector, which would carry the document's whole delete set.
        self.sent: list[bytes] = []
        for doc in self.docs:
            doc.observe(lambda event: self.sent.append(event.update))

    def keystroke(self) -> tuple[str, bytes]:
        """One edit by a random author: ``(author, update)``."""
        who = self.random.randrange(len(self.names))
        text = self.texts[who]
        length = len(text)
        cursor = min(self.cursors[who], length)
        if self.random.random() < 0.01 or (cursor == 0 and length):
            cursor = self.random.randrange(length + 1)  # a jump elsewhere
        if self.random.random() < 0.1 and cursor > 0:  # a backspace
            del text[cursor - 1 : cursor]
            moved, shift = cursor, -1  # cursors at or after the old position move back
            cursor -= 1
        else:
            text.insert(cursor, self.random.choice("abcdefghij klmnop\n"))
            moved, shift = cursor + 1, 1  # cursors after the insert point move on
            cursor += 1
        self.cursors[who] = cursor
        update = self.sent.pop()
        for other, peer in enumerate(self.docs):
            if other != who:
                peer.apply_update(update)
                self.sent.pop()  # the peer's own observer saw it too
                if self.cursors[other] >= moved:
                    self.cursors[other] += shift
        return self.names[who], update


def typed(updates: int, authors: int, seed: int) -> list[tuple[str, bytes]]:
    typists = Typists(authors, seed)
    return [typists.keystroke() for _ in range(updates)]


def chunks(log: list, size: int) -> Iterator[list]:
    for start in range(0, len(log), size):
        yield log[start : start + size]


class Clock:
    """Wall and CPU seconds of a block: on a shared machine the CPU time is the steadier."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def per(self, n: int) -> str:
        return f"{self.wall / n * 1e6:.1f} µs ({self.cpu / n * 1e6:.1f} µs CPU)"


def replay_cost(log: list[tuple[str, bytes]], every: int) -> list[tuple[str, str]]:
    """(a): replay in one go, in chunks, and blame."""
    with Clock() as whole:
        state, runs = authorship.replay(b"", {}, log)
    with Clock() as chunked:
        chunk_state, chunk_runs = b"", {}
        for chunk in chunks(log, every):
            chunk_state, chunk_runs = authorship.replay(chunk_state, chunk_runs, chunk)
    assert chunk_runs == runs
    with Clock() as blaming:
        blamed = authorship.blame(state, runs, "code")
    n = len(log)
    return [
        ("replay, whole log at once, per update", whole.per(n)),
        (f"replay, {every} updates per call, per update", chunked.per(n)),
        (
            f"blame of the result ({len(blamed['text'])} chars, {len(blamed['ranges'])} ranges,"
            f" {len(state) / 1e3:.0f} kB state)",
            f"{blaming.wall * 1000:.0f} ms ({blaming.cpu * 1000:.0f} ms CPU)",
        ),
    ]


def storage(authors: int, minutes: float, rate: float, every: int, seed: int) -> list[tuple]:
    """(b): versions every ``every`` updates or 60 s, against the document and its log."""
    typists = Typists(authors, seed)
    updates = int(authors * rate * minutes * 60)
    interval = 1 / (authors * rate)  # seconds between keystrokes, all typists together
    log_bytes, versions, version_bytes = 0, 0, 0
    state, runs, pending, last = b"", {}, [], 0.0
    for i in range(updates):
        author, update = typists.keystroke()
        log_bytes += len(update)
        pending.append((author, update))
        now = (i + 1) * interval
        if len(pending) >= every or now - last >= VERSION_SECONDS or i == updates - 1:
            state, runs = authorship.replay(state, runs, pending)
            version_bytes += len(state) + len(json.dumps(runs))
            versions += 1
            pending, last = [], now
    document = len(typists.docs[0].get_update())
    baseline = document + log_bytes
    return [
        (
            f"{authors} users x {minutes:g} min x {rate:g} keys/s",
            updates,
            versions,
            f"{document / 1e3:.1f}",
            f"{log_bytes / 1e3:.1f}",
            f"{version_bytes / 1e3:.1f}",
            f"{version_bytes / baseline:.2f}",
        )
    ]


# -- over HTTP -------------------------------------------------------------------------------------


class Api:
    """The REST API of a spawned server, as its owner."""

    def __init__(self, port: int, token: str) -> None:
        self.url = f"http://127.0.0.1:{port}/"
        self.token = token
        self.http = httpx.AsyncClient(headers={"Authorization": f"token {token}"}, timeout=120)

    def room(self, room: str, path: str = "") -> str:
        return f"{self.url}omniforge/api/rooms/{quote(room)}{path}"

    async def json(self, method: str, url: str, **kwargs: object) -> tuple[float, object]:
        """(seconds, body) of one request; raises on an error status."""
        started = time.perf_counter()
        response = await self.http.request(method, url, **kwargs)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        return elapsed, response.json()

    async def versions(self, room: str) -> list[dict]:
        found, before = [], ""
        while True:
            _, page = await self.json("GET", self.room(room, f"/versions?limit=1000{before}"))
            found += page["versions"]
            if page["next"] is None:
                return found
            before = f"&before={page['next']}"


def _ms(seconds: list[float]) -> str:
    return f"{statistics.median(seconds) * 1000:.1f} ms median, {max(seconds) * 1000:.1f} ms worst"


async def version_content(
    api: Api, updates: int, samples: int, seed: int, confirm_every: int, backspace_every: int
) -> list[tuple]:
    """(c): type ``updates`` keystrokes into one room, then read versions over HTTP."""
    room = "idea:history-bench"
    doc = Doc()
    rng = random.Random(seed)
    started = time.perf_counter()
    async with connect_room(api.url, room, doc, token=api.token, timeout=120) as conn:
        text = doc.get("code", type=Text)
        for i in range(updates):
            if backspace_every and i % backspace_every == backspace_every - 1 and len(text) > 1:
                del text[len(text) - 1 :]
            else:
                text.insert(len(text), rng.choice("abcdefgh \n"))
            if i % confirm_every == confirm_every - 1:
                await conn.confirm(120)  # a typist: the server stores small batches
    typing = time.perf_counter() - started
    final = len(str(text))
    listing: list[dict] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until the quiet spell's version holds it all
        listing = await api.versions(room)
        if listing:
            _, newest = await api.json("GET", api.room(room, f"/versions/{listing[0]['id']}"))
            if len(newest["content"].get("code", "")) == final:
                break
        await asyncio.sleep(0.5)
    ids = [v["id"] for v in listing]
    stored = sum(a["updates"] for v in listing for a in v["authors"])
    picks = {"oldest": [ids[-1]], "middle": [ids[len(ids) // 2]], "newest": [ids[0]]}
    picks[f"{samples} random"] = [rng.choice(ids) for _ in range(samples)]
    rows = []
    for what, chosen in picks.items():
        times, size = [], 0
        for version in chosen:
            elapsed, body = await api.json("GET", api.room(room, f"/versions/{version}"))
            times.append(elapsed)
            size = max(size, len(body["content"].get("code", "")))
        rows.append((f"content of the {what} version", _ms(times), f"{size} chars"))
    note = (
        f"{updates} keystrokes typed in {typing:.1f} s ({updates / typing:.0f}/s, confirmed "
        f"every {confirm_every}, a backspace every {backspace_every or 'never'}); {stored} updates stored (the server merges what arrives "
        f"together); {len(ids)} versions; final text {final} chars"
    )
    return [*rows, ("(typing)", note, "")]


class Editor:
    """One pycrdt client typing at its own line of the room's ``code`` text."""

    def __init__(self, index: int) -> None:
        self.name = f"e{index:02d}"
        self.doc = Doc()
        self.text = self.doc.get("code", type=Text)
        self.typed = 0
        self.after_restore: list[str] = []

    def type_one(self) -> None:
        """A keystroke at the end of its line (made on its first keystroke)."""
        content = str(self.text)
        mark = f"[{self.name}]"
        at = content.find(mark)
        if at < 0:
            self.text.insert(len(content.encode()), f"{mark}\n")
            return
        end = content.find("\n", at)
        end = len(content) if end < 0 else end
        self.text.insert(len(content[:end].encode()), "x")
        self.typed += 1


async def restore_while_typing(api: Api, editors: int, rate: float) -> list[tuple]:
    """(d): restore with ``editors`` clients typing; time until every one sees it."""
    room = "idea:restore-bench"
    people = [Editor(i) for i in range(editors)]
    stop = asyncio.Event()

    async def typing(editor: Editor, conn) -> None:
        while not stop.is_set():
            editor.type_one()
            await asyncio.sleep(random.expovariate(rate))

    async with contextlib.AsyncExitStack() as stack:
        conns = [
            await stack.enter_async_context(
                connect_room(api.url, room, e.doc, token=api.token, timeout=60)
            )
            for e in people
        ]
        tasks = [asyncio.ensure_future(typing(e, c)) for e, c in zip(people, conns, strict=True)]
        await asyncio.sleep(2)
        _, named = await api.json("POST", api.room(room, "/versions"), json={"label": "base"})
        people[0].text.insert(0, "MARKER\n")  # a change the restore takes back
        await _until(lambda: all("MARKER" in str(e.text) for e in people), 10)
        await asyncio.sleep(1)
        seen: dict[str, float] = {}

        def watch(editor: Editor, started: float):
            def changed(_event) -> None:
                if editor.name not in seen and "MARKER" not in str(editor.text):
                    seen[editor.name] = time.perf_counter() - started

            return editor.text.observe(changed)

        started = time.perf_counter()
        watchers = [watch(e, started) for e in people]
        post, _ = await api.json("POST", api.room(room, f"/versions/{named['id']}/restore"))
        await _until(lambda: len(seen) == editors, 30)
        for e, w in zip(people, watchers, strict=True):
            e.text.unobserve(w)
        await asyncio.sleep(1)  # typing goes on over the restored text
        stop.set()
        await asyncio.gather(*tasks)
        for e in people:  # a last line each, after the restore: none may be lost
            line = f"<{e.name} after>"
            e.text.insert(0, line + "\n")
            e.after_restore.append(line)
        for conn in conns:
            await conn.confirm(30)
        await _until(lambda: len({str(e.text) for e in people}) == 1, 30)
    final = str(people[0].text)
    lost = [line for e in people for line in e.after_restore if line not in final]
    converged = max(seen.values())
    return [
        ("POST restore (HTTP round trip)", f"{post * 1000:.0f} ms", ""),
        (
            f"restore seen by all {editors} typing clients",
            f"{converged * 1000:.0f} ms (first {min(seen.values()) * 1000:.0f} ms)",
            "target < 1 s: " + ("met" if converged < 1 else "MISSED"),
        ),
        (
            "converged, nothing lost",
            "identical texts" if not lost else f"LOST {len(lost)} lines",
            f"{sum(e.typed for e in people)} keystrokes typed, {len(final)} chars at the end",
        ),
    ]


async def _until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout} s: {predicate}")
        await asyncio.sleep(0.002)


async def over_http(args: argparse.Namespace) -> list[tuple]:
    spawner = SpawnedOmniforge(
        extra_args=[
            "--OmniForgeApp.history_checkpoint_idle=1",
            "--OmniForgeApp.update_interval=0",
            # One typist round trip per keystroke is above the per-connection rate limit.
            "--OmniForgeApp.max_messages_per_second=1000000",
        ]
    )
    async with spawner as server:
        api = Api(spawner.port, spawner.token)
        try:
            rows = await version_content(
                api,
                args.log_updates,
                args.samples,
                args.seed,
                args.confirm_every,
                args.backspace_every,
            )
            rows += await restore_while_typing(api, args.editors, args.editor_keys_per_second)
        finally:
            await api.http.aclose()
    if server.log_errors:
        print("errors in the server's log:", *server.log_errors, sep="\n")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=100_000, help="(a) keystrokes")
    parser.add_argument("--authors", type=int, default=3)
    parser.add_argument("--every", type=int, default=500, help="updates per version")
    parser.add_argument("--minutes", type=float, default=10, help="(b) simulated typing")
    parser.add_argument("--keys-per-second", type=float, default=3.0, help="(b) per user")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "history.md")
    parser.add_argument("--http", action="store_true", help="(c) and (d) only, over HTTP")
    parser.add_argument("--log-updates", type=int, default=100_000, help="(c) keystrokes")
    parser.add_argument("--samples", type=int, default=20, help="(c) random versions read")
    parser.add_argument(
        "--confirm-every", type=int, default=10, help="(c) keystrokes per server round trip"
    )
    parser.add_argument(
        "--backspace-every", type=int, default=10, help="(c) keystrokes per backspace (0: none)"
    )
    parser.add_argument("--editors", type=int, default=20, help="(d) clients typing")
    parser.add_argument("--editor-keys-per-second", type=float, default=5.0, help="(d) each")
    args = parser.parse_args()

    if args.http:
        rows = asyncio.run(over_http(args))
        columns = ("operation", "time", "notes")
        facts = [
            *environment("asyncio (spawned jupyter server)"),
            ("command", f"`{command_line()}`"),
        ]
        append_run(args.out, "History over HTTP: version content and restore", facts, columns, rows)
        print(markdown_table(columns, rows))
        return

    start = time.perf_counter()
    log = typed(args.updates, args.authors, args.seed)
    typing = time.perf_counter() - start
    costs = replay_cost(log, args.every)
    facts = [
        *environment("none (pure functions)"),
        ("command", f"`{command_line()}`"),
        (
            "(a) log",
            f"{len(log)} updates by {args.authors} authors,"
            f" {sum(len(u) for _, u in log) / 1e6:.1f} MB, typed in {typing:.1f} s",
        ),
    ]
    append_run(args.out, "History: authorship cost", facts, ("operation", "time"), costs)
    print(markdown_table(("operation", "time"), costs))

    columns = (
        "workload",
        "updates",
        "versions",
        "document (kB)",
        "update log (kB)",
        "versions: states + runs (kB)",
        "versions / (document + log)",
    )
    rows = storage(args.authors, args.minutes, args.keys_per_second, args.every, args.seed)
    notes = [
        f"a version every {args.every} updates or {VERSION_SECONDS:g} s of simulated time;"
        " each keeps the full state and the runs as JSON (no compression)"
    ]
    facts = [("command", f"`{command_line()}`")]
    append_run(args.out, "History: storage", facts, columns, rows, notes)
    print(markdown_table(columns, rows))
    print(*notes, sep="\n")


if __name__ == "__main__":
    main()
