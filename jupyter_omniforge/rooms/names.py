"""The room-name grammar: the one place that decides what a room (or event channel) may be called.

A built-in name is ``presence`` or ``{kind}:{id}`` where kind is one of :data:`ROOM_KINDS` and id
is 1-128 characters of ``[A-Za-z0-9._-]``. An app registered through :mod:`jupyter_omniforge.apps`
adds its own kinds under its namespace: its rooms are ``{namespace}/{kind}:{id}`` inside the server
(the store, the bus, Redis), so they can never collide with a built-in room, and ``{kind}:{id}`` at
the app's own endpoints (``{base_url}{namespace}/rooms/{kind}:{id}``).

:func:`parse_room_name` checks the syntax only. Every entry point that takes a name from a client
parses it with the server's :class:`RoomNames` (``omniforge.room_names``), which also knows which
namespaces and kinds exist, so they all accept and refuse exactly the same strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import InvalidRoomName
from .roots import KIND_ROOTS

ROOM_KINDS: tuple[str, ...] = ("idea", "project", "build", "deployment", "preview")
PRESENCE = "presence"
#: Kinds no app may declare: they mean something to the server already.
BUILTIN_KINDS: tuple[str, ...] = (*ROOM_KINDS, PRESENCE)

#: An app's namespace: a URL segment of its own, ``{base_url}{namespace}/``.
NAMESPACE_PATTERN = r"[a-z][a-z0-9_-]{0,63}"
#: A room kind declared by an app.
KIND_PATTERN = r"[a-z][a-z0-9_]{0,63}"
ID_PATTERN = r"[A-Za-z0-9._-]{1,128}"

_NAME_RE = re.compile(
    rf"(?:(?P<kind>{'|'.join(ROOM_KINDS)}):(?P<id>{ID_PATTERN})"
    r"|(?P<presence>presence)"
    rf"|(?P<namespace>{NAMESPACE_PATTERN})/(?P<app_kind>{KIND_PATTERN}):(?P<app_id>{ID_PATTERN}))"
)
_RELATIVE_RE = re.compile(rf"(?P<kind>{KIND_PATTERN}):(?P<id>{ID_PATTERN})")
_NAMESPACE_WILDCARD_RE = re.compile(rf"{NAMESPACE_PATTERN}/(?:{KIND_PATTERN}:)?\*")


@dataclass(frozen=True, slots=True)
class RoomName:
    """A validated room name. ``str(name)`` is its canonical spelling, the key of the room in the
    store and the channel of its events; ``namespace`` is set for the rooms of an app."""

    kind: str
    id: str | None
    namespace: str | None = None

    def __str__(self) -> str:
        if self.kind == PRESENCE and self.namespace is None:
            return PRESENCE
        if self.namespace is not None:
            return f"{self.namespace}/{self.kind}:{self.id}"
        return f"{self.kind}:{self.id}"

    @property
    def relative(self) -> str:
        """The name without its namespace, as an app's own endpoints spell it."""
        return f"{self.kind}:{self.id}" if self.namespace is not None else str(self)


def _shown(name: str) -> str:
    return name if len(name) <= 80 else name[:77] + "..."


def parse_room_name(name: str) -> RoomName:
    """Parse ``name`` (syntax only) or raise :class:`InvalidRoomName` saying what is wrong."""
    if not isinstance(name, str):
        raise InvalidRoomName(f"room name must be a string, not {type(name).__name__}")
    match = _NAME_RE.fullmatch(name)
    if match is None:
        raise InvalidRoomName(
            f"invalid room name {_shown(name)!r}: expected 'presence' or '{{kind}}:{{id}}' with "
            f"kind one of {', '.join(ROOM_KINDS)} and id 1-128 characters of [A-Za-z0-9._-] "
            "(or an app's '{namespace}/{kind}:{id}')"
        )
    if match["presence"]:
        return RoomName(PRESENCE, None)
    if match["namespace"]:
        return RoomName(match["app_kind"], match["app_id"], match["namespace"])
    return RoomName(match["kind"], match["id"])


def parse_channel_pattern(pattern: str) -> str:
    """Validate a subscription pattern: ``*``, ``{kind}:*``, ``{namespace}/*``,
    ``{namespace}/{kind}:*``, or a room name. Returns it as is."""
    if pattern == "*":
        return pattern
    if isinstance(pattern, str) and pattern.endswith(":*") and pattern[:-2] in ROOM_KINDS:
        return pattern
    if isinstance(pattern, str) and _NAMESPACE_WILDCARD_RE.fullmatch(pattern):
        return pattern
    try:
        return str(parse_room_name(pattern))
    except InvalidRoomName:
        raise InvalidRoomName(
            f"invalid channel pattern {pattern!r}: expected '*', '{{kind}}:*' or a room name"
        ) from None


