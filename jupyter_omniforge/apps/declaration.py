"""What an app declares: its namespace, its room kinds with their Yjs roots, the JSON Schema of
the data of each of its event types, its presence fields, and a hook per event type.

    app = RealtimeApp(
        namespace="inventory",
        channels=[
            Channel(
                kind="order",
                document={"notes": "text", "items": "array"},
                events={"order.placed": {"type": "object", "required": ["total"]}},
            )
        ],
        presence={"status": "string"},
        hooks={"order.placed": check_stock},
    )

:func:`problems` lists everything wrong with a declaration as ``(path, message)`` pairs, the path
spelled as in a spec (``channels[0].events.order.placed``); the registry refuses a declaration
with problems, and the RealtimeAgent uses the same checks on a spec.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

from ..names import BUILTIN_KINDS, KIND_PATTERN, NAMESPACE_PATTERN
from ..rooms.roots import ROOT_TYPES

if TYPE_CHECKING:
    from .registry import Arrival

#: A hook: called with the arriving event before it is stored; raise ``Rejected`` to refuse it.
Hook = Callable[["Arrival[Any]"], "Awaitable[None] | None"]

YJS_TYPES: tuple[str, ...] = tuple(ROOT_TYPES)  # text, map, array, xml
PRESENCE_TYPES: tuple[str, ...] = ("string", "number", "integer", "boolean")
EVENT_NAME_PATTERN = r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+"
ROOT_NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_]{0,63}"
FIELD_NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_]{0,63}"

#: First URL segments of Jupyter Server, JupyterLab and OmniForge: no namespace may take them.
RESERVED_NAMESPACES = frozenset(
    {
        "api",
        "custom",
        "doc",
        "edit",
        "extensions",
        "files",
        "hub",
        "kernelspecs",
        "lab",
        "login",
        "logout",
        "metrics",
        "nbconvert",
        "nbextensions",
        "notebooks",
        "omniforge",
        "static",
        "terminals",
        "tree",
        "user",
        "view",
        "voila",
    }
)


@dataclass(frozen=True)
class Channel:
    """A room kind of an app: rooms ``{kind}:{id}`` holding the Yjs roots of ``document``
    (root name -> ``text``/``array``/``map``/``xml``), and the event types that go on them
    (type -> JSON Schema of its ``data``)."""

    kind: str
    document: Mapping[str, str] = field(default_factory=dict)
    events: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class RealtimeApp:
    """Everything the server needs to serve an app under ``{base_url}{namespace}/``."""

    namespace: str
    channels: Sequence[Channel]
    #: Awareness fields (name -> string/number/integer/boolean) beside the server-stamped user.
    presence: Mapping[str, str] = field(default_factory=dict)
    #: Event type -> hook. Types without a hook are stored once valid.
    hooks: Mapping[str, Hook] = field(default_factory=dict)
    #: For messages and listings: the Python package that declares the app.
    name: str = ""

    @classmethod
    def from_spec(
        cls, spec: Mapping[str, Any], hooks: Mapping[str, Hook] | None = None
    ) -> RealtimeApp:
        """The declaration of a RealtimeAgent spec (``namespace``, ``channels``, ``presence``)."""
        return cls(
            namespace=spec["namespace"],
            channels=[
                Channel(c["kind"], dict(c.get("document", {})), dict(c.get("events", {})))
                for c in spec["channels"]
            ],
            presence=dict(spec.get("presence", {}).get("fields", {})),
            hooks=dict(hooks or {}),
            name=spec.get("app", ""),
        )

    def event_types(self) -> dict[str, tuple[str, Mapping[str, Any]]]:
        """Event type -> (kind, data schema)."""
        return {t: (c.kind, s) for c in self.channels for t, s in c.events.items()}


class DeclarationError(ValueError):
    """A declaration (or spec) that cannot be served; ``problems`` lists ``(path, message)``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(
            "\n".join(f"{path}: {message}" if path else message for path, message in problems)
        )


