"""JSON across trust boundaries: strict and bounded on the way in, standard on the way out.

Everything a client, a stored row or a Redis entry hands us as JSON goes through :func:`loads`:

- ``NaN``, ``Infinity`` and ``-Infinity`` are refused, and so are numbers that overflow to an
  infinite float (``1e999``): browsers' and Node's ``JSON.parse`` reject them, so relaying them
  would break every other client;
- nesting deeper than ``max_depth`` is refused before Python's recursive parser sees it (deep
  nesting would otherwise end in a ``RecursionError``, or in a native stack overflow wherever
  the value reaches pycrdt);
- text longer than ``max_bytes`` is refused without being parsed.

What we write goes through :func:`dumps`, which never emits the non-standard constants.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .errors import MalformedMessage

#: Deepest nesting of arrays and objects accepted by default.
MAX_DEPTH = 64

# A JSON string (with its escapes), or one bracket. Strings are matched whole so that brackets
# inside them are not counted; the unrolled loop keeps the regex linear.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_OPENERS = frozenset(b"[{")


class InvalidJSON(MalformedMessage):
    """Text that is not strict JSON within the limits; ``str(error)`` says what is wrong
    (HTTP 400, close 1002, gateway error code ``malformed``)."""


def _refuse_constant(name: str) -> Any:
    raise InvalidJSON(f"{name} is not JSON (only finite numbers are)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidJSON(f"number {text[:40]} is out of range")
    return value


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def nesting_depth(data: bytes, limit: int) -> int:
    """The deepest nesting of arrays and objects in JSON ``data``, exact up to ``limit + 1``
    (counting stops there). Linear time, no recursion."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return 0  # it cannot be deeper than it has openers
    depth = deepest = 0
    for match in _TOKENS.finditer(data):
        token = match.group()
        if len(token) != 1:
            continue  # a string
        if token[0] in _OPENERS:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        else:
            depth -= 1
    return deepest


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH, max_bytes: int | None = None) -> Any:
    """Parse strict JSON; raise :class:`InvalidJSON` saying why it is refused."""
    data = text.encode() if isinstance(text, str) else bytes(text)
    if max_bytes is not None and len(data) > max_bytes:
        raise InvalidJSON(f"JSON of {len(data)} bytes is larger than the limit of {max_bytes}")
    if nesting_depth(data, max_depth) > max_depth:
        raise InvalidJSON(f"JSON nested deeper than {max_depth} levels")
    try:
        return _DECODER.decode(data.decode())
    except InvalidJSON:
        raise
    except UnicodeDecodeError:
        raise InvalidJSON("JSON is not UTF-8") from None
    except (ValueError, RecursionError) as e:  # int digits over sys.int_info's limit, syntax
        raise InvalidJSON(f"not JSON: {e}") from None


def dumps(value: Any, *, max_depth: int | None = None) -> str:
    """Compact standard JSON of ``value``; raise :class:`InvalidJSON` for what JSON cannot say
    (NaN, infinities, non-JSON types) or, with ``max_depth``, for nesting deeper than that."""
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as e:
        raise InvalidJSON(f"not representable as JSON: {e}") from None
    if max_depth is not None and nesting_depth(text.encode(), max_depth) > max_depth:
        raise InvalidJSON(f"JSON nested deeper than {max_depth} levels")
    return text
