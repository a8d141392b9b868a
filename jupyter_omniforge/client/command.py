"""Run a command as a build or a deployment: ``jupyter omniforge run build:42 -- make test``.

    async with OmniForge() as forge:
        status = await CommandRun(forge, "build:42", ["make", "test"], name="nightly").run()

The command's standard output and error are pipes. What it writes goes on to ours as it arrives,
byte for byte (not with ``quiet``), and is cut into lines for the run's log: at ``\\n``, ``\\r\\n``
and at a lone ``\\r`` (a progress bar redrawing its line, each state a line). The log goes out as
``{kind}.progress`` events ``{"percent", "message": the last line, "log": [lines]}``, at most
``max_rate`` a second: lines that come faster are joined into one event, as many as one event may
hold (``event_bytes`` of JSON, the server's ``max_event_bytes``), the rest into the next. No line
is cut short: a line longer than :data:`MAX_LINE_BYTES` goes out in pieces.

Sending runs beside the reading, never in its way: a slow or unreachable server makes the queue of
unsent lines longer, never the command slower. The queue holds at most :data:`PENDING_BYTES`;
past that the oldest unsent lines are dropped and a line of the log says how many.

The percent comes from the last line matching ``progress_regex`` (its group ``percent``), by
default tqdm's ``NN%|``. The outcome: exit status 0 gives ``{kind}.completed`` ``{duration,
exit_code}``; any other ``{kind}.failed`` with ``exit_code`` and the last 20 lines as ``error``.
SIGINT and SIGTERM go to the command, which is then ``failed`` with ``error: "interrupted"``;
``timeout`` sends it SIGTERM (SIGKILL :data:`KILL_AFTER` seconds later) and records
``"timed out"``. The outcome is sent after every line of the log.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, BinaryIO

from .. import strictjson
from ..backoff import Backoff
from .errors import NotAuthorized, RequestFailed, ServerUnreachable
from .runs import _clip

if TYPE_CHECKING:
    from .events import OmniForge

#: Channel kinds a command can report on.
KINDS = ("build", "deployment")
#: Events per second at most, by default.
DEFAULT_MAX_RATE = 10.0
#: The largest event data (compact JSON) sent: the server's default ``max_event_bytes``. When the
#: server refuses an event as too large (413), the runner halves it, down to MIN_EVENT_BYTES.
EVENT_BYTES = 64 * 1024
MIN_EVENT_BYTES = 1024
#: The schemas' bounds on one log line (characters) and on the lines of one event.
MAX_LINE_BYTES = 10_000
MAX_LINES_PER_EVENT = 10_000
#: Bounds of the status line (``message``), the command line and the name.
MAX_STATUS = 1_000
MAX_COMMAND = 10_000
MAX_NAME = 1_000
MAX_HOST = 255
#: Unsent log kept while the server is slow or away (bytes of lines); older lines go first.
PENDING_BYTES = 16 * 1024 * 1024
#: Lines of output a failed run carries as its ``error``.
TAIL_LINES = 20
#: Seconds between the SIGTERM of a timeout and the SIGKILL of a command still running.
KILL_AFTER = 5.0
#: Seconds to read what the command's pipes still hold once it exited: a process it left running
#: in the background may keep them open for ever.
PIPE_DRAIN = 2.0
#: Once the command ended, seconds of failing to reach the server before the rest is given up.
GIVE_UP_AFTER = 30.0
#: The pipes' capacity (Linux): room for the command to write while the runner is busy sending.
PIPE_SIZE = 1024 * 1024
#: A read of less than COALESCE_BYTES pauses reading that pipe for COALESCE_SECONDS (a delay no
#: one sees; far less than the pipe's room at any rate a command can write).
COALESCE_BYTES = 64 * 1024
COALESCE_SECONDS = 0.005
#: tqdm's bar: `` 40%|████      | 4/10 [...]``.
TQDM_PERCENT = r"(?P<percent>\d{1,3}(?:\.\d+)?)%\|"

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_STDOUT, _STDERR = 1, 2


def parse_channel(channel: str) -> tuple[str, str]:
    """``"build:42"`` -> ``("build", "42")``; :class:`ValueError` for other kinds of channel."""
    kind, sep, run_id = channel.partition(":")
    if kind not in KINDS or not sep or not run_id:
        raise ValueError(f"a command runs as build:ID or deployment:ID, not {channel!r}")
    return kind, run_id


def _json_size(value: object) -> int:
    """The size the server holds an event's data to (``max_event_bytes``)."""
    return len(strictjson.dumps(value))


