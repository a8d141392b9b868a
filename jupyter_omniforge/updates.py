"""The Yjs update format, read without pycrdt: the gate every update passes before pycrdt sees it.

pycrdt (yrs) decodes the ``Any`` values of an update recursively: an update that nests arrays or
objects some 30,000 levels deep overflows the native stack and the whole process dies with a
segfault, with no exception to catch. Every update that reaches a document, a merge or a fold —
from a client, a stored row, another instance through Redis — is checked here first, and refused
with :class:`~jupyter_omniforge.errors.MalformedMessage` when it:

- nests ``Any`` values (or the JSON of embeds, formats and JSON content) deeper than
  ``max_depth``;
- claims more items, structs or bytes than it holds, or ends early, or has trailing bytes;
- uses a content or value tag that does not exist;
- has a client with no structs (yrs panics applying it to a document that holds the client).

Every update is read in full, without recursion; the reading is linear in the update's size
(about 10 µs for a typing update, ``benchmarks/checkcost.py``).

The format (lib0 encoding, Yjs "update v1")::

    update      = varuint clients, clients * (varuint structs, varuint client, varuint clock,
                  structs * struct), delete set
    struct      = u8 info: info & 0x1f is the content ref (0 GC and 10 Skip carry a varuint
                  length; the others are items); 0x80 an origin ID follows, 0x40 a right origin
                  ID; with neither: varuint parent kind (1 root name: varstring, 0: parent ID),
                  and with 0x20 a parent sub key (varstring); then the content
    delete set  = varuint clients, clients * (varuint client, varuint ranges,
                  ranges * (varuint clock, varuint length))
"""

from __future__ import annotations

from typing import NamedTuple

from .errors import MalformedMessage
from .strictjson import nesting_depth

#: Default deepest nesting of ``Any`` values and JSON accepted in an update.
MAX_DEPTH = 64

# Content refs of items (Yjs ContentDeleted … ContentDoc); 0 (GC) and 10 (Skip) are not items.
GC, DELETED, JSON, BINARY, STRING, EMBED, FORMAT, TYPE, ANY, DOC, SKIP = range(11)
# Yjs type refs whose content carries a name: XmlElement (node name) and XmlHook (hook name).
_NAMED_TYPES = (3, 5)
_MAX_TYPE_REF = 6

# lib0 Any tags.
_UNDEFINED, _NULL, _VARINT, _FLOAT32, _FLOAT64, _BIGINT64, _FALSE, _TRUE = (
    127,
    126,
    125,
    124,
    123,
    122,
    121,
    120,
)
_STRING_TAG, _OBJECT, _ARRAY, _BYTES = 119, 118, 117, 116
_FIXED_SIZE = {_FLOAT32: 4, _FLOAT64: 8, _BIGINT64: 8}
_NO_BODY = frozenset((_UNDEFINED, _NULL, _FALSE, _TRUE))

# A varuint wider than this many bytes does not fit the 64 bits yrs reads it into.
_MAX_VARUINT_BYTES = 10

# Bounds on what yrs does in proportion to the square of an update's size, or recursively.
# Each far above what a Yjs client sends, and far below the measured harm (pycrdt 0.14.13):
# clocks are u32 in yrs (a clock + length past 2^32 panics every later read);
_MAX_CLOCK = 2**32 - 1
# a run of n consecutive structs of b bytes costs about n*b/2 bytes to squash (10,000 structs of
# 82 KB took 2.3 GB);
_MAX_RUN_COST = 50_000_000
# writes of one map key without origin, and deleted ranges, each cost work proportional to what
# they touch (40,000 writes of one key: 8-12 s);
_MAX_SAME_KEY = 100
_MAX_DELETE_RANGES = 10_000
# dependency chains across clients are followed recursively (about 87,000 links overflow).
_MAX_CHAIN = 10_000


class UpdateRefused(MalformedMessage):
    """An update that must not reach pycrdt; ``str(error)`` says why (close 1002)."""


