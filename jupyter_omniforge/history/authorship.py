"""Who wrote which characters of a document's texts, what changed between two versions, and a
restore that only moves forward.

Pure functions over pycrdt documents given as Yjs v1 updates: no server, no store.

**Runs** (:data:`Runs`) say, for every Text root, who wrote its current content, as
``[[length, author], ...]`` in order. Lengths count Python ``str`` characters, the unit a
caller sees in the text it reads (``str(text)``, JSON). pycrdt 0.14's own unit is different:
its Text indices, ``len()`` and event deltas count **UTF-8 bytes** (``"é"`` is 2, ``"😀"`` is
4). So this module keeps byte runs while it replays deltas, and converts at its edges:
characters in, characters out, bytes only when it talks to pycrdt.

Roots carry no type in a Yjs document: the reader decides. Reading text content as a Map or
an Array can hang pycrdt (see :mod:`~jupyter_omniforge.structure`), so :func:`root_types`
tells a text from the rest with :class:`~jupyter_omniforge.structure.Structure` before
anything reads a root with a type.

Bytes that are not a document (garbage state or update) raise :class:`InvalidHistory`, a
:class:`~jupyter_omniforge.errors.ValidationError` (HTTP 400): never a panic of pycrdt.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from pycrdt import Array, Doc, Map, Text, XmlFragment, get_update, merge_updates

from ..errors import ValidationError
from ..structure import Structure
from ..updates import UpdateRefused, gate, is_decode_failure

#: Per Text root, ``[[length, author], ...]``: lengths in ``str`` characters, author a
#: username (``""``: unknown, e.g. content older than the history).
Runs = dict[str, list[list]]

UNKNOWN = ""

# Above this many character pairs, two differing blocks of text are replaced whole rather
# than matched character by character (difflib is quadratic).
_CHAR_DIFF_LIMIT = 4_000_000

# UTF-8 continuation bytes: deleting them from a byte string leaves one byte per character.
_CONTINUATION = bytes(range(0x80, 0xC0))


class InvalidHistory(ValidationError):
    """Bytes that are not a Yjs document or update, or a root asked for as what it is not."""

    code = "invalid_history"


# -- reading documents ---------------------------------------------------------------------------


def _gate(update: bytes, what: str) -> None:
    try:
        gate(update, limits=False)
    except UpdateRefused as e:
        raise InvalidHistory(f"{what} is not a Yjs update: {e}") from None


def _load(state: bytes) -> Doc:
    """A fresh document holding ``state`` (``b""``: empty)."""
    doc = Doc()
    if state:
        _gate(state, "the document state")
        _apply(doc, state, "the document state")
    return doc


def _apply(doc: Doc, update: bytes, what: str) -> None:
    try:
        doc.apply_update(update)
    except ValueError as e:  # what the gate let through and yrs still refuses
        raise InvalidHistory(f"{what} cannot be applied: {e}") from None


def _fits(state: bytes, roots: dict[str, str]) -> bool:
    """Whether ``state`` holds ``roots`` as the given types without text where a value goes
    (or values in a text)."""
    try:
        Structure(roots).check(state, limits=False)
    except UpdateRefused:
        return False
    return True


def root_types(state: bytes) -> dict[str, str]:
    """The type of each root of the document ``state``: ``"text"``, ``"map"``, ``"array"``,
    ``"xml"``, or ``""`` when there is no telling (an empty root, or one that mixes text and
    values, which nothing may read with a type)."""
    names = sorted(_load(state).keys()) if state else []
    if not names:
        return {}
    # Few passes for the common documents: texts only, or values only; else root by root.
    if _fits(state, dict.fromkeys(names, "text")):
        texts, values = names, []
    elif _fits(state, dict.fromkeys(names, "map")):
        texts, values = [], names
    else:
        texts = [name for name in names if _fits(state, {name: "text"})]
        values = [name for name in names if name not in texts and _fits(state, {name: "map"})]
    types = dict.fromkeys(names, "")
    as_text = _load(state) if texts else None
    as_map, as_array = (_load(state), _load(state)) if values or texts else (None, None)
    for name in texts:
        # No values in it, so it reads safely as a text; no text in it: XML nodes, or nothing.
        if str(as_text.get(name, type=Text)):
            types[name] = "text"
        elif _fits(state, {name: "map"}):  # never embeds or formats read as an Array
            types[name] = _value_type(as_map, as_array, name)
    for name in values:
        types[name] = _value_type(as_map, as_array, name)
    return types


def _value_type(as_map: Doc, as_array: Doc, name: str) -> str:
    """Map, Array or XML: a Map's items have keys, an Array's do not, and XML nodes have no
    JSON. Each scratch document reads the root as one type only."""
    if len(as_map.get(name, type=Map)):
        return "map"
    items = as_array.get(name, type=Array)
    if not len(items):
        return ""
    try:
        items.to_py()
    except ValueError:
        return "xml"
    return "array"


def _json(value: Any) -> Any:
    """The JSON value of a root's item (nested shared types as their JSON)."""
    if isinstance(value, Text | XmlFragment):
        return str(value)
    if isinstance(value, Map | Array):
        try:
            return value.to_py()
        except ValueError:  # XML inside: no JSON, its string is the best we have
            return str(value)
    return value