def _text(line: bytes) -> str:
    """A log line as text: UTF-8 (invalid bytes replaced), without terminal escapes (colours,
    cursor moves), which no log view shows."""
    text = line.decode("utf-8", "replace")
    return _ANSI.sub("", text) if "\x1b" in text else text


def split_lines(data: bytes) -> list[bytes]:
    """The lines of ``data``, which ends with ``\\n`` or ``\\r``. A lone ``\\r`` ends a line too
    (a progress bar redraws its line after one); the empty lines it leaves are not lines."""
    if b"\r" not in data:
        lines = data.split(b"\n")
        lines.pop()  # after the final "\n"
        return lines
    parts = data.replace(b"\r\n", b"\n").split(b"\n")
    last = parts.pop()  # b"" after a final "\n", else what comes before a final "\r"
    lines: list[bytes] = []
    for part in parts:
        if b"\r" in part:
            lines.extend(p for p in part.split(b"\r") if p)
        else:
            lines.append(part)
    lines.extend(p for p in last.split(b"\r") if p)
    return lines


def _pieces(line: bytes, size: int = MAX_LINE_BYTES) -> list[bytes]:
    """``line`` in pieces of at most ``size`` bytes, cut between UTF-8 characters."""
    pieces = []
    while len(line) > size:
        cut = size
        while cut > size - 4 and line[cut] & 0xC0 == 0x80:  # a continuation byte
            cut -= 1
        pieces.append(line[:cut])
        line = line[cut:]
    pieces.append(line)
    return pieces


def _whole_characters(data: bytes) -> int:
    """The length of ``data`` without the UTF-8 character its end cuts in two, if any."""
    start = len(data) - 1
    while start > len(data) - 4 and start > 0 and data[start] & 0xC0 == 0x80:
        start -= 1  # a continuation byte: the character started before it
    lead = data[start] if data else 0
    size = 4 if lead >= 0xF0 else 3 if lead >= 0xE0 else 2 if lead >= 0xC0 else 1
    return start if len(data) - start < size else len(data)


class LogBuffer:
    """The command's output, cut into lines, queued until sent.

    :meth:`feed` takes the bytes of each stream as they come; a line is queued once it ends, and
    a stream's last line when it closes. The queue holds at most ``max_pending`` bytes of lines;
    past that the oldest are dropped, counted in ``dropped`` (the next :meth:`take` starts with a
    line that says so). ``tail`` keeps the last :data:`TAIL_LINES` lines, sent or not.
    """

    def __init__(self, max_pending: int = PENDING_BYTES) -> None:
        self.max_pending = max_pending
        self.pending_bytes = 0
        self.dropped = 0
        self.lines = 0  # queued so far, in all
        self.tail: deque[bytes] = deque(maxlen=TAIL_LINES)
        self._queue: deque[bytes] = deque()
        self._partial: dict[int, bytes] = {}

    def __len__(self) -> int:
        return len(self._queue) + (self.dropped > 0)

    def feed(self, stream: int, data: bytes) -> None:
        """Bytes the command wrote on ``stream``."""
        partial = self._partial.pop(stream, None)
        if partial:
            data = partial + data
        # A "\r" at the very end may be the first half of "\r\n": the next bytes decide.
        end = len(data) - 1 if data.endswith(b"\r") else len(data)
        cut = max(data.rfind(b"\n", 0, end), data.rfind(b"\r", 0, end))
        if cut >= 0:
            self._add(split_lines(data[: cut + 1]))
            data = data[cut + 1 :]
        if len(data) > MAX_LINE_BYTES:  # a line that goes on and on: queue what it has so far
            whole = _whole_characters(data)
            self._add(split_lines(data[:whole] + b"\n"))
            data = data[whole:]
        if data:
            self._partial[stream] = data

    def close(self, stream: int) -> None:
        """``stream`` ended: what it left without an end of line is a line too."""
        partial = self._partial.pop(stream, None)
        if partial:
            self._add(split_lines(partial + b"\n"))

    def _add(self, lines: list[bytes]) -> None:
        if not lines:
            return
        if max(map(len, lines)) > MAX_LINE_BYTES:
            lines = [piece for line in lines for piece in _pieces(line)]
        self.lines += len(lines)
        self.tail.extend(lines[-TAIL_LINES:])
        self._queue.extend(lines)
        # A line's JSON is its bytes, two quotes and a comma (more for escapes and non-ASCII:
        # the batch is measured exactly before it is sent).
        self.pending_bytes += sum(map(len, lines)) + 3 * len(lines)
        while self.pending_bytes > self.max_pending and self._queue:
            self.pending_bytes -= len(self._queue.popleft()) + 3
            self.dropped += 1

    def take(self, max_bytes: int, max_lines: int = MAX_LINES_PER_EVENT) -> list[bytes]:
        """The oldest queued lines, as many as fit in about ``max_bytes`` of JSON (at least one)
        and ``max_lines``."""
        lines: list[bytes] = []
        size = 0
        if self.dropped:
            lines.append(
                f"[jupyter omniforge: {self.dropped} lines were dropped here: the server did "
                "not keep up]".encode()
            )
            size = len(lines[0]) + 3
            self.dropped = 0
        queue = self._queue
        while queue and len(lines) < max_lines:
            cost = len(queue[0]) + 3
            if lines and size + cost > max_bytes:
                break
            lines.append(queue.popleft())
            size += cost
        self.pending_bytes -= size
        return lines

    def put_back(self, lines: Sequence[bytes]) -> None:
        """Queue ``lines`` (taken, not sent) again, before the others."""
        self._queue.extendleft(reversed(lines))
        self.pending_bytes += sum(map(len, lines)) + 3 * len(lines)


