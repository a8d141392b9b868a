"""tqdm progress bars that also report into an OmniForge build room.

    from jupyter_omniforge.tqdm import tqdm, trange

    for batch in tqdm(loader, omniforge="build:train-7"):
        ...

A drop-in for ``tqdm.auto.tqdm`` (a widget in a notebook, text elsewhere) with one more
argument, ``omniforge``: the channel to mirror into (``build:{id}`` or ``deployment:{id}``);
by default a room named after the notebook and the cell (``build:train-12`` for ``In [12]`` of
``train.ipynb``; see :func:`~jupyter_omniforge.client.mirror.default_channel`), with ``-{pos}``
appended for a nested bar; ``False`` mirrors nothing. ``omniforge_rate`` caps the events per
second (default 5).

The bar's first display sends ``build.started`` (with the bar's ``desc`` as message), each
refresh a ``build.progress`` (percent, and the bar's text as message) at most 5 times a second,
the final state always. Closing the bar sends ``build.completed``; it sends ``build.failed``
when the iterable or the ``with tqdm(...)`` block raised (with the exception), or when the bar
closes short of its total (``"stopped at 37/100"``), as a loop left by an exception or
``break`` does: the same bars that tqdm's notebook widget turns red. Events go out from a
background thread: the loop never waits for the server, and an unreachable server costs one
warning. A bar created with ``disable=True`` mirrors nothing.

tqdm is an optional dependency: ``pip install 'jupyter_omniforge[tqdm]'``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

try:
    from tqdm.auto import tqdm as _auto_tqdm
except ImportError as e:
    raise ImportError(
        "jupyter_omniforge.tqdm needs tqdm, which is not installed: "
        "pip install 'jupyter_omniforge[tqdm]' (or pip install tqdm)",
        name="tqdm",
    ) from e

from .client.mirror import RunMirror, check_channel, default_channel

__all__ = ["tqdm", "trange"]


class tqdm(_auto_tqdm):
    """``tqdm.auto.tqdm`` that also mirrors its progress into ``omniforge`` (see the module)."""

    def __init__(
        self,
        *args: Any,
        omniforge: str | bool | None = None,
        omniforge_rate: float = 5.0,
        **kwargs: Any,
    ) -> None:
        # Set before tqdm's own __init__: it displays the bar (and may fail, then __del__ closes).
        self._omniforge_mirror: RunMirror | None = None
        self._omniforge_wanted = omniforge is not False
        self._omniforge_channel = check_channel(omniforge) if isinstance(omniforge, str) else None
        self._omniforge_rate = omniforge_rate
        self._omniforge_error: BaseException | None = None
        self._omniforge_held = 0  # inside __iter__/__anext__: they tell why the bar closed
        self._omniforge_closed = False
        self._omniforge_ended = False
        super().__init__(*args, **kwargs)

    def display(self, *args: Any, **kwargs: Any) -> Any:
        shown = super().display(*args, **kwargs)
        self._omniforge_report()
        return shown

    def close(self) -> None:
        was_open = not getattr(self, "disable", True)
        super().close()
        if was_open and getattr(self, "_omniforge_wanted", False):
            self._omniforge_closed = True
            if not self._omniforge_held:
                self._omniforge_end(None)

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> Any:
        self._omniforge_error = exc_value
        return super().__exit__(exc_type, exc_value, traceback)

    def __iter__(self) -> Iterator[Any]:
        # tqdm closes the bar in its own `finally` before an exception from the iterable gets
        # here: the end is held until then, so that it can report the exception.
        self._omniforge_held += 1
        error = None
        try:
            yield from super().__iter__()
        except GeneratorExit:  # the loop was left early: no exception of the iterable's
            raise
        except BaseException as e:
            error = e
            raise
        finally:
            self._omniforge_release(error)

    async def __anext__(self) -> Any:
        self._omniforge_held += 1
        error = None
        try:
            return await super().__anext__()
        except StopAsyncIteration:
            raise
        except BaseException as e:
            error = e
            raise
        finally:
            self._omniforge_release(error)

    def _omniforge_release(self, error: BaseException | None) -> None:
        self._omniforge_held -= 1
        if not self._omniforge_held and self._omniforge_closed:
            self._omniforge_end(error)

    def _omniforge_report(self) -> None:
        """Hand the bar's state to the mirror, starting the run on the first display."""
        if not self._omniforge_wanted or self._omniforge_ended:
            return
        if self._omniforge_mirror is None:
            pos = abs(getattr(self, "pos", 0) or 0)
            channel = self._omniforge_channel or default_channel(suffix=f"-{pos}" if pos else "")
            self._omniforge_mirror = RunMirror(channel, max_rate=self._omniforge_rate)
            self._omniforge_mirror.start(self.desc.rstrip(": ") or None)
        state = self.format_dict
        total = state.get("total")
        percent = 100.0 * state["n"] / total if total else None
        # ncols=0: the statistics without the bar's block characters
        self._omniforge_mirror.progress(percent, self.format_meter(**{**state, "ncols": 0}))

    def _omniforge_end(self, error: BaseException | None) -> None:
        if self._omniforge_mirror is None or self._omniforge_ended:
            return  # never displayed: no run was started
        self._omniforge_report()
        self._omniforge_ended = True
        cause: BaseException | str | None = error or self._omniforge_error
        total = self.total
        if cause is None and total and self.n < total:
            cause = f"stopped at {_number(self.n)}/{_number(total)}"
        self._omniforge_mirror.finish(cause)

    @property
    def omniforge(self) -> RunMirror | None:
        """The run this bar mirrors into (None before its first display or when not mirrored)."""
        return self._omniforge_mirror


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def trange(*args: Any, **kwargs: Any) -> tqdm:
    """``tqdm(range(*args), **kwargs)``."""
    return tqdm(range(*args), **kwargs)
