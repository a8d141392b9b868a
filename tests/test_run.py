"""Stories of ``jupyter omniforge run``: a command run as a build or a deployment, its output
the run's log, against a real ``jupyter server`` subprocess (one for the module; each story has
its own channel). The CLI runs as a subprocess, as in a shell or a CI job."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shlex
import signal
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jupyter_omniforge.cli import Display
from jupyter_omniforge.client import OmniForge
from jupyter_omniforge.client.command import (
    MAX_LINE_BYTES,
    TQDM_PERCENT,
    CommandRun,
    LogBuffer,
    ProgressPattern,
    split_lines,
)

from .conftest import ServerProcess, free_port, wait_for

CLI = [sys.executable, "-m", "jupyter_omniforge.cli"]
PY = sys.executable


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("run")
    server = ServerProcess(home / "root", home / "db" / "omniforge.sqlite")
    server.start_blocking()
    yield server
    server.stop()


@pytest.fixture
def channel() -> str:
    return f"build:{uuid.uuid4().hex[:8]}"


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A shell without OMNIFORGE_* and with an empty Jupyter runtime dir: the server is the one
    the arguments (or ``extra``) name."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIFORGE_")}
    env.pop("JPY_PARENT_PID", None)
    return {**env, "JUPYTER_RUNTIME_DIR": str(runtime), **extra}


def at(server: ServerProcess) -> list[str]:
    return ["--url", server.url, "--token", server.token]


@dataclass
class Done:
    code: int
    out: bytes
    err: bytes
    seconds: float

    def __str__(self) -> str:
        return (
            f"exit {self.code}\n--- stdout\n{self.out[-2000:]!r}\n--- stderr\n{self.err[-3000:]!r}"
        )


async def omniforge_run(*args: str, env: dict[str, str], timeout: float = 60) -> Done:
    began = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *CLI, "run", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return Done(proc.returncode, out, err, time.monotonic() - began)


async def events_of(server: ServerProcess, channel: str) -> list[dict[str, Any]]:
    async with OmniForge(server.url, server.token) as forge:
        return await forge.ahistory(channel, limit=1000)


def log_of(events: list[dict[str, Any]]) -> list[str]:
    return [line for e in events if e["type"].endswith(".progress") for line in e["data"]["log"]]


def python(code: str) -> list[str]:
    return [PY, "-c", code]


# -- the stories ---------------------------------------------------------------------------------


async def test_a_command_that_succeeds_is_a_completed_build_with_its_output_as_the_log(
    server, channel, tmp_path
):
    code = "import sys\nprint('compiling')\nprint('warning: unused', file=sys.stderr)"
    done = await omniforge_run(
        channel, "--name", "nightly", *at(server), "--", *python(code), env=env_for(tmp_path)
    )
    assert done.code == 0, done
    # Passed through unchanged: stdout to stdout, stderr to stderr.
    assert done.out == b"compiling\n"
    assert done.err == b"warning: unused\n"

    events = await events_of(server, channel)
    types = [e["type"] for e in events]
    assert types[0] == "build.started" and types[-1] == "build.completed", types
    assert set(types[1:-1]) == {"build.progress"}
    started = events[0]["data"]
    assert started["name"] == "nightly" and started["message"] == "nightly"
    assert started["command"] == shlex.join([PY, "-c", code])
    assert started["host"] == socket.gethostname()
    assert sorted(log_of(events)) == ["compiling", "warning: unused"]
    completed = events[-1]["data"]
    assert completed["exit_code"] == 0 and completed["duration"] >= 0


async def test_a_failing_command_fails_the_build_with_its_code_and_its_last_20_lines(
    server, channel, tmp_path
):
    script = "for i in $(seq 1 30); do echo line $i; done; exit 3"
    done = await omniforge_run(
        channel, *at(server), "--", "sh", "-c", script, env=env_for(tmp_path)
    )
    assert done.code == 3, done
    events = await events_of(server, channel)
    failed = events[-1]
    assert failed["type"] == "build.failed"
    assert failed["data"]["exit_code"] == 3
    assert failed["data"]["error"] == "\n".join(f"line {i}" for i in range(11, 31))
    assert failed["data"]["message"] == "exited with code 3"
    assert log_of(events) == [f"line {i}" for i in range(1, 31)]


async def test_progress_comes_from_the_progress_regex(server, channel, tmp_path):
    code = (
        "import time\n"
        "for step in (25, 50, 75):\n"
        "    print(f'[step] {step} percent done', flush=True)\n"
        "    time.sleep(0.25)\n"
        "print('packing', flush=True)\n"
    )
    done = await omniforge_run(
        channel, "--progress-regex", r"\[step\] (?P<percent>\d+) percent", *at(server),
        "--", *python(code), env=env_for(tmp_path),
    )  # fmt: skip
    assert done.code == 0, done
    progress = [
        e["data"] for e in await events_of(server, channel) if e["type"] == "build.progress"
    ]
    percents = [data["percent"] for data in progress]
    assert percents == sorted(percents) and percents[-1] == 75, progress
    assert {25, 50} & set(percents), progress  # spaced out: not all in one event
    assert progress[-1]["log"][-1] == "packing"


async def test_progress_comes_from_tqdm_style_bars_redrawn_with_carriage_returns(
    server, channel, tmp_path
):
    # What tqdm writes to stderr: each state after a "\r", a "\n" when the bar closes.
    code = (
        "import sys, time\n"
        "for i in range(0, 11):\n"
        "    bar = '#' * i + ' ' * (10 - i)\n"
        "    sys.stderr.write(f'\\r{i * 10:3d}%|{bar}| {i}/10 [00:00<00:00]')\n"
        "    sys.stderr.flush()\n"
        "    time.sleep(0.03)\n"
        "sys.stderr.write('\\n')\n"
    )
    done = await omniforge_run(channel, *at(server), "--", *python(code), env=env_for(tmp_path))
    assert done.code == 0, done
    events = await events_of(server, channel)
    log = log_of(events)
    assert log == [
        f"{i * 10:3d}%|{'#' * i + ' ' * (10 - i)}| {i}/10 [00:00<00:00]" for i in range(11)
    ]
    percents = [e["data"]["percent"] for e in events if e["type"] == "build.progress"]
    assert percents[-1] == 100 and percents == sorted(percents)


async def test_the_real_tqdm_drives_the_percent(server, channel, tmp_path):
    pytest.importorskip("tqdm")
    code = "import time\nfrom tqdm import tqdm\nfor _ in tqdm(range(20), mininterval=0):\n    time.sleep(0.02)\n"
    done = await omniforge_run(channel, *at(server), "--", *python(code), env=env_for(tmp_path))
    assert done.code == 0, done
    events = await events_of(server, channel)
    percents = [e["data"]["percent"] for e in events if e["type"] == "build.progress"]
    assert percents[-1] == 100, log_of(events)
    assert events[-1]["type"] == "build.completed"


async def test_lines_faster_than_the_rate_are_joined_and_none_is_lost(server, channel, tmp_path):
    """5,000 lines in bursts over about a second at --max-rate 4: every line in the log, in
    order, and never more than 4 events in any second."""
    code = (
        "import sys, time\n"
        "for burst in range(10):\n"
        "    for i in range(500):\n"
        "        print(f'line {burst * 500 + i} ' + 'x' * (i % 50))\n"
        "    sys.stdout.flush()\n"
        "    time.sleep(0.1)\n"
    )
    expected = [f"line {b * 500 + i} " + "x" * (i % 50) for b in range(10) for i in range(500)]
    done = await omniforge_run(
        channel, "--max-rate", "4", *at(server), "--", *python(code), env=env_for(tmp_path)
    )
    assert done.code == 0, done
    assert done.out == "".join(line + "\n" for line in expected).encode()
    events = await events_of(server, channel)
    assert log_of(events) == expected
    times = [e["time"] for e in events if e["type"] == "build.progress"]
    assert 2 <= len(times) < 50
    for first, fifth in zip(times, times[4:], strict=False):
        assert fifth - first >= 0.95, times  # 5 events apart: at least a second


async def test_sigterm_goes_to_the_command_and_the_build_fails_interrupted(
    server, channel, tmp_path
):
    code = (
        "import signal, sys, time\n"
        "def stop(signum, frame):\n"
        "    print('got SIGTERM, cleaning up', flush=True)\n"
        "    sys.exit(5)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = await asyncio.create_subprocess_exec(
        *CLI, "run", channel, *at(server), "--", *python(code),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env_for(tmp_path),
    )  # fmt: skip
    assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    rest, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 5, err  # the command's own code
    assert rest == b"got SIGTERM, cleaning up\n"
    events = await events_of(server, channel)
    failed = events[-1]
    assert failed["type"] == "build.failed", events
    assert failed["data"]["error"] == "interrupted"
    assert failed["data"]["exit_code"] == 5
    assert log_of(events) == ["ready", "got SIGTERM, cleaning up"]


async def test_sigint_stops_the_command_as_ctrl_c_would(server, channel, tmp_path):
    code = "import time\nprint('ready', flush=True)\ntime.sleep(60)\n"
    proc = await asyncio.create_subprocess_exec(
        *CLI, "run", channel, *at(server), "--", *python(code),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env_for(tmp_path),
    )  # fmt: skip
    assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"ready\n"
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 130, err  # Python died of SIGINT: 128 + 2

    async def failure() -> dict[str, Any] | None:
        events = await events_of(server, channel)
        return events[-1] if events and events[-1]["type"] == "build.failed" else None

    failed = await wait_for(failure, timeout=10)  # the run's last event, once the history has it
    assert failed["data"]["error"] == "interrupted"
    assert failed["data"]["message"] == "interrupted (SIGINT)"


async def test_a_timeout_kills_the_command_and_records_timed_out(server, channel, tmp_path):
    done = await omniforge_run(
        channel, "--timeout", "1", *at(server), "--", "sh", "-c", "echo started; exec sleep 30",
        env=env_for(tmp_path),
    )  # fmt: skip
    assert done.code == 124, done
    assert done.seconds < 15
    events = await events_of(server, channel)
    failed = events[-1]
    assert failed["type"] == "build.failed"
    assert failed["data"]["error"] == "timed out"
    assert failed["data"]["exit_code"] == 128 + signal.SIGTERM
    assert 0.9 < failed["data"]["duration"] < 10
    assert log_of(events) == ["started"]


async def test_a_deployment_channel_gets_deployment_events(server, tmp_path):
    channel = f"deployment:{uuid.uuid4().hex[:8]}"
    done = await omniforge_run(
        channel, *at(server), "--", "sh", "-c", "echo pushing; echo live", env=env_for(tmp_path)
    )
    assert done.code == 0, done
    events = await events_of(server, channel)
    types = [e["type"] for e in events]
    assert types[0] == "deployment.started" and types[-1] == "deployment.completed", types
    assert set(types[1:-1]) == {"deployment.progress"}
    assert log_of(events) == ["pushing", "live"]
    failing = await omniforge_run(channel, *at(server), "--", "false", env=env_for(tmp_path))
    assert failing.code == 1
    failed = (await events_of(server, channel))[-1]
    assert failed["type"] == "deployment.failed" and failed["data"]["exit_code"] == 1
    assert failed["data"]["error"] == "exited with code 1"


async def test_the_server_comes_from_omniforge_url_and_omniforge_token(server, channel, tmp_path):
    env = env_for(tmp_path, OMNIFORGE_URL=server.url, OMNIFORGE_TOKEN=server.token)
    done = await omniforge_run(channel, "--", "echo", "from CI", env=env)
    assert done.code == 0, done
    assert log_of(await events_of(server, channel)) == ["from CI"]


async def test_a_room_scoped_token_runs_its_own_rooms_and_nothing_else(server, channel, tmp_path):
    async with OmniForge(server.url, server.token) as forge:
        minted = await forge.arequest(
            "POST",
            "omniforge/api/tokens",
            json={
                "user": "ci-bot",
                "rooms": [channel],
                "permissions": ["read", "emit"],
                "ttl": 600,
            },
        )
    env = env_for(tmp_path, OMNIFORGE_URL=server.url, OMNIFORGE_TOKEN=minted["token"])
    done = await omniforge_run(channel, "--", "echo", "scoped", env=env)
    assert done.code == 0, done
    events = await events_of(server, channel)
    assert {e["source"]["username"] for e in events} == {"ci-bot"}
    assert log_of(events) == ["scoped"]

    # Elsewhere it may not report: exit 4, and the command does not run.
    marker = tmp_path / "ran"
    other = f"build:{uuid.uuid4().hex[:8]}"
    refused = await omniforge_run(other, "--", "touch", str(marker), env=env)
    assert refused.code == 4, refused
    assert b"not authorized" in refused.err
    assert not marker.exists()
    assert await events_of(server, other) == []


async def test_without_a_server_the_command_does_not_run_and_it_exits_3(tmp_path):
    marker = tmp_path / "ran"
    dead = f"http://127.0.0.1:{free_port()}/"
    done = await omniforge_run(
        "build:1", "--url", dead, "--token", "x", "--", "touch", str(marker), env=env_for(tmp_path)
    )
    assert done.code == 3, done
    assert b"cannot reach" in done.err
    assert not marker.exists()


async def test_output_passes_through_byte_for_byte(server, channel, tmp_path):
    """Whatever the command writes reaches the terminal as written, on its own stream: CRLF,
    invalid UTF-8, colours and a last line without an end; the log gets the lines as text."""
    code = (
        "import sys\n"
        "sys.stdout.buffer.write(b'crlf\\r\\n\\x1b[32mgreen\\x1b[0m\\nbad \\xff byte\\nno end')\n"
        "sys.stderr.buffer.write(b'to stderr\\n')\n"
    )
    done = await omniforge_run(channel, *at(server), "--", *python(code), env=env_for(tmp_path))
    assert done.code == 0, done
    assert done.out == b"crlf\r\n\x1b[32mgreen\x1b[0m\nbad \xff byte\nno end"
    assert done.err == b"to stderr\n"
    log = log_of(await events_of(server, channel))
    assert [line for line in log if line != "to stderr"] == [
        "crlf", "green", "bad \ufffd byte", "no end"
    ]  # fmt: skip


async def test_quiet_prints_nothing_and_still_logs_everything(server, channel, tmp_path):
    script = "echo one; echo two >&2; exit 2"
    done = await omniforge_run(
        channel, "--quiet", *at(server), "--", "sh", "-c", script, env=env_for(tmp_path)
    )
    assert done.code == 2
    assert done.out == b"" and done.err == b""
    events = await events_of(server, channel)
    assert sorted(log_of(events)) == ["one", "two"]
    assert events[-1]["data"]["exit_code"] == 2


async def test_a_missing_command_fails_the_build_and_exits_127(server, channel, tmp_path):
    done = await omniforge_run(
        channel, *at(server), "--", "no-such-command-anywhere", env=env_for(tmp_path)
    )
    assert done.code == 127
    assert b"command not found: no-such-command-anywhere" in done.err
    failed = (await events_of(server, channel))[-1]
    assert failed["type"] == "build.failed" and failed["data"]["exit_code"] == 127


@pytest.mark.parametrize(
    "args, message",
    [
        (["idea:1", "--", "true"], "build:ID or deployment:ID"),
        (["build:1", "--"], "no command to run"),
        (["build:1", "--progress-regex", "(", "--", "true"], "--progress-regex"),
        (["build:1", "--progress-regex", r"\d+%", "--", "true"], "(?P<percent>"),
        (["build:1", "--max-rate", "0", "--", "true"], "--max-rate"),
        (["build:1", "--timeout", "-1", "--", "true"], "--timeout"),
    ],
)
async def test_invalid_arguments_exit_2_before_looking_for_a_server(tmp_path, args, message):
    done = await omniforge_run(*args, env=env_for(tmp_path))
    assert done.code == 2, done
    assert message.encode() in done.err


async def test_a_server_with_a_smaller_event_limit_still_gets_every_line(tmp_path):
    """Events larger than the server's max_event_bytes are refused (413): the runner sends
    smaller ones, and no line is lost."""
    server = ServerProcess(
        tmp_path / "root", tmp_path / "db.sqlite", ["--OmniForgeApp.max_event_bytes=4096"]
    )
    await server.start()
    try:
        code = "for i in range(2000):\n    print(f'line {i:05d} ' + 'y' * 40)\n"
        done = await omniforge_run(
            "build:small", "--max-rate", "50", *at(server), "--", *python(code),
            env=env_for(tmp_path),
        )  # fmt: skip
        assert done.code == 0, done
        events = await events_of(server, "build:small")
        assert log_of(events) == [f"line {i:05d} " + "y" * 40 for i in range(2000)]
        assert all(len(json.dumps(e["data"], separators=(",", ":"))) <= 4096 for e in events)
    finally:
        server.stop()


async def test_a_server_that_goes_away_for_a_while_loses_no_line(tmp_path):
    """The server stops while the command prints and comes back: the command is not held up,
    and the lines it printed meanwhile reach the log once the server is back."""
    server = ServerProcess(tmp_path / "root", tmp_path / "db.sqlite")
    await server.start()
    try:
        code = (
            "import time\n"
            "for i in range(40):\n"
            "    print(f'tick {i}', flush=True)\n"
            "    time.sleep(0.1)\n"
        )
        proc = await asyncio.create_subprocess_exec(
            *CLI, "run", "build:away", *at(server), "--", *python(code),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=env_for(tmp_path),
        )  # fmt: skip
        assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"tick 0\n"
        server.stop()
        began = time.monotonic()
        lines = [b"tick 0\n"]
        while len(lines) < 20:  # printed on while the server is away
            lines.append(await asyncio.wait_for(proc.stdout.readline(), 10))
        assert time.monotonic() - began < 5
        await server.start()
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err
        assert b"".join(lines) + out == b"".join(f"tick {i}\n".encode() for i in range(40))
        events = await events_of(server, "build:away")
        # At least once: a batch the server stored as it stopped, unanswered, is sent again.
        assert list(dict.fromkeys(log_of(events))) == [f"tick {i}" for i in range(40)]
        assert events[-1]["type"] == "build.completed"
    finally:
        server.stop()


# -- the pieces ----------------------------------------------------------------------------------


def test_lines_end_at_newlines_and_at_the_carriage_returns_of_progress_bars():
    assert split_lines(b"a\nb\n") == [b"a", b"b"]
    assert split_lines(b"\n\n") == [b"", b""]  # empty lines are lines
    assert split_lines(b"a\r\nb\r\n") == [b"a", b"b"]
    assert split_lines(b"\r 10%|#\r 20%|##\n") == [b" 10%|#", b" 20%|##"]
    assert split_lines(b"done\r") == [b"done"]


def test_the_buffer_keeps_partial_lines_until_they_end_and_splits_long_ones():
    buffer = LogBuffer()
    buffer.feed(1, b"hel")
    buffer.feed(2, b"err")
    buffer.feed(1, b"lo\nwor")
    buffer.feed(1, b"ld\r")  # "\r" may be half of "\r\n"
    buffer.feed(1, b"\nnext")
    buffer.close(1)
    buffer.close(2)
    assert buffer.take(10_000) == [b"hello", b"world", b"next", b"err"]
    long = "é".encode() * MAX_LINE_BYTES  # two bytes each
    buffer.feed(1, long + b"\n")
    pieces = buffer.take(100_000)
    assert b"".join(pieces) == long and all(len(p) <= MAX_LINE_BYTES for p in pieces)
    assert all(p.decode() for p in pieces)  # cut between characters
    # A line with no end yet, longer than a piece, arriving cut in the middle of a character.
    smileys = "😀".encode() * 5000
    buffer.feed(2, smileys[:12_001])
    buffer.feed(2, smileys[12_001:])
    buffer.close(2)
    pieces = buffer.take(100_000)
    assert b"".join(pieces) == smileys and all(p.decode() for p in pieces)


def test_a_full_buffer_drops_the_oldest_lines_and_says_so():
    buffer = LogBuffer(max_pending=100)
    for i in range(50):
        buffer.feed(1, f"line {i}\n".encode())
    taken = buffer.take(10_000)
    assert taken[0].startswith(b"[jupyter omniforge: ") and b"lines were dropped" in taken[0]
    dropped = int(taken[0].split()[2])
    assert taken[1:] == [f"line {i}".encode() for i in range(dropped, 50)]
    assert list(buffer.tail) == [f"line {i}".encode() for i in range(30, 50)]


def test_the_progress_pattern_finds_the_last_percent():
    tqdm = ProgressPattern()
    assert tqdm.regex.pattern == TQDM_PERCENT
    assert tqdm.last([" 10%|#   | 1/10", "compiling", " 40%|####| 4/10", "x"]) == 40
    assert tqdm.last(["100% done"]) is None
    custom = ProgressPattern(r"step (?P<percent>[\d.]+)")
    assert custom.last(["step 12.5 of", "step 250"]) == 100  # clamped
    with pytest.raises(ValueError, match="percent"):
        ProgressPattern(r"(\d+)%")


def test_a_batch_never_exceeds_the_event_limit_even_with_escapes():
    run = CommandRun(None, "build:1", ["true"], event_bytes=2048)  # type: ignore[arg-type]
    for line in ["\x01" * 900, "😀" * 400, "plain"] * 3:
        run.buffer.feed(1, line.encode() + b"\n")
    sent: list[str] = []
    while run.buffer:
        lines, data = run._batch()
        assert len(json.dumps(data, separators=(",", ":"))) <= 2048
        sent.extend(lines)
    assert "".join(sent) == "".join(["\x01" * 900, "😀" * 400, "plain"] * 3)


def test_a_batch_fills_the_event():
    run = CommandRun(None, "build:1", ["true"], event_bytes=8192)  # type: ignore[arg-type]
    for i in range(1000):
        run.buffer.feed(1, f"{i:05d} {'z' * 74}\n".encode())
    sizes = []
    while run.buffer:
        _, data = run._batch()
        sizes.append(len(json.dumps(data, separators=(",", ":"))))
    assert all(8192 * 0.97 < size <= 8192 for size in sizes[:-1]), sizes


def test_watch_prints_the_lines_of_a_log_event():
    out = io.StringIO()
    display = Display(out, tty=False)
    event = {
        "channel": "build:1",
        "type": "build.progress",
        "data": {"percent": 40, "message": "b", "log": ["a", "b"]},
    }
    assert display.show(event) is None
    assert out.getvalue() == "[ 40%] a\n[ 40%] b\n"
