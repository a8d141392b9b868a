"""Who may do what in which room: the permission model and the policies that decide it.

The actions (:data:`ACTIONS`) are ``read`` (sync a room, read its events), ``write`` (change its
document), ``presence`` (publish awareness), ``emit`` (post events on its channel), ``delete``,
``admin`` (mint tokens, read the audit trail, delete anyone's comment) and ``comment`` (write
comments without editing the document; ``write`` comes with it). A policy answers, for a
subject and a room, the set of actions allowed; :class:`~jupyter_omniforge.access.control.Access`
applies the rules every policy shares (the owner may do everything, a token's claims only
narrow) and caches the answers per connection.

Two policies ship:

- :class:`JupyterPolicy` (the default): Jupyter's authorizer on the ``omniforge`` resource, as
  before access control existed: its ``read`` gives read and presence, its ``write`` everything
  else.
- :class:`RulesPolicy`: a YAML file of rules, first match wins (see :func:`parse_rules`); edits
  take effect without a restart.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml
from jupyter_core.utils import ensure_async
from traitlets import Unicode
from traitlets.config import LoggingConfigurable

from ..errors import InvalidRoomName
from ..events.channels import ChannelMatcher, parse_channel_pattern

if TYPE_CHECKING:
    from ..auth import Identity

READ, WRITE, PRESENCE, EMIT, DELETE, ADMIN = "read", "write", "presence", "emit", "delete", "admin"
ACTIONS: frozenset[str] = frozenset({READ, WRITE, PRESENCE, EMIT, DELETE, ADMIN})
#: Commenting (threads, replies, reactions) without editing the document: a reviewer. ``write``
#: allows it too (the comment handlers accept either), so no policy needs to grant both.
COMMENT = "comment"
ACTIONS = ACTIONS | {COMMENT}
NOTHING: frozenset[str] = frozenset()

#: What ``default:`` of a rules file stands for.
DEFAULTS: dict[str, frozenset[str]] = {
    "none": NOTHING,
    "read": frozenset({READ, PRESENCE}),
    "write": frozenset({READ, PRESENCE, WRITE, EMIT, COMMENT}),
}

#: Largest policy file read, in bytes.
MAX_POLICY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Subject:
    """Who is asking: their identity and groups, and what Jupyter knows of them (the policies
    that consult Jupyter's authorizer need ``user`` and ``handler``)."""

    identity: Identity
    groups: frozenset[str] = frozenset()
    #: The server's owner (holds the Jupyter token, or is ``owner_username``): every permission.
    owner: bool = False
    user: Any = None
    handler: Any = field(default=None, compare=False, repr=False)

    @property
    def username(self) -> str:
        return self.identity.username


class RoomPolicy(LoggingConfigurable):
    """Base of the policies.

    A decision has two halves: :meth:`prepare` asks once per subject whatever needs asking
    (Jupyter's authorizer may be a remote service), and :meth:`decide` answers per room, at once
    and without I/O, so that event fan-out can filter every delivery by it.

    ``generation`` changes whenever the answers may have changed (a reloaded file): answers
    cached under another generation are asked again, and open connections lose what is taken
    away within a second.
    """

    generation: int = 0

    async def prepare(self, subject: Subject) -> Any:
        """What :meth:`decide` needs to know of ``subject`` (asked once per connection)."""
        return None

    def decide(self, subject: Subject, prepared: Any, room: str) -> frozenset[str]:
        """The actions ``subject`` may take in ``room`` (a room name: also the channel of its
        events; or a pattern, when a token is minted for one)."""
        raise NotImplementedError

    def reaches(self, subject: Subject, prepared: Any) -> bool:
        """Whether ``subject`` may read anything at all (to open a connection that is not
        about one room, such as the realtime gateway)."""
        return True

    async def start(self) -> None:
        """Load what the policy needs; raise a clear error if it cannot serve."""

    def check(self) -> bool:
        """Called twice a second: pick up changes (a file edited); True when the answers may
        have changed (and ``generation`` moved)."""
        return False


class JupyterPolicy(RoomPolicy):
    """Jupyter's authorizer on the ``omniforge`` resource: ``read`` there allows read and
    presence, ``write`` there allows write, emit, delete, admin and comment, in every room. With
    Jupyter's default authorizer every authenticated user may do everything, as before access
    control."""

    resource = "omniforge"

    async def prepare(self, subject: Subject) -> frozenset[str]:
        handler = subject.handler
        authorizer = getattr(handler, "authorizer", None)
        if authorizer is None:
            return NOTHING
        granted: set[str] = set()
        for jupyter_action, ours in (
            (READ, (READ, PRESENCE)),
            (WRITE, (WRITE, EMIT, DELETE, ADMIN, COMMENT)),
        ):
            allowed = await ensure_async(
                authorizer.is_authorized(handler, subject.user, jupyter_action, self.resource)
            )
            if allowed:
                granted.update(ours)
        return frozenset(granted)

    def decide(self, subject: Subject, prepared: Any, room: str) -> frozenset[str]:
        return prepared if isinstance(prepared, frozenset) else NOTHING

    def reaches(self, subject: Subject, prepared: Any) -> bool:
        return READ in self.decide(subject, prepared, "*")


class PolicyError(ValueError):
    """A policy file that cannot be used; ``str(error)`` says where and why."""


@dataclass(frozen=True)
class Rule:
    """One rule: these rooms, for these users or groups, allow these actions."""

    rooms: tuple[str, ...]
    users: frozenset[str] | None  # None: any user ("*")
    groups: frozenset[str]
    allow: frozenset[str]
    _match: ChannelMatcher = field(compare=False, repr=False)

    def applies(self, subject: Subject, room: str) -> bool:
        if not self._match(room):
            return False
        if self.users is None:
            return True
        return subject.username in self.users or bool(self.groups & subject.groups)


@dataclass(frozen=True)
class Rules:
    default: frozenset[str]
    rules: tuple[Rule, ...]

    def allowed(self, subject: Subject, room: str) -> frozenset[str]:
        for rule in self.rules:
            if rule.applies(subject, room):
                return rule.allow
        return self.default

    def reaches(self, subject: Subject) -> bool:
        if READ in self.default:
            return True
        return any(
            READ in rule.allow
            and (
                rule.users is None
                or subject.username in rule.users
                or bool(rule.groups & subject.groups)
            )
            for rule in self.rules
        )


def parse_rules(text: str, source: str = "the policy") -> Rules:
    """Parse a rules file::

        default: none          # none | read | write: what applies where no rule matches
        rules:                 # first match wins
          - rooms: "deployment:*"   # a room name or a pattern: *, kind:*, ns/*, ns/kind:*
            users: [alice]          # usernames; "*" = every authenticated user
            groups: [ops]           # groups (from the identity or a token)
            allow: [read, write, presence, emit, delete]

    A rule names ``users``, ``groups`` or both (it applies to a subject in either); one naming
    neither applies to everyone. Raises :class:`PolicyError` naming each problem.
    """
    if len(text.encode()) > MAX_POLICY_BYTES:
        raise PolicyError(f"{source} is larger than {MAX_POLICY_BYTES} bytes")
    try:
        data = yaml.load(text, Loader=_loader())
    except yaml.YAMLError as e:
        raise PolicyError(f"{source} is not valid YAML: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise PolicyError(f"{source}: expected a mapping with `default` and `rules`")
    problems: list[str] = []
    unknown = set(data) - {"default", "rules"}
    if unknown:
        problems.append(f"unknown keys {sorted(map(str, unknown))} (expected default, rules)")
    default_name = data.get("default", "none")
    if default_name not in DEFAULTS:
        problems.append(f"default must be one of none, read, write, not {default_name!r}")
    raw_rules = data.get("rules") or []
    if not isinstance(raw_rules, list):
        problems.append("rules must be a list")
        raw_rules = []
    rules = []
    for index, raw in enumerate(raw_rules, 1):
        rule = _parse_rule(raw, f"rule {index}", problems)
        if rule is not None:
            rules.append(rule)
    if problems:
        raise PolicyError(f"{source}: " + "; ".join(problems))
    return Rules(DEFAULTS[default_name], tuple(rules))


def _parse_rule(raw: Any, where: str, problems: list[str]) -> Rule | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where} must be a mapping")
        return None
    unknown = set(raw) - {"rooms", "users", "groups", "allow"}
    if unknown:
        problems.append(f"{where}: unknown keys {sorted(map(str, unknown))}")
    rooms = _strings(raw.get("rooms", "*"), f"{where}: rooms", problems)
    patterns = []
    for pattern in rooms:
        try:
            patterns.append(parse_channel_pattern(pattern))
        except InvalidRoomName as e:
            problems.append(f"{where}: {e}")
    users_raw = raw.get("users")
    groups = frozenset(_strings(raw.get("groups", []), f"{where}: groups", problems))
    users: frozenset[str] | None
    if (users_raw is None and not groups) or users_raw == "*":
        users = None
    else:
        names = _strings(users_raw or [], f"{where}: users", problems)
        users = None if "*" in names else frozenset(names)
    allow = _strings(raw.get("allow", []), f"{where}: allow", problems)
    bad = [a for a in allow if a not in ACTIONS]
    if bad:
        problems.append(f"{where}: unknown actions {bad} (known: {', '.join(sorted(ACTIONS))})")
    return Rule(
        tuple(patterns), users, groups, frozenset(allow) & ACTIONS, ChannelMatcher(patterns)
    )


def _strings(value: Any, where: str, problems: list[str]) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        problems.append(f"{where} must be a string or a list of strings")
        return []
    return list(items)


def _loader() -> type[yaml.SafeLoader]:
    class Loader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
            # Anchors and aliases are refused: a few bytes of nested aliases expand into
            # gigabytes ("billion laughs"), and a policy has no need of them.
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise yaml.composer.ComposerError(
                    None, None, "YAML anchors and aliases are not allowed", event.start_mark
                )
            return super().compose_node(parent, index)

    return Loader


class RulesPolicy(RoomPolicy):
    """Rules from a YAML file (:func:`parse_rules`), first match wins; the file is watched and
    re-read when it changes. A file that does not parse keeps the last good rules (and says
    why in the log); at start it stops the server with the reason."""

    path = Unicode(help="The rules file (OmniForgeApp.room_policy_file).").tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rules = Rules(NOTHING, ())
        self._seen: tuple[int, int, int] | None = None
        #: Reloads that failed since start (the last good rules stayed).
        self.failed_reloads = 0
        #: Called after each successful reload (the audit trail records it).
        self.on_reload: list[Any] = []

    async def start(self) -> None:
        if not self.path:
            raise PolicyError("the rules policy needs OmniForgeApp.room_policy_file")
        self.rules = self._read()
        self.generation += 1

    def _stat(self) -> tuple[int, int, int]:
        st = os.stat(self.path)
        return st.st_mtime_ns, st.st_size, st.st_ino

    def _read(self) -> Rules:
        try:
            seen = self._stat()
            with open(self.path, encoding="utf-8") as f:
                text = f.read(MAX_POLICY_BYTES + 1)
        except OSError as e:
            raise PolicyError(f"cannot read the policy file {self.path}: {e}") from None
        rules = parse_rules(text, self.path)
        self._seen = seen
        return rules

    def check(self) -> bool:
        try:
            seen = self._stat()
        except OSError:
            seen = None
        if seen == self._seen:
            return False
        try:
            rules = self._read()
        except PolicyError as e:
            self._seen = seen  # do not retry the same broken file every second
            self.failed_reloads += 1
            self.log.error("OmniForge keeps its last good room policy: %s", e)
            return False
        self.rules = rules
        self.generation += 1
        self.log.info(
            "OmniForge room policy reloaded from %s (%d rules)", self.path, len(rules.rules)
        )
        for callback in self.on_reload:
            callback(self)
        return True

    def decide(self, subject: Subject, prepared: Any, room: str) -> frozenset[str]:
        return self.rules.allowed(subject, room)

    def reaches(self, subject: Subject, prepared: Any) -> bool:
        return self.rules.reaches(subject)


def groups_of(user: Any, extra: Iterable[str] = ()) -> frozenset[str]:
    """The groups a Jupyter user is in: JupyterHub passes them (``hub_user["groups"]``); other
    identity providers may set ``groups`` on the user."""
    groups = getattr(user, "groups", None)
    if groups is None:
        hub_user = getattr(user, "hub_user", None)
        groups = hub_user.get("groups") if isinstance(hub_user, Mapping) else None
    found = {g for g in (groups or ()) if isinstance(g, str)}
    found.update(extra)
    return frozenset(found)
