"""``jupyter omniforge``: emit and follow build/deploy events from a shell.

    jupyter omniforge emit build:42 build.progress --data '{"percent": 40, "message": "compiling"}'
    jupyter omniforge watch build:42            # exits 0 when it completes, 1 when it fails
    jupyter omniforge history build:42
    jupyter omniforge generate inventory.yaml -o inventory/ [--check]

The server is the one given by ``--url``/``--token``, else ``OMNIFORGE_URL``/``OMNIFORGE_TOKEN``,
else the running Jupyter server this shell descends from, else the only one running.

Exit statuses: 0 success (for ``watch``: the build or deployment completed); 1 it failed (for
``generate --check``: DIR is out of date); 2 invalid arguments, an invalid spec or an event the
server refused; 3 no server found, unreachable or refusing us; 124 ``--timeout`` expired;
130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from .client.discovery import DiscoveryError
from .client.events import (
    ClientError,
    InvalidRequest,
    OmniForge,
    SubscriptionRefused,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_TIMEOUT = 124
EXIT_INTERRUPTED = 130

#: Families whose runs ``watch`` follows to an outcome.
RUN_FAMILIES = ("build", "deployment")
_STARTS = ("started", "created")
_ENDS = ("completed", "failed")
#: Gateway error codes (and HTTP statuses) that mean our input was wrong, not the server.
_INVALID_CODES = ("invalid", "invalid_room", "malformed", 400)


class Usage(Exception):
    """Invalid input from the command line: exit 2 with this message."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jupyter omniforge",
        description="Emit and follow OmniForge build/deploy events on a running Jupyter server; "
        "generate the endpoints and clients of a real-time app from a spec.",
        epilog="Exit statuses: 0 ok, 1 failed (watch) or out of date (generate --check), "
        "2 invalid input, 3 server not found or unreachable, 124 timeout.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    server = argparse.ArgumentParser(add_help=False)
    server.add_argument("--url", help="server URL with base URL (default: discovered)")
    server.add_argument("--token", help="server token (default: discovered)")

    emit = commands.add_parser(
        "emit", parents=[server], help="emit one event and print its envelope as JSON"
    )
    emit.add_argument("channel", metavar="CHANNEL", help="for example build:42")
    emit.add_argument("type", metavar="TYPE", help="for example build.progress")
    emit.add_argument(
        "--data", default="{}", metavar="JSON", help='the payload, a JSON object (default: "{}")'
    )

    watch = commands.add_parser(
        "watch",
        parents=[server],
        help="follow a channel live; exit 0 when the run completes, 1 when it fails",
        description="Follow CHANNEL live, with a progress bar on a terminal and one line per "
        "event otherwise. Without --since, first shows the current run (from its last "
        "*.started event), and exits at once if that run has already ended.",
    )
    watch.add_argument("channel", metavar="CHANNEL", help="for example build:42")
    watch.add_argument("--since", metavar="ID", help="start after this event id")
    watch.add_argument(
        "--timeout", type=float, metavar="S", help="give up (exit 124) after S seconds"
    )
    watch.add_argument(
        "--retries",
        type=int,
        default=10,
        metavar="N",
        help="reconnection attempts in a row before giving up (default: 10)",
    )

    history = commands.add_parser(
        "history", parents=[server], help="print kept events, one JSON envelope per line"
    )
    history.add_argument("channel", metavar="CHANNEL", help="a name, pattern or comma list")
    history.add_argument("--after", metavar="ID", help="start after this event id")
    history.add_argument("--limit", type=int, default=100, help="at most this many (100)")

    generate = commands.add_parser(
        "generate",
        help="generate an app's Jupyter Server extension, clients and tests from a spec",
        description="Write into DIR the app a RealtimeAgent spec describes: an installable "
        "Jupyter Server extension served by jupyter_omniforge, with a hook per event type "
        "(handlers.py: written once, never overwritten), Python and TypeScript clients and a "
        "pytest suite. Other files are rewritten on every run. An invalid spec exits 2 and "
        "writes nothing.",
    )
    generate.add_argument("spec", metavar="SPEC", help="the spec, YAML or JSON (*.json)")
    generate.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    generate.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 with a diff when DIR is out of date with SPEC",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "generate":
            return generate(args.spec, args.output, check=args.check)
        if args.command == "emit":
            data = _json_object(args.data)
            forge = OmniForge(args.url, args.token)
            print(json.dumps(forge.emit(args.channel, args.type, data)))
            return EXIT_OK
        if args.command == "history":
            forge = OmniForge(args.url, args.token)
            for event in forge.history(args.channel, args.after, args.limit):
                print(json.dumps(event))
            return EXIT_OK
        forge = OmniForge(args.url, args.token)
        display = Display(sys.stdout, single=_is_single_channel(args.channel))
        return asyncio.run(
            watch(forge, args.channel, display, args.since, args.timeout, args.retries)
        )
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (Usage, InvalidRequest) as e:
        return _fail(EXIT_USAGE, str(e))
    except SubscriptionRefused as e:
        code = EXIT_USAGE if e.code in _INVALID_CODES else EXIT_UNREACHABLE
        return _fail(code, str(e))
    except DiscoveryError as e:
        return _fail(EXIT_UNREACHABLE, f"no server: {e}")
    except ClientError as e:
        return _fail(EXIT_UNREACHABLE, str(e))


