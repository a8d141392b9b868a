"""Mirror a run into a build (or deployment) channel without ever making the caller wait.

A tqdm bar, a notebook cell and a pytest session report through a :class:`RunMirror`: the
caller's thread only records the latest state and the new log lines under a lock; a thread of
the mirror's own sends them, at most ``max_rate`` events per second. State is latest-wins (a
progress bar that refreshes ten times a second sends its newest state); log lines are never
merged away: the lines that arrive between two events go out together, as the event's ``log``.

When the server cannot be found or reached, or refuses an event, the mirror says so once in a
warning (once per process for the same problem, however many runs meet it) and drops
everything else: the caller's code goes on as if nothing were mirrored.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from collections import deque
from typing import Any

from ..names import ID_PATTERN
from .runs import MAX_ERROR, MAX_MESSAGE, _clip, describe

log = logging.getLogger(__name__)

KINDS = ("build", "deployment")
_ID = re.compile(ID_PATTERN)
_NOT_ID = re.compile(r"[^A-Za-z0-9._-]+")
#: Log text waiting to be sent is kept up to this many characters (ten full events); the oldest
#: lines beyond it are dropped, and the log says how many.
MAX_BACKLOG = 10 * MAX_MESSAGE
#: How often an idle mirror looks whether the program is exiting with the run still open.
IDLE_CHECK = 0.5
#: The servers (their URL; the error, when none was found) already warned about: a dead server
#: warns once, not once per bar.
_warned: set[str] = set()
_warned_lock = threading.Lock()


def check_channel(channel: str) -> str:
    """``channel`` if it is ``build:{id}`` or ``deployment:{id}``; else ``ValueError``."""
    kind, _, run_id = channel.partition(":") if isinstance(channel, str) else ("", "", "")
    if kind not in KINDS or not _ID.fullmatch(run_id):
        raise ValueError(
            f"{channel!r} is not a run's channel: expected build:{{id}} or deployment:{{id}} "
            "with an id of 1-128 characters of [A-Za-z0-9._-]"
        )
    return channel


def default_channel(kind: str = "build", suffix: str = "") -> str:
    """The channel a run gets when none is named, after where the code runs:

    - in a notebook's kernel, ``build:{notebook}-{cell}``: the notebook's file name without
      ``.ipynb`` (``__session__``, or the ``JPY_SESSION_NAME`` that Jupyter gives the kernel)
      and the cell's execution count (``In [12]`` gives ``train-12``);
    - in IPython without a notebook, ``build:ipython-{cell}``;
    - elsewhere, ``build:{script}-{pid}``: the script's name without ``.py`` and the process id.

    Characters a room id may not hold become ``-``; ``suffix`` (``"-2"``) is appended.
    """
    shell = _ipython()
    if shell is not None:
        session = shell.user_ns.get("__session__") or os.environ.get("JPY_SESSION_NAME") or ""
        where = _stem(session, ".ipynb") or "ipython"
        # IPython counts a cell before running it: the running cell is the one before.
        which = str(max(0, int(getattr(shell, "execution_count", 1)) - 1))
    else:
        where = _stem(sys.argv[0] if sys.argv and sys.argv[0] else "", ".py") or "python"
        which = str(os.getpid())
    tail = f"-{which}{suffix}"
    return f"{kind}:{where[: 128 - len(tail)]}{tail}"


def _ipython() -> Any:
    """The running IPython shell, or None (without importing IPython where it is not loaded)."""
    if "IPython" not in sys.modules:
        return None
    get_ipython = getattr(sys.modules["IPython"], "get_ipython", None)
    return get_ipython() if get_ipython is not None else None


def _stem(path: str, extension: str) -> str:
    name = os.path.basename(str(path).rstrip("/\\"))
    if name.endswith(extension):
        name = name[: -len(extension)]
    return _NOT_ID.sub("-", name).strip("-.")


def _warn_once(key: str, problem: str) -> None:
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning("%s", problem)


class RunMirror:
    """One run (``build:{id}`` or ``deployment:{id}``) reported from a background thread.

    :meth:`start`, :meth:`progress`, :meth:`log` and :meth:`finish` return at once and never
    raise once the mirror exists. The thread sends ``{kind}.started`` first, then progress at
    most ``max_rate`` events per second, and on :meth:`finish` every line still waiting, the
    last state and ``{kind}.completed`` or ``{kind}.failed`` without waiting for the rate.
    ``url`` and ``token`` default to discovery (``OMNIFORGE_URL`` and ``OMNIFORGE_TOKEN``, or
    the Jupyter server this process runs under); ``timeout`` bounds each request.

    A run nobody finishes is abandoned, unreported, once the program's main thread has ended.
    """

    def __init__(
        self,
        channel: str,
        *,
        url: str | None = None,
        token: str | None = None,
        max_rate: float = 5.0,
        timeout: float = 10.0,
    ) -> None:
        self.channel = check_channel(channel)
        self.kind = channel.partition(":")[0]
        if not max_rate > 0:
            raise ValueError(
                f"max_rate must be a positive number of events per second, not {max_rate!r}"
            )
        self.max_rate = float(max_rate)
        self._url = url
        self._token = token
        self._timeout = timeout
        #: Why mirroring stopped (the server is unreachable, refused an event…), or None.
        self.problem: str | None = None
        #: How many events the server accepted.
        self.sent = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._started_at: float | None = None
        self._start: dict[str, Any] | None = None  # the started event's data, until sent
        self._percent = 0.0
        self._message: str | None = None  # the newest state's message, until sent
        self._lines: deque[str] = deque()
        self._backlog = 0  # characters in _lines
        self._dropped = 0
        self._end: tuple[str, dict[str, Any]] | None = None
        self._stopped = False  # finished or given up: nothing more is recorded

    def __repr__(self) -> str:
        return f"<RunMirror {self.channel} sent={self.sent}>"

    # -- the caller's side -------------------------------------------------------------------

    def start(self, message: str | None = None, **data: Any) -> None:
        """Begin the run: ``{kind}.started`` with ``message`` and ``data``. Later calls do nothing."""
        with self._cond:
            if self._thread is not None or self._stopped:
                return
            self._started_at = time.monotonic()
            if message is not None:
                data["message"] = _clip(str(message), MAX_MESSAGE)
            self._start = data
            self._thread = threading.Thread(
                target=self._run, name=f"omniforge mirror {self.channel}"
            )
            self._thread.start()

    def progress(self, percent: float | None, message: str) -> None:
        """The run's newest state (``percent`` None keeps the last); an unsent older one is
        replaced."""
        with self._cond:
            if self._stopped:
                return
            if percent is not None:
                self._percent = min(100.0, max(0.0, float(percent)))
            self._message = str(message)
            self._cond.notify()

    def log(self, line: str) -> None:
        """A line of the run's log; every line is sent, several in one event when they come fast."""
        with self._cond:
            if self._stopped:
                return
            line = _clip(str(line), MAX_MESSAGE)
            self._lines.append(line)
            self._backlog += len(line) + 1
            while self._backlog > MAX_BACKLOG and len(self._lines) > 1:
                self._backlog -= len(self._lines.popleft()) + 1
                self._dropped += 1
            self._cond.notify()

    def finish(self, error: BaseException | str | None = None, message: str | None = None) -> None:
        """End the run: ``{kind}.completed`` (with ``message``), or ``{kind}.failed`` when there
        is an ``error`` (an exception, reported as ``"ValueError: msg"``, or a text). Starts the
        run first if it was not. Later calls do nothing."""
        self.start()
        with self._cond:
            if self._stopped:
                return
            self._stopped = True
            started = self._started_at if self._started_at is not None else time.monotonic()
            data: dict[str, Any] = {"duration": round(time.monotonic() - started, 6)}
            if message is not None:
                data["message"] = _clip(str(message), MAX_MESSAGE)
            if error is None:
                self._end = (f"{self.kind}.completed", data)
            else:
                text = error if isinstance(error, str) else describe(error)
                data["error"] = _clip(text or "failed", MAX_ERROR)
                self._end = (f"{self.kind}.failed", data)
            self._cond.notify()

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the thread to send what it has; True when done."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    # -- the mirror's thread -------------------------------------------------------------------

    def _run(self) -> None:
        from .events import OmniForge

        try:
            forge = OmniForge(self._url, self._token, timeout=self._timeout)
        except Exception as e:  # discovery found no server (or several)
            self._give_up(e)
            return
        with forge:
            interval = 1.0 / self.max_rate
            next_at = 0.0
            while True:
                events, last = self._next_events(next_at)
                for type, data in events:
                    try:
                        forge.emit(self.channel, type, data)
                    except Exception as e:
                        self._give_up(e, forge.url)
                        return
                    self.sent += 1
                next_at = time.monotonic() + interval
                if last:
                    return

    def _next_events(self, next_at: float) -> tuple[list[tuple[str, dict[str, Any]]], bool]:
        """Wait until something is due, then take it: one event, or everything once the run
        has ended. Returns the events and whether the run is over."""
        with self._cond:
            while True:
                if self._end is not None:
                    return self._take(final=True), True
                if self._start is not None or self._lines or self._message is not None:
                    delay = next_at - time.monotonic()
                    if delay <= 0:
                        return self._take(final=False), False
                    self._cond.wait(delay)
                elif not threading.main_thread().is_alive():
                    self._stopped = True  # the program is exiting and left the run open
                    return [], True
                else:
                    self._cond.wait(IDLE_CHECK)

    def _take(self, final: bool) -> list[tuple[str, dict[str, Any]]]:
        events: list[tuple[str, dict[str, Any]]] = []
        if self._start is not None:
            events.append((f"{self.kind}.started", self._start))
            self._start = None
            if not final:
                return events
        while self._lines or self._dropped:
            lines = self._waiting_lines()
            events.append(self._progress(lines[-1], lines))
            if not final:
                return events
        if self._message is not None:
            events.append(self._progress(self._message))
            self._message = None
        if final and self._end is not None:
            events.append(self._end)
        return events

    def _waiting_lines(self) -> list[str]:
        """As many waiting lines as fit in one event, oldest first."""
        parts: list[str] = []
        size = 0
        if self._dropped:
            parts.append(f"[{self._dropped} lines not mirrored: they came faster than sent]")
            size = len(parts[0]) + 1
            self._dropped = 0
        while self._lines and size + len(self._lines[0]) <= MAX_MESSAGE:
            line = self._lines.popleft()
            self._backlog -= len(line) + 1
            parts.append(line)
            size += len(line) + 1
        return parts

    def _progress(self, message: str, lines: list[str] | None = None) -> tuple[str, dict[str, Any]]:
        """A progress event; with ``lines``, they are its ``log`` (as ``jupyter omniforge run``
        sends output) and the last one its ``message``."""
        data: dict[str, Any] = {"percent": self._percent, "message": _clip(message, MAX_MESSAGE)}
        if lines is not None:
            data["log"] = lines
        return f"{self.kind}.progress", data

    def _give_up(self, error: Exception, url: str | None = None) -> None:
        with self._cond:
            self._stopped = True
            self._lines.clear()
            self._start = self._message = self._end = None
        where = f" at {url}" if url else ""
        self.problem = f"cannot report to OmniForge{where}: {error}"
        _warn_once(url or str(error), f"{self.problem} (progress is not mirrored)")