def gate(update: bytes, max_depth: int = MAX_DEPTH, *, limits: bool = True) -> None:
    """Refuse (:class:`UpdateRefused`) an update pycrdt must not see; the check every update
    passes on its way to a document, a merge or a fold. ``limits=False`` for a document's
    state (a stored snapshot, another instance's): the bounds on what one client update may
    ask of yrs (writes of one key, deleted ranges) are not applied to it, the ones that keep
    the process alive are."""
    check_update(update, max_depth, limits=limits)


def is_decode_failure(error: BaseException) -> bool:
    """Whether ``error``, raised by pycrdt on bytes it was given, means "these bytes are bad"
    (a ``ValueError``, or the ``PanicException`` of a Rust panic, which is not an Exception)
    rather than an interruption that must propagate."""
    return isinstance(error, Exception) or type(error).__name__ == "PanicException"


def check_update(update: bytes, max_depth: int = MAX_DEPTH, *, limits: bool = True) -> None:
    """Refuse (:class:`UpdateRefused`) an update that pycrdt must not see (see the module doc
    and :func:`gate`).

    Returns quietly for an update that is safe to apply, merge and fold.
    """
    read_structs(update, max_depth, limits=limits, collect=False)


class Struct(NamedTuple):
    """One struct of an update, as :mod:`~jupyter_omniforge.structure` needs it."""

    client: int
    clock: int
    #: In clock units (UTF-16 code units for a string).
    length: int
    #: Content ref (``GC``, ``STRING``, ``TYPE``…); ``GC`` for a GC struct.
    ref: int
    origin: tuple[int, int] | None
    right: tuple[int, int] | None
    #: Without origins: a root's name (bytes) or the parent type's ID; None with origins.
    parent: bytes | tuple[int, int] | None
    #: For a ``TYPE``: its Yjs type ref (0 Array, 1 Map, 2 Text, 3 XmlElement, …).
    type_ref: int
    #: For a ``STRING``: the offsets (UTF-16 units from its start) that fall inside a character
    #: outside the BMP, between its two surrogates. yrs cuts an item there when the document
    #: already holds the IDs before it, drops the half character, and leaves a hole its own
    #: transaction encoder panics on (see :mod:`~jupyter_omniforge.structure`).
    inside_pairs: tuple[int, ...] = ()


def read_structs(
    update: bytes, max_depth: int = MAX_DEPTH, *, limits: bool = True, collect: bool = True
) -> list[Struct]:
    """Check ``update`` as :func:`gate` does and return its structs (Skip structs left out;
    none unless ``collect``)."""
    if not isinstance(update, bytes | bytearray | memoryview):
        raise UpdateRefused(f"an update is bytes, not {type(update).__name__}")
    reader = _Reader(bytes(update), max_depth)
    reader.limits = limits
    structs: list[Struct] = []
    if collect:
        reader.structs = structs
    reader.update()
    return structs


def check_state_vector(state_vector: bytes) -> None:
    """Refuse a state vector (a sync step 1's payload) that is not one: ``varuint entries,
    entries * (varuint client, varuint clock)``, nothing more."""
    reader = _Reader(bytes(state_vector), 0)
    count = reader.count(2, "state vector entries")
    for _ in range(count):
        reader.var_uint()
        reader.var_uint()
    reader.end()


