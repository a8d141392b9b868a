"""What reading version history costs in the SQLite store: the first page of a room with
``--versions`` versions (issue 17: at most 50 ms for 10,000), and the content of an old version
(one row: a full state, no replay; issue 17: at most 300 ms).

Each version holds a full document of about ``--doc-kb`` KiB of text with its authorship runs,
as the recorder writes them. Timings are the median and worst of ``--repeat`` reads.

Example::

    python -m benchmarks.history_store --versions 10000 --doc-kb 20
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from pycrdt import Doc, Text

from jupyter_omniforge.store import SQLiteStore, StoreSettings


def document(kib: int, seed: int) -> bytes:
    doc = Doc()
    text = doc.get("code", type=Text)
    rng = random.Random(seed)
    text.insert(0, "".join(rng.choice("abcdefgh \n") for _ in range(kib * 1024)))
    return doc.get_update()


async def measure(versions: int, doc_kb: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(StoreSettings(path=str(Path(tmp) / "h.sqlite")))
        await store.start()
        try:
            state = document(doc_kb, 1)
            runs = {"code": [[doc_kb * 512, "alice"], [doc_kb * 512, "bob"]]}
            authors = [{"username": "alice", "display_name": "Alice", "updates": 300}]
            ids = []
            for _ in range(versions):
                made = await store.history.add_version("idea:b", state, runs, authors=authors)
                ids.append(made["id"])
            first_page, old_content = [], []
            for i in range(repeat):
                started = time.perf_counter()
                await store.history.list_versions("idea:b", None, 51)
                first_page.append(time.perf_counter() - started)
                started = time.perf_counter()
                await store.history.get_version("idea:b", ids[i % 10])  # among the oldest
                old_content.append(time.perf_counter() - started)
        finally:
            await store.close()
    return {
        "first page median ms": statistics.median(first_page) * 1000,
        "first page worst ms": max(first_page) * 1000,
        "old version median ms": statistics.median(old_content) * 1000,
        "old version worst ms": max(old_content) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--doc-kb", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    results = asyncio.run(measure(args.versions, args.doc_kb, args.repeat))
    for name, value in results.items():
        print(f"{name}: {value:.2f}")


if __name__ == "__main__":
    main()
