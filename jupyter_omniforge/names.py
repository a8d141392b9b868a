"""The room-name grammar: the one place that decides what a room may be called.

A built-in name is ``presence`` or ``{kind}:{id}`` where kind is one of :data:`ROOM_KINDS` and id
is 1-128 characters of ``[A-Za-z0-9._-]``. An app registered through :mod:`jupyter_omniforge.apps`
adds its own kinds under its namespace: its rooms are ``{namespace}/{kind}:{id}`` inside the server
(the store, the bus, Redis), so they can never collide with a built-in room, and ``{kind}:{id}`` at
the app's own endpoints (``{base_url}{namespace}/rooms/{kind}:{id}``).

:func:`parse_room_name` checks the syntax only. Every entry point that takes a name from a client
parses it with the server's :class:`~jupyter_omniforge.apps.names.RoomNames`
(``omniforge.room_names``), which also knows which namespaces and kinds exist, so they all accept
and refuse exactly the same strings. Event channels are room names; their patterns
(``build:*``) are :mod:`jupyter_omniforge.events.channels`.

Rooms, events, apps and the Redis backplane's event log all speak this grammar: it sits at the
top of the package, outside ``rooms/``, which nothing under ``store/`` or ``backplane/`` imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidRoomName

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
#: A name relative to an app's namespace, as its own endpoints spell it.
RELATIVE_NAME_RE = re.compile(rf"(?P<kind>{KIND_PATTERN}):(?P<id>{ID_PATTERN})")


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


def shown(name: object) -> str:
    """``name`` as an error message may quote it: a repr, cut to 80 characters."""
    text = repr(name)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_room_name(name: str) -> RoomName:
    """Parse ``name`` (syntax only) or raise :class:`InvalidRoomName` saying what is wrong."""
    if not isinstance(name, str):
        raise InvalidRoomName(f"room name must be a string, not {type(name).__name__}")
    match = _NAME_RE.fullmatch(name)
    if match is None:
        raise InvalidRoomName(
            f"invalid room name {shown(name)}: expected 'presence' or '{{kind}}:{{id}}' with "
            f"kind one of {', '.join(ROOM_KINDS)} and id 1-128 characters of [A-Za-z0-9._-] "
            "(or an app's '{namespace}/{kind}:{id}')"
        )
    if match["presence"]:
        return RoomName(PRESENCE, None)
    if match["namespace"]:
        return RoomName(match["app_kind"], match["app_id"], match["namespace"])
    return RoomName(match["kind"], match["id"])
