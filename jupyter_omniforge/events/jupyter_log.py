"""Room presence, logged through Jupyter's own event system (``serverapp.event_logger``).

Server-side listeners (``event_logger.add_listener``) and ``/api/events/subscribe`` see every
``user.joined`` / ``user.left``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..auth import Identity

PRESENCE_SCHEMA_ID = "https://events.jupyter.org/jupyter_omniforge/room-presence/v1"
_SCHEMA_PATH = Path(__file__).parent / "schemas" / "room-presence.json"


class JupyterEventsPresenceLog:
    """A room listener that emits presence changes into a ``jupyter_events.EventLogger``."""

    def __init__(self, event_logger: Any, log: logging.Logger | None = None) -> None:
        self.event_logger = event_logger
        self.log = log or logging.getLogger(__name__)
        if PRESENCE_SCHEMA_ID not in event_logger.schemas.schema_ids:
            event_logger.register_event_schema(_SCHEMA_PATH)

    def _emit(self, action: str, room: Any, identity: Identity) -> None:
        try:
            self.event_logger.emit(
                schema_id=PRESENCE_SCHEMA_ID,
                data={
                    "action": action,
                    "room": room.key,
                    "username": identity.username,
                    "display_name": identity.display_name,
                    "peers": len(room.peers),
                },
            )
        except Exception:  # a logging failure must never break a room
            self.log.exception("could not emit %s for %s", action, room.key)

    def user_joined(self, room: Any, identity: Identity) -> None:
        self._emit("user.joined", room, identity)

    def user_left(self, room: Any, identity: Identity) -> None:
        self._emit("user.left", room, identity)

    def room_updated(self, room: Any, update: bytes, origin: Any) -> None:
        pass

    def awareness_changed(self, room: Any, awareness_update: bytes, origin: Any) -> None:
        pass
