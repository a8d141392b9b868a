"""The Yjs roots a room kind is known to hold, and turning them into JSON for the REST API.

The server itself never types a client's roots: JSON is read from a throw-away copy of the
document, so asking for a root under the wrong type cannot disturb the live room.
"""

from __future__ import annotations

from typing import Any

from pycrdt import Array, Doc, Map, Text, XmlFragment

from ..errors import ValidationError
from ..structure import Structure
from ..updates import UpdateRefused

ROOT_TYPES: dict[str, type] = {
    "text": Text,
    "map": Map,
    "array": Array,
    "xml": XmlFragment,
}

# What each kind of room holds by convention (the seed's document structure); build and
# deployment rooms carry the live state the event stream writes. ``meta`` holds what the room
# editor shares about the room itself (its ``language``).
KIND_ROOTS: dict[str, dict[str, str]] = {
    "idea": {"ideas": "text", "code": "text", "content": "xml", "tokens": "map", "meta": "map"},
    "project": {
        "code": "text",
        "tokens": "map",
        "components": "array",
        "content": "xml",
        "meta": "map",
    },
    "build": {"status": "map", "log": "array"},
    "deployment": {"status": "map", "log": "array"},
    "preview": {"code": "text", "tokens": "map", "components": "array", "meta": "map"},
    "presence": {},
}


def parse_roots(spec: str) -> dict[str, str]:
    """Parse ``"code:text,tokens:map"`` into ``{"code": "text", "tokens": "map"}``."""
    roots: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, sep, kind = item.partition(":")
        if not sep or not name or kind not in ROOT_TYPES:
            raise ValidationError(
                f"invalid root {item!r}: expected NAME:TYPE with TYPE one of {', '.join(ROOT_TYPES)}"
            )
        roots[name] = kind
    return roots


def roots_as_json(full_update: bytes, roots: dict[str, str]) -> dict[str, Any]:
    """JSON of ``roots`` (name → type) present in the document encoded by ``full_update``.

    Raises :class:`ValidationError` when a root holds what its type cannot (text content read
    as an Array or a Map would hang pycrdt, see :mod:`.structure`)."""
    try:
        Structure(roots).check(full_update, limits=False)
    except UpdateRefused as e:
        raise ValidationError(
            f"the document does not hold the roots {', '.join(f'{n}:{k}' for n, k in roots.items())}"
            f" as those types: {e}"
        ) from None
    copy = Doc()
    copy.apply_update(full_update)
    present = set(copy.keys())
    content: dict[str, Any] = {}
    for name, kind in roots.items():
        if name not in present:
            continue
        value = copy.get(name, type=ROOT_TYPES[kind])
        try:
            content[name] = str(value) if kind in ("text", "xml") else value.to_py()
        except ValueError as e:  # an XML element in an Array, say: no JSON for it
            raise ValidationError(f"root {name} ({kind}) has no JSON form: {e}") from None
    return content


def root_names(full_update: bytes) -> list[str]:
    copy = Doc()
    copy.apply_update(full_update)
    return sorted(copy.keys())
