"""Python clients of a running OmniForge server: rooms (pycrdt) and events.

``build("42")`` and friends report a build from a notebook against the server found by
discovery; :class:`OmniForge` is the client they use, for explicit URLs and async code.
"""

from .discovery import AmbiguousServer, DiscoveryError, ServerInfo, ServerNotFound, find_server
from .errors import (
    ClientError,
    EditsNotConfirmed,
    EventRejected,
    InvalidRequest,
    NotAuthorized,
    RequestFailed,
    ServerUnreachable,
    SubscriptionRefused,
)
from .events import OmniForge
from .rooms import RoomConnection, connect_room, room_url
from .runs import AsyncRun, Run, abuild, adeployment, build, deployment

__all__ = [
    "AmbiguousServer",
    "AsyncRun",
    "ClientError",
    "DiscoveryError",
    "EditsNotConfirmed",
    "EventRejected",
    "InvalidRequest",
    "NotAuthorized",
    "OmniForge",
    "RequestFailed",
    "RoomConnection",
    "Run",
    "ServerInfo",
    "ServerNotFound",
    "ServerUnreachable",
    "SubscriptionRefused",
    "abuild",
    "adeployment",
    "build",
    "connect_room",
    "deployment",
    "find_server",
    "room_url",
]
