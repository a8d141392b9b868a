"""A RealtimeAgent spec: read (YAML or JSON), validated, and made into the model the templates
render.

Validation has two steps, and every problem names its path in the spec
(``channels[0].events.order.placed: ...``): the JSON Schema shipped beside this module
(``spec.schema.json``), then what a schema cannot say — each event's data schema against its
JSON Schema metaschema, duplicate kinds and event types, clashes with the built-in room kinds and
event types, reserved namespaces, and names the generated code could not use.
"""

from __future__ import annotations

import json
import keyword
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator

from ..apps.declaration import RealtimeApp, problems
from ..events.types import EventTypes
from .examples import CannotMakeExample, example_for, invalid_example_for

SCHEMA_PATH = Path(__file__).with_name("spec.schema.json")

#: What the generated package requires of jupyter_omniforge: the apps extension point.
RUNTIME_REQUIREMENT = "jupyter_omniforge>=0.1"

#: Attributes and methods of the generated clients (Python and TypeScript): no root, kind or
#: presence field may take these names.
CLIENT_MEMBERS = frozenset(
    {
        "awareness",
        "channel",
        "client",
        "close",
        "connect",
        "constructor",
        "destroy",
        "doc",
        "emit",
        "forge",
        "history",
        "id",
        "kind",
        "name",
        "namespace",
        "on",
        "once",
        "onPresence",
        "on_presence",
        "options",
        "presence",
        "provider",
        "room_url",
        "roomUrl",
        "roots",
        "setPresence",
        "set_presence",
        "synced",
        "timeout",
        "url",
        "whenSynced",
    }
)
#: Modules the generated package (and its tests) import: a package of that name would shadow them.
_RESERVED_PACKAGES = frozenset(
    {
        "anyio",
        "hatchling",
        "httpx",
        "jinja2",
        "jsonschema",
        "jupyter_client",
        "jupyter_core",
        "jupyter_events",
        "jupyter_omniforge",
        "jupyter_server",
        "jupyter_server_ydoc",
        "jupyterlab",
        "pip",
        "pycrdt",
        "pytest",
        "pytest_jupyter",
        "redis",
        "setuptools",
        "test",
        "tests",
        "tornado",
        "traitlets",
        "typing_extensions",
        "yaml",
    }
)
#: Largest spec file read, in bytes: a spec is a page of YAML, not a data set.
MAX_SPEC_BYTES = 1 << 20


class SpecError(ValueError):
    """An invalid spec; ``problems`` lists ``(path, message)``, ``str()`` one line each."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "") -> None:
        self.problems = problems
        self.source = source
        super().__init__("\n".join(f"{path or 'spec'}: {message}" for path, message in problems))


# -- reading ---------------------------------------------------------------------------------------


#: What ``comments: true`` adds to a kind's room classes (a root may not be named so there).
COMMENT_MEMBERS = frozenset({"threads", "comment", "reply", "resolve", "reopen"})


class _Mapping(dict):  # type: ignore[type-arg]
    """A mapping read from the spec file, remembering keys that appeared twice."""

    duplicates: list[str]


def _yaml_loader() -> type[yaml.SafeLoader]:
    class Loader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            # Anchors and aliases are refused before anything is built: a few hundred bytes of
            # nested aliases ("billion laughs") expand into gigabytes otherwise.
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    "YAML anchors and aliases (&name, *name) are not allowed in a spec",
                    event.start_mark,
                )
            return super().compose_node(parent, index)

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> _Mapping:
        mapping = _Mapping()
        mapping.duplicates = []
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in mapping:
                mapping.duplicates.append(str(key))
            mapping[key] = loader.construct_object(value_node, deep=True)
        return mapping

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return Loader


def _json_pairs(pairs: list[tuple[str, Any]]) -> _Mapping:
    mapping = _Mapping()
    mapping.duplicates = []
    for key, value in pairs:
        if key in mapping:
            mapping.duplicates.append(key)
        mapping[key] = value
    return mapping


def read_spec(path: str | Path) -> dict[str, Any]:
    """The spec in ``path``: JSON when it ends in ``.json``, else YAML. Raises
    :class:`SpecError` when it cannot be read or parsed."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_SPEC_BYTES + 1)
        text = raw.decode("utf-8")
    except OSError as e:
        raise SpecError([("", f"cannot read {path}: {e.strerror or e}")], str(path)) from None
    except UnicodeDecodeError as e:
        raise SpecError([("", f"{path.name} is not UTF-8: {e}")], str(path)) from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError([("", f"{path.name} is over {MAX_SPEC_BYTES} bytes")], str(path))
    try:
        if path.suffix == ".json":
            data = json.loads(text, object_pairs_hook=_json_pairs)
        else:
            # A SafeLoader that spots duplicate keys and refuses anchors and aliases.
            data = yaml.load(text, Loader=_yaml_loader())
    except (ValueError, yaml.YAMLError) as e:
        raise SpecError(
            [("", f"{path.name} is not valid {_format(path)}: {e}")], str(path)
        ) from None
    except RecursionError:
        raise SpecError([("", f"{path.name} is nested too deeply")], str(path)) from None
    return data


