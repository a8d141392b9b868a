"""The compiled schemas that let events in fast never accept what jsonschema, the reference,
refuses (fuzzed), and refusals still name every problem."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_omniforge.errors import ValidationError
from jupyter_omniforge.events.types import EventTypes

TYPES = EventTypes()
EXAMPLES = int(os.environ.get("OMNIFORGE_FUZZ_EXAMPLES", "300"))


def _property_names(node: object, out: set[str]) -> set[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                out.update(value)
            _property_names(value, out)
    elif isinstance(node, list):
        for item in node:
            _property_names(item, out)
    return out


#: Every property name the built-in schemas mention, so generated data hits their rules.
KEYS = sorted(set().union(*(_property_names(s, set()) for s in TYPES.schemas.values())))

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, 1, 1.0, 100, 100.5, -1, 101, 0.0, 50])
    | st.text(max_size=20)
    # strings around the schemas' maxLength bounds
    | st.integers(min_value=9_990, max_value=10_010).map(lambda n: "é" * n)
    | st.integers(min_value=99_990, max_value=100_010).map(lambda n: "x" * n)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=8,
)
objects = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), values, max_size=6)

envelopes = st.fixed_dictionaries(
    {
        "id": st.text(max_size=5) | st.integers(),
        "channel": st.sampled_from(["build:1", "deployment:x", "idea:7", "presence"])
        | st.text(max_size=10)
        | st.integers(),
        "type": st.sampled_from(sorted(TYPES.types)) | st.text(max_size=12),
        "time": st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=3),
        "source": objects
        | st.fixed_dictionaries({"username": st.text(max_size=8) | st.integers()}),
        "data": objects | values,
    },
    optional={"extra": values},
)


def from_schema(node: dict) -> st.SearchStrategy:
    """Values the schema ``node`` accepts (most of the time: bounds are probed on both sides)."""
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind in ("number", "integer"):
        low, high = node.get("minimum", -(2**40)), node.get("maximum", 2**40)
        ints = st.integers(min_value=int(low) - 1, max_value=int(high) + 1)
        if kind == "integer":
            return ints | st.sampled_from([float(low), float(high)])
        return ints | st.floats(min_value=low - 1, max_value=high + 1)
    if kind == "string":
        top = node.get("maxLength", 30)
        sizes = st.sampled_from(sorted({0, 1, node.get("minLength", 0), top, top + 1}))
        return st.text(max_size=8) | sizes.map(lambda n: "é" * n)
    if kind == "array":
        items = from_schema(node.get("items", {}))
        over = node.get("maxItems", 3) + 1
        return st.lists(items, max_size=3) | st.just(over).map(lambda n: [""] * n)
    if kind == "object" or "properties" in node:
        props = node.get("properties", {})
        required = set(node.get("required", []))
        return st.fixed_dictionaries(
            {k: from_schema(v) for k, v in props.items() if k in required},
            optional={k: from_schema(v) for k, v in props.items() if k not in required},
        )
    return values


def data_schema(event_type: str) -> dict:
    schema = TYPES.schemas[TYPES.types[event_type]]
    for rule in schema.get("allOf", []):
        if rule.get("if", {}).get("properties", {}).get("type", {}).get("const") == event_type:
            return rule["then"]["properties"]["data"]
    return {"type": "object"}


@st.composite
def near_valid(draw: st.DrawFn) -> dict:
    """An envelope built from its type's schema, then (half the time) one field changed."""
    event_type = draw(st.sampled_from(sorted(TYPES.types)))
    event = {
        "id": "1",
        "channel": "build:1",
        "type": event_type,
        "time": 1.5,
        "source": {"username": "alice"},
        "data": draw(from_schema(data_schema(event_type))),
    }
    if draw(st.booleans()):
        where = draw(st.sampled_from(["envelope", "data", "source"]))
        target = event if where == "envelope" else event[where]
        if isinstance(target, dict):
            key = draw(st.sampled_from(sorted(target) or ["x"]) | st.sampled_from(KEYS))
            if draw(st.booleans()):
                target.pop(key, None)
            else:
                target[key] = draw(values)
    return event


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(envelope=near_valid() | envelopes, other=st.sampled_from(sorted(TYPES.schemas)))
def test_the_compiled_schemas_accept_only_what_jsonschema_accepts(envelope, other):
    event_type = envelope.get("type")
    family = TYPES.types.get(event_type, other) if isinstance(event_type, str) else other
    if TYPES._fast_valid(family, envelope):
        assert TYPES._validators[family].is_valid(envelope), (family, envelope)


def envelope(event_type: str, data: dict) -> dict:
    return {
        "id": "0",
        "channel": "build:1",
        "type": event_type,
        "time": time.time(),
        "source": {"username": "alice"},
        "data": data,
    }


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("build.progress", {"percent": 40, "message": "compiling"}),
        ("build.started", {}),
        ("build.completed", {"duration": 3.5}),
        ("build.failed", {"error": "boom"}),
        ("deployment.started", {"environment": "prod"}),
    ],
)
def test_ordinary_events_pass_the_fast_check(event_type, data):
    family = TYPES.types[event_type]
    assert TYPES._fast_valid(family, envelope(event_type, data))
    TYPES.validate(envelope(event_type, data))


def test_a_refusal_names_every_problem():
    with pytest.raises(ValidationError) as info:
        TYPES.validate(envelope("build.progress", {"percent": 150}))
    assert "150 is greater than the maximum of 100" in str(info.value)
    assert "'message' is a required property" in str(info.value)