class _Reader:
    __slots__ = (
        "buf",
        "client_bytes",
        "end_pos",
        "inside_pairs",
        "limits",
        "max_depth",
        "pos",
        "structs",
        "type_ref",
    )

    def __init__(self, buf: bytes, max_depth: int) -> None:
        self.buf = buf
        self.pos = 0
        self.end_pos = len(buf)
        self.max_depth = max_depth
        #: When a list, :meth:`update` appends each struct it reads to it.
        self.structs: list[Struct] | None = None
        self.limits = True
        self.type_ref = -1  # of the last TYPE content read
        self.inside_pairs: tuple[int, ...] = ()  # of the last STRING content read (collecting)
        #: How the client of the structs being read is encoded: an origin that names the same
        #: client (typing continues one's own text) is then matched instead of decoded.
        self.client_bytes = b""

    # -- primitives ------------------------------------------------------------------------------

    def fail(self, what: str) -> UpdateRefused:
        return UpdateRefused(f"invalid Yjs update: {what} (at byte {self.pos})")

    def var_uint(self) -> int:
        buf, pos, end = self.buf, self.pos, self.end_pos
        if pos < end and buf[pos] < 0x80:  # one byte: most lengths, clocks, kinds
            self.pos = pos + 1
            return buf[pos]
        if end > pos + _MAX_VARUINT_BYTES:
            end = pos + _MAX_VARUINT_BYTES
        value = shift = 0
        while pos < end:
            byte = buf[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                self.pos = pos
                return value
            shift += 7
        raise self.fail("truncated or oversized integer")

    def count(self, min_bytes_each: int, what: str) -> int:
        """A count of things that take at least ``min_bytes_each`` bytes each: refused when the
        rest of the update cannot hold that many (so a claimed count never drives work)."""
        n = self.var_uint()
        if n * min_bytes_each > self.end_pos - self.pos:
            raise self.fail(f"{n} {what} claimed, more than the update holds")
        return n

    def skip(self, size: int) -> None:
        if size > self.end_pos - self.pos:
            raise self.fail("length runs past the end")
        self.pos += size

    def var_bytes(self) -> bytes:
        size = self.var_uint()
        start = self.pos
        self.skip(size)
        return self.buf[start : self.pos]

    def json_string(self) -> None:
        """A varstring holding JSON (embeds, formats, JSON content): bounded nesting."""
        text = self.var_bytes()
        if nesting_depth(text, self.max_depth) > self.max_depth:
            raise self.fail(f"JSON nested deeper than {self.max_depth} levels")

    def end(self) -> None:
        if self.pos != self.end_pos:
            raise self.fail(f"{self.end_pos - self.pos} trailing bytes")

    # -- structure -------------------------------------------------------------------------------

    def update(self) -> None:
        clients = self.count(3, "clients")
        # Which other clients each client's structs depend on (origins, parents): a long chain
        # of such dependencies across clients makes yrs recurse once per link.
        depends: dict[int, set[int]] = {}
        keys: dict[tuple[object, bytes], int] = {}
        for _ in range(clients):
            structs = self.count(1, "structs")
            if not structs:
                # No encoder writes one; yrs panics applying it to a document that holds the
                # client (pycrdt 0.14: BlockSet::exclude), so relayed it crashed such a peer.
                raise self.fail("a client with no structs")
            start = self.pos
            client = self.var_uint()
            self.client_bytes = self.buf[start : self.pos]
            clock = self.var_uint()
            deps = depends.setdefault(client, set())
            run_structs = run_bytes = 0
            run_ref = -1
            for _ in range(structs):
                if clock >= _MAX_CLOCK:
                    raise self.fail("a clock past 2^32")
                length, origin, size, parent_key, ref = self.struct(client, clock, deps)
                # A run of structs each continuing the previous one (origin = its last id) with
                # the same kind of content is squashed into one item on integration, at a cost
                # of run length x run size. Content of another kind ends the run: yrs squashes
                # like with like only, and a document typed with backspaces alternates live
                # strings with deleted content (9,000 characters: runs of ~1,800 structs).
                if origin == (client, clock - 1) and ref == run_ref:
                    run_structs += 1
                    run_bytes += size
                    if run_structs * run_bytes > _MAX_RUN_COST:
                        raise self.fail(f"a run of {run_structs} consecutive structs")
                else:
                    run_structs, run_bytes, run_ref = 1, size, ref
                if parent_key is not None and self.limits:
                    same = keys[parent_key] = keys.get(parent_key, 0) + 1
                    if same > _MAX_SAME_KEY:
                        raise self.fail(f"more than {_MAX_SAME_KEY} writes of one map key")
                clock += length
                if clock > _MAX_CLOCK:
                    raise self.fail("a clock past 2^32")
        _check_chain(depends, self)
        self.delete_set()
        self.end()

    def struct(
        self, client: int, clock: int, deps: set[int]
    ) -> tuple[int, tuple[int, int] | None, int, tuple[object, bytes] | None, int]:
        """Read one struct (and add it to :attr:`structs` when collecting): its length in clock
        units (for a string, an upper bound unless collecting), its origin, its size in bytes,
        for a map write without origin ``(parent, key)``, and its content ref."""
        if self.pos >= self.end_pos:
            raise self.fail("truncated struct")
        start = self.pos
        info = self.buf[self.pos]
        self.pos += 1
        ref = info & 0x1F
        structs = self.structs
        if ref in (GC, SKIP):
            length = self.var_uint()
            if ref == GC and structs is not None:
                structs.append(Struct(client, clock, length, GC, None, None, None, -1))
            return length, None, 0, None, ref
        origin = right = None
        parent: bytes | tuple[int, int] | None = None
        parent_key = None
        if info & 0x80:  # origin
            origin = (self._client(client), self.var_uint())
            deps.add(origin[0])
        if info & 0x40:  # right origin
            right = (self._client(client), self.var_uint())
            deps.add(right[0])
        if not info & 0xC0:
            if self.var_uint() == 1:
                parent = self.var_bytes()  # a root's name
            else:
                parent = (self.var_uint(), self.var_uint())  # the parent's ID
                deps.add(parent[0])
            if info & 0x20:
                parent_key = (parent, self.var_bytes())  # the key in a map parent
        length = self.content(ref)
        if structs is not None:
            type_ref = self.type_ref if ref == TYPE else -1
            pairs = self.inside_pairs if ref == STRING else ()
            structs.append(
                Struct(client, clock, length, ref, origin, right, parent, type_ref, pairs)
            )
        return length, origin, self.pos - start, parent_key, ref

    def _client(self, client: int) -> int:
        """A client id (varuint); ``client`` itself when it is encoded as the structs' client
        was (its last byte ends the number, so the match decodes to exactly that)."""
        own = self.client_bytes
        if own and self.buf.startswith(own, self.pos):
            self.pos += len(own)
            return client
        return self.var_uint()

    def content(self, ref: int) -> int:
        """Read one item's content; its length in clock units (for a string, its byte length,
        at least its length in UTF-16 units, unless collecting: then exactly that)."""
        if ref == STRING:
            text = self.var_bytes()
            self.inside_pairs = ()
            if self.structs is None or text.isascii():
                return len(text)
            decoded = text.decode("utf-8", "replace")
            units = len(decoded.encode("utf-16-le", "surrogatepass")) // 2
            if units != len(decoded):  # characters outside the BMP: two units each
                self.inside_pairs = _inside_pairs(decoded)
            return units
        if ref == ANY:
            count = self.count(1, "values")
            for _ in range(count):
                self.any()
            return count
        if ref == DELETED:
            return self.var_uint()
        if ref == BINARY:
            self.var_bytes()
        elif ref == TYPE:
            type_ref = self.type_ref = self.var_uint()
            if type_ref > _MAX_TYPE_REF:
                raise self.fail(f"unknown type ref {type_ref}")
            if type_ref in _NAMED_TYPES:
                self.var_bytes()
        elif ref == EMBED:
            self.json_string()
        elif ref == FORMAT:
            self.var_bytes()  # key
            self.json_string()
        elif ref == DOC:
            self.var_bytes()  # guid
            self.any()  # options
        elif ref == JSON:
            # Legacy content no Yjs client writes any more, which yrs decodes with one value
            # more than it encodes: a document holding it can never be loaded again.
            raise self.fail("JSON content (legacy; no Yjs client writes it)")
        else:
            raise self.fail(f"unknown content ref {ref}")
        return 1

    def any(self) -> None:
        """One lib0 ``Any`` value, nested values included, without recursion.

        The hot loop of wide values (maps of thousands of entries): one-byte lengths and keys,
        the common case, are read inline."""
        buf = self.buf
        end = self.end_pos
        pos = self.pos
        max_depth = self.max_depth
        # For each open array or object: the values still to read, and whether it is an object
        # (each of whose values follows a key).
        remaining = [1]
        keyed = [False]
        try:
            while remaining:
                if not remaining[-1]:
                    remaining.pop()
                    keyed.pop()
                    continue
                remaining[-1] -= 1
                if keyed[-1]:
                    size = buf[pos]
                    if size < 0x80:
                        pos += 1 + size
                    else:
                        self.pos = pos
                        self.var_bytes()
                        pos = self.pos
                tag = buf[pos]
                pos += 1
                if tag in _NO_BODY:
                    continue
                if tag == _STRING_TAG or tag == _BYTES:
                    size = buf[pos]
                    if size < 0x80:
                        pos += 1 + size
                        continue
                    self.pos = pos
                    self.var_bytes()
                    pos = self.pos
                elif tag in _FIXED_SIZE:
                    pos += _FIXED_SIZE[tag]
                elif tag == _VARINT:
                    self.pos = pos
                    self.var_uint()  # a signed varint has the same continuation bits
                    pos = self.pos
                elif tag == _ARRAY or tag == _OBJECT:
                    if len(remaining) > max_depth:
                        self.pos = pos
                        raise self.fail(f"values nested deeper than {max_depth} levels")
                    is_object = tag == _OBJECT
                    self.pos = pos
                    remaining.append(self.count(2 if is_object else 1, "values"))
                    pos = self.pos
                    keyed.append(is_object)
                else:
                    self.pos = pos
                    raise self.fail(f"unknown value tag {tag}")
                if pos > end:
                    break
        except IndexError:
            pos = end + 1  # read past the end
        if pos > end:
            self.pos = end
            raise self.fail("truncated value")
        self.pos = pos

    def delete_set(self) -> None:
        clients = self.count(2, "delete set clients")
        ranges = 0
        for _ in range(clients):
            self.var_uint()  # client
            count = self.count(2, "deleted ranges")
            ranges += count
            if ranges > _MAX_DELETE_RANGES and self.limits:
                raise self.fail(f"more than {_MAX_DELETE_RANGES} deleted ranges")
            for _ in range(count):
                self.var_uint()
                self.var_uint()


def _inside_pairs(text: str) -> tuple[int, ...]:
    """The UTF-16 offsets of ``text`` that fall between the two surrogates of a character."""
    inside = []
    offset = 0
    for char in text:
        if ord(char) > 0xFFFF:
            inside.append(offset + 1)
            offset += 2
        else:
            offset += 1
    return tuple(inside)


def _check_chain(depends: dict[int, set[int]], reader: _Reader) -> None:
    """Refuse dependencies between the update's clients chained longer than yrs can follow:
    it integrates them recursively, one native frame per link (about 87,000 overflow)."""
    if len(depends) <= _MAX_CHAIN:
        return
    longest: dict[int, int] = {}
    for root in depends:
        if root in longest:
            continue
        stack = [(root, iter(depends[root] & depends.keys()))]
        longest[root] = 0  # on the path: a cycle counts no further
        while stack:
            client, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                deepest = 1 + max(
                    (longest.get(c, 0) for c in depends[client] & depends.keys() if c != client),
                    default=0,
                )
                longest[client] = deepest
                if deepest > _MAX_CHAIN:
                    raise reader.fail(f"a chain of more than {_MAX_CHAIN} dependent clients")
            elif child not in longest:
                longest[child] = 0
                stack.append((child, iter(depends[child] & depends.keys())))