class ProgressPattern:
    """Finds the percent in log lines: the named group ``percent`` of ``regex`` (by default
    tqdm's ``NN%|``) in the last line that matches. :class:`ValueError` for a regex that does not
    compile or has no group ``percent``."""

    def __init__(self, regex: str | None = None) -> None:
        try:
            self.regex = re.compile(regex or TQDM_PERCENT)
        except re.error as e:
            raise ValueError(f"--progress-regex: {e}") from None
        if "percent" not in self.regex.groupindex:
            raise ValueError("--progress-regex needs a named group: (?P<percent>...)")
        #: What a matching line must contain (tqdm's bar): most lines are passed over at once.
        self._hint = "%|" if regex is None else ""

    def last(self, lines: Sequence[str]) -> float | None:
        """The percent of the last line that has one (0-100), or None."""
        hint, search = self._hint, self.regex.search
        for line in reversed(lines):
            if hint not in line:
                continue
            match = search(line)
            if match is None:
                continue
            try:
                value = float(match.group("percent"))
            except (TypeError, ValueError):
                continue
            if value == value:  # not NaN
                return max(0.0, min(100.0, value))
        return None


class _Pipes(asyncio.SubprocessProtocol):
    """Hands what the command writes to its run, as it comes."""

    def __init__(self, run: CommandRun) -> None:
        self.loop = asyncio.get_running_loop()
        self.run = run
        self.exited: asyncio.Future[None] = self.loop.create_future()
        self.closed = {_STDOUT: self.loop.create_future(), _STDERR: self.loop.create_future()}
        self.transport: asyncio.SubprocessTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.run._output(fd, data)
        if len(data) < COALESCE_BYTES and self.transport is not None:
            # A little at a time: let more gather in the pipe first. A command that writes
            # fast then meets fewer wake-ups of this process (and bigger reads) on its way.
            pipe = self.transport.get_pipe_transport(fd)
            if pipe is not None and not pipe.is_closing():
                pipe.pause_reading()  # type: ignore[attr-defined]
                self.loop.call_later(COALESCE_SECONDS, pipe.resume_reading)  # type: ignore[attr-defined]

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.run.buffer.close(fd)
        self.run._wake.set()
        if fd in self.closed and not self.closed[fd].done():
            self.closed[fd].set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


def check_arguments(
    channel: str,
    argv: Sequence[str],
    *,
    progress_regex: str | None = None,
    timeout: float | None = None,
    max_rate: float = DEFAULT_MAX_RATE,
) -> None:
    """Raise :class:`ValueError`, saying what is wrong, for arguments :class:`CommandRun` would
    refuse (a CLI checks them before it looks for a server)."""
    parse_channel(channel)
    ProgressPattern(progress_regex)
    if not argv:
        raise ValueError("no command to run: put it after --")
    if not max_rate > 0:
        raise ValueError("--max-rate must be positive")
    if timeout is not None and not timeout > 0:
        raise ValueError("--timeout must be positive")


