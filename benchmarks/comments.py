"""What comments cost over HTTP, against a spawned ``jupyter server`` with this extension.

(a) The first page of a room's thread list (issue 20: at most 50 ms for 1,000 threads): one
client writes ``--threads`` lines of code (``--emoji`` puts a non-ASCII character on every
line, which takes the anchors' slower, exact path), a thread is anchored on each line (a
reply on every ``--reply-every``), then ``GET threads?limit=50`` is timed end to end
``--samples`` times, with the room open (a client connected) and closed (read from the store).

(b) A new comment reaching another user (issue 20: at most 100 ms p95): a second client follows
the room's channel over the realtime gateway while the first posts ``--comments`` replies, one
at a time; timed from just before each POST until its ``comment.created`` event arrives.

With ``--compare-with DIR`` it runs (a) only, on two servers at once: this checkout's and one
importing ``jupyter_omniforge`` from DIR (another version of it, e.g. ``git archive HEAD
jupyter_omniforge | tar -x -C DIR``), the same room on each, their GETs interleaved (A, B, B, A,
...) so that both see the same load on a shared machine.

Example::

    python -m benchmarks.comments --threads 1000 --comments 200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
from pathlib import Path
from urllib.parse import quote

import httpx
from pycrdt import Doc, Text

from jupyter_omniforge.client import OmniForge, connect_room

from .loadgen.report import RESULTS_DIR, append_run, command_line, environment, markdown_table
from .loadgen.servers import SpawnedOmniforge


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"median {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
        f"max {ordered[-1] * 1000:.1f} ms"
    )


async def thread_list(
    base: str, token: str, threads: int, samples: int, emoji: bool, reply_every: int
) -> list[tuple]:
    room = "idea:bench-threads"
    lines = [f"line {i:05d} = {'🎉' if emoji else 'x'} compute({i})\n" for i in range(threads)]
    doc = Doc()
    rows = []
    http = httpx.AsyncClient(headers={"Authorization": f"token {token}"}, timeout=60)
    url = f"{base}omniforge/api/rooms/{quote(room)}/threads"
    try:
        async with connect_room(base, room, doc, token=token) as conn:
            doc.get("code", type=Text).insert(0, "".join(lines))
            await conn.confirm(30)
            offset = 0
            started = time.perf_counter()
            for i, line in enumerate(lines):
                anchor = {"root": "code", "start": offset + 5, "end": offset + 10}
                made = await http.post(url, json={"body": f"thread {i}", "anchor": anchor})
                made.raise_for_status()
                if reply_every and i % reply_every == 0:
                    thread_id = made.json()["id"]
                    answer = await http.post(f"{url}/{thread_id}/comments", json={"body": "+1"})
                    answer.raise_for_status()
                offset += len(line)
            creating = time.perf_counter() - started
            rows.append(
                ("create threads", f"{threads}", f"{creating / threads * 1000:.1f} ms each")
            )
            rows += await _first_page(http, url, samples, threads, "open room")
        # Closed: the room is read from the store (after its idle timeout).
        await asyncio.sleep(1.5)
        rows += await _first_page(http, url, samples, threads, "closed room")
    finally:
        await http.aclose()
    return rows


async def _first_page(
    http: httpx.AsyncClient, url: str, samples: int, threads: int, label: str
) -> tuple[tuple, tuple]:
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        page = await http.get(url, params={"limit": 50})
        page.raise_for_status()
        times.append(time.perf_counter() - start)
        body = page.json()
        assert len(body["threads"]) == min(50, threads) and body["threads"][0]["comments"]
    row = (f"first page of {threads} threads ({label})", f"{samples} GETs", _ms(times))
    # The same number of the cheapest authenticated endpoint: what the machine adds to any GET.
    base = url.split("omniforge/api/")[0] + "omniforge/api/access"
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        (await http.get(base, params={"room": "idea:bench-threads"})).raise_for_status()
        times.append(time.perf_counter() - start)
    return row, ("baseline: GET omniforge/api/access", f"{samples} GETs", _ms(times))


class _SpawnedFrom(SpawnedOmniforge):
    """A spawned server importing ``jupyter_omniforge`` from ``path`` first."""

    def __init__(self, path: Path, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.path = path

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.path), env.get("PYTHONPATH")]))
        return env


async def _populate(http: httpx.AsyncClient, url: str, threads: int, emoji: bool) -> None:
    offset = 0
    for i in range(threads):
        line = f"line {i:05d} = {'🎉' if emoji else 'x'} compute({i})\n"
        anchor = {"root": "code", "start": offset + 5, "end": offset + 10}
        made = await http.post(url, json={"body": f"thread {i}", "anchor": anchor})
        made.raise_for_status()
        if i % 3 == 0:
            answer = await http.post(f"{url}/{made.json()['id']}/comments", json={"body": "+1"})
            answer.raise_for_status()
        offset += len(line)


async def compare(args: argparse.Namespace) -> list[tuple]:
    """(a) on this checkout's server and on one importing jupyter_omniforge from
    ``args.compare_with``, GETs interleaved."""
    extra = ["--OmniForgeApp.room_idle_timeout=1", "--OmniForgeApp.max_messages_per_second=1000000"]
    servers = {
        "this checkout": SpawnedOmniforge(extra_args=extra),
        f"from {args.compare_with}": _SpawnedFrom(args.compare_with, extra_args=extra),
    }
    room = "idea:bench-threads"
    lines = "".join(
        f"line {i:05d} = {'🎉' if args.emoji else 'x'} compute({i})\n" for i in range(args.threads)
    )
    rows: list[tuple] = []
    async with contextlib.AsyncExitStack() as stack:
        clients = {}
        for label, spawner in servers.items():
            await stack.enter_async_context(spawner)
            base = f"http://127.0.0.1:{spawner.port}/"
            http = httpx.AsyncClient(
                headers={"Authorization": f"token {spawner.token}"}, timeout=60
            )
            stack.push_async_callback(http.aclose)
            clients[label] = (
                base,
                spawner.token,
                http,
                f"{base}omniforge/api/rooms/{quote(room)}/threads",
            )
        async with contextlib.AsyncExitStack() as rooms:
            for base, token, http, url in clients.values():
                doc = Doc()
                conn = await rooms.enter_async_context(connect_room(base, room, doc, token=token))
                doc.get("code", type=Text).insert(0, lines)
                await conn.confirm(30)
                await _populate(http, url, args.threads, args.emoji)
            rows += await _interleaved(clients, args.samples, args.threads, "open room")
        await asyncio.sleep(1.5)  # closed: read from the store after the idle timeout
        rows += await _interleaved(clients, args.samples, args.threads, "closed room")
    return rows


async def _interleaved(clients: dict, samples: int, threads: int, label: str) -> list[tuple]:
    times: dict[str, list[float]] = {name: [] for name in clients}
    names = list(clients)
    for i in range(samples):
        for name in names if i % 2 == 0 else names[::-1]:
            http, url = clients[name][2], clients[name][3]
            start = time.perf_counter()
            page = await http.get(url, params={"limit": 50})
            page.raise_for_status()
            times[name].append(time.perf_counter() - start)
            assert len(page.json()["threads"]) == min(50, threads)
    return [
        (f"first page of {threads} threads ({label}), {name}", f"{samples} GETs", _ms(times[name]))
        for name in names
    ]


async def comment_latency(base: str, token: str, comments: int) -> list[tuple]:
    room = "idea:bench-latency"
    doc = Doc()
    async with connect_room(base, room, doc, token=token):
        doc.get("code", type=Text).insert(0, "print('hello')\n")
    arrived: dict[str, float] = {}
    async with OmniForge(base, token) as writer, OmniForge(base, token) as reader:
        thread = await writer.acomment(room, "the thread", range=(0, 5))
        ready = asyncio.Event()

        async def follow() -> None:
            async for event in reader.subscribe(room, ready=ready):
                if event["type"] == "comment.created":
                    arrived[event["data"]["comment"]] = time.perf_counter()

        follower = asyncio.ensure_future(follow())
        await asyncio.wait_for(ready.wait(), 10)
        times = []
        try:
            for i in range(comments):
                start = time.perf_counter()
                comment = await writer.areply(room, thread.id, f"reply {i}")
                deadline = time.monotonic() + 10
                while comment["id"] not in arrived:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"comment {comment['id']} never arrived")
                    await asyncio.sleep(0.0005)
                times.append(arrived[comment["id"]] - start)
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
    return [("comment.created reaching another subscriber", f"{comments} replies", _ms(times))]


async def run(args: argparse.Namespace) -> list[tuple]:
    spawner = SpawnedOmniforge(
        extra_args=[
            "--OmniForgeApp.room_idle_timeout=1",
            "--OmniForgeApp.max_messages_per_second=1000000",
        ]
    )
    async with spawner:
        base = f"http://127.0.0.1:{spawner.port}/"
        rows = await thread_list(
            base, spawner.token, args.threads, args.samples, args.emoji, args.reply_every
        )
        rows += await comment_latency(base, spawner.token, args.comments)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1000, help="(a) threads in the room")
    parser.add_argument("--samples", type=int, default=30, help="(a) first-page GETs timed")
    parser.add_argument("--reply-every", type=int, default=3, help="(a) a reply every N threads")
    parser.add_argument("--emoji", action="store_true", help="(a) non-ASCII text")
    parser.add_argument("--comments", type=int, default=200, help="(b) replies timed")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "comments.md")
    parser.add_argument(
        "--compare-with", type=Path, help="(a) only, against jupyter_omniforge imported from DIR"
    )
    args = parser.parse_args()
    rows = asyncio.run(compare(args) if args.compare_with else run(args))
    columns = ("operation", "size", "time")
    facts = [
        *environment("asyncio (spawned jupyter server)"),
        ("command", f"`{command_line()}`"),
    ]
    append_run(
        args.out, "Comments over HTTP: thread list and comment latency", facts, columns, rows
    )
    print(markdown_table(columns, rows))


if __name__ == "__main__":
    main()