def generate(spec: str, output: str, *, check: bool = False) -> int:
    """``jupyter omniforge generate``: 0 written (or up to date), 1 stale (``--check``), 2 invalid."""
    from .agent import RealtimeAgent, SpecError

    try:
        agent = RealtimeAgent(spec)
    except SpecError as e:
        problems = "\n".join(f"  {line}" for line in str(e).splitlines())
        return _fail(EXIT_USAGE, f"invalid spec {spec}:\n{problems}")
    if check:
        diffs = agent.check(output)
        if diffs:
            sys.stdout.write("".join(diffs))
            return _fail(EXIT_FAILED, f"{output} is out of date with {spec}: generate it again")
        print(f"{output} is up to date with {spec}")
        return EXIT_OK
    result = agent.generate(output)
    for path in result.written:
        print(f"wrote {path}")
    for path in result.kept:
        print(f"kept  {path} (yours)")
    if not result.written:
        print(f"{output} was up to date")
    for event_type, function in result.missing_hooks:
        print(
            f"note: {agent.spec.app}/handlers.py has no {function}(event) for {event_type}: "
            "add it to check those events (until then they are stored once valid)",
            file=sys.stderr,
        )
    return EXIT_OK


def _fail(status: int, message: str) -> int:
    print(f"jupyter omniforge: error: {message}", file=sys.stderr)
    return status


def _json_object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as e:
        raise Usage(f"--data is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise Usage("--data must be a JSON object")
    return data


def _is_single_channel(channel: str) -> bool:
    return "," not in channel and "*" not in channel


# -- watch ---------------------------------------------------------------------------------------


async def watch(
    forge: OmniForge,
    channel: str,
    display: Display,
    since: str | None = None,
    timeout: float | None = None,
    retries: int | None = 10,
) -> int:
    """Show ``channel``'s events until a run completes (0) or fails (1); 124 after ``timeout``."""
    try:
        return await asyncio.wait_for(_follow(forge, channel, display, since, retries), timeout)
    except TimeoutError:
        display.end_line()
        print(f"jupyter omniforge: timed out after {timeout:g} s", file=sys.stderr)
        return EXIT_TIMEOUT


async def _follow(
    forge: OmniForge, channel: str, display: Display, since: str | None, retries: int | None
) -> int:
    cursor = since
    if since is None:
        backlog, cursor = await current_run(forge, channel)
        for event in backlog:
            outcome = display.show(event)
            if outcome is not None:
                return outcome
    async for item in forge.subscribe(channel, cursor, max_retries=retries):
        if "id" not in item and item.get("type") == "reset":
            display.end_line()
            print(
                f"jupyter omniforge: some events are no longer kept ({item.get('reason')})",
                file=sys.stderr,
            )
            continue
        outcome = display.show(item)
        if outcome is not None:
            return outcome
    return EXIT_UNREACHABLE  # the subscription only ends by raising; kept for type checkers


async def current_run(forge: OmniForge, channel: str) -> tuple[list[dict[str, Any]], str | None]:
    """The kept events of the latest run on ``channel`` (from its last start, or else its last
    outcome), and the id of the newest kept event: where following live must resume."""
    run: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = await forge.ahistory(channel, after, limit=1000)
        if not page:
            return run, after
        for event in page:
            family, _, phase = str(event.get("type", "")).partition(".")
            if family not in RUN_FAMILIES:
                continue  # presence and the like say nothing about the run
            if phase in _STARTS or not run or _ended(run):
                run = [event]
            else:
                run.append(event)
        after = str(page[-1]["id"])


def _ended(run: list[dict[str, Any]]) -> bool:
    return str(run[-1].get("type", "")).partition(".")[2] in _ENDS


class Display:
    """Renders run events: a progress bar redrawn in place on a terminal, else one line each
    (``[ 40%] compiling``). :meth:`show` returns the exit status once a run has ended."""

    def __init__(self, out: TextIO, *, single: bool = True, tty: bool | None = None) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.single = single
        self.percent: float = 0
        self._open_line = False

    def show(self, event: dict[str, Any]) -> int | None:
        family, _, phase = str(event.get("type", "")).partition(".")
        if family not in RUN_FAMILIES:
            return None
        data = event.get("data") or {}
        outcome = None
        if phase in _STARTS:
            self.percent = 0
            message = str(data.get("message") or phase)
        elif phase == "progress":
            percent = data.get("percent")
            if isinstance(percent, int | float):
                self.percent = percent
            message = str(data.get("message", ""))
        elif phase == "completed":
            self.percent = 100
            message = str(data.get("message") or "completed") + _duration(data)
            outcome = EXIT_OK
        elif phase == "failed":
            message = f"failed: {data.get('error', '')}" + _duration(data)
            outcome = EXIT_FAILED
        else:
            message = phase
        if not self.single:
            message = f"{event.get('channel')} {message}"
        self._render(message, final=outcome is not None)
        if outcome == EXIT_FAILED:
            print(f"{event.get('channel')} failed: {data.get('error', '')}", file=sys.stderr)
        return outcome

    def _render(self, message: str, *, final: bool) -> None:
        if not self.tty:
            self.out.write(f"[{self.percent:3.0f}%] {message}\n")
            self.out.flush()
            return
        width = shutil.get_terminal_size((80, 24)).columns
        filled = round(20 * max(0.0, min(100.0, self.percent)) / 100)
        line = f"[{'#' * filled}{'-' * (20 - filled)}] {self.percent:3.0f}% {message}"
        self.out.write("\r\x1b[2K" + line[: max(width - 1, 10)])
        self._open_line = True
        if final:
            self.end_line()
        self.out.flush()

    def end_line(self) -> None:
        """Finish a progress bar line, before something else is printed."""
        if self._open_line:
            self.out.write("\n")
            self.out.flush()
            self._open_line = False


def _duration(data: dict[str, Any]) -> str:
    duration = data.get("duration")
    return f" ({duration:.1f} s)" if isinstance(duration, int | float) else ""


if __name__ == "__main__":
    sys.exit(main())