class CommandRun:
    """One command run as ``{kind}:{id}`` (see the module docstring); :meth:`run` runs it.

    ``stdout`` and ``stderr`` are where its output is passed through (binary streams; default:
    this process's); ``warn`` prints this runner's own warnings (default: to stderr). After
    :meth:`run`, ``events`` counts the events sent, ``lost`` the log lines that could not be.
    """

    def __init__(
        self,
        forge: OmniForge,
        channel: str,
        argv: Sequence[str],
        *,
        name: str | None = None,
        progress_regex: str | None = None,
        timeout: float | None = None,
        max_rate: float = DEFAULT_MAX_RATE,
        quiet: bool = False,
        stdout: BinaryIO | None = None,
        stderr: BinaryIO | None = None,
        event_bytes: int = EVENT_BYTES,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        check_arguments(
            channel, argv, progress_regex=progress_regex, timeout=timeout, max_rate=max_rate
        )
        self.kind, self.id = parse_channel(channel)
        self.channel = channel
        self.forge = forge
        self.argv = list(argv)
        self.name = name
        self.progress = ProgressPattern(progress_regex)
        self.timeout = timeout
        self.interval = 1.0 / max_rate
        self.quiet = quiet
        self.event_bytes = event_bytes
        self.buffer = LogBuffer()
        self.percent = 0.0
        self.events = 0
        self.lost = 0
        self.interrupted: str | None = None  # the signal's name
        self.timed_out = False
        self._out = {
            _STDOUT: stdout or getattr(sys.stdout, "buffer", None),
            _STDERR: stderr or getattr(sys.stderr, "buffer", None),
        }
        self._warn_to = warn or _print_warning
        self._warned: set[str] = set()
        self._wake = asyncio.Event()
        self._output_done = False
        self._reporting = True
        self._abandon = asyncio.Event()
        self._ended_at: float | None = None  # loop time the command's output ended
        self._failing_since: float | None = None
        self._backoff = Backoff(0.2, 5.0)
        self._transport: asyncio.SubprocessTransport | None = None

    # -- running ---------------------------------------------------------------------------------

    async def run(self) -> int:
        """Run the command; the status this runner exits with: the command's own (``128 + N``
        when a signal N ended it), 124 when ``timeout`` ended it, 127 when it does not exist
        (126: not executable). Raises the client's errors when ``{kind}.started`` cannot be
        emitted: then the command does not run."""
        command = shlex.join(self.argv)
        started = {
            "message": _clip(self.name or command, MAX_STATUS),
            "command": _clip(command, MAX_COMMAND),
            "host": _clip(socket.gethostname(), MAX_HOST),
        }
        if self.name:
            started["name"] = _clip(self.name, MAX_NAME)
        await self.forge.aemit(self.channel, f"{self.kind}.started", started)
        self.events += 1
        loop = asyncio.get_running_loop()
        began = time.monotonic()
        try:
            transport, pipes = await loop.subprocess_exec(
                lambda: _Pipes(self),
                *self.argv,
                stdin=None,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as e:
            status = 127 if isinstance(e, FileNotFoundError) else 126
            reason = "command not found" if status == 127 else "cannot run the command"
            error = f"{reason}: {self.argv[0]} ({e.strerror or e})"
            self._warn_to(f"jupyter omniforge: error: {error}")
            await self._finish_event(
                f"{self.kind}.failed",
                {"error": error, "exit_code": status, "duration": 0.0, "message": reason},
            )
            return status
        self._transport = transport
        _widen(transport)
        sender = asyncio.ensure_future(self._send_log())
        signals = self._catch_signals(loop)
        killer = loop.call_later(self.timeout, self._on_timeout) if self.timeout else None
        try:
            await pipes.exited
            duration = time.monotonic() - began
            if killer is not None:
                killer.cancel()
            # What the pipes still hold; a background process may keep them open: not for ever.
            await asyncio.wait(list(pipes.closed.values()), timeout=PIPE_DRAIN)
            transport.close()
            for fd in pipes.closed:
                self.buffer.close(fd)
            self._ended_at = loop.time()
            self._output_done = True
            self._wake.set()
            abandon = asyncio.ensure_future(self._abandon.wait())
            await asyncio.wait([sender, abandon], return_when=asyncio.FIRST_COMPLETED)
            abandon.cancel()
            if not sender.done():  # a signal while the log was still going out
                sender.cancel()
                self.lost += len(self.buffer)
            elif not sender.cancelled() and sender.exception() is not None:
                self._warn("broken", f"sending the log failed: {sender.exception()!r}")
            returncode = transport.get_returncode()
            assert returncode is not None
            status = returncode if returncode >= 0 else 128 - returncode
            event_type, data = self._outcome(status, returncode, duration)
            await self._finish_event(event_type, data)
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)
            if not sender.done():
                sender.cancel()
            transport.close()
        if self.lost:
            self._warn_to(
                f"jupyter omniforge: warning: {self.lost} lines of the log of {self.channel} "
                "could not be sent"
            )
        return 124 if self.timed_out else status

    def _outcome(self, status: int, returncode: int, duration: float) -> tuple[str, dict]:
        data: dict = {"exit_code": status, "duration": round(duration, 6)}
        if self.timed_out:
            data.update(error="timed out", message=f"timed out after {self.timeout:g} s")
        elif self.interrupted:
            data.update(error="interrupted", message=f"interrupted ({self.interrupted})")
        elif status == 0:
            self.percent = 100.0
            return f"{self.kind}.completed", data
        else:
            if returncode < 0:
                summary = f"killed by {_signal_name(-returncode)}"
            else:
                summary = f"exited with code {status}"
            tail = "\n".join(_text(line) for line in self.buffer.tail).strip("\n")
            data.update(error=self._fit(tail or summary), message=summary)
        return f"{self.kind}.failed", data

    def _fit(self, text: str) -> str:
        """``text`` without as much of its start as it takes to fit in half an event."""
        budget = self.event_bytes // 2
        while _json_size(text) > budget:
            text = "…" + text[max(1, (len(text) + 3) // 4) :]
        return text

    # -- the command's output --------------------------------------------------------------------

    def _output(self, fd: int, data: bytes) -> None:
        out = None if self.quiet else self._out.get(fd)
        if out is not None:
            try:
                out.write(data)
                out.flush()
            except (BrokenPipeError, ValueError):  # our own output is gone: the log is not
                self._out[fd] = None
        self.buffer.feed(fd, data)
        self._wake.set()

    # -- signals and the timeout -----------------------------------------------------------------

    def _catch_signals(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        caught = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, self._on_signal, signum)
            except (NotImplementedError, RuntimeError, ValueError):
                continue  # no signal handlers here (Windows, or not the main thread)
            caught.append(signum)
        return caught

    def _on_signal(self, signum: int) -> None:
        transport = self._transport
        if transport is None or transport.get_returncode() is not None:
            # The command has ended: stop waiting for the rest of its log to go out.
            self._abandon.set()
            return
        self.interrupted = self.interrupted or _signal_name(signum)
        # Ctrl-C in a terminal reaches every process of the foreground group, the command
        # included: sending it another would make it two.
        if signum == signal.SIGINT and _in_terminal_foreground():
            return
        self._signal(signum)

    def _on_timeout(self) -> None:
        self.timed_out = True
        self._signal(signal.SIGTERM)
        asyncio.get_running_loop().call_later(KILL_AFTER, self._signal, signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        transport = self._transport
        if transport is None or transport.get_returncode() is not None:
            return
        try:
            transport.send_signal(signum)
        except ProcessLookupError:
            pass

    # -- sending ---------------------------------------------------------------------------------

    async def _send_log(self) -> None:
        """Send the queued lines, at most one event per ``interval``, until the output ended
        and everything is sent (or given up)."""
        loop = asyncio.get_running_loop()
        next_at = 0.0
        while self._reporting:
            if not self.buffer:
                if self._output_done:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._given_up(loop):
                self.lost += len(self.buffer)
                return
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            next_at = loop.time() + self.interval
            await self._send_batch()

    def _given_up(self, loop: asyncio.AbstractEventLoop) -> bool:
        if self._failing_since is None or self._ended_at is None:
            return False
        return loop.time() - max(self._failing_since, self._ended_at) > GIVE_UP_AFTER

    def _batch(self) -> tuple[list[str], dict]:
        """The next event's lines (taken from the queue) and data, within ``event_bytes``."""
        lines = [_text(line) for line in self.buffer.take(self.event_bytes)]
        while True:
            percent = self.progress.last(lines)
            message = next((line for line in reversed(lines) if line.strip()), "")
            data = {
                "percent": self.percent if percent is None else percent,
                "message": _clip(message, MAX_STATUS),
                "log": lines,
            }
            excess = _json_size(data) - self.event_bytes
            if excess <= 0:
                return lines, data
            # The status line, escapes and non-ASCII made it larger than counted: the last
            # lines wait for the next event.
            if len(lines) > 1:
                keep, freed = len(lines), 0
                while keep > 1 and freed < excess:
                    keep -= 1
                    freed += _json_size(lines[keep]) + 1
                self._put_back(lines[keep:])
                lines = lines[:keep]
            else:
                line = lines[0]
                self._put_back([line[len(line) // 2 :]])
                lines = [line[: len(line) // 2]]

    def _put_back(self, lines: list[str]) -> None:
        self.buffer.put_back([line.encode() for line in lines])

    async def _send_batch(self) -> None:
        lines, data = self._batch()
        try:
            await self.forge.aemit(self.channel, f"{self.kind}.progress", data)
        except RequestFailed as e:
            if e.status == 413 and self.event_bytes > MIN_EVENT_BYTES:
                self.event_bytes //= 2  # the server takes smaller events than we thought
                self._put_back(lines)
            elif isinstance(e, NotAuthorized):
                self._stop_reporting(str(e))
            elif e.status < 500 and e.status != 429:
                self.lost += len(lines)  # refused as it is: sending it again would not help
                self._warn("refused", f"the server refused log lines of {self.channel}: {e}")
            else:
                self._put_back(lines)
                await self._failed(e)
            return
        except ServerUnreachable as e:
            self._put_back(lines)
            await self._failed(e)
            return
        self.events += 1
        self.percent = data["percent"]
        self._failing_since = None
        self._backoff.reset()

    async def _failed(self, error: Exception) -> None:
        self._warn(
            "unreachable", f"{error}; the log of {self.channel} is kept until the server answers"
        )
        if self._failing_since is None:
            self._failing_since = asyncio.get_running_loop().time()
        await self._backoff.wait()

    async def _finish_event(self, event_type: str, data: dict) -> None:
        """Emit the outcome, retrying an unreachable server for :data:`GIVE_UP_AFTER` seconds
        (not when a signal asked to stop waiting)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GIVE_UP_AFTER
        backoff = Backoff(0.2, 5.0)
        while self._reporting:
            try:
                await self.forge.aemit(self.channel, event_type, data)
                self.events += 1
                return
            except RequestFailed as e:
                if e.status == 413 and self.event_bytes > MIN_EVENT_BYTES and "error" in data:
                    self.event_bytes //= 2
                    data = {**data, "error": self._fit(data["error"])}
                    continue
                if isinstance(e, NotAuthorized) or (e.status < 500 and e.status != 429):
                    self._stop_reporting(f"{event_type} was not recorded: {e}")
                    return
                failure: Exception = e
            except ServerUnreachable as e:
                failure = e
            if loop.time() > deadline or self._abandon.is_set():
                self._stop_reporting(f"{event_type} was not recorded: {failure}")
                return
            await backoff.wait()

    def _stop_reporting(self, why: str) -> None:
        self._reporting = False
        self.lost += len(self.buffer)
        self._warn("stopped", f"{why}; the command goes on unreported")

    def _warn(self, kind: str, text: str) -> None:
        """Print a warning once per kind of trouble."""
        if kind not in self._warned:
            self._warned.add(kind)
            self._warn_to(f"jupyter omniforge: warning: {text}")


def _widen(transport: asyncio.SubprocessTransport) -> None:
    """Give the command's pipes :data:`PIPE_SIZE` of room (Linux; elsewhere they stay as they
    are): it writes on while the runner is busy for a moment."""
    try:
        import fcntl

        setpipe = fcntl.F_SETPIPE_SZ  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        return
    for fd in (_STDOUT, _STDERR):
        pipe = transport.get_pipe_transport(fd)
        if pipe is None or pipe.is_closing():  # read to its end already
            continue
        try:
            fcntl.fcntl(pipe.get_extra_info("pipe").fileno(), setpipe, PIPE_SIZE)
        except (OSError, ValueError):
            pass  # above /proc/sys/fs/pipe-max-size, or closed meanwhile


def _print_warning(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _in_terminal_foreground() -> bool:
    """Whether this process' group is its terminal's foreground group (so a Ctrl-C there was
    sent to the command too)."""
    for fd in (0, 1, 2):
        try:
            return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
