"""Server-side hooks of the inventory app: one per event type.

A hook is called when its event arrives on the server, valid (its data matched its schema) but
not yet stored or sent. ``event.room`` is the room (``order:42``), ``event.data`` the typed data,
``event.source["username"]`` who sent it, and ``await event.app.emit(room, type, data)`` emits
another event of the app. Raise ``jupyter_omniforge.apps.Rejected("why")`` to refuse the event:
the emitter gets HTTP 400 with that message, and nothing is stored or sent.

This file is yours: ``jupyter omniforge generate`` wrote it once and never overwrites it. When
the spec gains an event type, add its hook here (until then its events are stored once valid).
"""

from __future__ import annotations

from jupyter_omniforge.apps import Arrival, Rejected

from ._generated import OrderPlaced, OrderShipped

#: The carriers this shop ships with: a rule no JSON Schema in the spec could hold.
CARRIERS = frozenset({"dhl", "post", "ups"})


async def on_order_placed(event: Arrival[OrderPlaced]) -> None:
    """Called with each ``order.placed`` sent to a room ``order:{id}``."""


async def on_order_shipped(event: Arrival[OrderShipped]) -> None:
    """Called with each ``order.shipped`` sent to a room ``order:{id}``: only known carriers."""
    carrier = event.data["carrier"]
    if carrier.lower() not in CARRIERS:
        raise Rejected(
            f"we do not ship with {carrier!r} (we ship with {', '.join(sorted(CARRIERS))})"
        )
