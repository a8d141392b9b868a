"""From JSON Schemas and values to Python and TypeScript source text, for the templates.

The Python text is what ``ruff format`` would write: short literals and signatures on one line,
longer ones exploded one item per line with a trailing comma (which ruff keeps exploded), so
generated files pass ``ruff format --check`` as they are.
"""

from __future__ import annotations

import json
import keyword
import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

#: Longest line (with its indentation) written on one line; ruff's limit is 100.
WIDTH = 90

_PY_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
_TS_SCALARS = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean"}


# -- text from the spec in comments and docstrings ------------------------------------------------
#
# Every string of a spec that lands in generated code goes through one of the filters below (or
# py_str / ts_str / toml_str for literals): a quote, a backslash, a comment end or a line break
# in a description or an example must not end the docstring, comment or literal it is in.

#: Characters that end a line (or a `//` comment) in Python, TypeScript or an editor, and other
#: invisible ones: shown as escapes.
_UNSEEN = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def _escape_unseen(ch: str) -> str:
    if unicodedata.category(ch) not in _UNSEEN:
        return ch
    code = ord(ch)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def py_doc(text: str) -> str:
    """``text`` made safe inside a ``\"\"\"`` docstring, reading as ``text``: backslashes
    doubled, every third quote of a run (and a last one) escaped, control characters and line
    breaks other than ``\\n`` written as escapes."""
    out = []
    run = 0
    for i, ch in enumerate(text):
        if ch == '"':
            run += 1
            if run == 3 or i == len(text) - 1:
                out.append('\\"')
                run = 0
            else:
                out.append(ch)
            continue
        run = 0
        out.append("\\\\" if ch == "\\" else ch if ch == "\n" else _escape_unseen(ch))
    return "".join(out)


def ts_comment(text: str) -> str:
    """``text`` made safe inside a ``/** */`` comment: no ``*/``, no line breaks."""
    return "".join(_escape_unseen(ch) for ch in text).replace("*/", "*\\/")