def problems(app: RealtimeApp) -> list[tuple[str, str]]:
    """Everything wrong with ``app``, as ``(path, message)`` pairs in declaration order."""
    found: list[tuple[str, str]] = []
    if not re.fullmatch(NAMESPACE_PATTERN, app.namespace or ""):
        found.append(("namespace", f"{app.namespace!r} does not match {NAMESPACE_PATTERN}"))
    elif app.namespace in RESERVED_NAMESPACES:
        found.append(
            ("namespace", f"{app.namespace!r} is a URL prefix of Jupyter or OmniForge already")
        )
    if not app.channels:
        found.append(("channels", "an app declares at least one channel"))
    kinds: dict[str, int] = {}
    event_owner: dict[str, str] = {}
    for i, channel in enumerate(app.channels):
        at = f"channels[{i}]"
        found.extend(_kind_problems(channel.kind, f"{at}.kind", kinds, i))
        for root, yjs_type in channel.document.items():
            if not re.fullmatch(ROOT_NAME_PATTERN, root):
                found.append(
                    (f"{at}.document", f"root name {root!r} does not match {ROOT_NAME_PATTERN}")
                )
            if yjs_type not in YJS_TYPES:
                found.append(
                    (
                        f"{at}.document.{root}",
                        f"unknown Yjs type {yjs_type!r}; expected one of {', '.join(YJS_TYPES)}",
                    )
                )
        for event_type, schema in channel.events.items():
            path = f"{at}.events.{event_type}"
            if not re.fullmatch(EVENT_NAME_PATTERN, event_type):
                found.append(
                    (
                        path,
                        f"invalid event name {event_type!r}: expected lower-case words joined by dots, like order.placed",
                    )
                )
            elif event_type in event_owner:
                found.append((path, f"duplicate event type (also {event_owner[event_type]})"))
            else:
                event_owner[event_type] = path
            found.extend(schema_problems(schema, path))
    for name, json_type in app.presence.items():
        path = f"presence.fields.{name}"
        if name == "user":
            found.append((path, "'user' is set by the server from the Jupyter identity"))
        elif not re.fullmatch(FIELD_NAME_PATTERN, name):
            found.append((path, f"field name does not match {FIELD_NAME_PATTERN}"))
        if json_type not in PRESENCE_TYPES:
            found.append(
                (path, f"unknown type {json_type!r}; expected one of {', '.join(PRESENCE_TYPES)}")
            )
    for event_type in app.hooks:
        if event_type not in event_owner:
            found.append((f"hooks.{event_type}", "a hook for an event type no channel declares"))
        elif not callable(app.hooks[event_type]):
            found.append((f"hooks.{event_type}", "a hook must be callable"))
    return found


def _kind_problems(kind: str, path: str, seen: dict[str, int], index: int) -> list[tuple[str, str]]:
    if not isinstance(kind, str) or not re.fullmatch(KIND_PATTERN, kind):
        return [(path, f"{kind!r} does not match {KIND_PATTERN}")]
    if kind in BUILTIN_KINDS:
        return [(path, f"{kind!r} is a built-in room kind ({', '.join(BUILTIN_KINDS)})")]
    if keyword.iskeyword(kind):
        return [(path, f"{kind!r} is a Python keyword")]
    if kind in seen:
        return [(path, f"duplicate kind {kind!r} (also channels[{seen[kind]}].kind)")]
    seen[kind] = index
    return []


def schema_problems(schema: Any, path: str) -> list[tuple[str, str]]:
    """Problems of the JSON Schema of an event's data: checked against its metaschema (Draft 7
    unless it says otherwise in ``$schema``), and it must describe an object."""
    if not isinstance(schema, Mapping):
        return [(path, "the schema of an event's data is a JSON object")]
    cls = validator_for(schema, default=Draft7Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as e:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path)
        return [(path + where, f"invalid JSON Schema: {e.message}")]
    if schema.get("type") != "object":
        return [(path, "the data of an event is a JSON object: its schema needs type: object")]
    return []
