"""Folding a room's stored updates into one snapshot update."""

from __future__ import annotations

from collections.abc import Sequence

from pycrdt import Doc, get_update, merge_updates

from ..structure import Structure
from ..updates import MAX_DEPTH, is_decode_failure


class CorruptUpdateError(ValueError):
    """A stored update fails the gate or cannot be decoded; ``index`` is its position."""

    def __init__(self, index: int, reason: str = "") -> None:
        super().__init__(
            f"stored update #{index} cannot be decoded" + (f": {reason}" if reason else "")
        )
        self.index = index
        self.reason = reason


def fold_updates(updates: Sequence[bytes], max_depth: int = MAX_DEPTH) -> bytes:
    """One update equivalent to applying `updates` in order to an empty document.

    Builds a fresh `Doc`, so call it off the event loop for large rooms. Nothing is lost even
    if the updates are causally incomplete (an update whose dependencies are missing): such
    parts are kept verbatim next to the document's state, and integrate once the missing
    update is applied after the snapshot. Every update passes the gate first
    and the document's shape (:class:`~jupyter_omniforge.structure.Structure`, with
    ``max_depth``). Raises
    `CorruptUpdateError` if an update fails it or cannot be decoded.
    """
    doc = Doc()
    structure = Structure(max_depth=max_depth)
    for index, update in enumerate(updates):
        try:
            structure.check(update, limits=False)
            doc.apply_update(update)
        except BaseException as error:  # malformed input may surface as a pyo3 PanicException
            if not is_decode_failure(error):
                raise
            raise CorruptUpdateError(index, str(error)) from error
    state = doc.get_update()
    # A Doc keeps updates with missing dependencies "pending" and get_update() silently drops
    # them (and deletions of items it has not seen). Carry over what the document's state does
    # not cover: pending structs plus every delete set, which merge with the state's own.
    leftover = get_update(merge_updates(*updates), doc.get_state())
    return merge_updates(state, leftover)
