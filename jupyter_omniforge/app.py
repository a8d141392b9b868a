"""The Jupyter Server extension: every setting as a traitlet, and the wiring of the parts.

``jupyter server --help-all`` lists every ``OmniForgeApp.*`` setting below.
"""

from __future__ import annotations

import asyncio
import gc
import getpass
import os
import uuid
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Dict, Enum, Float, Instance, Int, List, Type, Unicode, default

from . import strictjson
from ._version import __version__
from .access.control import Access
from .access.policy import JupyterPolicy, PolicyError, RoomPolicy, RulesPolicy
from .access.tokens import Tokens, load_or_create_secret, load_public_keys
from .apps import AppRegistry
from .apps.names import RoomNames
from .auth import Identity, identity_from_user, identity_of_owner, is_token_only
from .backplane import Backplane, BackplaneSettings, LocalBackplane
from .comments.service import Comments
from .errors import ConfigurationError, OmniForgeError
from .events.bus import EventBus
from .events.presence import PresenceEvents
from .events.room_state import RoomStateWriter
from .handlers import fastpath
from .handlers.access import AuditHandler, MyAccessHandler, TokenHandler, TokensHandler
from .handlers.api import ClusterHandler, LiveHandler, ReadyHandler, RoomHandler, RoomsHandler
from .handlers.comments import (
    CommentHandler,
    NotificationsHandler,
    NotificationsReadHandler,
    ReactionsHandler,
    ThreadCommentsHandler,
    ThreadHandler,
    ThreadsHandler,
)
from .handlers.events import EventsHandler, EventStreamHandler
from .handlers.gateway import GatewayHandler
from .handlers.history import (
    BlameHandler,
    DiffHandler,
    RestoreHandler,
    VersionHandler,
    VersionsHandler,
)
from .handlers.rooms import RoomWebSocketHandler
from .handlers.socket import Keepalive
from .handlers.webhooks import WebhooksHandler
from .history.recorder import HistoryRecorder
from .limits import ConnectionQuota, RoomLimits
from .listening import limit_header_wait, widen_backlog
from .metrics import register as register_metrics
from .metrics import unwatch_rooms, watch_rooms
from .rooms.manager import RoomManager
from .store import SQLiteStore, Store, StoreSettings
from .store.crypto import Cipher, CipherError, read_key_file
from .store.sqlite.migrations import SchemaError
from .webhooks import WebhookConfigError, WebhookSender, parse_endpoints

MiB = 1024 * 1024


