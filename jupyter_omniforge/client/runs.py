"""Report a build or a deployment from a notebook or a script, as a context manager.

    with forge.build("42") as b:                 # build.started on build:42
        b.progress(40, "compiling")              # build.progress {percent: 40, message}
        b.log("gcc -O2 main.c")                  # build.progress at the current percent
    # build.completed {duration}; or, when the block raises, build.failed {error: "Type: msg"}

    async with forge.abuild("42") as b:
        await b.progress(40, "compiling")

Deployments are the same on ``deployment:{id}`` with ``deployment.*`` events. Subscribers of the
channel — ``jupyter omniforge watch build:42``, the room's ``status`` map — follow along.
"""

from __future__ import annotations

import logging
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .events import OmniForge

log = logging.getLogger(__name__)

# The schemas' bounds: a long log line or error must not get the event itself refused.
MAX_MESSAGE = 10_000
MAX_ERROR = 100_000


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(exc: BaseException) -> str:
    """``"ValueError: bad input"``: what a ``*.failed`` event carries as its ``error``."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Progress:
    """What the sync and async runs share: the events' names and payloads, and the state."""

    def __init__(self, forge: OmniForge, kind: str, run_id: str, message: str | None) -> None:
        self.forge = forge
        self.kind = kind
        self.id = run_id
        self.channel = f"{kind}:{run_id}"
        self.message = message
        self.percent: float = 0
        self.started_at: float | None = None
        #: Envelopes of the events emitted so far, as the server stored them.
        self.events: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.channel} {self.percent}%>"

    def _started(self) -> tuple[str, dict[str, Any]]:
        self.started_at = time.monotonic()
        data = {} if self.message is None else {"message": _clip(self.message, MAX_MESSAGE)}
        return f"{self.kind}.started", data

    def _progress(self, percent: float | None, message: str) -> tuple[str, dict[str, Any]]:
        if percent is not None:
            self.percent = percent
        data = {"percent": self.percent, "message": _clip(str(message), MAX_MESSAGE)}
        return f"{self.kind}.progress", data

    def _finished(self, exc: BaseException | None) -> tuple[str, dict[str, Any]]:
        started = self.started_at if self.started_at is not None else time.monotonic()
        data: dict[str, Any] = {"duration": round(time.monotonic() - started, 6)}
        if exc is None:
            self.percent = 100
            return f"{self.kind}.completed", data
        data["error"] = _clip(describe(exc), MAX_ERROR)
        return f"{self.kind}.failed", data

    def _record(self, envelope: dict[str, Any]) -> dict[str, Any]:
        self.events.append(envelope)
        return envelope


class Run(_Progress):
    """A build or deployment reported from synchronous code (``with forge.build("42") as b``).

    Entering emits ``{kind}.started`` (with ``message`` when given) and raises if the server
    refuses or cannot be reached, so the block does not run unreported. Leaving normally emits
    ``{kind}.completed`` with ``duration`` (seconds); leaving with an exception — including
    ``KeyboardInterrupt`` — emits ``{kind}.failed`` with ``error`` (``"ValueError: msg"``) and
    ``duration`` and lets the exception propagate. If that last emit fails, the failure is logged
    and the original exception still propagates.
    """

    def __enter__(self) -> Run:
        self._emit(*self._started())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        event = self._finished(exc)
        if exc is None:
            self._emit(*event)
            return
        try:
            self._emit(*event)
        except Exception:
            log.warning("could not report %s on %s", event[0], self.channel, exc_info=True)

    def _emit(self, type: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._record(self.forge.emit(self.channel, type, data))

    def progress(self, percent: float, message: str = "") -> dict[str, Any]:
        """Emit ``{kind}.progress`` at ``percent`` (0-100) with ``message``; returns the envelope."""
        return self._emit(*self._progress(percent, message))

    def log(self, line: str) -> dict[str, Any]:
        """Emit ``line`` as a ``{kind}.progress`` message at the current percent."""
        return self._emit(*self._progress(None, line))


class AsyncRun(_Progress):
    """The async twin of :class:`Run`: ``async with forge.abuild("42") as b: await b.progress(…)``.

    A cancelled block (``asyncio.CancelledError``) is reported as failed too.
    """

    async def __aenter__(self) -> AsyncRun:
        await self._emit(*self._started())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        event = self._finished(exc)
        if exc is None:
            await self._emit(*event)
            return
        try:
            await self._emit(*event)
        except Exception:
            log.warning("could not report %s on %s", event[0], self.channel, exc_info=True)

    async def _emit(self, type: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._record(await self.forge.aemit(self.channel, type, data))

    async def progress(self, percent: float, message: str = "") -> dict[str, Any]:
        """Emit ``{kind}.progress`` at ``percent`` (0-100) with ``message``; returns the envelope."""
        return await self._emit(*self._progress(percent, message))

    async def log(self, line: str) -> dict[str, Any]:
        """Emit ``line`` as a ``{kind}.progress`` message at the current percent."""
        return await self._emit(*self._progress(None, line))


def _default() -> OmniForge:
    from .events import OmniForge

    return OmniForge()


def build(build_id: str, message: str | None = None) -> Run:
    """``with build("42") as b:`` against the server found by discovery (see :class:`Run`)."""
    return _default().build(build_id, message)


def abuild(build_id: str, message: str | None = None) -> AsyncRun:
    """``async with abuild("42") as b:`` against the server found by discovery."""
    return _default().abuild(build_id, message)


def deployment(deployment_id: str, message: str | None = None) -> Run:
    """``with deployment("7") as d:`` against the server found by discovery."""
    return _default().deployment(deployment_id, message)


def adeployment(deployment_id: str, message: str | None = None) -> AsyncRun:
    """``async with adeployment("7") as d:`` against the server found by discovery."""
    return _default().adeployment(deployment_id, message)
