"""The registry of apps a server serves, and what serving one means: its room names, its event
types, and its hooks, which run on every event of the app before it is stored.

The registry belongs to the extension app (``omniforge.apps``); it owns the server's
:class:`~jupyter_omniforge.apps.names.RoomNames` and
:class:`~jupyter_omniforge.events.types.EventTypes`, so an app's kinds and types are known to
every entry point the moment it is registered. Nothing here knows about Tornado.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..errors import OmniForgeError
from ..events.types import EventTypes
from .declaration import DeclarationError, Hook, RealtimeApp, problems
from .names import RoomNames

if TYPE_CHECKING:
    from ..events.bus import EventBus

D = TypeVar("D")


class Rejected(OmniForgeError):
    """Raised by a hook to refuse the event it was called with: the emitter gets HTTP 400 with
    this message (``{"error": "rejected", "message": ...}``); nothing is stored or sent."""

    http_status = 400
    code = "rejected"


class HookFailed(OmniForgeError):
    """A hook raised something other than :class:`Rejected` (logged with its traceback)."""

    http_status = 500
    close_code = 1011
    code = "hook_failed"


@dataclass(frozen=True)
class Arrival(Generic[D]):
    """An event of an app on its way in, as its hook sees it. It is valid (its data matched its
    schema); it is stored and sent once every hook returned. Hooks must not change ``data``."""

    app: RegisteredApp
    #: The room (and channel) relative to the app's namespace: ``order:42``.
    room: str
    type: str
    data: D
    #: Who emitted it: ``{"username": ...}``.
    source: dict[str, Any]

    @property
    def channel(self) -> str:
        """The channel as stored and streamed: ``inventory/order:42``."""
        return f"{self.app.namespace}/{self.room}"


class RegisteredApp:
    """One app being served: emits its events (validation, hook, storage) and names its rooms."""

    def __init__(self, registry: AppRegistry, declaration: RealtimeApp) -> None:
        self.registry = registry
        self.declaration = declaration
        self.namespace = declaration.namespace
        self.hooks: dict[str, Hook] = dict(declaration.hooks)

    def __repr__(self) -> str:
        return f"<RegisteredApp {self.namespace!r}>"

    async def emit(
        self,
        room: str,
        type: str,
        data: Any = None,
        *,
        source: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Validate an event on ``room`` (relative to the namespace), run its hook, then store
        and deliver it; return its envelope (with ``id``, and the absolute ``channel``).

        Raises ``InvalidRoomName`` / ``ValidationError`` for an invalid event, :class:`Rejected`
        when its hook refuses it, :class:`HookFailed` when the hook breaks: nothing is then
        stored or sent.
        """
        envelope = await self.prepare(room, type, data, source=source)
        return await self._bus().append(envelope)

    async def prepare(
        self,
        room: str,
        type: str,
        data: Any = None,
        *,
        source: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """What :meth:`emit` does before it stores: the envelope (without ``id``) of a valid
        event its hook accepted, for a caller that stores several at once
        (:meth:`EventBus.append_many`). Raises as :meth:`emit` does."""
        bus = self._bus()
        name = self.registry.names.parse(room, self.namespace)
        envelope = bus.check(
            str(name), type, data, source or {"username": "server"}, namespace=self.namespace
        )
        hook = self.hooks.get(type)
        if hook is not None:
            await self._run(
                hook, Arrival(self, name.relative, type, envelope["data"], envelope["source"])
            )
        return envelope

    def _bus(self) -> EventBus:
        bus = self.registry.bus
        if bus is None:
            raise RuntimeError("jupyter_omniforge has not initialized its event bus yet")
        return bus

    async def _run(self, hook: Hook, arrival: Arrival[Any]) -> None:
        try:
            result = hook(arrival)
            if inspect.isawaitable(result):
                await result
        except Rejected as e:
            raise Rejected(f"{arrival.type} refused by the {self.namespace} app: {e}") from None
        except OmniForgeError:
            raise
        except Exception as e:
            self.registry.log.exception("the %s hook of %s failed", arrival.type, self.namespace)
            raise HookFailed(
                f"the {self.namespace} app failed to handle {arrival.type}: {type(e).__name__}"
            ) from e

    async def history(
        self, rooms: list[str] | None = None, after: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Kept events of ``rooms`` (relative names or patterns; all of the app's by default),
        oldest first: for a hook that needs what came before."""
        bus = self.registry.bus
        if bus is None:
            return []
        patterns = self.registry.names.patterns(rooms or ["*"], self.namespace)
        events, _reset, _next = await bus.history(patterns, after, limit)
        return events


class AppRegistry:
    """The apps one server serves, by namespace."""

    def __init__(self, log: logging.Logger | None = None) -> None:
        self.names = RoomNames()
        self.types = EventTypes(names=self.names)
        self.log = log or logging.getLogger(__name__)
        #: Set once the extension has its event bus (apps may register before that).
        self.bus: EventBus | None = None
        self._apps: dict[str, RegisteredApp] = {}

    def __contains__(self, namespace: object) -> bool:
        return namespace in self._apps

    def __getitem__(self, namespace: str) -> RegisteredApp:
        return self._apps[namespace]

    def __iter__(self) -> Iterator[RegisteredApp]:
        return iter(self._apps.values())

    def __len__(self) -> int:
        return len(self._apps)

    def add(self, app: RealtimeApp) -> tuple[RegisteredApp, dict[str, Any]]:
        """Serve ``app``: its kinds and event types become known to every entry point.

        Returns the registered app and the envelope schema of its events (for Jupyter's
        ``event_logger``). Raises :class:`DeclarationError` naming each problem, and changes
        nothing, when the declaration is invalid or clashes with what is registered already.
        """
        found = problems(app)
        if app.namespace in self._apps:
            found.append(("namespace", f"{app.namespace!r} is registered already"))
        for event_type in app.event_types():
            if event_type in self.types.types:
                found.append(
                    (f"events.{event_type}", "an event type with this name exists already")
                )
        if found:
            raise DeclarationError(found)
        self.names.add(app.namespace, {c.kind: c.document for c in app.channels})
        try:
            schema = self.types.add_app(app.namespace, app.event_types())
        except ValueError as e:
            self.names.remove(app.namespace)
            raise DeclarationError([("events", str(e))]) from None
        registered = self._apps[app.namespace] = RegisteredApp(self, app)
        return registered, schema
