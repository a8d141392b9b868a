"""The event-channel grammar: which channels a subscription pattern names.

A channel is a room name (:mod:`jupyter_omniforge.names`). A pattern is ``*`` (every
channel), ``{kind}:*`` (every room of a built-in kind), ``{namespace}/*`` or
``{namespace}/{kind}:*`` (an app's rooms), or a room name. Whether an app's namespace and kind
exist is for :class:`~jupyter_omniforge.apps.names.RoomNames` to say; this module checks syntax.
"""

from __future__ import annotations

import re

from ..errors import InvalidRoomName
from ..names import KIND_PATTERN, NAMESPACE_PATTERN, ROOM_KINDS, parse_room_name, shown

NAMESPACE_WILDCARD_RE = re.compile(
    rf"(?P<namespace>{NAMESPACE_PATTERN})/(?:(?P<kind>{KIND_PATTERN}):)?\*"
)


def parse_channel_pattern(pattern: str) -> str:
    """Validate a subscription pattern (syntax only); returns it in its canonical spelling."""
    if pattern == "*":
        return pattern
    if isinstance(pattern, str) and pattern.endswith(":*") and pattern[:-2] in ROOM_KINDS:
        return pattern
    if isinstance(pattern, str) and NAMESPACE_WILDCARD_RE.fullmatch(pattern):
        return pattern
    try:
        return str(parse_room_name(pattern))
    except InvalidRoomName:
        raise InvalidRoomName(
            f"invalid channel pattern {shown(pattern)}: expected '*', '{{kind}}:*' or a room name"
        ) from None


class ChannelMatcher:
    """Fast membership test of a channel name against a set of (already valid) patterns."""

    __slots__ = ("everything", "names", "patterns", "prefixes")

    def __init__(self, patterns: list[str]) -> None:
        self.patterns = list(patterns)
        self.everything = "*" in self.patterns
        self.prefixes = tuple(p[:-1] for p in self.patterns if p.endswith("*") and p != "*")
        self.names = frozenset(p for p in self.patterns if not p.endswith("*"))

    def __call__(self, channel: str) -> bool:
        return self.everything or channel in self.names or channel.startswith(self.prefixes)
