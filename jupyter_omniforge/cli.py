"""``jupyter omniforge``: emit and follow build/deploy events from a shell.

    jupyter omniforge emit build:42 build.progress --data '{"percent": 40, "message": "compiling"}'
    jupyter omniforge watch build:42            # exits 0 when it completes, 1 when it fails
    jupyter omniforge history build:42
    jupyter omniforge run build:42 --name nightly -- make test   # its output is the build's log
    jupyter omniforge generate inventory.yaml -o inventory/ [--check]
    jupyter omniforge config                    # every OmniForgeApp setting: type, default, help
    jupyter omniforge versions idea:42 [--limit N]   # a room's versions, newest first
    jupyter omniforge diff idea:42 A [B]        # unified diffs from version A to B (or now)
    jupyter omniforge restore idea:42 VERSION   # one forward update: everyone converges

The server is the one given by ``--url``/``--token``, else ``OMNIFORGE_URL``/``OMNIFORGE_TOKEN``,
else the running Jupyter server this shell descends from, else the only one running.

Exit statuses: 0 success (for ``watch``: the build or deployment completed); 1 it failed (for
``generate --check``: DIR is out of date); 2 invalid arguments, an invalid spec or an event the
server refused; 3 no server found, not found there (no jupyter_omniforge) or unreachable;
4 not authorized (a wrong token, or no permission); 124 ``--timeout`` expired; 130 interrupted.
``run`` exits with the command's own status (``128 + N`` when signal N ended it; 124 when its
``--timeout`` did; 127 command not found, 126 not executable); 2, 3 or 4 mean the run could not
be started, and the command did not run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .client.command import DEFAULT_MAX_RATE, CommandRun, check_arguments
from .client.discovery import DiscoveryError
from .client.errors import ClientError, InvalidRequest, NotAuthorized, SubscriptionRefused
from .client.events import OmniForge

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_NOT_AUTHORIZED = 4
EXIT_TIMEOUT = 124
EXIT_INTERRUPTED = 130

#: Families whose runs ``watch`` follows to an outcome.
RUN_FAMILIES = ("build", "deployment")
_STARTS = ("started", "created")
_ENDS = ("completed", "failed")
#: Gateway error codes (and HTTP statuses) that mean our input was wrong, not the server.
_INVALID_CODES = ("invalid", "invalid_room", "malformed", 400)
#: Gateway error codes (and HTTP statuses) that mean we may not do it.
_FORBIDDEN_CODES = ("forbidden", 401, 403)


class Usage(Exception):
    """Invalid input from the command line: exit 2 with this message."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jupyter omniforge",
        description="Emit and follow OmniForge build/deploy events on a running Jupyter server; "
        "generate the endpoints and clients of a real-time app from a spec.",
        epilog="Exit statuses: 0 ok, 1 failed (watch) or out of date (generate --check), "
        "2 invalid input, 3 server not found or unreachable, 4 not authorized (wrong token or "
        "no permission), 124 timeout, 130 interrupted; `run` exits with the command's own status. "
        "`jupyter omniforge --help-all` also lists the server extension's settings.",
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

    versions = commands.add_parser(
        "versions", parents=[server], help="print a room's versions, newest first, one JSON a line"
    )
    versions.add_argument("room", metavar="ROOM", help="for example idea:42")
    versions.add_argument("--limit", type=int, default=50, help="at most this many (50)")
    versions.add_argument("--before", metavar="ID", help="start after this version id")
    restore = commands.add_parser(
        "restore",
        parents=[server],
        help="make a room's document equal a version again; print the new version as JSON",
    )
    restore.add_argument("room", metavar="ROOM")
    restore.add_argument("version", metavar="VERSION", help="the version id")
    diff = commands.add_parser(
        "diff",
        parents=[server],
        help="print what changed in a room from version A to B (default: the current document)",
    )
    diff.add_argument("room", metavar="ROOM")
    diff.add_argument("a", metavar="A", help="a version id")
    diff.add_argument("b", metavar="B", nargs="?", default="current", help="a version id")

    run = commands.add_parser(
        "run",
        parents=[server],
        help="run a command as a build or deployment: its output is the run's log",
        usage="jupyter omniforge run [options] CHANNEL -- CMD [ARGS ...]",
        description="Run CMD as the build or deployment CHANNEL: build.started (with the "
        "command line and the host), its output line by line into the run's log as "
        "build.progress events (at most --max-rate a second: faster lines are joined into one "
        "event, none is lost), then build.completed, or build.failed with the exit code and the "
        "last 20 lines. The output is also passed through unchanged (stdout to stdout, stderr "
        "to stderr). SIGINT and SIGTERM go to the command (failed: interrupted). Exits with the "
        "command's own status; 124 after --timeout; 2, 3 or 4 when the run cannot be started "
        "(then the command does not run).",
    )
    run.add_argument("channel", metavar="CHANNEL", help="build:ID or deployment:ID")
    run.add_argument("--name", help='a name for the run, shown in the feed (for example "nightly")')
    run.add_argument(
        "--progress-regex",
        metavar="RE",
        help="the percent is the group (?P<percent>...) of RE in the last line that matches "
        "(default: tqdm's NN%%|)",
    )
    run.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="after S seconds, stop the command (SIGTERM, then SIGKILL) and record 'timed out'",
    )
    run.add_argument(
        "--max-rate",
        type=float,
        default=DEFAULT_MAX_RATE,
        metavar="N",
        help=f"events per second at most (default: {DEFAULT_MAX_RATE:g})",
    )
    run.add_argument(
        "--quiet", action="store_true", help="print nothing of the output (it still is the log)"
    )
    run.add_argument("argv", nargs="*", metavar="CMD", help="the command, after --")

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

    token = commands.add_parser(
        "token",
        help="mint or revoke a room-scoped token",
        description="Room-scoped tokens (JWT) for browsers, scripts and apps outside JupyterLab: "
        "a user, the rooms it may be used in, what it may do there, and how long it lasts. "
        "Minting needs admin in those rooms; revoking needs admin everywhere.",
    )
    token_commands = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = token_commands.add_parser(
        "create", parents=[server], help="mint a token and print it (JSON: token, jti, expires)"
    )
    create.add_argument("rooms", metavar="ROOM", nargs="+", help="room names or patterns (idea:*)")
    create.add_argument("--user", required=True, help="the username the token stands for")
    create.add_argument("--name", help="its display name")
    create.add_argument("--group", action="append", default=[], dest="groups", help="a group")
    for action, means in (
        ("read", "read and show presence"),
        ("write", "read, write, show presence and emit events"),
        ("delete", "delete rooms"),
        ("admin", "mint tokens and read the audit trail"),
    ):
        create.add_argument(f"--{action}", action="store_true", help=f"may {means}")
    create.add_argument(
        "--permission", action="append", default=[], help="one more action, by name"
    )
    create.add_argument("--ttl", default="1h", help="lifetime: 90, 30m, 1h, 7d (default 1h)")
    revoke = token_commands.add_parser("revoke", parents=[server], help="revoke a token by its id")
    revoke.add_argument("jti", metavar="JTI", help="the token's id (jti)")

    new_key = commands.add_parser(
        "new-key",
        help="write a new encryption key file (32 random bytes, base64, mode 0600)",
    )
    new_key.add_argument("file", metavar="FILE")
    rotate = commands.add_parser(
        "rotate-key",
        help="re-seal the stored rooms, events and audit trail with a new key",
        description="Re-seal every row of the store (the SQLite file, or the PostgreSQL "
        "database with --store-url) with the key in NEW_KEY_FILE, in "
        "batches: interrupted, it carries on where it stopped when run again. Rows stored in the "
        "clear are sealed too (turning encryption on for an existing store). Run it with the "
        "server stopped (or run it again until it re-seals nothing), then start the server "
        "with --OmniForgeApp.encryption_key_file=NEW_KEY_FILE (and the old key in "
        "encryption_previous_key_files while Redis may hold entries sealed with it).",
    )
    rotate.add_argument("new_key", metavar="NEW_KEY_FILE")
    rotate.add_argument("--old-key-file", help="the key the rows are sealed with now")
    rotate.add_argument(
        "--db", help="the SQLite store (default: omniforge/omniforge.sqlite in Jupyter's data dir)"
    )
    rotate.add_argument(
        "--store-url",
        help="the PostgreSQL store instead (OmniForgeApp.store_url, postgresql://…); instances "
        "may keep serving if they open both keys",
    )

    config = commands.add_parser(
        "config",
        help="list every setting of the server extension (OmniForgeApp): type, default, help",
        description="Every OmniForgeApp setting, as `jupyter server --help-all` lists a "
        "server's own: set one with --OmniForgeApp.NAME=VALUE on `jupyter server` / "
        "`jupyter lab`, or c.OmniForgeApp.NAME = VALUE in jupyter_server_config.py.",
    )
    config.add_argument("--json", action="store_true", help="one JSON object per setting")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--help-all"]:
        _parser().print_help()
        print("\nServer extension settings (jupyter omniforge config):\n")
        return config()
    command: list[str] | None = None
    if argv[:1] == ["run"] and "--" in argv:  # the command's own arguments are not ours to parse
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1 :]
    args = _parser().parse_args(argv)
    if command is not None:
        args.argv = [*args.argv, *command]
    try:
        if args.command == "run":
            _check_run(args)
        if args.command == "generate":
            return generate(args.spec, args.output, check=args.check)
        if args.command == "config":
            return config(as_json=args.json)
        if args.command == "new-key":
            return new_key(args.file)
        if args.command == "rotate-key":
            return rotate_key(args.new_key, args.old_key_file, args.db, args.store_url)
        with OmniForge(args.url, args.token) as forge:
            return _against(forge, args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (Usage, InvalidRequest) as e:
        return _fail(EXIT_USAGE, str(e))
    except NotAuthorized as e:
        return _fail(EXIT_NOT_AUTHORIZED, str(e))
    except SubscriptionRefused as e:
        if e.code in _INVALID_CODES:
            return _fail(EXIT_USAGE, str(e))
        if e.code in _FORBIDDEN_CODES:
            return _fail(EXIT_NOT_AUTHORIZED, f"not authorized: {e}")
        return _fail(EXIT_UNREACHABLE, str(e))
    except DiscoveryError as e:
        return _fail(EXIT_UNREACHABLE, f"no server: {e}")
    except ClientError as e:
        return _fail(EXIT_UNREACHABLE, str(e))


def _against(forge: OmniForge, args: argparse.Namespace) -> int:
    """The commands that talk to a server."""
    if args.command == "token":
        if args.token_command == "revoke":
            print(json.dumps(forge.request("DELETE", f"omniforge/api/tokens/{args.jti}")))
            return EXIT_OK
        print(json.dumps(forge.request("POST", "omniforge/api/tokens", json=_token_body(args))))
        return EXIT_OK
    if args.command == "emit":
        print(json.dumps(forge.emit(args.channel, args.type, _json_object(args.data))))
        return EXIT_OK
    if args.command == "history":
        for event in forge.history(args.channel, args.after, args.limit):
            print(json.dumps(event))
        return EXIT_OK
    if args.command == "versions":
        for version in forge.versions(args.room, args.before, args.limit)["versions"]:
            print(json.dumps(version))
        return EXIT_OK
    if args.command == "restore":
        print(json.dumps(forge.restore(args.room, args.version)["version"]))
        return EXIT_OK
    if args.command == "diff":
        print_diff(forge.diff(args.room, args.a, args.b), sys.stdout)
        return EXIT_OK
    if args.command == "run":
        return asyncio.run(_run(forge, args))
    display = Display(sys.stdout, single=_is_single_channel(args.channel))

    async def watch_and_close() -> int:
        try:
            return await watch(forge, args.channel, display, args.since, args.timeout, args.retries)
        finally:
            await forge.aclose()

    return asyncio.run(watch_and_close())


def print_diff(diff: dict[str, Any], out: TextIO) -> None:
    """Each root's change: a text's unified diff as it is, the others' as a JSON line."""
    for name, change in diff.get("roots", {}).items():
        if "unified" in change:
            for line in change["unified"]:
                print(line, file=out)
        else:
            detail = {k: v for k, v in change.items() if k != "type"}
            if any(detail.values()):
                print(f"# {name} ({change.get('type')}): {json.dumps(detail)}", file=out)


def _check_run(args: argparse.Namespace) -> None:
    try:
        check_arguments(
            args.channel,
            args.argv,
            progress_regex=args.progress_regex,
            timeout=args.timeout,
            max_rate=args.max_rate,
        )
    except ValueError as e:
        raise Usage(str(e)) from None


async def _run(forge: OmniForge, args: argparse.Namespace) -> int:
    """``jupyter omniforge run``: the command's own exit status (see CommandRun.run)."""
    try:
        return await CommandRun(
            forge,
            args.channel,
            args.argv,
            name=args.name,
            progress_regex=args.progress_regex,
            timeout=args.timeout,
            max_rate=args.max_rate,
            quiet=args.quiet,
        ).run()
    finally:
        await forge.aclose()


def _token_body(args: argparse.Namespace) -> dict[str, Any]:
    permissions = list(args.permission)
    if args.read:
        permissions += ["read", "presence"]
    if args.write:
        permissions += ["read", "presence", "write", "emit"]
    for action in ("delete", "admin"):
        if getattr(args, action):
            permissions.append(action)
    if not permissions:
        raise Usage("say what the token may do: --read, --write, --delete, --admin, --permission")
    body: dict[str, Any] = {
        "user": args.user,
        "rooms": args.rooms,
        "permissions": sorted(set(permissions)),
        "groups": args.groups,
        "ttl": _seconds(args.ttl),
    }
    if args.name:
        body["name"] = args.name
    return body


def _seconds(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        value = float(number) * units[unit]
    except ValueError:
        raise Usage(f"--ttl: a duration like 90, 30m, 1h or 7d, not {text!r}") from None
    if value <= 0:
        raise Usage("--ttl must be positive")
    return value


def new_key(path: str) -> int:
    """``jupyter omniforge new-key FILE``: 0 written, 2 when FILE exists."""
    from .store.crypto import write_key_file

    try:
        kid = write_key_file(path)
    except FileExistsError:
        return _fail(EXIT_USAGE, f"{path} exists: a key file is never overwritten")
    print(f"wrote key {kid} to {path} (keep it safe: without it the stored rows cannot be read)")
    return EXIT_OK


def rotate_key(
    new_key_file: str, old_key_file: str | None, db: str | None, store_url: str | None = None
) -> int:
    """``jupyter omniforge rotate-key``: 0 done, 2 a key or the store cannot be used."""
    from jupyter_core.paths import jupyter_data_dir

    from .store.crypto import Cipher, CipherError, read_key_file
    from .store.sqlite.migrations import SchemaError

    def progress(table: str, n: int) -> None:
        print(f"{table}: {n} rows", flush=True)

    if store_url and db:
        return _fail(EXIT_USAGE, "--db and --store-url name two stores: give one")
    path = Path(db) if db else Path(jupyter_data_dir()) / "omniforge" / "omniforge.sqlite"
    if not store_url and not path.exists():
        return _fail(EXIT_USAGE, f"no store at {path} (--db)")
    try:
        new = Cipher(read_key_file(new_key_file))
        old = Cipher(read_key_file(old_key_file)) if old_key_file else None
    except CipherError as e:
        return _fail(EXIT_USAGE, str(e))
    if store_url:
        try:
            from psycopg import OperationalError

            from .store.postgres.database import describe
            from .store.postgres.rotation import rotate as rotate_postgres
        except ImportError as e:
            return _fail(EXIT_USAGE, f"--store-url needs the postgres extra ({e})")
        where = describe(store_url)
        try:
            done = asyncio.run(rotate_postgres(store_url, old, new, progress=progress))
        except (CipherError, SchemaError) as e:
            return _fail(EXIT_USAGE, f"cannot re-seal {where}: {e}")
        except OperationalError as e:  # the server cannot be reached, or refused us
            return _fail(EXIT_UNREACHABLE, f"cannot re-seal {where}: {e}")
    else:
        from .store.sqlite.rotation import rotate

        where = str(path)
        try:
            done = rotate(path, old, new, progress=progress)
        except (CipherError, SchemaError) as e:
            return _fail(EXIT_USAGE, f"cannot re-seal {path}: {e}")
    print(
        f"re-sealed {sum(done.values())} rows of {where} with key {new.current}; start the "
        f"server with --OmniForgeApp.encryption_key_file={new_key_file}"
    )
    return EXIT_OK


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


def config(*, as_json: bool = False, out: TextIO | None = None) -> int:
    """``jupyter omniforge config``: every setting of OmniForgeApp with its type, default and
    help (read from the traits, so a new setting is listed as soon as it exists)."""
    from .app import OmniForgeApp

    out = out or sys.stdout
    traits = sorted(OmniForgeApp.class_own_traits(config=True).items())
    if as_json:
        for name, trait in traits:
            entry = {
                "name": name,
                "type": type(trait).__name__,
                "default": trait.default_value_repr(),
                "help": " ".join(trait.help.split()),
            }
            out.write(json.dumps(entry) + "\n")
        return EXIT_OK
    for _, trait in traits:
        out.write(OmniForgeApp.class_get_trait_help(trait) + "\n")
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
    (``[ 40%] compiling``); the lines of an event's ``log`` each get one, above the bar on a
    terminal. :meth:`show` returns the exit status once a run has ended."""

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
        prefix = "" if self.single else f"{event.get('channel')} "
        log = data.get("log") if phase == "progress" else None
        if isinstance(log, list) and log:  # lines of output (jupyter omniforge run)
            self._print_log([f"{prefix}{line}" for line in log])
            if not self.tty:
                return outcome  # the message is the last of them
        self._render(prefix + message, final=outcome is not None)
        if outcome == EXIT_FAILED:
            print(f"{event.get('channel')} failed: {data.get('error', '')}", file=sys.stderr)
        return outcome

    def _print_log(self, lines: list[str]) -> None:
        """Lines of a run's log: one ``[ 40%] line`` each, or above the progress bar."""
        if self.tty:
            self.out.write("".join(f"\r\x1b[2K{line}\n" for line in lines))
            self._open_line = False  # the bar is drawn again below them
        else:
            self.out.write("".join(f"[{self.percent:3.0f}%] {line}\n" for line in lines))
        self.out.flush()

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