def _format(path: Path) -> str:
    return "JSON" if path.suffix == ".json" else "YAML"


def _duplicates(value: Any, path: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for key in getattr(value, "duplicates", []):
            found.append((_join(path, key), f"duplicate key {key!r}"))
        for key, item in value.items():
            found.extend(_duplicates(item, _join(path, str(key))))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(_duplicates(item, f"{path}[{i}]"))
    return found


def _not_json(value: Any, path: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """Where ``value`` holds something JSON cannot (a YAML date, an infinite number, a key that
    is not a string, a string that is not valid Unicode), or nests too deeply."""
    if depth > 64:
        return [(path, "nested too deeply")]
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            at = _join(path, str(key))
            if not isinstance(key, str):
                found.append((at, f"a key must be a string, not {type(key).__name__}: quote it"))
            found.extend(_not_json(key, at, depth + 1) if isinstance(key, str) else [])
            found.extend(_not_json(item, at, depth + 1))
        return found
    if isinstance(value, list):
        return [
            p for i, item in enumerate(value) for p in _not_json(item, f"{path}[{i}]", depth + 1)
        ]
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return [(path, "not valid Unicode (a lone surrogate)")]
        return []
    if isinstance(value, float) and not math.isfinite(value):
        return [(path, f"{value} is not a JSON number")]
    if value is None or isinstance(value, bool | int | float):
        return []
    return [(path, f"{type(value).__name__} is not JSON data: quote it")]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _plain(value: Any) -> Any:
    """``value`` with our mapping subclass turned back into plain dicts."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# -- validating ------------------------------------------------------------------------------------


def _schema_problems(spec: Any) -> list[tuple[str, str]]:
    schema = json.loads(SCHEMA_PATH.read_text())
    found = []
    for error in Draft7Validator(schema).iter_errors(spec):
        parts: list[Any] = list(error.absolute_path)
        message = error.message
        if "propertyNames" in error.schema_path:
            parts.append(error.instance)
            container = parts[-2] if len(parts) > 1 else ""
            if container == "events":
                message = (
                    f"invalid event name {error.instance!r}: expected lower-case words joined "
                    "by dots, like order.placed"
                )
            else:
                message = f"invalid name {error.instance!r}: {error.message}"
        elif error.validator == "pattern" and parts == ["description"]:
            message = "one line: no line breaks or control characters"
        elif error.validator == "enum" and len(parts) > 1 and parts[-2] == "document":
            message = f"unknown Yjs type {error.instance!r}; expected one of text, array, map, xml"
        found.append((_path(parts), message))
    return sorted(set(found))


def _path(parts: list[Any]) -> str:
    """``["channels", 0, "kind"]`` -> ``channels[0].kind``."""
    out = ""
    for part in parts:
        out = f"{out}[{part}]" if isinstance(part, int) else _join(out, str(part))
    return out


def pascal(name: str) -> str:
    """``order.placed`` -> ``OrderPlaced``; ``kanban_board`` -> ``KanbanBoard``."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[._-]+", name) if part)


