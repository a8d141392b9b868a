"""The Jupyter Server extension: every setting as a traitlet, and the wiring of the parts.

``jupyter server --help-all`` lists every ``OmniForgeApp.*`` setting below.
"""

from __future__ import annotations

import asyncio
import gc
import json
import uuid
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Enum, Float, Instance, Int, Unicode, default

from ._version import __version__
from .apps import AppRegistry
from .apps.names import RoomNames
from .backplane import Backplane, LocalBackplane
from .errors import OmniForgeError
from .events.bus import EventBus
from .events.log import EventLog
from .events.presence import PresenceEvents
from .events.room_state import RoomStateWriter
from .handlers.api import ClusterHandler, LiveHandler, ReadyHandler, RoomHandler, RoomsHandler
from .handlers.events import EventsHandler, EventStreamHandler
from .handlers.gateway import GatewayHandler
from .handlers.rooms import RoomWebSocketHandler
from .handlers.socket import Keepalive
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
        commit) after it was applied, which is at most update_interval after it arrived.""",
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
    update_interval = Float(
        0.005,
        config=True,
        help="""Document updates of a room are applied, stored and sent to its peers at most once
        per this many seconds, merged into one update; the first update after a quiet spell goes
        out at once (at the end of the event loop's turn). A fast writer then costs the server
        one apply and each peer one frame per interval instead of one per update. 0: only the
        updates that arrived in one turn of the event loop are merged.""",
    )
    awareness_interval = Float(
        0.0,
        config=True,
        help="""Awareness changes of a room go out at most once per this many seconds, batched
        into one frame per peer; the first change after a quiet spell goes out at once. 0: the
        changes that arrived in one turn of the event loop leave together, which batches more
        the busier the server is and adds no delay when it is not.""",
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
        help="Seconds between WebSocket pings; a peer that does not answer within one interval is dropped. 0 = off.",
    )

    max_rooms_per_connection = Int(
        100,
        config=True,
        help="Rooms one gateway connection (omniforge/realtime) may join at once.",
    )

    # -- events ----------------------------------------------------------------------------------

    event_retention_count = Int(
        10_000,
        config=True,
        help="""Events kept per channel; older ones are deleted, and a subscriber whose cursor
        is older than what is kept gets a `reset`.""",
    )
    event_retention_seconds = Float(
        7 * 24 * 3600.0,
        config=True,
        help="Events older than this many seconds are deleted (checked every minute at most).",
    )
    event_page_max = Int(
        1000,
        config=True,
        help="Largest `limit` of one GET omniforge/api/events page.",
    )
    sse_keepalive = Float(
        15.0,
        config=True,
        help="Seconds between keep-alive comments on an idle Server-Sent Events stream.",
    )
    build_log_max = Int(
        500,
        config=True,
        help="Entries kept in the `log` array of a build or deployment room.",
    )

    gc_freeze = Bool(
        True,
        config=True,
        help="""Move the objects alive once the server has started out of the garbage
        collector's reach (gc.freeze). A Jupyter server holds hundreds of thousands of long-lived
        objects; without this every full collection walks them all, stalling every room for
        ~150 ms (measured at 500 subscribers).""",
    )

    # -- scale-out -------------------------------------------------------------------------------

    redis_url = Unicode(
        "",
        config=True,
        help="""Redis URL (redis://host:port/db) shared by several servers: rooms, awareness and
        events then go through Redis and any client on any instance sees the same rooms,
        people and events. Empty (the default): one server, everything in-process.""",
    )
    redis_prefix = Unicode(
        "omniforge",
        config=True,
        help="Prefix of every Redis key and channel this deployment uses.",
    )
    redis_connect_timeout = Float(
        5.0,
        config=True,
        help="""Seconds to wait for Redis at start-up before reporting it unreachable (the server
        then stays not-ready and keeps retrying; it never hangs).""",
    )
    redis_event_stream_max = Int(
        1_000_000,
        config=True,
        help="With Redis: events kept in the shared event stream (all channels together).",
    )
    instance_id = Unicode(
        config=True,
        help="This server's id among the instances sharing a Redis (default: random).",
    )

    @default("instance_id")
    def _default_instance_id(self) -> str:
        return uuid.uuid4().hex[:12]

    # -- apps served under their own namespaces (jupyter_omniforge.apps) -------------------------

    apps = Instance(
        AppRegistry,
        args=(),
        help="""The apps other extensions registered (jupyter_omniforge.apps.register): each is
        served under {base_url}{namespace}/. Not a setting: filled at load time.""",
    )

    @property
    def room_names(self) -> RoomNames:
        """The room names this server serves: the built-in ones and those of registered apps."""
        return self.apps.names

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
        self.backplane = self._make_backplane()
        self.keepalive = Keepalive(self.ws_ping_interval)
        self.room_manager = RoomManager(
            self.store,
            backplane=self.backplane,
            idle_timeout=self.room_idle_timeout,
            awareness_interval=self.awareness_interval,
            update_interval=self.update_interval,
            log=self.log,
        )
        self.backplane.attach(self.room_manager)
        self.bus = EventBus(
            self.backplane.event_log,
            self.apps.types,
            event_logger=self.serverapp.event_logger,
            logger=self.log,
        )
        self.apps.bus = self.bus
        self.apps.log = self.log
        self.presence_events = PresenceEvents(self.bus, log=self.log)
        self.room_manager.listeners.append(self.presence_events)
        self.room_state = RoomStateWriter(
            self.bus, self.room_manager, log_max=self.build_log_max, log=self.log
        )
        self._started: asyncio.Future[None] | None = None
        self.settings["omniforge"] = self

    def _make_backplane(self) -> Backplane:
        if not self.redis_url:
            event_log = EventLog(
                self.database,
                max_per_channel=self.event_retention_count,
                max_age=self.event_retention_seconds,
                log=self.log,
            )
            return LocalBackplane(event_log, self.instance_id, self._rooms_info)
        try:
            from .backplane.redis import RedisBackplane
        except ImportError as e:
            if (e.name or "").partition(".")[0] != "redis":
                raise
            # A configuration error like a bad option: the server does not start without it.
            self.log.critical(
                "OmniForgeApp.redis_url is set, but redis-py is not installed (%s): "
                "pip install 'jupyter_omniforge[redis]'",
                e,
            )
            raise SystemExit(1) from e

        return RedisBackplane(
            self.redis_url,
            instance_id=self.instance_id,
            prefix=self.redis_prefix,
            rooms_info=self._rooms_info,
            event_max_len=self.redis_event_stream_max,
            event_max_age=self.event_retention_seconds,
            compact_after=self.compact_max_updates,
            compact_idle=self.compact_idle,
            connect_timeout=self.redis_connect_timeout,
            log=self.log,
        )

    def _rooms_info(self) -> dict[str, Any]:
        rooms = self.room_manager.rooms
        return {"rooms": sorted(rooms), "peers": sum(len(r.peers) for r in rooms.values())}

    def initialize_handlers(self) -> None:
        kwargs = {"omniforge": self}
        self.handlers.extend(
            [
                (r"/omniforge/rooms/(.+)", RoomWebSocketHandler, kwargs),
                (r"/omniforge/realtime", GatewayHandler, kwargs),
                (r"/omniforge/api/events", EventsHandler, kwargs),
                (r"/omniforge/api/events/stream", EventStreamHandler, kwargs),
                (r"/omniforge/api/rooms", RoomsHandler, kwargs),
                (r"/omniforge/api/rooms/(.+)", RoomHandler, kwargs),
                (r"/omniforge/api/cluster", ClusterHandler, kwargs),
                (r"/omniforge/health/live", LiveHandler),
                (r"/omniforge/health/ready", ReadyHandler, kwargs),
            ]
        )

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        try:
            await self.started()
        except OmniForgeError:
            pass  # logged; not ready until a later attempt succeeds (e.g. Redis comes up)
        if self.gc_freeze:
            gc.collect()
            gc.freeze()

    def _log_start_failure(self, future: asyncio.Future[None]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self.log.error("OmniForge is not ready: %s", future.exception())

    async def started(self) -> None:
        """Open the store and the backplane (once; again after a failed attempt, e.g. Redis
        unreachable). Every entry point awaits this before serving."""
        if self._started is None or (
            self._started.done() and (self._started.cancelled() or self._started.exception())
        ):
            self._started = asyncio.ensure_future(self._start())
            self._started.add_done_callback(self._log_start_failure)
        await asyncio.shield(self._started)

    async def _start(self) -> None:
        await self.database.start()
        await self.store.start()
        await self.backplane.start()
        self.room_state.start()
        self.log.info("OmniForge rooms stored in %s", self.db_path)

    @property
    def ready(self) -> bool:
        started = self._started
        return (
            started is not None
            and started.done()
            and not started.cancelled()
            and started.exception() is None
        )

    async def stop_extension(self) -> None:
        self.keepalive.stop()
        if self._started is not None and self._started.done():
            await self.room_state.close()
        await self.room_manager.close()
        if self._started is not None and self._started.done():
            await self.backplane.close()
            await self.store.close()
            await self.database.close()

    # -- Python API ------------------------------------------------------------------------------

    async def emit(
        self, channel: str, type: str, data: Any = None, *, username: str = "server"
    ) -> dict[str, Any]:
        """Emit a typed event on ``channel``: validated, stored, streamed to subscribers.

        Returns the envelope. Raises ``ValidationError`` (nothing stored or sent) when invalid,
        and for an app's event types: those go through ``self.apps[namespace].emit(room, ...)``,
        which runs the app's hook.
        """
        await self.started()
        return await self.bus.emit(channel, type, data, source={"username": username})

    def broadcast(self, room: str, type: str, data: Any = None) -> int:
        """Send an ephemeral message ``{type: "message", roomId, event: type, data}`` to the gateway
        clients currently in ``room``; not validated, stored or replayed. Returns how many
        connections it was handed to (0 when the room is not open)."""
        key = str(self.room_names.parse(room))
        live = self.room_manager.get(key)
        if live is None:
            return 0
        payload = json.dumps(
            {
                "type": "message",
                "roomId": key,
                "event": type,
                "data": data,
                "source": {"username": "server"},
            },
            separators=(",", ":"),
        ).encode()
        return live.relay_message(payload)