def _read(doc: Doc, name: str, kind: str) -> Any:
    """The content of root ``name`` read as ``kind`` (``str`` for text and XML)."""
    if name not in doc.keys():
        return {"text": "", "xml": "", "map": {}, "array": []}[kind]
    if kind == "text":
        return str(doc.get(name, type=Text))
    if kind == "xml":
        return str(doc.get(name, type=XmlFragment))
    if kind == "map":
        root = doc.get(name, type=Map)
        return {k: _json(root[k]) for k in root.keys()}
    return [_json(v) for v in doc.get(name, type=Array)]


# -- runs ------------------------------------------------------------------------------------------


def _valid_runs(runs: Any, length: int) -> bool:
    """Whether ``runs`` is a list of ``[length, author]`` that covers exactly ``length``."""
    if not isinstance(runs, list):
        return False
    total = 0
    for run in runs:
        if not (isinstance(run, list | tuple) and len(run) == 2):
            return False
        n, author = run
        if type(n) is not int or n < 0 or not isinstance(author, str):
            return False
        total += n
    return total == length


def _checked(runs: Any, text: str) -> list[list]:
    """``runs`` for ``text`` if they fit it, else one unknown run (hostile or old data)."""
    if isinstance(runs, list) and _valid_runs(runs, len(text)):
        return _merged([list(run) for run in runs])
    return [[len(text), UNKNOWN]] if text else []


def _merged(runs: Iterable[list]) -> list[list]:
    """Runs without empty ones, adjacent runs of one author joined."""
    out: list[list] = []
    for n, author in runs:
        if n <= 0:
            continue
        if out and out[-1][1] == author:
            out[-1][0] += n
        else:
            out.append([n, author])
    return out


def _to_bytes(runs: list[list], text: str) -> list[list]:
    out, at = [], 0
    for n, author in runs:
        out.append([len(text[at : at + n].encode()), author])
        at += n
    return out


def _to_chars(runs: list[list], encoded: bytes) -> list[list] | None:
    """Byte runs as character runs over ``encoded`` (None when they do not cover it)."""
    if sum(n for n, _ in runs) != len(encoded):
        return None
    out, at = [], 0
    for n, author in runs:
        out.append([len(encoded[at : at + n].translate(None, _CONTINUATION)), author])
        at += n
    return _merged(out)


class _Mismatch(Exception):
    """A delta that does not fit the runs kept for its text."""


#: Where the last delta of a text left off: a run index and the byte position that run
#: starts at. Typing is local, so the next delta's position is found from there.
Hint = tuple[int, int]