def toml_str(text: str) -> str:
    """A TOML basic string (UTF-8 as it is; quotes, backslashes and control characters escaped)."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


# -- Python ----------------------------------------------------------------------------------------


def _json_body(text: str) -> str:
    """``text`` as the inside of a JSON string, with invisible characters and line separators
    escaped too (JSON leaves them raw: they end a line in an editor, a linter, old JavaScript)."""
    return "".join(_escape_unseen(ch) for ch in json.dumps(text, ensure_ascii=False))


def py_str(text: str) -> str:
    """A Python string literal as ruff writes it (double quotes unless that needs escapes)."""
    body = _json_body(text)
    if '"' in text and "'" not in text:
        return "'" + body[1:-1].replace('\\"', '"') + "'"
    return body


def py_literal(value: Any, indent: int = 0, prefix: int = 0, suffix: int = 0) -> str:
    """``value`` (JSON data) as a Python literal; ``indent`` is the indentation of the line it
    starts on, ``prefix``/``suffix`` the width of what precedes and follows it on that line."""
    flat = _py_flat(value)
    if indent + prefix + len(flat) + suffix <= WIDTH or not isinstance(value, dict | list):
        return flat
    inner = " " * (indent + 4)
    if isinstance(value, dict):
        items = [
            f"{inner}{py_str(str(k))}: {py_literal(v, indent + 4, len(py_str(str(k))) + 2, 1)},"
            for k, v in value.items()
        ]
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    items = [f"{inner}{py_literal(v, indent + 4, 0, 1)}," for v in value]
    return "[\n" + "\n".join(items) + "\n" + " " * indent + "]"


def _py_flat(value: Any) -> str:
    if value is None:
        return "None"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, str):
        return py_str(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py_str(str(k))}: {_py_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_py_flat(v) for v in value) + "]"
    raise TypeError(f"not JSON data: {value!r}")


def py_type(schema: Any) -> str:
    """The Python annotation of values of ``schema``."""
    if not isinstance(schema, Mapping):
        return "Any"
    literals = _literals(schema)
    if literals is not None:
        text = "Literal[" + ", ".join(_py_flat(v) for v in literals) + "]"
        return text if len(text) <= 60 else _py_base(schema)
    return _py_base(schema)


def _literals(schema: Mapping[str, Any]) -> list[Any] | None:
    values = [schema["const"]] if "const" in schema else schema.get("enum")
    if values and all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
        return list(values)
    return None


def _py_base(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        parts = [_py_base({**schema, "type": k}) for k in kind if k != "null"]
        parts = list(dict.fromkeys(parts)) or ["None"]
        if "null" in kind and parts != ["None"]:
            parts.append("None")
        return " | ".join(parts)
    if kind in _PY_SCALARS:
        return _PY_SCALARS[kind]
    if kind == "null":
        return "None"
    if kind == "array":
        items = schema.get("items")
        return f"list[{py_type(items) if isinstance(items, Mapping) else 'Any'}]"
    if kind == "object":
        return "dict[str, Any]"
    return "Any"


def typed_dict_fields(
    schema: Mapping[str, Any],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]] | None:
    """``(required, optional)`` fields ``(name, annotation)`` of the TypedDict of an object
    schema, or None when a property name cannot be a class attribute."""
    properties = schema.get("properties", {})
    required = [n for n in schema.get("required", []) if n in properties]
    names = list(properties)
    # ASCII only: Python normalizes other identifiers (NFKC), so the key would not be the name.
    if any(not (n.isascii() and n.isidentifier()) or keyword.iskeyword(n) for n in names):
        return None
    return (
        [(n, py_type(properties[n])) for n in names if n in required],
        [(n, py_type(properties[n])) for n in names if n not in required],
    )


def py_signature(head: str, params: list[str], tail: str, indent: int) -> str:
    """``def f(a, b) -> X:`` on one line if it fits, else one parameter per line."""
    line = f"{head}({', '.join(params)}){tail}"
    if indent + len(line) <= WIDTH:
        return line
    inner = " " * (indent + 4)
    return head + "(\n" + "".join(f"{inner}{p},\n" for p in params) + " " * indent + ")" + tail


def py_import(module: str, names: list[str]) -> str:
    """``from module import a, b`` with the names in ruff's (isort's) order, exploded if long."""
    ordered = sorted(
        set(names), key=lambda n: (0 if n.isupper() else 1 if n[:1].isupper() else 2, n)
    )
    line = f"from {module} import {', '.join(ordered)}"
    if len(line) <= WIDTH:
        return line
    return f"from {module} import (\n" + "".join(f"    {n},\n" for n in ordered) + ")"


# -- TypeScript ------------------------------------------------------------------------------------


def ts_str(text: str) -> str:
    """A TypeScript string literal (single quotes)."""
    body = _json_body(text)[1:-1].replace('\\"', '"').replace("'", "\\'")
    return f"'{body}'"


_TS_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def ts_key(name: str) -> str:
    return name if _TS_IDENTIFIER.fullmatch(name) else ts_str(name)


def ts_type(schema: Any, indent: int = 0) -> str:
    """The TypeScript type of values of ``schema``."""
    if not isinstance(schema, Mapping):
        return "unknown"
    values = [schema["const"]] if "const" in schema else schema.get("enum")
    if values:
        return " | ".join(json.dumps(v) if not isinstance(v, str) else ts_str(v) for v in values)
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(dict.fromkeys(ts_type({**schema, "type": k}, indent) for k in kind))
    if kind in _TS_SCALARS:
        return _TS_SCALARS[kind]
    if kind == "null":
        return "null"
    if kind == "array":
        items = schema.get("items")
        return f"Array<{ts_type(items, indent) if isinstance(items, Mapping) else 'unknown'}>"
    if kind == "object" or "properties" in schema:
        if not schema.get("properties"):
            return "Record<string, unknown>"
        return ts_object(schema, indent)
    return "unknown"


def ts_object(schema: Mapping[str, Any], indent: int = 0) -> str:
    """An object type literal of an object schema, one property per line."""
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    inner = " " * (indent + 2)
    lines = [
        f"{inner}{ts_key(name)}{'' if name in required else '?'}: {ts_type(sub, indent + 2)};"
        for name, sub in properties.items()
    ]
    return "{\n" + "\n".join(lines) + ("\n" if lines else "") + " " * indent + "}"


def ts_literal(value: Any) -> str:
    """JSON data as a one-line TypeScript literal: ``{ total: 0, note: 'x' }``."""
    if isinstance(value, str):
        return ts_str(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        return (
            "{ " + ", ".join(f"{ts_key(str(k))}: {ts_literal(v)}" for k, v in value.items()) + " }"
        )
    if isinstance(value, list):
        return "[" + ", ".join(ts_literal(v) for v in value) + "]"
    return json.dumps(value)


def ts_json(value: Any, indent: int = 0) -> str:
    """JSON data as a TypeScript expression."""
    return json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + " " * indent)


# -- the environment -------------------------------------------------------------------------------


def environment() -> Environment:
    """Jinja2 over the templates shipped in ``agent/templates``; strict about undefined names."""
    env = Environment(
        loader=PackageLoader("jupyter_omniforge.agent", "templates"),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
        autoescape=False,
    )
    env.filters.update(
        py_doc=py_doc,
        py_literal=py_literal,
        py_str=py_str,
        toml_str=toml_str,
        ts_comment=ts_comment,
        py_type=py_type,
        ts_str=ts_str,
        ts_key=ts_key,
        ts_type=ts_type,
        ts_object=ts_object,
        ts_json=ts_json,
        ts_literal=ts_literal,
        tojson_sorted=lambda v: json.dumps(v, indent=2, sort_keys=True, ensure_ascii=False),
    )
    env.globals.update(
        typed_dict_fields=typed_dict_fields, py_signature=py_signature, py_import=py_import
    )
    return env
