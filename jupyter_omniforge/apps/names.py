"""The names one server serves: the built-in rooms and the rooms of the registered apps.

Every entry point that takes a room name or a channel pattern from a client parses it here
(``omniforge.room_names``), so they all accept and refuse exactly the same strings.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import InvalidRoomName
from ..events.channels import NAMESPACE_WILDCARD_RE, parse_channel_pattern
from ..names import RELATIVE_NAME_RE, RoomName, parse_room_name, shown
from ..rooms.roots import KIND_ROOTS


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
        match = RELATIVE_NAME_RE.fullmatch(name)
        if match is None:
            raise InvalidRoomName(
                f"invalid room name {shown(name)}: expected '{{kind}}:{{id}}' with kind one of "
                f"{', '.join(self.kinds(namespace))} and id 1-128 characters of [A-Za-z0-9._-]"
            )
        self._check_kind(name, namespace, match["kind"])
        return RoomName(match["kind"], match["id"], namespace)

    def _check_kind(self, name: str, namespace: str, kind: str | None) -> None:
        kinds = self._kinds.get(namespace)
        if kinds is None:
            raise InvalidRoomName(
                f"invalid room name {shown(name)}: no app is registered as {namespace!r}"
            )
        if kind is not None and kind not in kinds:
            raise InvalidRoomName(
                f"invalid room name {shown(name)}: the {namespace} app has no kind {kind!r} "
                f"(it has {', '.join(sorted(kinds))})"
            )

    def parse_pattern(self, pattern: str, namespace: str | None = None) -> str:
        """A valid channel pattern (see :func:`parse_channel_pattern`) of rooms this server
        serves, made absolute when it is relative to ``namespace``: ``*`` -> ``inventory/*``,
        ``order:*`` -> ``inventory/order:*``. An app's pattern names a registered app."""
        if namespace is None:
            pattern = parse_channel_pattern(pattern)
            wildcard = NAMESPACE_WILDCARD_RE.fullmatch(pattern)
            if wildcard is not None:
                self._check_kind(pattern, wildcard["namespace"], wildcard["kind"])
            elif "/" in pattern:
                self.parse(pattern)
            return pattern
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
                f"invalid channel pattern {shown(pattern)}: expected '*', '{{kind}}:*' or a room "
                f"name of the {namespace} app"
            ) from None

    def patterns(self, patterns: list[str], namespace: str | None = None) -> list[str]:
        return [self.parse_pattern(p, namespace) for p in patterns]

    def roots(self, name: RoomName) -> dict[str, str]:
        """The Yjs roots (name -> type) rooms of ``name``'s kind are declared to hold."""
        if name.namespace is None:
            return dict(KIND_ROOTS.get(name.kind, {}))
        return dict(self._kinds.get(name.namespace, {}).get(name.kind, {}))
