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

Example::

    python -m benchmarks.history --updates 100000 --minutes 10
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

from pycrdt import Doc, Text

from jupyter_omniforge.history import authorship

from .loadgen.report import RESULTS_DIR, append_run, command_line, environment, markdown_table

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=100_000, help="(a) keystrokes")
    parser.add_argument("--authors", type=int, default=3)
    parser.add_argument("--every", type=int, default=500, help="updates per version")
    parser.add_argument("--minutes", type=float, default=10, help="(b) simulated typing")
    parser.add_argument("--keys-per-second", type=float, default=3.0, help="(b) per user")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "history.md")
    args = parser.parse_args()

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