def _apply_delta(runs: list[list], delta: list[dict], author: str, hint: Hint = (0, 0)) -> Hint:
    """Update byte ``runs`` in place by a Text event's ``delta`` (UTF-8 byte units): inserts
    are ``author``'s, deletes vanish. Returns the hint for the next delta."""
    pos = 0  # the cursor's byte position in the text
    i, off = -1, 0  # the cursor in the runs, found once the delta says where it starts
    for op in delta:
        if "retain" in op:
            start = hint if i < 0 else (i, pos - off)
            pos += op["retain"]
            i, off = _seek(runs, start, pos)
            continue
        if i < 0:
            i, off = _seek(runs, hint, pos)
        if "insert" in op:
            value = op["insert"]
            n = len(value.encode()) if isinstance(value, str) else 1  # an embed counts one
            i, off = _insert(runs, i, off, n, author)
            pos += n
        elif "delete" in op:
            _delete(runs, i, off, op["delete"])
    return (i, pos - off) if i >= 0 else hint


def _seek(runs: list[list], hint: Hint, pos: int) -> tuple[int, int]:
    """The cursor (run index, bytes into it) at byte ``pos``, walking from ``hint``."""
    i, start = hint
    if not 0 <= i <= len(runs) or start < 0:
        i, start = 0, 0
    while i > 0 and start > pos:
        i -= 1
        start -= runs[i][0]
    end = len(runs)
    while i < end:
        length = runs[i][0]
        if start + length >= pos:
            break
        start += length
        i += 1
    if pos - start > (runs[i][0] if i < end else 0) or start < 0:
        raise _Mismatch
    return i, pos - start


def _insert(runs: list[list], i: int, off: int, n: int, author: str) -> tuple[int, int]:
    """Insert ``n`` bytes of ``author`` at the cursor; returns the cursor after them."""
    if off and off < runs[i][0]:  # inside a run: split it
        run = runs[i]
        runs.insert(i + 1, [run[0] - off, run[1]])
        run[0] = off
    if off and runs[i][1] == author:
        runs[i][0] += n
        return i, runs[i][0]
    at = i + 1 if off else i
    if at < len(runs) and runs[at][1] == author:
        runs[at][0] += n
        return at, n
    runs.insert(at, [n, author])
    return at, n


def _delete(runs: list[list], i: int, off: int, n: int) -> None:
    """Remove ``n`` bytes from the cursor on."""
    while n:
        if i >= len(runs):
            raise _Mismatch
        take = min(n, runs[i][0] - off)
        runs[i][0] -= take
        n -= take
        if runs[i][0] == 0:
            del runs[i]
        elif take == 0 or off == runs[i][0]:
            i, off = i + 1, 0


