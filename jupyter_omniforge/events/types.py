"""Event types and their validation: one JSON Schema per family under ``schemas/``.

A family is the part of a type before the dot (``build`` for ``build.progress``). Each family's
schema validates a whole envelope, with ``data`` checked against the schema of its ``type``; the
same schemas are registered with Jupyter's ``event_logger``, so every entry point (REST, Python,
CLI, gateway) and Jupyter's own listeners agree on what a valid event is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

from ..errors import ValidationError

SCHEMA_DIR = Path(__file__).parent / "schemas"


class EventTypes:
    """The registry of known event types, loaded from ``schemas/*.json``."""

    def __init__(self, schema_dir: Path = SCHEMA_DIR) -> None:
        self.schemas: dict[str, dict[str, Any]] = {}
        self.paths: dict[str, Path] = {}
        self._validators: dict[str, Draft7Validator] = {}
        self.types: dict[str, str] = {}  # type -> family
        for path in sorted(schema_dir.glob("*.json")):
            schema = json.loads(path.read_text())
            family = path.stem
            self.schemas[family] = schema
            self.paths[family] = path
            self._validators[family] = Draft7Validator(schema)
            for event_type in schema["properties"]["type"]["enum"]:
                self.types[event_type] = family

    def schema_id(self, event_type: str) -> str:
        return self.schemas[self.types[event_type]]["$id"]

    def validate(self, envelope: dict[str, Any]) -> None:
        """Raise :class:`ValidationError` with a message naming what is wrong."""
        event_type = envelope.get("type")
        family = self.types.get(event_type) if isinstance(event_type, str) else None
        if family is None:
            known = ", ".join(sorted(self.types))
            raise ValidationError(f"unknown event type {event_type!r}; known types: {known}")
        validator = self._validators[family]
        if validator.is_valid(envelope):  # the common case, without collecting errors
            return
        error = best_match(validator.iter_errors(envelope))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "event"
            raise ValidationError(f"invalid {event_type} event: {where}: {error.message}")
