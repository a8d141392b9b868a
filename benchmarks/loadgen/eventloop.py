"""Running the load generator's event loop: uvloop when installed, and enough file descriptors."""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

LOOPS = ("auto", "uvloop", "asyncio")


def resolve_loop(name: str) -> str:
    """``auto`` → ``uvloop`` if importable, else ``asyncio``."""
    if name not in LOOPS:
        raise ValueError(f"unknown event loop {name!r}")
    if name == "auto":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            return "asyncio"
        return "uvloop"
    return name


def raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard one; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def run(main: Coroutine[Any, Any, T], loop: str) -> T:
    """Run ``main`` to completion on the named loop (see :func:`resolve_loop`)."""
    raise_fd_limit()
    if resolve_loop(loop) == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