class _Tracker:
    """The byte runs of every Text root of a live document, kept by observing its texts."""

    def __init__(self, doc: Doc, state: bytes, runs: Any) -> None:
        self.doc = doc
        self.author = UNKNOWN
        self.runs: dict[str, list[list]] = {}
        self.texts: dict[str, Text] = {}
        self.seen: set[str] = set()
        self.maybe: set[str] = set()
        self.hints: dict[str, Hint] = {}
        #: Set when a text changed (a delta came); the caller clears it.
        self.changed = False
        if not isinstance(runs, dict):
            runs = {}
        self._discover(state, lambda name, text: _to_bytes(_checked(runs.get(name), text), text))

    def _discover(self, state: bytes, initial) -> None:
        """Start following the roots of ``state`` not seen yet; ``initial(name, text)`` gives
        the byte runs of a new Text root's present content."""
        for name, kind in root_types(state).items():
            if name in self.seen:
                continue
            self.seen.add(name)
            if kind not in ("text", ""):
                continue
            if not kind:
                # An emptied root (a text whose content was all deleted, most likely) may
                # fill again: follow it as a text, and keep it only if it ends as one.
                self.maybe.add(name)
            text = self.doc.get(name, type=Text)
            self.texts[name] = text
            self.runs[name] = initial(name, str(text))
            text.observe(self._observer(name))

    def _observer(self, name: str):
        # pycrdt passes a callback as many arguments as it declares: one, the event.
        return lambda event: self._on_delta(name, event.delta)

    def _on_delta(self, name: str, delta: list[dict]) -> None:
        self.changed = True
        try:
            self.hints[name] = _apply_delta(
                self.runs[name], delta, self.author, self.hints.get(name, (0, 0))
            )
        except _Mismatch:
            self.runs[name] = self._unknown(name)
            self.hints[name] = (0, 0)

    def _unknown(self, name: str) -> list[list]:
        n = len(str(self.texts[name]).encode())
        return [[n, UNKNOWN]] if n else []

    def apply(self, author: str, update: bytes) -> None:
        _gate(update, f"the update of {author!r}")
        self.author = author
        _apply(self.doc, update, f"the update of {author!r}")
        if len(self.seen) != len(self.doc.keys()):
            # A root appeared: all it holds came with this update.
            self._discover(
                self.doc.get_update(),
                lambda _, text: [[len(text.encode()), author]] if text else [],
            )

    def result(self) -> Runs:
        out: Runs = {}
        texts = self.texts
        if self.maybe:
            types = root_types(self.doc.get_update())
            texts = {n: t for n, t in texts.items() if n not in self.maybe or types[n] == "text"}
        for name, text in texts.items():
            encoded = str(text).encode()
            runs = _to_chars(self.runs[name], encoded)
            out[name] = runs if runs is not None else _checked(None, encoded.decode())
        return out


def replay(state: bytes, runs: Runs, updates: Iterable[tuple[str, bytes]]) -> tuple[bytes, Runs]:
    """Apply ``(author, update)`` pairs, in order, to the document ``state`` whose texts were
    written as ``runs`` say; return the new state and its runs.

    Runs that do not fit a root (hostile or old data) become one unknown run. A root that
    first appears in an update is credited whole to that update's author. Raises
    :class:`InvalidHistory` for bytes that are not a document or an update."""
    doc = _load(state)
    tracker = _Tracker(doc, state, runs)
    for author, update in updates:
        tracker.apply(author if isinstance(author, str) else UNKNOWN, update)
    return doc.get_update(), tracker.result()


def replay_changes(
    state: bytes, runs: Runs, updates: Iterable[tuple[str, bytes]], then: bytes = b""
) -> tuple[Runs, list[tuple[str, bytes]]]:
    """The runs :func:`replay` gives, and the ``(author, update)`` pairs that changed the
    document, in order; ``then`` (a document state) is applied last, as unknown-author
    content (what reached the document without an author). An update ``state`` holds already (another instance's version took
    it, a stored row read back after a restart) changes nothing and is left out, and so is one
    that is not an update or cannot be applied.

    Consecutive updates of one author are merged and applied as one (who wrote what comes out
    the same, for a tenth of the cost of a typist's keystrokes one by one); they count as
    having changed the document together, less those the document held whole before the run
    (a run mixing new updates with deletions the document had already made counts whole: only
    update counts can be high then, never who wrote what). Updates that do not merge, or whose merge does not
    apply, are applied one by one. An update changed the document when it added what the
    document lacked (its state vector moved) or changed a root (a text's delta, a map's,
    array's or XML fragment's deep event)."""
    doc = _load(state)
    tracker = _Tracker(doc, state, runs)
    values: list[bool] = []
    typed = {"map": Map, "array": Array, "xml": XmlFragment}
    for name, kind in root_types(state).items():
        if kind in typed:
            doc.get(name, type=typed[kind]).observe_deep(lambda _: values.append(True))

    # The document's state vector, read once per step: the one after a step is the one before
    # the next (a state vector costs a walk over the document's clients).
    held = doc.get_state()

    def step(author: str, update: bytes) -> bool | None:
        """Whether ``update`` changed the document; None when it could not be applied."""
        nonlocal held
        before = held
        tracker.changed = False
        values.clear()
        try:
            tracker.apply(author, update)
        except InvalidHistory:
            held = doc.get_state()  # what a failed update left (it may have applied in part)
            return None
        except BaseException as e:  # malformed input may surface as a pyo3 panic
            if not is_decode_failure(e):
                raise
            held = doc.get_state()
            return None
        held = doc.get_state()
        return tracker.changed or bool(values) or held != before

    new: list[tuple[str, bytes]] = []
    for author, group in _by_author(updates):
        if len(group) > 1:
            # What the document holds already (a client sending back what it was sent) would
            # count with the rest of the run: left out here.
            group = [u for u in group if not _adds_nothing(u, held)] or group[:1]
        merged = _merge(group) if len(group) > 1 else group[0]
        changed = step(author, merged) if merged is not None else None
        if changed is None and len(group) > 1:
            new += [(author, u) for u in group if step(author, u)]
        elif changed:
            new += [(author, u) for u in group]
    if then:
        tracker.apply(UNKNOWN, then)
    return tracker.result(), new


