"""How an app joins a running Jupyter server: its declaration goes into the registry of the
jupyter_omniforge extension, and its namespace gets its endpoints, served by the very handlers,
room manager, event bus and store of jupyter_omniforge:

=====================================================  ==============================================
``{base_url}{namespace}/rooms/{kind}:{id}``            y-websocket (WebSocket), the app's rooms
``{base_url}{namespace}/events``                       ``POST`` emit (validation, hook), ``GET`` history
``{base_url}{namespace}/events/stream``                Server-Sent Events of the app's channels
=====================================================  ==============================================

Room names and channel patterns at these endpoints are relative to the namespace (``order:42``,
``order:*``); envelopes carry the absolute channel (``inventory/order:42``), which is also how the
built-in endpoints (``omniforge/realtime``, ``omniforge/api/rooms/…``) name the app's rooms.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.utils import url_path_join

from ..handlers.events import EventsHandler, EventStreamHandler
from ..handlers.rooms import RoomWebSocketHandler
from .declaration import RealtimeApp
from .registry import RegisteredApp

EXTENSION = "jupyter_omniforge"


def omniforge_of(serverapp: Any) -> Any:
    """The jupyter_omniforge extension app of ``serverapp`` (linked, maybe not loaded yet)."""
    point = serverapp.extension_manager.extension_points.get(EXTENSION)
    if point is None or point.app is None:
        raise RuntimeError(
            "the jupyter_omniforge server extension is not enabled: enable it "
            "(jupyter server extension enable jupyter_omniforge) to serve apps"
        )
    return point.app


def register(serverapp: Any, app: RealtimeApp) -> RegisteredApp:
    """Serve ``app`` on ``serverapp``; call it from the app's ``_load_jupyter_server_extension``.

    Works whichever extension Jupyter loads first. Raises
    :class:`~jupyter_omniforge.apps.declaration.DeclarationError` for an invalid declaration or
    one that clashes with what is registered (a namespace, a built-in kind or event type).
    """
    omniforge = omniforge_of(serverapp)
    registered, schema = omniforge.apps.add(app)
    event_logger = getattr(serverapp, "event_logger", None)
    if event_logger is not None and schema["$id"] not in event_logger.schemas.schema_ids:
        event_logger.register_event_schema(schema)
    web_app = serverapp.web_app
    base_url = web_app.settings.get("base_url", "/")
    kwargs = {"name": EXTENSION, "namespace": app.namespace}
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base_url, app.namespace, "rooms/(.+)"), RoomWebSocketHandler, kwargs),
            (url_path_join(base_url, app.namespace, "events"), EventsHandler, kwargs),
            (url_path_join(base_url, app.namespace, "events/stream"), EventStreamHandler, kwargs),
        ],
    )
    serverapp.log.info(
        "OmniForge serves the %s app at %s",
        app.name or app.namespace,
        url_path_join(base_url, app.namespace),
    )
    return registered
