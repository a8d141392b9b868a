"""The shape of a room's document, tracked update after update: how deep its shared types nest,
and in which kind of type each item sits.

Two harms that no single update shows, so the gate (:mod:`~jupyter_omniforge.updates`) cannot
see them (measured with pycrdt 0.14.13):

- **Shared types nested in shared types** (a Map in a Map in a Map…), many levels in one update
  or one level per update: at about 35,000 levels, deleting the outermost one overflows the
  native stack inside yrs and the process dies with a segfault; ``to_py()`` fails with a
  ``RecursionError`` from about 1,000 levels.
- **Text content outside a text** (and values inside one): a Yjs string item (only ever written into a ``Y.Text``)
  placed in an Array, a Map or an XML fragment. Reading that Array with pycrdt while the string
  holds a character outside the BMP loops forever, holding the GIL: the server hangs.

An item names its parent only when it has no origin; otherwise it sits wherever its origins
(left, or right when it has one) sit. So a :class:`Structure` keeps, for every run of item IDs,
the depth and kind of the type the run sits in, and for every shared type its own depth and
kind. An update whose items depend on IDs the document does not hold yet waits in a pool, as it
does in yrs; the update that brings the missing IDs is the one that would make the pooled items
part of the document, so it is judged with them.

Rooms check every update with it, and the store folds updates through it
(:mod:`~jupyter_omniforge.store.compaction`): it sits beside the gate, outside ``rooms/``, which
nothing under ``store/`` or ``backplane/`` imports.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Mapping
from typing import NamedTuple

from .updates import (
    ANY,
    BINARY,
    DOC,
    EMBED,
    FORMAT,
    GC,
    MAX_DEPTH,
    STRING,
    TYPE,
    Struct,
    UpdateRefused,
    read_structs,
)

# Kinds of place an item can sit in: flags, as an item whose origins disagree may sit in either.
FREE = 1  # a root the server never reads with a type: anything goes
TEXT = 2  # a Y.Text or Y.XmlText (or a root declared "text")
OTHER = 4  # an Array, a Map, an XML element or fragment (or a root declared so)
DEAD = 0  # garbage collected, or under something that is not a type: yrs drops what goes there

_TEXT_TYPE_REFS = frozenset((2, 6))  # YText, YXmlText
_TEXT_CONTENT = frozenset((STRING, EMBED, FORMAT))
# What Yjs never writes into a text, and pycrdt miscounts there (deleting it panics).
_VALUE_CONTENT = frozenset((ANY, BINARY, DOC))

#: Items depending on IDs the document does not hold, kept until those arrive.
MAX_POOLED = 100_000


class Place(NamedTuple):
    """Where an item sits: the depth of its parent type (0 for a root) and the parent's kind."""

    depth: int
    kind: int


_DEAD = Place(0, DEAD)


def _worse(a: Place, b: Place) -> Place:
    """Two answers to "where does this item sit" (its origins disagree: a forged update), as
    one to judge it by: it must be fit for both."""
    if a.kind == DEAD:
        return b
    if b.kind == DEAD:
        return a
    return Place(max(a.depth, b.depth), a.kind | b.kind)


