"""``%%omniforge``: run a notebook cell as a build.

    %load_ext jupyter_omniforge

    %%omniforge build:42
    train()

The cell runs as it would without the magic, and is reported on ``build:42`` (or
``deployment:{id}``; by default a room named after the notebook and the cell, as
:func:`~jupyter_omniforge.client.mirror.default_channel` says): ``build.started``, then what
the cell prints to stdout and stderr as the run's log (``build.progress`` messages, at most
5 a second, lines that come faster together in one event's ``log``), then ``build.completed``, or
``build.failed`` with the exception when the cell raises. The exception is shown as usual and
the cell still fails (so "Run All" stops there). The printed lines are printed as usual too.
Events go out from a background thread: the cell never waits for the server.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from .client.mirror import RunMirror, default_channel
from .client.runs import MAX_MESSAGE

#: Terminal colour and cursor codes: a log is read as plain text.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class CellFailed(Exception):
    """Fails the ``%%omniforge`` cell after the cell's own exception was shown."""

    def __init__(self, channel: str, kind: str) -> None:
        super().__init__(f"the cell failed; reported on {channel} as {kind}.failed")

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: the cell's own was shown already.
        return [str(self)]


class _Lines:
    """Cuts what a stream is given into lines for the run's log. A carriage return starts the
    line over, as on a terminal (a text progress bar logs its last state, not every refresh)."""

    def __init__(self, mirror: RunMirror) -> None:
        self._mirror = mirror
        self._partial = ""

    def write(self, text: str) -> None:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._mirror.log(_ANSI.sub("", line.rsplit("\r", 1)[-1]))
        self._partial = self._partial.rsplit("\r", 1)[-1]
        if len(self._partial) >= MAX_MESSAGE:  # a line that never ends still gets logged
            self.close()

    def close(self) -> None:
        if self._partial:
            self._mirror.log(_ANSI.sub("", self._partial))
            self._partial = ""


class _Tee:
    """A stream that writes to ``stream`` and hands the same text to ``lines``."""

    def __init__(self, stream: TextIO, lines: _Lines) -> None:
        self._stream = stream
        self._lines = lines

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        self._lines.write(text)
        return written

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, encoding, fileno…
        return getattr(self._stream, name)


@contextmanager
def _teed(mirror: RunMirror) -> Iterator[None]:
    """Copy what is printed to ``sys.stdout`` and ``sys.stderr`` into the run's log."""
    outputs = [(name, _Lines(mirror)) for name in ("stdout", "stderr")]
    saved = {name: getattr(sys, name) for name, _ in outputs}
    for name, lines in outputs:
        setattr(sys, name, _Tee(saved[name], lines))
    try:
        yield
    finally:
        for name, lines in outputs:
            setattr(sys, name, saved[name])
            lines.close()


@magics_class
class OmniForgeMagics(Magics):
    """The ``%%omniforge`` cell magic (``%load_ext jupyter_omniforge``)."""

    @magic_arguments()
    @argument(
        "channel",
        nargs="?",
        help="build:{id} or deployment:{id}; by default a room named after the notebook and "
        "the cell",
    )
    @cell_magic
    def omniforge(self, line: str, cell: str) -> None:
        """Run the cell as a build: what it prints goes into the run's log, an exception fails
        the run (and the cell, as usual)."""
        args = parse_argstring(self.omniforge, line)
        try:
            mirror = RunMirror(args.channel or default_channel())
        except ValueError as e:
            raise UsageError(str(e)) from None
        mirror.start()
        with _teed(mirror):
            result = self.shell.run_cell(cell, store_history=False)
        error = result.error_before_exec or result.error_in_exec
        mirror.finish(error)
        if error is not None:
            raise CellFailed(mirror.channel, mirror.kind)