class ChannelMatcher:
    """Fast membership test of a channel name against a set of patterns."""

    __slots__ = ("everything", "names", "patterns", "prefixes")

    def __init__(self, patterns: list[str]) -> None:
        self.patterns = [parse_channel_pattern(p) for p in patterns]
        self.everything = "*" in self.patterns
        self.prefixes = tuple(p[:-1] for p in self.patterns if p.endswith("*") and p != "*")
        self.names = frozenset(p for p in self.patterns if not p.endswith("*"))

    def __call__(self, channel: str) -> bool:
        return self.everything or channel in self.names or channel.startswith(self.prefixes)


class RoomNames:
    """The names one server serves: the built-in ones, and those of the kinds each registered
    app declares under its namespace (with the Yjs roots of each kind).

    ``parse(name)`` takes a full name (``idea:1``, ``inventory/order:1``); ``parse(name,
    namespace)`` a name relative to an app's namespace (``order:1``), as its endpoints do.
    """

    def __init__(self) -> None:
        self._kinds: dict[str, dict[str, dict[str, str]]] = {}  # namespace -> kind -> roots

    def add(self, namespace: str, kinds: Mapping[str, Mapping[str, str]]) -> None:
        """Serve ``kinds`` (kind -> root name -> Yjs type) under ``namespace``."""
        self._kinds[namespace] = {kind: dict(roots) for kind, roots in kinds.items()}

    def remove(self, namespace: str) -> None:
        self._kinds.pop(namespace, None)

    @property
    def namespaces(self) -> list[str]:
        return sorted(self._kinds)

    def kinds(self, namespace: str) -> list[str]:
        return sorted(self._kinds.get(namespace, {}))

    def parse(self, name: str, namespace: str | None = None) -> RoomName:
        """A room name this server serves, or :class:`InvalidRoomName` saying why not."""
        if namespace is None:
            parsed = parse_room_name(name)
            if parsed.namespace is not None:
                self._check_kind(name, parsed.namespace, parsed.kind)
            return parsed
        if not isinstance(name, str):
            raise InvalidRoomName(f"room name must be a string, not {type(name).__name__}")
        match = _RELATIVE_RE.fullmatch(name)
        if match is None:
            raise InvalidRoomName(
                f"invalid room name {_shown(name)!r}: expected '{{kind}}:{{id}}' with kind one of "
                f"{', '.join(self.kinds(namespace))} and id 1-128 characters of [A-Za-z0-9._-]"
            )
        self._check_kind(name, namespace, match["kind"])
        return RoomName(match["kind"], match["id"], namespace)

    def _check_kind(self, name: str, namespace: str, kind: str) -> None:
        kinds = self._kinds.get(namespace)
        if kinds is None:
            raise InvalidRoomName(
                f"invalid room name {_shown(name)!r}: no app is registered as {namespace!r}"
            )
        if kind not in kinds:
            raise InvalidRoomName(
                f"invalid room name {_shown(name)!r}: the {namespace} app has no kind {kind!r} "
                f"(it has {', '.join(sorted(kinds))})"
            )

    def parse_pattern(self, pattern: str, namespace: str | None = None) -> str:
        """A valid channel pattern (see :func:`parse_channel_pattern`), made absolute when it is
        relative to ``namespace``: ``*`` -> ``inventory/*``, ``order:*`` -> ``inventory/order:*``."""
        if namespace is None:
            return parse_channel_pattern(pattern)
        if pattern == "*":
            return f"{namespace}/*"
        if isinstance(pattern, str) and pattern.endswith(":*"):
            kind = pattern[:-2]
            self._check_kind(pattern, namespace, kind)
            return f"{namespace}/{kind}:*"
        try:
            return str(self.parse(pattern, namespace))
        except InvalidRoomName:
            raise InvalidRoomName(
                f"invalid channel pattern {pattern!r}: expected '*', '{{kind}}:*' or a room name"
                f" of the {namespace} app"
            ) from None

    def patterns(self, patterns: list[str], namespace: str | None = None) -> list[str]:
        return [self.parse_pattern(p, namespace) for p in patterns]

    def roots(self, name: RoomName) -> dict[str, str]:
        """The Yjs roots (name -> type) rooms of ``name``'s kind are declared to hold."""
        if name.namespace is None:
            return dict(KIND_ROOTS.get(name.kind, {}))
        return dict(self._kinds.get(name.namespace, {}).get(name.kind, {}))
