"""Folding a room's stored updates into one snapshot update."""

from __future__ import annotations

from collections.abc import Sequence

from pycrdt import Doc, get_update, merge_updates


class CorruptUpdateError(ValueError):
    """A stored update cannot be decoded."""

    def __init__(self, index: int) -> None:
        super().__init__(f"stored update #{index} cannot be decoded")
        self.index = index


def fold_updates(updates: Sequence[bytes]) -> bytes:
    """One update equivalent to applying `updates` in order to an empty document.

    Builds a fresh `Doc`, so call it off the event loop for large rooms. Nothing is lost even
    if the updates are causally incomplete (an update whose dependencies are missing): such
    parts are kept verbatim next to the document's state, and integrate once the missing
    update is applied after the snapshot. Raises `CorruptUpdateError` if an update cannot be
    decoded.
    """
    doc = Doc()
    for index, update in enumerate(updates):
        try:
            doc.apply_update(update)
        except BaseException as error:  # malformed input may surface as a pyo3 PanicException
            raise CorruptUpdateError(index) from error
    state = doc.get_update()
    # A Doc keeps updates with missing dependencies "pending" and get_update() silently drops
    # them (and deletions of items it has not seen). Carry over what the document's state does
    # not cover: pending structs plus every delete set, which merge with the state's own.
    leftover = get_update(merge_updates(*updates), doc.get_state())
    return merge_updates(state, leftover)
