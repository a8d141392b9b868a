"""The extension point of jupyter_omniforge: a Jupyter Server extension registers an *app* — a
namespace, its room kinds with their Yjs roots, its event types (JSON Schemas of their data),
a hook per event type, and presence fields — and jupyter_omniforge serves it under
``{base_url}{namespace}/`` with its own handlers, room manager, event bus and store.

    from jupyter_omniforge.apps import Channel, RealtimeApp, Rejected, register

    async def check_stock(event):
        if event.data["total"] > 10_000:
            raise Rejected("orders over 10000 need a manager")

    def _load_jupyter_server_extension(serverapp):
        register(serverapp, RealtimeApp(
            namespace="inventory",
            channels=[Channel("order", {"notes": "text"}, {"order.placed": {"type": "object"}})],
            hooks={"order.placed": check_stock},
        ))

``jupyter omniforge generate`` writes such an extension (and its clients and tests) from a spec.
"""

from .declaration import Channel, DeclarationError, Hook, RealtimeApp, problems
from .registry import AppRegistry, Arrival, HookFailed, RegisteredApp, Rejected
from .server import register

__all__ = [
    "AppRegistry",
    "Arrival",
    "Channel",
    "DeclarationError",
    "Hook",
    "HookFailed",
    "RealtimeApp",
    "RegisteredApp",
    "Rejected",
    "problems",
    "register",
]