def hook_name(event_type: str) -> str:
    """``order.placed`` -> ``on_order_placed``: its hook in the generated ``handlers.py``."""
    return "on_" + event_type.replace(".", "_")


@dataclass
class EventModel:
    name: str
    kind: str
    schema: dict[str, Any]
    example: Any
    invalid: Any
    data_type: str
    event_type: str
    hook: str


#: What the generated tests write into each type of root, and read back as JSON.
ROOT_SAMPLES = {"text": "hello", "array": ["item"], "map": {"key": "value"}, "xml": "hello"}
#: A value of each type of presence field, for the generated tests.
PRESENCE_SAMPLES = {"string": "text", "number": 1.5, "integer": 2, "boolean": True}


@dataclass
class ChannelModel:
    kind: str
    room_class: str
    roots: list[tuple[str, str]]
    events: list[EventModel]
    #: Whether the rooms have comment threads (``comments: true``).
    comments: bool = False

    @property
    def comment_root(self) -> str:
        """The Text root threads are anchored to: the first declared one."""
        return next(root for root, yjs_type in self.roots if yjs_type == "text")

    @property
    def expected_content(self) -> dict[str, Any]:
        return {root: ROOT_SAMPLES[yjs_type] for root, yjs_type in self.roots}


@dataclass
class Spec:
    """A valid spec, as the templates see it."""

    app: str
    namespace: str
    description: str
    version: str
    channels: list[ChannelModel]
    presence: list[tuple[str, str]]
    #: The spec, normalized (sorted keys, defaults filled in): the package ships it as spec.json.
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def pascal(self) -> str:
        return pascal(self.app)

    @property
    def client_class(self) -> str:
        return f"{self.pascal}Client"

    @property
    def events(self) -> list[EventModel]:
        return [e for c in self.channels for e in c.events]

    @property
    def npm_name(self) -> str:
        return self.app.replace("_", "-") + "-client"

    @property
    def comments(self) -> bool:
        """Whether any kind has comment threads."""
        return any(c.comments for c in self.channels)

    @property
    def xml_roots(self) -> bool:
        return any(t == "xml" for c in self.channels for _, t in c.roots)

    @property
    def examples(self) -> dict[str, Any]:
        return {e.name: e.example for e in self.events}

    @property
    def invalid_examples(self) -> dict[str, Any]:
        return {e.name: e.invalid for e in self.events}

    @property
    def presence_examples(self) -> dict[str, Any]:
        return {name: PRESENCE_SAMPLES[json_type] for name, json_type in self.presence}

    @property
    def hooks(self) -> dict[str, str]:
        """Event type -> the name of its hook in handlers.py."""
        return {e.name: e.hook for e in self.events}

    @property
    def runtime_requirement(self) -> str:
        return RUNTIME_REQUIREMENT


def load_spec(spec: str | Path | Mapping[str, Any]) -> Spec:
    """Validate ``spec`` (a path, or the parsed mapping) and make its model.

    Raises :class:`SpecError` listing every problem found, each with its path.
    """
    source = ""
    if isinstance(spec, str | Path):
        source = str(spec)
        data = read_spec(spec)
    else:
        data = spec
    found = _not_json(data)
    if found:
        raise SpecError(found, source)
    found = _duplicates(data)
    data = _plain(data)
    found += _schema_problems(data)
    if found:
        raise SpecError(found, source)
    found = _semantic_problems(data)
    if found:
        raise SpecError(found, source)
    try:
        return _model(data)
    except _ExampleProblem as e:
        raise SpecError([(e.path, e.message)], source) from None


