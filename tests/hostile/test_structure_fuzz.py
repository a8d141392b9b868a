"""Fuzzing the document structure: random documents built from forged items (any parent, any
origin, any content in any type), and what the structure accepts must be safe for pycrdt to
hold, read with the room kind's types and delete, in a process of its own (a crash or a hang
there fails the example)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_omniforge.structure import Structure
from jupyter_omniforge.updates import UpdateRefused

from .lib0 import item, update_of, var_string, var_uint

ROOTS = {"log": "array", "code": "text", "tokens": "map", "content": "xml"}

# Read every declared root with its type, then delete everything in it, in a fresh process.
PROBE = """
import base64, json, sys
from pycrdt import Array, Doc, Map, Text, XmlFragment
updates = [base64.b64decode(u) for u in json.loads(sys.stdin.read())]
doc = Doc()
for u in updates:
    try:
        doc.apply_update(u)
    except Exception:
        pass
types = {"array": Array, "map": Map, "text": Text, "xml": XmlFragment}
for name, kind in ROOTS.items():
    if name not in doc.keys():
        continue
    root = doc.get(name, type=types[kind])
    try:  # a clean exception is fine (the server answers 400); a crash or a hang is not
        value = str(root) if kind in ("text", "xml") else root.to_py()
    except ValueError:
        pass
    with doc.transaction():
        if kind == "map":
            for key in list(root.keys()):
                del root[key]
        elif kind == "array" and len(root):
            del root[0:len(root)]
        elif kind == "text" and len(root):
            del root[0:len(root)]
print("ok")
""".replace("ROOTS", repr(ROOTS))

TEXTS = st.sampled_from(["a", "bc", "😀", "é😀x", ""])


@st.composite
def forged_documents(draw):
    """Updates of one to three structs each, from three clients writing in clock order."""
    clocks = {1: 0, 2: 0, 3: 0}
    items: list[tuple[int, int, int]] = []  # (client, clock, length) of every item so far
    types: list[tuple[int, int]] = []  # IDs of the shared types among them
    updates = []
    for _ in range(draw(st.integers(1, 25))):
        blocks = []
        for _ in range(draw(st.integers(1, 3))):
            client = draw(st.sampled_from([1, 2, 3]))
            kind = draw(st.sampled_from(["string", "any", "type", "embed", "format", "deleted"]))
            if kind == "string":
                text = draw(TEXTS) or "x"
                content, ref, length = var_string(text), 4, len(text.encode("utf-16-le")) // 2
            elif kind == "any":
                content, ref, length = var_uint(1) + bytes((119,)) + var_string("v"), 8, 1
            elif kind == "type":
                type_ref = draw(st.integers(0, 6))
                name = var_string("p") if type_ref in (3, 5) else b""
                content, ref, length = var_uint(type_ref) + name, 7, 1
            elif kind == "embed":
                content, ref, length = var_string("{}"), 5, 1
            elif kind == "format":
                content, ref, length = var_string("bold") + var_string("true"), 6, 1
            else:
                length = draw(st.integers(1, 3))
                content, ref = var_uint(length), 1
            where = draw(st.sampled_from(["root", "parent", "origin", "right", "both"]))

            def some_id():
                owner, start, size = draw(st.sampled_from(items))
                return (owner, start + draw(st.integers(0, size - 1)))

            if where == "parent" and types:
                struct = item(content, ref=ref, parent=draw(st.sampled_from(types)))
            elif where in ("origin", "right", "both") and items:
                origin = some_id() if where in ("origin", "both") else None
                right = some_id() if where in ("right", "both") else None
                struct = item(content, ref=ref, origin=origin, right=right)
            else:
                root = draw(st.sampled_from([*ROOTS, "free"]))
                key = draw(st.sampled_from(["k", "j"])) if root == "tokens" else None
                struct = item(content, ref=ref, root=root, key=key)
            clock = clocks[client]
            blocks.append((client, clock, [struct]))
            items.append((client, clock, length))
            if ref == 7:
                types.append((client, clock))
            clocks[client] += length
        merged: dict[int, tuple[int, list[bytes]]] = {}
        for client, clock, structs in blocks:  # one block per client, in clock order
            if client in merged:
                merged[client][1].extend(structs)
            else:
                merged[client] = (clock, list(structs))
        updates.append(update_of([(c, clock, s) for c, (clock, s) in merged.items()]))
    return updates


def run_probe(accepted: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        input=json.dumps(accepted),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@settings(
    max_examples=max(10, int(os.environ.get("OMNIFORGE_FUZZ_EXAMPLES", "100")) * 2 // 5),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(updates=forged_documents())
def test_what_the_structure_accepts_pycrdt_holds_reads_and_deletes(updates):
    structure = Structure(ROOTS)
    accepted = []
    for update in updates:
        try:
            structure.check(update)
        except UpdateRefused:
            continue
        accepted.append(base64.b64encode(update).decode())
    try:
        probe = run_probe(accepted, timeout=30)
    except subprocess.TimeoutExpired:  # a busy machine, or a hang: a hang hangs again
        probe = run_probe(accepted, timeout=120)
    assert probe.returncode == 0 and probe.stdout.strip() == "ok", (
        probe.returncode,
        probe.stderr[-2000:],
    )
