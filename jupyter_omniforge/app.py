"""The Jupyter Server extension: every setting as a traitlet, and the wiring of the parts.

``jupyter server --help-all`` lists every ``OmniForgeApp.*`` setting below.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Enum, Float, Int, Unicode, default

from ._version import __version__
from .events.jupyter_log import JupyterEventsPresenceLog
from .handlers.api import LiveHandler, ReadyHandler, RoomHandler, RoomsHandler
from .handlers.rooms import RoomWebSocketHandler
from .rooms.manager import RoomManager
from .store import Database, SQLiteRoomStore

MiB = 1024 * 1024


class OmniForgeApp(ExtensionApp):
    """OmniForge: real-time collaboration rooms (Yjs over y-websocket) for Jupyter."""

    name = "jupyter_omniforge"
    app_name = "OmniForge"
    description = __doc__
    version = __version__
    load_other_extensions = True

    # -- storage ---------------------------------------------------------------------------------

    db_path = Unicode(
        config=True,
        help="""Path of the SQLite database holding rooms (update log and snapshots).
        Default: omniforge/omniforge.sqlite under Jupyter's data directory.""",
    )

    @default("db_path")
    def _default_db_path(self) -> str:
        return str(Path(jupyter_data_dir()) / "omniforge" / "omniforge.sqlite")

    sqlite_synchronous = Enum(
        ["FULL", "NORMAL"],
        default_value="FULL",
        config=True,
        help="""SQLite `synchronous` mode. Either survives a kill -9 of the server once a group
        commit has returned; FULL also survives a power loss, at the price of an fsync per group
        commit.""",
    )
    commit_interval = Float(
        0.005,
        config=True,
        help="""Group-commit window in seconds: updates accepted within it are written to disk
        together, in one transaction. An accepted update is durable at most this long (plus one
        commit) after it arrived.""",
    )
    compact_idle = Float(
        5.0,
        config=True,
        help="Compact a room's update log into a snapshot after this many idle seconds.",
    )
    compact_max_updates = Int(
        1000,
        config=True,
        help="Compact a room's update log into a snapshot once it holds this many updates.",
    )

    # -- rooms -----------------------------------------------------------------------------------

    room_idle_timeout = Float(
        60.0,
        config=True,
        help="""Seconds a room stays in memory after its last peer left. Its pending writes are
        flushed before it is dropped.""",
    )
    awareness_interval = Float(
        0.1,
        config=True,
        help="""Awareness changes of a room go out at most once per this many seconds, batched
        into one frame per peer.""",
    )

    # -- limits ----------------------------------------------------------------------------------

    max_message_size = Int(
        32 * MiB,
        config=True,
        help="Largest WebSocket message accepted, in bytes; a larger one closes the connection (1009).",
    )
    max_messages_per_second = Float(
        500.0,
        config=True,
        help="""Sustained messages per second one connection may send; beyond that (and the
        burst allowance) the connection is closed (1008).""",
    )
    max_message_burst = Int(
        2000,
        config=True,
        help="Messages a connection may send in a burst above max_messages_per_second.",
    )
    send_queue_max_messages = Int(
        2000,
        config=True,
        help="""Messages waiting for one slow peer before it is disconnected (1013) instead of
        stalling its room.""",
    )
    send_queue_max_bytes = Int(
        64 * MiB,
        config=True,
        help="Bytes waiting for one slow peer before it is disconnected (1013).",
    )
    ws_ping_interval = Float(
        30.0,
        config=True,
        help="Seconds between WebSocket pings; a peer silent for three intervals is dropped. 0 = off.",
    )

    # -- lifecycle -------------------------------------------------------------------------------

    def initialize_settings(self) -> None:
        self.database = Database(self.db_path, synchronous=self.sqlite_synchronous, log=self.log)
        self.store = SQLiteRoomStore(
            self.database,
            commit_interval=self.commit_interval,
            compact_idle=self.compact_idle,
            compact_max_updates=self.compact_max_updates,
            log=self.log,
        )
        self.room_manager = RoomManager(
            self.store,
            idle_timeout=self.room_idle_timeout,
            awareness_interval=self.awareness_interval,
            log=self.log,
        )
        self.room_manager.listeners.append(
            JupyterEventsPresenceLog(self.serverapp.event_logger, log=self.log)
        )
        self._started: asyncio.Future[None] | None = None
        self.settings["omniforge"] = self

    def initialize_handlers(self) -> None:
        kwargs = {"omniforge": self}
        self.handlers.extend(
            [
                (r"/omniforge/rooms/(.+)", RoomWebSocketHandler, kwargs),
                (r"/omniforge/api/rooms", RoomsHandler, kwargs),
                (r"/omniforge/api/rooms/(.+)", RoomHandler, kwargs),
                (r"/omniforge/health/live", LiveHandler),
                (r"/omniforge/health/ready", ReadyHandler, kwargs),
            ]
        )

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await self.started()

    async def started(self) -> None:
        """Open the store (once); every entry point awaits this before serving."""
        if self._started is None:
            self._started = asyncio.ensure_future(self._start())
        await asyncio.shield(self._started)

    async def _start(self) -> None:
        await self.database.start()
        await self.store.start()
        self.log.info("OmniForge rooms stored in %s", self.db_path)

    @property
    def ready(self) -> bool:
        return self._started is not None and self._started.done() and not self._started.exception()

    async def stop_extension(self) -> None:
        await self.room_manager.close()
        if self._started is not None and self._started.done():
            await self.store.close()
            await self.database.close()
