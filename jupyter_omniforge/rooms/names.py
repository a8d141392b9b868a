"""The room-name grammar: the one place that decides what a room (or event channel) may be called.

A name is ``presence`` or ``{kind}:{id}`` where kind is one of :data:`ROOM_KINDS` and id is 1-128
characters of ``[A-Za-z0-9._-]``. Every entry point (WebSocket, REST, gateway, events) parses names
through :func:`parse_room_name`, so they all accept and refuse exactly the same strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidRoomName

ROOM_KINDS: tuple[str, ...] = ("idea", "project", "build", "deployment", "preview")
PRESENCE = "presence"

_ID = r"[A-Za-z0-9._-]{1,128}"
_NAME_RE = re.compile(rf"(?:(?P<kind>{'|'.join(ROOM_KINDS)}):(?P<id>{_ID})|(?P<presence>presence))")


@dataclass(frozen=True, slots=True)
class RoomName:
    """A validated room name. ``str(name)`` is its canonical spelling."""

    kind: str
    id: str | None

    def __str__(self) -> str:
        return PRESENCE if self.kind == PRESENCE else f"{self.kind}:{self.id}"


def parse_room_name(name: str) -> RoomName:
    """Parse ``name`` or raise :class:`InvalidRoomName` saying what is wrong with it."""
    if not isinstance(name, str):
        raise InvalidRoomName(f"room name must be a string, not {type(name).__name__}")
    match = _NAME_RE.fullmatch(name)
    if match is None:
        shown = name if len(name) <= 80 else name[:77] + "..."
        raise InvalidRoomName(
            f"invalid room name {shown!r}: expected 'presence' or '{{kind}}:{{id}}' with kind one "
            f"of {', '.join(ROOM_KINDS)} and id 1-128 characters of [A-Za-z0-9._-]"
        )
    if match["presence"]:
        return RoomName(PRESENCE, None)
    return RoomName(match["kind"], match["id"])


def parse_channel_pattern(pattern: str) -> str:
    """Validate a subscription pattern: ``*``, ``{kind}:*``, or a room name. Returns it as is."""
    if pattern == "*":
        return pattern
    if isinstance(pattern, str) and pattern.endswith(":*") and pattern[:-2] in ROOM_KINDS:
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
        self.prefixes = tuple(p[:-1] for p in self.patterns if p.endswith(":*"))
        self.names = frozenset(p for p in self.patterns if not p.endswith("*"))

    def __call__(self, channel: str) -> bool:
        return self.everything or channel in self.names or channel.startswith(self.prefixes)