class OmniForgeApp(ExtensionApp):
    """OmniForge: real-time collaboration rooms (Yjs over y-websocket) for Jupyter."""

    name = "jupyter_omniforge"
    app_name = "OmniForge"
    description = __doc__
    version = __version__
    load_other_extensions = True

    # -- storage ---------------------------------------------------------------------------------

    store_class = Type(
        SQLiteStore,
        klass=Store,
        config=True,
        help="""The store: the system of record of rooms, events, the audit trail and revoked
        tokens (jupyter_omniforge.store.Store). The default keeps everything in one SQLite file
        (db_path); a deployment can plug in its own engine, built from the same settings
        (Store.from_settings).""",
    )

    @default("store_class")
    def _default_store_class(self) -> type[Store]:
        if not self.store_url:
            return SQLiteStore
        try:
            from .store.postgres import PostgresStore
        except ImportError as e:
            if (e.name or "").partition(".")[0] not in ("psycopg", "psycopg_pool"):
                raise
            self.log.critical(
                "OmniForgeApp.store_url is set, but psycopg is not installed (%s): "
                "pip install 'jupyter_omniforge[postgres]'",
                e,
            )
            raise SystemExit(1) from e
        return PostgresStore

    store_url = Unicode(
        "",
        config=True,
        help="""URL of a PostgreSQL database (postgresql://user:password@host:port/dbname)
        holding everything the store keeps, shared by every instance that names it. Empty
        (the default): one SQLite file (db_path). Needs the postgres extra
        (pip install 'jupyter_omniforge[postgres]'). The password never appears in the log.""",
    )
    encryption_key_file = Unicode(
        "",
        config=True,
        help="""A file holding a 32-byte key, base64-encoded (`jupyter omniforge new-key FILE`
        writes one). When set, every stored update, snapshot, event payload and audit entry is
        sealed with AES-256-GCM, and so is what the server writes to Redis. A wrong or missing
        key stops the server at start, with the reason, and changes nothing.""",
    )
    encryption_previous_key_files = List(
        Unicode(),
        config=True,
        help="""Older keys, read only: rows sealed with them still open while
        `jupyter omniforge rotate-key` re-seals them with encryption_key_file.""",
    )

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
    sqlite_shared = Bool(
        False,
        config=True,
        help="""Several servers on one host open the same db_path (SQLite's WAL allows it).
        With redis_url, that file is then their shared system of record, as a PostgreSQL
        store_url would be: Redis carries the live updates, and each room's lease holder
        persists them into the file once. Off (the default): each server's file is its own.""",
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

    # -- version history -------------------------------------------------------------------------

    history_checkpoint_idle = Float(
        60.0,
        config=True,
        help="Take an automatic version of a room after this many seconds without updates "
        "following activity.",
    )
    history_checkpoint_updates = Int(
        500,
        config=True,
        help="Take an automatic version of a room every this many updates.",
    )
    history_retention_days = Float(
        30.0,
        config=True,
        help="Delete automatic versions older than this many days (named and restored "
        "versions stay until the room is deleted; the newest version always stays).",
    )
    history_max_versions = Int(
        1000,
        config=True,
        help="Keep at most this many versions per room: the oldest automatic ones go first.",
    )

    # -- comments --------------------------------------------------------------------------------

    comment_max_bytes = Int(
        10_000,
        config=True,
        help="""Largest comment body (Markdown, UTF-8 bytes); larger is refused with HTTP
        413.""",
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
    update_burst = Int(
        4,
        min=1,
        config=True,
        help="""Batches of a room's updates that may go out one right after another before
        update_interval applies: two users whose edits happen to arrive a moment apart are
        each sent at once, and only a room that keeps updating faster than update_interval is
        paced (then one batch per interval). 1: every batch within update_interval of the
        previous one waits for it.""",
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

    listen_backlog = Int(
        4096,
        config=True,
        help="""Connections the kernel queues until the server accepts them. Jupyter (Tornado)
        listens with 128: more clients connecting at once (a class opening the same notebook,
        every client of a restarted server) overflow it and wait a second or more for TCP to
        retry. The kernel caps it (net.core.somaxconn). 0 leaves Jupyter's backlog.""",
    )
    handshake_timeout = Float(
        10.0,
        config=True,
        help="""Seconds a connection has to send a whole request's headers (an HTTP request or
        a WebSocket upgrade), and that a keep-alive connection may stay idle between requests;
        then the server closes it. Half-open connections (a slow-loris crowd, clients gone
        mid-handshake) otherwise hold memory and file descriptors for Tornado's default, an
        hour. Applies to every request of the Jupyter server. 0 leaves Tornado's.""",
    )
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
    max_nesting_depth = Int(
        64,
        config=True,
        help="""Deepest nesting of arrays and objects accepted anywhere: in the Any values of a
        Yjs update (a client's, a stored row, a Redis entry), of shared types in a room's
        document (a Map in a Map…, across updates), in awareness states, JSON frames,
        request bodies and event data. Deeper is refused (close 1002, HTTP 400): pycrdt decodes
        Any values recursively and a deep enough one kills the process.""",
    )
    max_document_bytes = Int(
        128 * MiB,
        config=True,
        help="""Largest encoded size of one room's document. A client's update that would grow
        it further is refused with a reason (the connection stays; nothing stored is lost).""",
    )
    awareness_clients_per_connection = Int(
        4,
        config=True,
        help="""Awareness client ids one connection may announce (a browser tab uses one).
        More closes the connection (1008): one frame naming thousands of ids would be relayed
        to every peer and every later joiner.""",
    )
    awareness_state_bytes = Int(
        8 * 1024,
        config=True,
        help="Largest awareness state (its JSON) of one client id; larger closes the connection (1008).",
    )
    max_connections_per_user = Int(
        100,
        config=True,
        help="""Open connections (room sockets, gateway sockets, Server-Sent Events streams) one
        user may hold; more are refused with HTTP 429 before the upgrade.""",
    )
    rooms_per_minute = Float(
        120.0,
        config=True,
        help="""Rooms that were not open one user may open per minute (joining a room that is
        open already is free); more are refused (HTTP 429 / close 1008). 0: no limit.""",
    )
    max_rooms_in_memory = Int(
        10_000,
        config=True,
        help="""Rooms held in memory at once. When full, idle rooms are dropped early; when none
        is idle, opening another is refused (close 1013, try again later).""",
    )
    max_event_bytes = Int(
        64 * 1024,
        config=True,
        help="""Largest event data (as compact JSON), and largest gateway `message`; larger is
        refused with HTTP 413 / an error frame.""",
    )
    max_events_per_post = Int(
        1000,
        config=True,
        help="""Events one POST omniforge/api/events batch (a JSON array, or NDJSON) may hold;
        more is refused with HTTP 413.""",
    )
    max_event_batch_bytes = Int(
        8 * 1024 * 1024,
        config=True,
        help="""Largest body of a POST omniforge/api/events batch; larger is refused with
        HTTP 413. Each event in it is still held to max_event_bytes.""",
    )
    max_patterns_per_subscription = Int(
        100,
        config=True,
        help="Channels or patterns one subscription (or history request) may name.",
    )

    # -- events ----------------------------------------------------------------------------------

    event_retention_count = Int(
        10_000,
        config=True,
        help="""Events kept per channel; older ones are deleted, and a subscriber whose cursor
        is older than what is kept gets a `reset`. Also the most audit entries kept (in all).""",
    )
    event_retention_seconds = Float(
        7 * 24 * 3600.0,
        config=True,
        help="""Events older than this many seconds are deleted (checked every minute at most);
        so are audit entries (checked every hour at most).""",
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

    # -- outgoing webhooks (jupyter_omniforge.webhooks) ------------------------------------------

    webhooks = List(
        Dict(),
        config=True,
        help="""Endpoints every matching event is POSTed to, each a dict {url, channels, types,
        secret, format}: channels are event-channel patterns (build:*, idea:7; default *),
        types are event types, exact (build.completed) or a family (build.*; default *),
        secret signs each request the Standard Webhooks way (whsec_ + base64, or text; at
        least 16 bytes), format is json (the event envelope, default) or slack ({"text": a
        one-line summary}; the secret is then optional). Checked at start: a wrong entry keeps
        the server from serving, with the reason (never the secret). See the README's
        Webhooks section.""",
    )
    webhook_retry_hours = Float(
        24.0,
        config=True,
        help="""Hours a webhook delivery is retried (with exponential backoff) after it was
        queued; then it is given up and listed among the endpoint's failures.""",
    )
    webhook_timeout = Float(
        10.0,
        config=True,
        help="""Seconds one webhook request may take, connecting included; then it counts as a
        failed attempt.""",
    )

    gc_freeze = Bool(
        True,
        config=True,
        help="""Move the objects alive once the server has started out of the garbage
        collector's reach (gc.freeze). A Jupyter server holds hundreds of thousands of long-lived
        objects; without this every full collection walks them all, stalling every room for
        ~150 ms (measured at 500 subscribers). This is process-wide: it freezes the objects of
        every extension and of Jupyter itself alive at that moment (they are then never
        collected, which long-lived objects never are anyway); turn it off if another
        extension relies on collecting cycles it created at start-up.""",
    )

    tornado_fast_path = Bool(
        config=True,
        help="""Read and write WebSocket frames with jupyter_omniforge's own code, built on
        Tornado internals that are checked at import (faster, ~3 KB less per idle connection).
        Off, or when the running Tornado fails the check, Tornado's stock reading and writing
        is used (logged once). Defaults to on unless the environment sets
        OMNIFORGE_TORNADO_FAST_PATH=0 (how CI runs the suite the stock way).""",
    )

    @default("tornado_fast_path")
    def _default_tornado_fast_path(self) -> bool:
        return os.environ.get("OMNIFORGE_TORNADO_FAST_PATH", "1") != "0"

    # -- scale-out -------------------------------------------------------------------------------

    backplane_class = Type(
        LocalBackplane,
        klass=Backplane,
        config=True,
        help="""How the instances of a deployment share rooms, awareness and events
        (jupyter_omniforge.backplane.Backplane), built from redis_url, the other redis_*
        settings and instance_id (Backplane.from_settings). Default: LocalBackplane (one
        server, nothing shared), or jupyter_omniforge.backplane.redis.RedisBackplane when
        redis_url is set; a deployment can plug in its own.""",
    )

    @default("backplane_class")
    def _default_backplane_class(self) -> type[Backplane]:
        if not self.redis_url:
            return LocalBackplane
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
        return RedisBackplane

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
    redis_room_ttl = Float(
        3600.0,
        config=True,
        help="""With Redis and a shared store (store_url, or sqlite_shared): seconds a room may
        go without updates before it leaves Redis entirely (once persisted, and open on no
        instance). Any instance reopens it from the store. Redis then holds the active rooms
        only.""",
    )
    persist_interval = Float(
        1.0,
        config=True,
        help="""With Redis and a shared store (store_url, or sqlite_shared): an update is
        persisted into the store at most this many seconds (plus the commit) after an instance
        shared it, also while its room is edited without pause. 0: only once the room is idle
        for compact_idle seconds or compact_max_updates updates came.""",
    )
    instance_id = Unicode(
        config=True,
        help="This server's id among the instances sharing a Redis (default: random).",
    )

    owner_username = Unicode(
        config=True,
        help="""The username shown for requests authenticated by the Jupyter token alone (a
        script, the CLI, a notebook's client), in event sources and awareness. Jupyter would
        give each such request a new random anonymous user. Default: the operating-system user
        running the server.""",
    )

    @default("owner_username")
    def _default_owner_username(self) -> str:
        hub_user = os.environ.get("JUPYTERHUB_USER")
        if hub_user:  # a JupyterHub single-user server: the hub user owns it
            return hub_user
        try:
            return getpass.getuser()
        except Exception:  # no user database entry (some containers)
            return "owner"

    # -- access control ----------------------------------------------------------------------

    room_policy_class = Type(
        JupyterPolicy,
        klass=RoomPolicy,
        config=True,
        help="""The policy deciding what each user may do in each room (read, write, presence,
        emit, delete, admin). The default asks Jupyter's authorizer about the `omniforge`
        resource, as before access control. Setting room_policy_file alone selects the rules
        policy (jupyter_omniforge.access.policy.RulesPolicy).""",
    )
    room_policy_file = Unicode(
        "",
        config=True,
        help="""A YAML file of access rules (see the README's Security section); edits take
        effect without a restart. A file that does not parse keeps the last good rules; at
        start it keeps the server from serving, with the reason.""",
    )
    token_secret_file = Unicode(
        config=True,
        help="""The secret the server signs its room-scoped tokens with (HS256), base64 in a
        0600 file, created on first start. Every instance of a deployment needs the same one.
        Default: omniforge/token-secret under Jupyter's data directory.""",
    )

    @default("token_secret_file")
    def _default_token_secret_file(self) -> str:
        return str(Path(jupyter_data_dir()) / "omniforge" / "token-secret")

    jwt_public_key_file = Unicode(
        "",
        config=True,
        help="""Accept tokens signed by the team's identity provider: its public key (PEM,
        RS256/ES256) or a JWKS file. Such a token's user is what the policy decides for.""",
    )
    jwt_issuer = Unicode("", config=True, help="The `iss` an identity provider's token must have.")
    jwt_audience = Unicode(
        "", config=True, help="The `aud` an identity provider's token must have."
    )
    jwt_username_claim = Unicode(
        "sub", config=True, help="The claim of an identity provider's token naming its user."
    )
    jwt_name_claim = Unicode(
        "name",
        config=True,
        help="The claim of an identity provider's token holding a display name.",
    )
    jwt_groups_claim = Unicode(
        "groups", config=True, help="The claim of an identity provider's token listing its groups."
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
        stock = fastpath.explain(self.tornado_fast_path)
        if stock is not None:
            self.log.warning(stock)
        #: Whether the WebSockets use :mod:`.handlers.fastpath` (read by the handlers).
        self.fast_path = stock is None
        self.cipher = self._make_cipher()
        self.store = self.store_class.from_settings(
            StoreSettings(
                path=self.db_path,
                url=self.store_url,
                shared=self.sqlite_shared,
                synchronous=self.sqlite_synchronous,
                commit_interval=self.commit_interval,
                compact_idle=self.compact_idle,
                compact_max_updates=self.compact_max_updates,
                max_depth=self.max_nesting_depth,
                event_retention_count=self.event_retention_count,
                event_retention_seconds=self.event_retention_seconds,
                audit_retention_seconds=self.event_retention_seconds,
                audit_retention_count=self.event_retention_count,
                cipher=self.cipher,
                log=self.log,
            )
        )
        self.access = self._make_access()
        self.backplane = self._make_backplane()
        # A token revoked on one instance is refused on every one.
        self.backplane.on_revoked = self.access.revoked_elsewhere
        self.access.share_revocation = self.backplane.share_revocation
        self.keepalive = Keepalive(self.ws_ping_interval)
        self.connections = ConnectionQuota(self.max_connections_per_user)
        self.owner = identity_of_owner(self.owner_username)
        room_store = self.store.rooms
        if self.store.shared and self.backplane.shared:
            # Redis carries the updates; each room's lease holder persists them, once.
            room_store = self.backplane.use_shared_store(
                room_store, ttl=self.redis_room_ttl, persist_interval=self.persist_interval
            )
        self.room_manager = RoomManager(
            room_store,
            backplane=self.backplane,
            idle_timeout=self.room_idle_timeout,
            awareness_interval=self.awareness_interval,
            update_interval=self.update_interval,
            update_burst=self.update_burst,
            limits=RoomLimits(
                max_depth=self.max_nesting_depth,
                max_document_bytes=self.max_document_bytes,
                awareness_clients_per_connection=self.awareness_clients_per_connection,
                awareness_state_bytes=self.awareness_state_bytes,
            ),
            max_rooms=self.max_rooms_in_memory,
            rooms_per_minute=self.rooms_per_minute,
            roots=lambda name: self.room_names.roots(name),
            log=self.log,
        )
        register_metrics()  # to Jupyter's {base_url}metrics
        watch_rooms(self, self.room_manager.counts)
        self.backplane.attach(self.room_manager)
        self.bus = EventBus(
            self.backplane.event_log,
            self.apps.types,
            event_logger=self.serverapp.event_logger,
            max_event_bytes=self.max_event_bytes,
            max_patterns=self.max_patterns_per_subscription,
            max_depth=self.max_nesting_depth,
            logger=self.log,
        )
        self.apps.bus = self.bus
        self.apps.log = self.log
        self.presence_events = PresenceEvents(self.bus, log=self.log)
        self.room_manager.listeners.append(self.presence_events)
        self.history = HistoryRecorder(
            manager=self.room_manager,
            idle=self.history_checkpoint_idle,
            max_updates=self.history_checkpoint_updates,
            retention_seconds=self.history_retention_days * 86400,
            max_versions=self.history_max_versions,
            bus=self.bus,
            compact=self.store.rooms.compact,
            log=self.log,
            **self._history_sharing(),
        )
        self.room_manager.listeners.append(self.history)
        self.comments = Comments(
            self.store.comments,
            self.room_manager,
            self.bus,
            roots=self.room_names.roots,
            max_bytes=self.comment_max_bytes,
            log=self.log,
        )
        self.room_manager.listeners.append(self.comments)
        self.store.rooms.before_compaction = self.history.before_compaction
        self.store.rooms.defer_compaction = self.history.defers_compaction
        self.room_state = RoomStateWriter(
            self.bus, self.room_manager, log_max=self.build_log_max, log=self.log
        )
        self._started: asyncio.Future[None] | None = None
        #: Sends the events to OmniForgeApp.webhooks (None: none configured).
        self.webhook_sender: WebhookSender | None = None
        self.settings["omniforge"] = self

    def _history_sharing(self) -> dict[str, Any]:
        """Where the versions live, decided here only: in the store when it is shared (every
        instance reads it: no copy elsewhere) or when nothing is shared; else in the backplane
        (Redis), since each instance's store is its own. When instances share rooms, the
        room's history lease holder takes the automatic versions (named and restored ones are
        taken where they are asked), and updates that came from another instance are
        attributed by their Yjs client (the backplane's record)."""
        if not self.backplane.shared:
            return {"history": self.store.history}
        ttl = max(10.0, self.history_checkpoint_idle)
        return {
            "history": self.store.history
            if self.store.shared or self.backplane.history is None
            else self.backplane.history,
            "lease": lambda room: self.backplane.lease("history:{" + room + "}", ttl=ttl),
            "clients": self.backplane.client_authors,
        }

    def _make_backplane(self) -> Backplane:
        return self.backplane_class.from_settings(
            BackplaneSettings(
                instance_id=self.instance_id,
                events=self.store.events,
                rooms_info=self._rooms_info,
                url=self.redis_url,
                prefix=self.redis_prefix,
                connect_timeout=self.redis_connect_timeout,
                event_max_len=self.redis_event_stream_max,
                event_max_age=self.event_retention_seconds,
                compact_max_updates=self.compact_max_updates,
                compact_idle=self.compact_idle,
                cipher=self.cipher,
                log=self.log,
            )
        )

    def _make_access(self) -> Access:
        policy_class = self.room_policy_class
        if self.room_policy_file and policy_class is JupyterPolicy:
            policy_class = RulesPolicy
        policy = policy_class(parent=self, log=self.log)
        if isinstance(policy, RulesPolicy):
            policy.path = self.room_policy_file
        tokens = Tokens(
            load_or_create_secret(Path(self.token_secret_file)),
            public_keys=load_public_keys(Path(self.jwt_public_key_file))
            if self.jwt_public_key_file
            else None,
            jwt_issuer=self.jwt_issuer,
            jwt_audience=self.jwt_audience,
            username_claim=self.jwt_username_claim,
            name_claim=self.jwt_name_claim,
            groups_claim=self.jwt_groups_claim,
        )
        return Access(
            policy,
            tokens,
            self.store.revocations,
            self.store.audit,
            owner_username=self.owner_username,
            log=self.log,
        )

    def _make_cipher(self) -> Cipher | None:
        if not self.encryption_key_file:
            if self.encryption_previous_key_files:
                raise ValueError("encryption_previous_key_files needs encryption_key_file")
            return None
        current = read_key_file(self.encryption_key_file)
        return Cipher(current, *(read_key_file(f) for f in self.encryption_previous_key_files))

    def _rooms_info(self) -> dict[str, Any]:
        rooms = self.room_manager.rooms
        return {"rooms": sorted(rooms), "peers": sum(len(r.peers) for r in rooms.values())}

    def initialize_handlers(self) -> None:
        # Each handler reaches this app as ``self.extensionapp`` (jupyter_server's
        # ExtensionHandlerMixin: the ``name`` kwarg is added for it).
        self.handlers.extend(
            [
                (r"/omniforge/rooms/(.+)", RoomWebSocketHandler),
                (r"/omniforge/realtime", GatewayHandler),
                (r"/omniforge/api/events", EventsHandler),
                (r"/omniforge/api/events/stream", EventStreamHandler),
                (r"/omniforge/api/rooms", RoomsHandler),
                # Before the room route, whose (.+) would take these paths too.
                (r"/omniforge/api/rooms/(.+)/versions", VersionsHandler),
                (r"/omniforge/api/rooms/(.+)/versions/([^/]+)", VersionHandler),
                (r"/omniforge/api/rooms/(.+)/versions/([^/]+)/diff/([^/]+)", DiffHandler),
                (r"/omniforge/api/rooms/(.+)/versions/([^/]+)/restore", RestoreHandler),
                (r"/omniforge/api/rooms/(.+)/blame", BlameHandler),
                (r"/omniforge/api/rooms/(.+)/threads", ThreadsHandler),
                (r"/omniforge/api/rooms/(.+)/threads/([^/]+)", ThreadHandler),
                (r"/omniforge/api/rooms/(.+)/threads/([^/]+)/comments", ThreadCommentsHandler),
                (r"/omniforge/api/rooms/(.+)/comments/([^/]+)", CommentHandler),
                (r"/omniforge/api/rooms/(.+)/comments/([^/]+)/reactions", ReactionsHandler),
                (r"/omniforge/api/notifications", NotificationsHandler),
                (r"/omniforge/api/notifications/read", NotificationsReadHandler),
                (r"/omniforge/api/rooms/(.+)", RoomHandler),
                (r"/omniforge/api/cluster", ClusterHandler),
                (r"/omniforge/api/tokens", TokensHandler),
                (r"/omniforge/api/tokens/([^/]+)", TokenHandler),
                (r"/omniforge/api/audit", AuditHandler),
                (r"/omniforge/api/webhooks", WebhooksHandler),
                (r"/omniforge/api/access", MyAccessHandler),
                (r"/omniforge/health/live", LiveHandler),
                (r"/omniforge/health/ready", ReadyHandler),
            ]
        )

    def identity_of(self, handler: Any, user: Any) -> Identity:
        """Who a request is, as rooms and events show it: the owner for a request that only
        the Jupyter token authenticated (see :func:`~.auth.is_token_only`), else the Jupyter
        user."""
        if getattr(handler, "_omniforge_claims", None) is None and is_token_only(handler, user):
            return self.owner
        return identity_from_user(user)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        # Jupyter has bound its sockets by now (its bind runs before the extensions start).
        # None: a server Jupyter does not listen for (pytest-jupyter).
        http_server = getattr(serverapp, "http_server", None)
        if http_server is not None and self.listen_backlog > 0:
            widen_backlog(http_server, self.listen_backlog, self.log)
        if http_server is not None and self.handshake_timeout > 0:
            limit_header_wait(http_server, self.handshake_timeout, self.log)
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
        try:
            endpoints = parse_endpoints(self.webhooks, self.apps.types.types)
            await self.store.start()
            await self.access.start()
        except (PolicyError, CipherError, SchemaError, WebhookConfigError) as e:
            raise ConfigurationError(str(e)) from None
        await self.backplane.start()
        if endpoints and self.webhook_sender is None:
            self.webhook_sender = WebhookSender(
                endpoints,
                bus=self.bus,
                queue=self.store.webhooks,
                lease=self.backplane.lease("webhooks", ttl=10.0),
                retry_seconds=self.webhook_retry_hours * 3600,
                timeout=self.webhook_timeout,
                log=self.log,
            )
            await self.webhook_sender.start()
        self.room_state.start()
        await self.comments.start(retention=self.event_retention_seconds)
        self.log.info("OmniForge rooms stored in %s", self.store.description)

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
        unwatch_rooms(self)
        self.keepalive.stop()
        await self.access.close()
        if self._started is not None and self._started.done():
            await self.room_state.close()
            await self.history.close()  # a last version of rooms changed since their last
            await self.comments.close()  # anchors' texts still being written
        await self.room_manager.close()
        if self._started is not None and self._started.done():
            await self.presence_events.close()  # the last user.left events, into the store
        if self.webhook_sender is not None:
            await self.webhook_sender.close()
        if self._started is not None and self._started.done():
            await self.backplane.close()
            await self.store.close()

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
        payload = strictjson.dumps(
            {
                "type": "message",
                "roomId": key,
                "event": type,
                "data": data,
                "source": {"username": "server"},
            }
        ).encode()
        return live.relay_message(payload)
