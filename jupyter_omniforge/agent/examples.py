"""Made-up data that a JSON Schema accepts (and some it refuses), for the generated tests.

A schema's own ``examples`` (or ``const``, ``enum``, ``default``) come first; otherwise a value
is built from ``type`` and the common keywords (required properties, bounds, lengths, formats).
Whatever comes out is checked against the schema: a schema this cannot satisfy (a ``pattern``,
say) raises :class:`CannotMakeExample`, and the spec must then give ``examples``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.validators import validator_for

_FORMATS = {
    "date": "2024-01-31",
    "date-time": "2024-01-31T12:00:00Z",
    "email": "someone@example.com",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "time": "12:00:00Z",
    "uri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "uuid": "123e4567-e89b-42d3-a456-426614174000",
}


class CannotMakeExample(ValueError):
    """No valid example could be made up for a schema."""


def _validator(schema: Mapping[str, Any]) -> Any:
    return validator_for(schema, default=Draft7Validator)(dict(schema))


def example_for(schema: Mapping[str, Any]) -> Any:
    """A value ``schema`` accepts; raises :class:`CannotMakeExample`."""
    value = _make(schema, depth=0, root=schema)
    error = next(iter(_validator(schema).iter_errors(value)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "data"
        raise CannotMakeExample(f"{where}: {error.message}")
    return value


def invalid_example_for(schema: Mapping[str, Any]) -> Any:
    """A value ``schema`` refuses: ``{}`` when it requires properties, else a list (the data of
    an event is an object)."""
    if not _validator(schema).is_valid({}):
        return {}
    return ["not", "an", "object"]


def _resolve(schema: Any, root: Mapping[str, Any]) -> Any:
    """Follow a local ``$ref`` (``#/$defs/x``, ``#/definitions/x``) within ``root``."""
    for _ in range(8):
        ref = schema.get("$ref") if isinstance(schema, Mapping) else None
        if not isinstance(ref, str) or not ref.startswith("#"):
            return schema
        target: Any = root
        for part in filter(None, ref[1:].split("/")):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _make(schema: Any, depth: int, root: Mapping[str, Any]) -> Any:
    schema = _resolve(schema, root)
    if not isinstance(schema, Mapping) or depth > 8:
        return None
    if schema.get("examples"):
        return schema["examples"][0]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for combinator in ("allOf", "anyOf", "oneOf"):
        if schema.get(combinator):
            merged = {k: v for k, v in schema.items() if k != combinator}
            first = schema[combinator][0]
            if isinstance(first, Mapping):
                merged = {**first, **merged}
            return _make(merged, depth + 1, root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    return _BY_TYPE.get(kind, lambda s, d, r: None)(schema, depth, root)


def _object(schema: Mapping[str, Any], depth: int, root: Mapping[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties", {})
    return {
        name: _make(properties.get(name, {"type": "string"}), depth + 1, root)
        for name in schema.get("required", [])
    }


def _array(schema: Mapping[str, Any], depth: int, root: Mapping[str, Any]) -> list[Any]:
    items = schema.get("items", {"type": "string"})
    if isinstance(items, list):  # a tuple schema
        return [_make(item, depth + 1, root) for item in items]
    count = max(1, schema.get("minItems", 1))
    if schema.get("uniqueItems") and count > 1:
        raise CannotMakeExample("unique items")
    return [_make(items, depth + 1, root) for _ in range(count)]


def _string(schema: Mapping[str, Any], depth: int, root: Mapping[str, Any]) -> str:
    if schema.get("format") in _FORMATS:
        return _FORMATS[schema["format"]]
    low = schema.get("minLength", 1)
    high = schema.get("maxLength", max(low, 4))
    text = "text" * (1 + low // 4)
    return text[: max(low, min(high, 4))]


def _number(schema: Mapping[str, Any], depth: int, root: Mapping[str, Any]) -> float | int:
    integer = schema.get("type") == "integer"
    low = schema.get("minimum")
    if "exclusiveMinimum" in schema and isinstance(schema["exclusiveMinimum"], int | float):
        low = schema["exclusiveMinimum"] + (1 if integer else 0.5)
    high = schema.get("maximum")
    if "exclusiveMaximum" in schema and isinstance(schema["exclusiveMaximum"], int | float):
        high = schema["exclusiveMaximum"] - (1 if integer else 0.5)
    value: float = 1 if low is None else low
    if high is not None and value > high:
        value = high
    step = schema.get("multipleOf")
    if step:
        value = math.ceil(value / step) * step
    if integer or float(value).is_integer():
        return int(value)
    return value


_BY_TYPE = {
    "object": _object,
    "array": _array,
    "string": _string,
    "integer": _number,
    "number": _number,
    "boolean": lambda schema, depth, root: True,
    "null": lambda schema, depth, root: None,
}
