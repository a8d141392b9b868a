"""Event types and their validation: one JSON Schema per family under ``schemas/``, plus the
event types of the apps registered through :mod:`jupyter_omniforge.apps`.

A family is the part of a type before the dot (``build`` for ``build.progress``). Each family's
schema validates a whole envelope, with ``data`` checked against the schema of its ``type``; the
same schemas are registered with Jupyter's ``event_logger``, so every entry point (REST, Python,
CLI, gateway) and Jupyter's own listeners agree on what a valid event is.

An app's event types belong to it: they are valid only on its channels
(``{namespace}/{kind}:{id}``, and only on the kinds that declare them), and only when they arrive
through the app (``validate(..., namespace=...)``), where its hooks run. On an app's channels the
built-in presence families (``user``, ``cursor``, ``selection``) are valid too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fastjsonschema
from jsonschema import Draft7Validator
from jsonschema.validators import validator_for

from ..errors import InvalidRoomName, ValidationError

if TYPE_CHECKING:
    from ..apps.names import RoomNames

SCHEMA_DIR = Path(__file__).parent / "schemas"

#: Built-in families that make sense on any room, an app's included.
PRESENCE_FAMILIES = frozenset({"user", "cursor", "selection", "room", "comment", "thread"})


def app_schema_id(namespace: str) -> str:
    return f"https://events.jupyter.org/jupyter_omniforge/apps/{namespace}/v1"


def app_family_schema(namespace: str, event_types: list[str]) -> dict[str, Any]:
    """The envelope schema of an app's events, as registered with Jupyter's ``event_logger``.

    ``data`` stays a plain object here: it is checked against each type's own schema (whose
    ``$ref``s are relative to itself) before the event is stored.
    """
    return {
        "$id": app_schema_id(namespace),
        "version": "1",
        "title": f"OmniForge events of the {namespace} app",
        "description": "Events of an app registered through jupyter_omniforge.apps.",
        "personal-data": True,
        "type": "object",
        "required": ["id", "channel", "type", "time", "source", "data"],
        "properties": {
            "id": {"title": "Event id (a cursor)", "type": "string"},
            "channel": {"title": "Channel (a room name)", "type": "string"},
            "type": {"title": "Event type", "enum": sorted(event_types)},
            "time": {"title": "Unix time in seconds", "type": "number"},
            "source": {
                "title": "Who emitted it",
                "type": "object",
                "required": ["username"],
                "properties": {"username": {"type": "string"}},
            },
            "data": {"title": "Payload", "type": "object"},
        },
    }


def _compiled(schema: dict[str, Any]) -> Any:
    """A fast yes/no check of ``schema`` (fastjsonschema compiles it to Python, ~10x faster than
    jsonschema's ``is_valid`` on an event). Accepting is final; a refusal is confirmed, and its
    reasons found, by jsonschema, the reference (tests/test_event_types.py fuzzes that the two
    agree). Defaults are never filled in and formats are not asserted, as with jsonschema."""
    return fastjsonschema.compile(schema, use_default=False, use_formats=False)


class _AppType:
    __slots__ = ("kinds", "namespace", "validator")

    def __init__(self, namespace: str, kinds: frozenset[str], validator: Any) -> None:
        self.namespace = namespace
        self.kinds = kinds
        self.validator = validator


class EventTypes:
    """The registry of known event types, loaded from ``schemas/*.json``; apps add theirs with
    :meth:`add_app`. ``names`` (the server's room names) lets it refuse events on the channels
    of namespaces nobody registered."""

    def __init__(self, schema_dir: Path = SCHEMA_DIR, names: RoomNames | None = None) -> None:
        self.schemas: dict[str, dict[str, Any]] = {}
        self.paths: dict[str, Path] = {}
        self._validators: dict[str, Draft7Validator] = {}
        self._fast: dict[str, Any] = {}
        self.types: dict[str, str] = {}  # type -> family
        self.names = names
        self._app_types: dict[str, _AppType] = {}
        for path in sorted(schema_dir.glob("*.json")):
            schema = json.loads(path.read_text())
            family = path.stem
            self.schemas[family] = schema
            self.paths[family] = path
            self._validators[family] = Draft7Validator(schema)
            self._fast[family] = _compiled(schema)
            for event_type in schema["properties"]["type"]["enum"]:
                self.types[event_type] = family

    # -- apps ------------------------------------------------------------------------------------

    def add_app(
        self, namespace: str, events: Mapping[str, tuple[str, Mapping[str, Any]]]
    ) -> dict[str, Any]:
        """Add an app's event types: ``events`` maps each type to ``(kind, data schema)``.

        Returns the app's envelope schema (to register with Jupyter's ``event_logger``). Raises
        :class:`ValueError` when a type is already known (built-in, or another app's).
        """
        for event_type in events:
            if event_type in self.types:
                owner = self._app_types.get(event_type)
                by = f"the {owner.namespace} app" if owner else "jupyter_omniforge"
                raise ValueError(f"event type {event_type!r} is already defined by {by}")
        family = f"app:{namespace}"
        schema = app_family_schema(namespace, list(events))
        self.schemas[family] = schema
        self._validators[family] = Draft7Validator(schema)
        self._fast[family] = _compiled(schema)
        for event_type, (kind, data_schema) in events.items():
            cls = validator_for(data_schema, default=Draft7Validator)
            kinds = frozenset({kind})
            self._app_types[event_type] = _AppType(namespace, kinds, cls(dict(data_schema)))
            self.types[event_type] = family
        return schema

    # -- validation ------------------------------------------------------------------------------

    def schema_id(self, event_type: str) -> str:
        return self.schemas[self.types[event_type]]["$id"]

    def validate(self, envelope: dict[str, Any], *, namespace: str | None = None) -> None:
        """Raise :class:`ValidationError` with a message naming what is wrong.

        ``namespace`` is the app the event arrives through (None: the built-in endpoints and
        ``OmniForgeApp.emit``, where no app's event types are accepted).
        """
        event_type = envelope.get("type")
        family = self.types.get(event_type) if isinstance(event_type, str) else None
        channel = envelope.get("channel")
        channel_ns = _namespace_of(channel)
        if channel_ns is not None:
            self._check_app_channel(channel)
        if family is None:
            known = ", ".join(sorted(t for t in self.types if self._usable(t, namespace)))
            raise ValidationError(f"unknown event type {event_type!r}; known types: {known}")
        app_type = self._app_types.get(event_type)
        if app_type is not None:
            self._check_app_type(event_type, app_type, channel, channel_ns, namespace)
        elif channel_ns is not None and family not in PRESENCE_FAMILIES:
            raise ValidationError(
                f"{event_type} events do not go on an app's rooms ({channel}); its own event "
                f"types and {', '.join(sorted(PRESENCE_FAMILIES))} events do"
            )
        validator = self._validators[family]
        if self._fast_valid(family, envelope) or validator.is_valid(envelope):
            if app_type is None or app_type.validator.is_valid(envelope["data"]):
                return
            _raise_all(event_type, app_type.validator.iter_errors(envelope["data"]), "data")
        _raise_all(event_type, validator.iter_errors(envelope), None)

    def _fast_valid(self, family: str, envelope: dict[str, Any]) -> bool:
        try:
            self._fast[family](envelope)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    def _usable(self, event_type: str, namespace: str | None) -> bool:
        owner = self._app_types.get(event_type)
        return owner is None or owner.namespace == namespace

    def check_channel(self, channel: str) -> None:
        """Refuse (``ValidationError``) a channel of a namespace (or kind) nobody registered."""
        if _namespace_of(channel) is not None:
            self._check_app_channel(channel)

    def _check_app_channel(self, channel: str) -> None:
        """Refuse the channels of namespaces (and kinds) nobody registered."""
        if self.names is not None:
            try:
                self.names.parse(channel)
            except InvalidRoomName as e:
                raise ValidationError(str(e)) from None

    def _check_app_type(
        self,
        event_type: str,
        app_type: _AppType,
        channel: str,
        channel_ns: str | None,
        namespace: str | None,
    ) -> None:
        if namespace != app_type.namespace:
            raise ValidationError(
                f"{event_type} is an event of the {app_type.namespace} app: emit it through "
                f"{app_type.namespace}/events, where its hooks run"
            )
        kind = channel.partition("/")[2].partition(":")[0] if channel_ns else None
        if channel_ns != app_type.namespace or kind not in app_type.kinds:
            kinds = ", ".join(f"{k}:{{id}}" for k in sorted(app_type.kinds))
            raise ValidationError(
                f"{event_type} events go on {kinds} rooms of the {app_type.namespace} app, "
                f"not on {channel}"
            )


def _namespace_of(channel: Any) -> str | None:
    if isinstance(channel, str) and "/" in channel:
        return channel.partition("/")[0]
    return None


def _raise_all(event_type: str, errors: Any, prefix: str | None) -> None:
    """Raise one ``ValidationError`` naming every schema error (at most 20), by path."""
    found = sorted(errors, key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if not found:
        return
    lines = []
    for error in found[:20]:
        parts = [str(p) for p in error.absolute_path]
        if prefix is not None:
            parts.insert(0, prefix)
        lines.append(f"{'/'.join(parts) or 'event'}: {error.message}")
    more = f"; and {len(found) - 20} more" if len(found) > 20 else ""
    raise ValidationError(f"invalid {event_type} event: {'; '.join(lines)}{more}")