class Structure:
    """The shape of one document; :meth:`check` each update before it is applied.

    ``roots`` maps the root names the server reads with a type to that type (``"text"``,
    ``"map"``, ``"array"``, ``"xml"``); ``max_depth`` bounds the nesting of shared types.
    """

    def __init__(self, roots: Mapping[str, str] | None = None, *, max_depth: int = MAX_DEPTH):
        self.max_depth = max_depth
        self._roots = {
            name.encode(): Place(0, TEXT if kind == "text" else OTHER)
            for name, kind in (roots or {}).items()
        }
        # Per client, sorted by clock: the starts of its runs of item IDs, and for each run its
        # end and the place its items sit in.
        self._starts: dict[int, list[int]] = {}
        self._runs: dict[int, list[tuple[int, Place]]] = {}
        # Shared types by ID: their own depth and kind.
        self._types: dict[tuple[int, int], Place] = {}
        # Items that depend on an ID the document does not hold: per client of that ID, sorted
        # by its clock, (clock, item).
        self._pool: dict[int, list[tuple[int, Struct]]] = {}
        self.pooled = 0
        #: The client ID of the server's own edits: nothing may wait for one of its IDs.
        self.own_client: int | None = None

    @property
    def types(self) -> int:
        """Shared types the document holds (deleted ones included)."""
        return len(self._types)

    def check(self, update: bytes, *, limits: bool = True) -> None:
        """Refuse (:class:`~jupyter_omniforge.updates.UpdateRefused`) an update that fails the
        gate (with ``limits``, see :func:`~jupyter_omniforge.updates.gate`), nests shared
        types deeper than ``max_depth`` or puts text content outside a text (its own items, or
        pooled items it completes); otherwise remember what it adds."""
        structs = read_structs(update, self.max_depth, limits=limits)
        if len(structs) == 1 and not self._pool and _Resolution(self, structs, lone=True).alone():
            return  # the common case (one edit, in order), without a scratch structure
        _Resolution(self, structs).run()

    def rebuilt(self, full_update: bytes) -> Structure:
        """A structure read afresh from ``full_update`` (the document's whole state), keeping
        the items this one pools (yrs keeps them pending: they are not in the state)."""
        fresh = Structure(max_depth=self.max_depth)
        fresh._roots = self._roots
        fresh.own_client = self.own_client
        _Resolution(fresh, read_structs(full_update, self.max_depth, limits=False)).run()
        for client, entries in self._pool.items():
            fresh._pool.setdefault(client, []).extend(entries)
        fresh.pooled += self.pooled
        return fresh

    def place(self, client: int, clock: int) -> Place | None:
        """Where the known item ``client:clock`` sits (None: not known)."""
        starts = self._starts.get(client)
        if starts:
            i = bisect_right(starts, clock) - 1
            if i >= 0:
                end, place = self._runs[client][i]
                if clock < end:
                    return place
        return None

    def known_until(self, client: int, clock: int) -> int:
        """The end of the known IDs of ``client`` that run on without a gap from ``clock``
        (``clock`` itself when it is not known)."""
        starts = self._starts.get(client)
        if not starts:
            return clock
        runs = self._runs[client]
        i = bisect_right(starts, clock) - 1
        end = clock
        while 0 <= i < len(runs) and starts[i] <= end < runs[i][0]:
            end = runs[i][0]
            i += 1
        return end

    # -- what a resolution commits ---------------------------------------------------------------

    def _add_run(self, client: int, start: int, end: int, place: Place) -> None:
        starts = self._starts.setdefault(client, [])
        runs = self._runs.setdefault(client, [])
        i = bisect_right(starts, start)
        if i and runs[i - 1][0] == start and runs[i - 1][1] == place:
            i -= 1  # continues the run before
            runs[i] = (end, place)
        else:
            starts.insert(i, start)
            runs.insert(i, (end, place))
        if i + 1 < len(starts) and starts[i + 1] == end and runs[i + 1][1] == place:
            runs[i] = (runs[i + 1][0], place)  # and joins the run after
            del starts[i + 1], runs[i + 1]

    def _unpool(self, client: int, start: int, end: int) -> list[Struct]:
        """Take the pooled items waiting for an ID of ``client`` in ``[start, end)``."""
        entries = self._pool.get(client)
        if not entries:
            return []
        lo = bisect_left(entries, start, key=_start)
        hi = bisect_left(entries, end, key=_start)
        taken = [struct for _, struct in entries[lo:hi]]
        del entries[lo:hi]
        if not entries:
            del self._pool[client]
        self.pooled -= len(taken)
        return taken

    def _pool_item(self, struct: Struct, waits_for: tuple[int, int]) -> None:
        if self.pooled >= MAX_POOLED:
            raise UpdateRefused(
                f"invalid Yjs update: more than {MAX_POOLED} items depend on content the "
                "document does not hold"
            )
        entries = self._pool.setdefault(waits_for[0], [])
        insort(entries, (waits_for[1], struct), key=_start)
        self.pooled += 1


def _start(entry: tuple[int, ...] | tuple[int, Struct]) -> int:
    return entry[0]


_EMPTY = Structure()  # never changed: the scratch structure of a lone struct's fast path