#: An update with no item and no deletion (what :func:`pycrdt.get_update` leaves of one that a
#: state holds whole).
_NOTHING = b"\x00\x00"


def _adds_nothing(update: bytes, state: bytes) -> bool:
    """Whether a document at ``state`` holds all of ``update`` already (an update that deletes
    something is never found held: its deletions are always in what is left)."""
    try:
        return get_update(update, state) == _NOTHING
    except BaseException as e:  # malformed input may surface as a pyo3 panic
        if not is_decode_failure(e):
            raise
        return False  # judged, and left out, when it is applied


def _by_author(updates: Iterable[tuple[str, bytes]]) -> Iterator[tuple[str, list[bytes]]]:
    """Runs of consecutive updates of one author."""
    author, group = UNKNOWN, []
    for who, update in updates:
        who = who if isinstance(who, str) else UNKNOWN
        if group and who != author:
            yield author, group
            group = []
        author = who
        group.append(update)
    if group:
        yield author, group


def _merge(updates: list[bytes]) -> bytes | None:
    # What a room recorded passed the gate on its way into the room; the merge is gated again
    # when it is applied (_Tracker.apply).
    try:
        return merge_updates(*updates)
    except BaseException as e:  # malformed input may surface as a pyo3 panic
        if not is_decode_failure(e):
            raise
        return None


# -- blame -----------------------------------------------------------------------------------------


def _ranges(runs: list[list]) -> Iterator[tuple[int, int, str]]:
    at = 0
    for n, author in runs:
        yield at, at + n, author
        at += n


def blame(state: bytes, runs: Runs, root: str) -> dict:
    """Who wrote each part of the Text root ``root``: ``{"root", "text", "ranges": [{"start",
    "end", "author"}]}``, character indices, adjacent ranges of one author merged. An absent
    root is an empty text; a root of another type raises :class:`InvalidHistory`."""
    kind = root_types(state).get(root, "")
    if kind not in ("text", ""):
        raise InvalidHistory(f"root {root!r} is a {kind}, not a text")
    text = _read(_load(state), root, "text") if kind else ""
    own = runs.get(root) if isinstance(runs, dict) else None
    ranges = [
        {"start": start, "end": end, "author": author}
        for start, end, author in _ranges(_checked(own, text))
    ]
    return {"root": root, "text": text, "ranges": ranges}


# -- diff ------------------------------------------------------------------------------------------


