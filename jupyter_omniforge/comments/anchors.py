"""Anchors: a range of a Text root held as two Yjs relative positions, so it moves with the
text around it.

An anchor over characters ``[start, end)`` is two pycrdt ``StickyIndex``es: the start sticks
to the range's first character (assoc 0, "after": text typed at the start goes before the
range) and the end to its last character (assoc -1, "before": text typed at the end goes after
it). That is Yjs's ``createRelativePositionFromTypeIndex(text, start, 0)`` and ``(text, end,
-1)``; the encodings are the same bytes (lib0), so JavaScript clients can send theirs.

When every character of the range is deleted both positions fall on the same place: the anchor
is *orphaned*, and the caller keeps the text it covered last.

pycrdt 0.14's sticky indexes mix units on non-ASCII text: ``StickyIndex.new`` walks UTF-8
bytes but offsets the item's clock (UTF-16 units) by them, and ``get_index`` adds bytes of
whole blocks to UTF-16 units inside the block. Both are exact when every block is ASCII up to
the position, so for text that is not ASCII this module works on a copy of the document whose
blocks are split around every non-ASCII character (an insert and delete at each boundary: item
ids are kept, and the text is the same). Indices given and returned here are characters (code
points), as everywhere in the API; bytes only where it talks to pycrdt.

Positions that name no character of the root (forged, or from another document) never reach
pycrdt unchecked: :class:`InvalidAnchor` (HTTP 400), never a panic.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from pycrdt import Assoc, Doc, StickyIndex, Text

from ..errors import ValidationError


class InvalidAnchor(ValidationError):
    """An anchor outside the text, an empty range, or relative positions that name no
    character of the root."""

    code = "invalid_anchor"


@dataclass
class Resolved:
    """Where an anchor is now: character indices, the text between, and whether the whole
    range is gone (then ``start == end``, the place where it was)."""

    start: int
    end: int
    text: str
    orphaned: bool


def _panic(error: BaseException) -> bool:
    # pyo3's PanicException derives from BaseException, and its class is not importable.
    return type(error).__name__ == "PanicException"


class TextView:
    """One Text root of a document, readable with exact sticky indexes (a split copy of the
    document when its text is not ASCII). Build one per read of many anchors: the copy is made
    once."""

    def __init__(self, doc: Doc, root: str) -> None:
        self.root = root
        text = doc.get(root, type=Text)
        self.value = str(text)
        self._encoded = self.value.encode()
        self._state = doc.get_state()
        self._clocks: dict[int, int] | None = None
        # Byte offset where each character starts, and the end (None: ASCII, one byte each).
        self._starts: list[int] | None = None
        if self.value.isascii():
            self._doc, self._text = doc, text
        else:
            self._starts = [0, *accumulate(len(c.encode()) for c in self.value)]
            self._doc = Doc()
            self._doc.apply_update(doc.get_update())
            self._text = self._doc.get(root, type=Text)
            _split(self._text, self.value)

    # -- characters <-> bytes ---------------------------------------------------------------------

    def _byte(self, index: int) -> int:
        return index if self._starts is None else self._starts[index]

    def _char(self, offset: int) -> int:
        """The character index at byte ``offset``; inside a character, the one after it (an
        end position on a character that is more than one UTF-16 unit lands there)."""
        return offset if self._starts is None else bisect_left(self._starts, offset)

    # -- making anchors ---------------------------------------------------------------------------

    def _item(self, index: int, last: bool = False) -> dict[str, int]:
        """The id of the character at ``index``: of its first UTF-16 unit, or its ``last``
        (what Yjs's end positions name: a character beyond the BMP is two units, two clocks)."""
        sticky = StickyIndex.new(self._text, self._byte(index), Assoc.AFTER)
        found = sticky.to_json().get("item")
        if not isinstance(found, dict):  # pragma: no cover - index < len(text) names an item
            raise InvalidAnchor(f"no character at {index}")
        if last and ord(self.value[index]) > 0xFFFF:
            found["clock"] += 1
        return found

    def anchor(self, start: Any, end: Any) -> tuple[bytes, bytes]:
        """Encoded relative positions of characters ``[start, end)`` of the current text."""
        length = len(self.value)
        for name, value in (("start", start), ("end", end)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidAnchor(f"anchor {name} must be an integer")
        if not 0 <= start < end <= length:
            raise InvalidAnchor(
                f"anchor [{start}, {end}) is outside the text of {self.root!r} "
                f"({length} characters) or empty"
            )
        first = StickyIndex.from_json({"item": self._item(start), "assoc": 0})
        last = StickyIndex.from_json({"item": self._item(end - 1, last=True), "assoc": -1})
        return first.encode(), last.encode()

    def adopt(self, start: bytes, end: bytes) -> Resolved:
        """Check relative positions a client made (the range's first character with assoc 0,
        its last with assoc -1, both live in this text) and where they are now."""
        items = []
        for name, data, assoc in (("start", start, 0), ("end", end, -1)):
            if _item_of(data) is None:
                raise InvalidAnchor(f"anchor.relative.{name} is not a relative position")
            try:
                found = StickyIndex.decode(data).to_json()
            except BaseException as e:
                if not (_panic(e) or isinstance(e, Exception)):
                    raise
                raise InvalidAnchor(f"anchor.relative.{name} is not a relative position") from None
            item = found.get("item")
            if found.get("assoc") != assoc or not isinstance(item, dict):
                raise InvalidAnchor(
                    f"anchor.relative.{name} must name a character with assoc {assoc}"
                )
            items.append(item)
        resolved = self.resolve(start, end)
        if resolved.orphaned or resolved.start >= resolved.end:
            raise InvalidAnchor("the relative positions name no live range of this text")
        if (
            self._item(resolved.start) != items[0]
            or self._item(resolved.end - 1, last=True) != items[1]
        ):
            raise InvalidAnchor("the relative positions name no live range of this text")
        return resolved

    # -- reading anchors --------------------------------------------------------------------------

    def _index(self, data: bytes, txn: Any) -> int | None:
        """The byte offset a relative position stands at now; None when it names nothing of
        this document (never a panic)."""
        try:
            item = _item_of(data)
            if item is None or not item[1] < self._state_of(item[0]):
                return None
            offset = StickyIndex.decode(data, self._text).get_index(txn)
        except BaseException as e:
            if _panic(e) or isinstance(e, Exception):
                return None
            raise
        return offset if 0 <= offset <= len(self._encoded) else None

    def _state_of(self, client: Any) -> int:
        """The next clock of ``client`` in the document (0: unknown client)."""
        if self._clocks is None:
            self._clocks = _state_vector(self._state)
        return self._clocks.get(client, 0) if isinstance(client, int) else 0

    def resolve(self, start: bytes, end: bytes) -> Resolved:
        """Where the anchor ``(start, end)`` is in the current text. Positions that name nothing
        here read as an orphaned anchor at 0."""
        return self.resolve_all([(start, end)])[0]

    def resolve_all(self, anchors: list[tuple[bytes, bytes]]) -> list[Resolved]:
        """:meth:`resolve` for many anchors, in one read transaction."""
        found = []
        with self._doc.transaction() as txn:
            for start, end in anchors:
                first, last = self._index(start, txn), self._index(end, txn)
                if first is None or last is None:
                    found.append(Resolved(0, 0, "", True))
                    continue
                a, b = self._char(first), self._char(last)
                if a >= b:
                    found.append(Resolved(a, a, "", True))
                else:
                    found.append(Resolved(a, b, self.value[a:b], False))
        return found


#: An anchor's relative positions end with their assoc, a lib0 signed varint: 0 or -1.
_ASSOCS = (b"\x00", b"\x41")


def _item_of(data: bytes) -> tuple[int, int] | None:
    """``(client, clock)`` of the character an encoded relative position names, when ``data``
    is exactly what an anchor's position is (lib0: tag 0, client and clock as varints, assoc 0
    or -1); None for anything else (relative to a whole type, truncated, trailing bytes, ids
    out of range), which then never reaches pycrdt: its decoder panics on malformed input."""
    try:
        tag, at = _varint(data, 0)
        if tag != 0:
            return None
        client, at = _varint(data, at)
        clock, at = _varint(data, at)
    except IndexError:
        return None
    if client >= 1 << 53 or clock >= 1 << 53 or data[at:] not in _ASSOCS:
        return None
    return client, clock


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """An unsigned lib0 varint at ``at`` (at most 10 bytes): ``(value, next offset)``;
    IndexError when it runs past the end or is longer."""
    value = shift = 0
    while True:
        if shift > 63:
            raise IndexError("varint too long")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _state_vector(state: bytes) -> dict[int, int]:
    count, at = _varint(state, 0)
    found = {}
    for _ in range(count):
        client, at = _varint(state, at)
        clock, at = _varint(state, at)
        found[client] = clock
    return found


def _split(text: Text, value: str) -> None:
    """Split ``text``'s blocks at the boundaries of its non-ASCII characters (in one
    transaction: insert a character there and delete it again; ids and content are kept)."""
    cuts: set[int] = set()
    offset = 0
    for char in value:
        size = len(char.encode())
        if size > 1:
            cuts.add(offset)
            cuts.add(offset + size)
        offset += size
    with text.doc.transaction():
        for cut in sorted(cuts, reverse=True):
            text.insert(cut, "\x00")
            del text[cut : cut + 1]