def _semantic_problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    found = list(problems(RealtimeApp.from_spec(data)))
    app = data["app"]
    if keyword.iskeyword(app) or app in sys.stdlib_module_names or app in _RESERVED_PACKAGES:
        found.append(("app", f"{app!r} would shadow a Python module the app needs"))
    builtin = EventTypes().types
    names: dict[str, str] = {pascal(app) + "Client": "app", pascal(app) + "Room": "app"}
    for i, channel in enumerate(data["channels"]):
        at = f"channels[{i}]"
        kind = channel["kind"]
        if kind in CLIENT_MEMBERS:
            found.append((f"{at}.kind", f"{kind!r} is a member of the generated clients"))
        _claim(names, pascal(kind) + "Room", f"{at}.kind", found)
        for root in channel.get("document", {}):
            path = f"{at}.document.{root}"
            if keyword.iskeyword(root) or root in CLIENT_MEMBERS:
                found.append((path, f"{root!r} is a reserved name in the generated clients"))
            elif channel.get("comments") and root in COMMENT_MEMBERS:
                found.append((path, f"{root!r} is a comment method of the generated clients"))
        if channel.get("comments") and "text" not in channel.get("document", {}).values():
            found.append((f"{at}.comments", "comments need a text root to anchor threads to"))
        for event_type in channel.get("events", {}):
            path = f"{at}.events.{event_type}"
            if event_type in builtin:
                found.append(
                    (path, f"{event_type!r} is a built-in event type of jupyter_omniforge")
                )
            _claim(names, pascal(event_type), path, found)
            _claim(names, pascal(event_type) + "Event", path, found)
            _claim(names, hook_name(event_type), path, found)
    for name in data.get("presence", {}).get("fields", {}):
        if keyword.iskeyword(name) or name in CLIENT_MEMBERS:
            found.append((f"presence.fields.{name}", f"{name!r} is a reserved name"))
    # One problem per path: the first found says the most (a duplicate kind also clashes).
    first: dict[str, str] = {}
    for path, message in found:
        first.setdefault(path, message)
    return list(first.items())


def _claim(names: dict[str, str], name: str, path: str, found: list[tuple[str, str]]) -> None:
    if name in names:
        found.append((path, f"would generate {name}, as {names[name]} does"))
    else:
        names[name] = path


class _ExampleProblem(Exception):
    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message


def _model(data: dict[str, Any]) -> Spec:
    channels = []
    normalized_channels = []
    for i, channel in enumerate(data["channels"]):
        kind = channel["kind"]
        document = dict(sorted(channel.get("document", {}).items()))
        events_in = dict(sorted(channel.get("events", {}).items()))
        events = []
        for name, schema in events_in.items():
            try:
                example = example_for(schema)
                invalid = invalid_example_for(schema)
            except RecursionError:
                raise _ExampleProblem(
                    f"channels[{i}].events.{name}", "the schema refers to itself without end"
                ) from None
            except CannotMakeExample as e:
                raise _ExampleProblem(
                    f"channels[{i}].events.{name}",
                    f"cannot make up valid data for the generated tests ({e}): give the schema "
                    "an `examples: [...]` entry",
                ) from None
            events.append(
                EventModel(
                    name=name,
                    kind=kind,
                    schema=schema,
                    example=example,
                    invalid=invalid,
                    data_type=pascal(name),
                    event_type=pascal(name) + "Event",
                    hook=hook_name(name),
                )
            )
        comments = bool(channel.get("comments", False))
        channels.append(
            ChannelModel(kind, pascal(kind) + "Room", list(document.items()), events, comments)
        )
        shipped = {"kind": kind, "document": document, "events": events_in}
        if comments:  # only when asked: the specs before it ship the same spec.json
            shipped["comments"] = True
        normalized_channels.append(shipped)
    fields = dict(sorted(data.get("presence", {}).get("fields", {}).items()))
    normalized = {
        "app": data["app"],
        "namespace": data["namespace"],
        "description": data.get("description", ""),
        "version": data.get("version", "0.1.0"),
        "channels": normalized_channels,
        "presence": {"fields": fields},
    }
    return Spec(
        app=normalized["app"],
        namespace=normalized["namespace"],
        description=normalized["description"] or f"The {data['app']} real-time app",
        version=normalized["version"],
        channels=channels,
        presence=list(fields.items()),
        data=normalized,
    )
