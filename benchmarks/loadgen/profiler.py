"""Profiling a server under test with py-spy (``pip install py-spy``), and summarizing it.

``py-spy record --format raw`` writes collapsed stacks (``thread;frame;frame N``); the summary
gives each function's inclusive and self share of the samples, lines merged.
"""

from __future__ import annotations

import asyncio
import math
import re
import shutil
import signal
import sys
from collections import Counter
from pathlib import Path


async def start_py_spy(
    pid: int, out: Path, seconds: float, rate: int, gil: bool = False
) -> asyncio.subprocess.Process | None:
    """``py-spy record`` of ``pid`` into ``out`` for at most ``seconds``; None without py-spy.

    ``--nonblocking``: the server is not paused per sample, so the profile does not slow it down.
    ``gil``: only samples holding the GIL (Python running), closer to CPU time on a loaded
    machine than py-spy's default on/off-CPU guess.
    """
    py_spy = shutil.which("py-spy") or shutil.which(str(Path(sys.executable).parent / "py-spy"))
    if py_spy is None:
        print("  (py-spy not found: pip install py-spy into the venv to profile)", file=sys.stderr)
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        py_spy, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
        "--threads", "--nonblocking", "--output", str(out), *(["--gil"] if gil else []),
        "--duration", str(math.ceil(seconds)),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await asyncio.sleep(0.5)  # let it attach before the measured phase
    return proc


async def stop_py_spy(proc: asyncio.subprocess.Process) -> None:
    """Stop a recording; py-spy writes its output on SIGINT."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(proc.communicate(), 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()


_FRAME_RE = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::\d+)?\)$")


def _frame(frame: str) -> str:
    """``func (/x/site-packages/pkg/mod.py:12)`` -> ``pkg/mod.py:func`` (lines merged)."""
    m = _FRAME_RE.match(frame)
    if not m:
        return frame
    path = m.group("file")
    for marker in ("site-packages/", "/lib/python3", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{m.group('func')}"


def summarize_profile(path: str, top: int = 20) -> str:
    """Inclusive and self shares of the samples per function (py-spy raw format, non-idle
    samples only; the first frame of each stack is the thread)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"{path}: no profile"
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        frames = [_frame(f) for f in stack.split(";")]
        total += count
        for f in set(frames):
            inclusive[f] += count
        own[frames[-1]] += count
    if not total:
        return f"{path}: no samples"
    lines = [f"{path}: {total} samples", "  inclusive:"]
    lines += [f"    {100 * k / total:5.1f}%  {f}" for f, k in inclusive.most_common(top)]
    lines.append("  self:")
    lines += [f"    {100 * k / total:5.1f}%  {f}" for f, k in own.most_common(top)]
    return "\n".join(lines)