def char_opcodes(a: str, b: str) -> list[tuple[str, int, int, int, int]]:
    """difflib opcodes (without ``equal``) turning ``a`` into ``b``, in characters: lines are
    matched first, then the characters of each pair of differing blocks, so the work stays
    near-linear for typical edits."""
    a_lines, b_lines = a.splitlines(keepends=True), b.splitlines(keepends=True)
    a_at, b_at = _offsets(a_lines), _offsets(b_lines)
    ops: list[tuple[str, int, int, int, int]] = []
    matcher = difflib.SequenceMatcher(None, a_lines, b_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        c1, c2, d1, d2 = a_at[i1], a_at[i2], b_at[j1], b_at[j2]
        if tag == "replace" and (c2 - c1) * (d2 - d1) <= _CHAR_DIFF_LIMIT:
            inner = difflib.SequenceMatcher(None, a[c1:c2], b[d1:d2], autojunk=False)
            ops.extend(
                (t, c1 + x1, c1 + x2, d1 + y1, d1 + y2)
                for t, x1, x2, y1, y2 in inner.get_opcodes()
                if t != "equal"
            )
        else:
            ops.append((tag, c1, c2, d1, d2))
    return ops


def _offsets(lines: list[str]) -> list[int]:
    out = [0]
    for line in lines:
        out.append(out[-1] + len(line))
    return out


def _authored(text: str, runs: list[list], start: int, end: int) -> list[dict]:
    """``text[start:end]`` split where its author changes."""
    out = []
    for r_start, r_end, author in _ranges(runs):
        lo, hi = max(start, r_start), min(end, r_end)
        if lo < hi:
            out.append({"start": lo, "end": hi, "text": text[lo:hi], "author": author})
        if r_start >= end:
            break
    return out


def _text_diff(name: str, old: str, old_runs: Any, new: str, new_runs: Any) -> dict:
    old_r, new_r = _checked(old_runs, old), _checked(new_runs, new)
    inserted: list[dict] = []
    deleted: list[dict] = []
    for _, i1, i2, j1, j2 in char_opcodes(old, new):
        deleted.extend(_authored(old, old_r, i1, i2))
        inserted.extend(_authored(new, new_r, j1, j2))
    unified = difflib.unified_diff(
        old.splitlines(), new.splitlines(), f"a/{name}", f"b/{name}", lineterm=""
    )
    return {"type": "text", "unified": list(unified), "inserted": inserted, "deleted": deleted}


def _map_diff(old: dict, new: dict) -> dict:
    return {
        "type": "map",
        "added": {k: v for k, v in new.items() if k not in old},
        "removed": {k: v for k, v in old.items() if k not in new},
        "changed": {
            k: {"from": old[k], "to": v} for k, v in new.items() if k in old and old[k] != v
        },
    }


def _encoded(items: list) -> list[str]:
    return [json.dumps(item, sort_keys=True, default=str) for item in items]


def _array_diff(old: list, new: list) -> dict:
    added, removed = [], []
    matcher = difflib.SequenceMatcher(None, _encoded(old), _encoded(new), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            removed.extend({"index": i, "value": old[i]} for i in range(i1, i2))
            added.extend({"index": j, "value": new[j]} for j in range(j1, j2))
    return {"type": "array", "added": added, "removed": removed}


def diff(old_state: bytes, old_runs: Runs, new_state: bytes, new_runs: Runs) -> dict:
    """What changed from one version to another: ``{"roots": {name: ...}}`` for every root
    present in either (see the module and the issue 17 contract for each type's shape).

    A root whose type changed is reported as ``{"type": "replaced", "from": old type, "to":
    new type, "removed": old JSON, "added": new JSON}``."""
    old_doc, new_doc = _load(old_state), _load(new_state)
    old_types, new_types = root_types(old_state), root_types(new_state)
    old_runs = old_runs if isinstance(old_runs, dict) else {}
    new_runs = new_runs if isinstance(new_runs, dict) else {}
    roots: dict[str, dict] = {}
    for name in sorted(old_types.keys() | new_types.keys()):
        old_kind = old_types.get(name) or new_types.get(name) or ""
        new_kind = new_types.get(name) or old_kind
        if not old_kind:
            continue  # empty or unreadable on both sides
        old, new = _read(old_doc, name, old_kind), _read(new_doc, name, new_kind)
        if old_kind != new_kind:
            roots[name] = {
                "type": "replaced",
                **{"from": old_kind, "to": new_kind, "removed": old, "added": new},
            }
        elif old_kind in ("text", "xml"):
            roots[name] = _text_diff(name, old, old_runs.get(name), new, new_runs.get(name))
            roots[name]["type"] = old_kind
        elif old_kind == "map":
            roots[name] = _map_diff(old, new)
        else:
            roots[name] = _array_diff(old, new)
    return {"roots": roots}


# -- restore ---------------------------------------------------------------------------------------


def _prelim(value: Any) -> Any:
    """A copy of ``value`` (read from another document) that can be written into this one:
    nested shared types are rebuilt as new ones of the same type."""
    if isinstance(value, Map):
        return Map({k: _prelim(value[k]) for k in value.keys()})
    if isinstance(value, Array):
        return Array([_prelim(v) for v in value])
    if isinstance(value, Text):
        return Text(str(value))
    return _json(value)


def _forward_text(live: Text, target: str) -> None:
    current = str(live)
    # Byte offsets of each change (pycrdt's unit), found going forward, applied backward so
    # each change leaves the offsets of the ones before it valid.
    edits, char_at, byte_at = [], 0, 0
    for _, i1, i2, j1, j2 in char_opcodes(current, target):
        byte_at += len(current[char_at:i1].encode())
        length = len(current[i1:i2].encode())
        edits.append((byte_at, length, target[j1:j2]))
        byte_at += length
        char_at = i2
    for at, length, insert in reversed(edits):
        if length:
            del live[at : at + length]
        if insert:
            live.insert(at, insert)


def _forward_map(live: Map, target: Map | None) -> None:
    wanted = {k: target[k] for k in target.keys()} if target is not None else {}
    for key in [k for k in live.keys() if k not in wanted]:
        del live[key]
    for key, value in wanted.items():
        if key not in live or _json(live[key]) != _json(value):
            live[key] = _prelim(value)


def _forward_array(live: Array, target: Array | None) -> None:
    wanted = list(target) if target is not None else []
    matcher = difflib.SequenceMatcher(
        None, _encoded([_json(v) for v in live]), _encoded([_json(v) for v in wanted]), False
    )
    for tag, i1, i2, j1, j2 in reversed(matcher.get_opcodes()):
        if tag == "equal":
            continue
        if i2 > i1:
            del live[i1:i2]
        for k, value in enumerate(wanted[j1:j2]):
            live.insert(i1 + k, _prelim(value))


def forward_changes(doc: Doc, target_state: bytes) -> None:
    """Make the roots of the live ``doc`` hold what ``target_state`` holds, with forward
    operations only (call it inside a transaction, so they make one update): the least
    deletes and inserts that difflib finds, so edits made concurrently elsewhere in the
    document survive the merge. Roots the target lacks are emptied.

    XML roots are left as they are, and so is a root whose type differs between the live
    document and the target (pycrdt types a root once per document)."""
    target = _load(target_state)
    target_types = root_types(target_state)
    live_types = root_types(doc.get_update())
    for name in sorted(live_types.keys() | target_types.keys()):
        live_kind, target_kind = live_types.get(name, ""), target_types.get(name, "")
        kind = live_kind or target_kind
        if not kind or (live_kind and target_kind and live_kind != target_kind):
            continue
        present = name in target_types
        if kind == "text":
            _forward_text(doc.get(name, type=Text), _read(target, name, "text") if present else "")
        elif kind == "map":
            _forward_map(doc.get(name, type=Map), target.get(name, type=Map) if present else None)
        elif kind == "array":
            wanted = target.get(name, type=Array) if present else None
            _forward_array(doc.get(name, type=Array), wanted)