class _Resolution:
    """Placing the structs of one update, and the pooled items it completes. The structure
    changes only once every item is placed without a refusal: a refused update leaves nothing
    behind."""

    def __init__(self, structure: Structure, structs: list[Struct], *, lone: bool = False) -> None:
        self.main = structure
        self.structs = structs
        # What this update adds, kept aside until it is accepted.
        # (Nothing, for a lone struct placed straight into the structure: see :meth:`alone`.)
        self.new = _EMPTY if lone else Structure()
        self.taken: dict[int, Struct] = {}  # pooled items of ``main`` placed now, by id()

    def alone(self) -> bool:
        """Place a lone struct whose place is known straight into the structure; False (and
        nothing done) when it needs :meth:`run`."""
        struct = self.structs[0]
        client, start = struct.client, struct.clock
        if self.main.known_until(client, start) != start:
            return False
        place = self.settle(struct)
        if not isinstance(place, Place):
            return False
        self.judge(struct, place)
        self.record(self.main, struct, start, place)
        return True

    def record(self, into: Structure, struct: Struct, start: int, place: Place) -> None:
        if struct.ref == TYPE:
            into._types[(struct.client, struct.clock)] = (
                _DEAD
                if place.kind == DEAD
                else Place(place.depth + 1, TEXT if struct.type_ref in _TEXT_TYPE_REFS else OTHER)
            )
        into._add_run(struct.client, start, struct.clock + struct.length, place)

    def run(self) -> None:
        main, new = self.main, self.new
        work = self.structs[::-1]  # popped from the end: in order
        while work:
            struct = work.pop()
            client, start, end = struct.client, struct.clock, struct.clock + struct.length
            known = new.known_until(client, main.known_until(client, start))
            if known >= end:
                continue  # a duplicate: yrs skips it
            place = self.settle(struct)
            if not isinstance(place, Place):
                if place[0] == main.own_client:
                    raise UpdateRefused(
                        "invalid Yjs update: an item refers to content the server never wrote"
                    )
                new._pool_item(struct, place)
                continue
            if known > start:  # yrs integrates the rest where the known part sits
                if known - struct.clock in struct.inside_pairs:
                    # yrs would cut the text between the two halves of a character: it drops
                    # the half and leaves a hole in the client's IDs, and the transaction's
                    # update (what every pycrdt Provider sends on) panics to encode. Only an
                    # update re-using IDs for other text does this; a Yjs client never does.
                    raise UpdateRefused(
                        f"invalid Yjs update: item {client}:{struct.clock} re-sends IDs the "
                        "document holds with other text, cut inside a character"
                    )
                place = _worse(place, self.place_at(client, known - 1) or place)
                start = known
            self.judge(struct, place)
            self.record(new, struct, start, place)
            work.extend(new._unpool(client, start, end))
            work.extend(self.unpool_main(client, start, end))
        if main.pooled - len(self.taken) + new.pooled > MAX_POOLED:
            raise UpdateRefused(
                f"invalid Yjs update: more than {MAX_POOLED} items depend on content the "
                "document does not hold"
            )
        self.commit()

    def place_at(self, client: int, clock: int) -> Place | None:
        return self.main.place(client, clock) or self.new.place(client, clock)

    def settle(self, struct: Struct) -> Place | tuple[int, int]:
        """Where ``struct`` sits, or the ID it waits for."""
        if struct.ref == GC:
            return _DEAD
        if struct.origin is None and struct.right is None:
            parent = struct.parent
            if isinstance(parent, bytes):
                return self.main._roots.get(parent, Place(0, FREE))
            if parent is None:
                return _DEAD
            own = self.main._types.get(parent) or self.new._types.get(parent)
            if own is not None:
                return own
            # A known item that is not a shared type parents nothing: yrs drops the child.
            return _DEAD if self.place_at(*parent) is not None else parent
        place: Place | None = None
        for ref in (struct.origin, struct.right):
            if ref is not None:
                found = self.place_at(*ref)
                if found is None:
                    return ref
                place = found if place is None else _worse(place, found)
        assert place is not None
        return place

    def judge(self, struct: Struct, place: Place) -> None:
        if place.kind == DEAD:
            return
        if struct.ref in _TEXT_CONTENT and place.kind & OTHER:
            raise UpdateRefused(
                f"invalid Yjs update: text content (item {struct.client}:{struct.clock}) in an "
                "Array, Map or XML element; only a text holds text"
            )
        if struct.ref in _VALUE_CONTENT and place.kind & TEXT:
            raise UpdateRefused(
                f"invalid Yjs update: a value (item {struct.client}:{struct.clock}) in a text; "
                "a text holds text, embeds, formats and shared types"
            )
        if struct.ref == TYPE and place.depth + 1 > self.main.max_depth:
            raise UpdateRefused(
                f"invalid Yjs update: shared types nested deeper than {self.main.max_depth} levels"
            )

    def unpool_main(self, client: int, start: int, end: int) -> list[Struct]:
        entries = self.main._pool.get(client)
        if not entries:
            return []
        lo = bisect_left(entries, start, key=_start)
        hi = bisect_left(entries, end, key=_start)
        found = [s for _, s in entries[lo:hi] if id(s) not in self.taken]
        self.taken.update((id(s), s) for s in found)
        return found

    def commit(self) -> None:
        main, new = self.main, self.new
        for client, starts in new._starts.items():
            for start, (end, place) in zip(starts, new._runs[client], strict=True):
                main._add_run(client, start, end, place)
        main._types.update(new._types)
        if self.taken:
            for client in list(main._pool):
                kept = [e for e in main._pool[client] if id(e[1]) not in self.taken]
                if kept:
                    main._pool[client] = kept
                else:
                    del main._pool[client]
            main.pooled -= len(self.taken)
        for client, entries in new._pool.items():
            for clock, struct in entries:
                insort(main._pool.setdefault(client, []), (clock, struct), key=_start)
        main.pooled += new.pooled
