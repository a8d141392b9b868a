"""Typed errors of the domain, and the one place that maps them to HTTP statuses and close codes.

Domain code raises these; handlers translate them with :func:`http_status` / :func:`close_code`.
"""

from __future__ import annotations


class OmniForgeError(Exception):
    """Base class: ``str(error)`` is a message fit to show the client."""

    http_status = 400
    close_code = 1008  # policy violation
    code = "error"


class InvalidRoomName(OmniForgeError):
    http_status = 400
    code = "invalid_room"


class RoomNotFound(OmniForgeError):
    http_status = 404
    code = "room_not_found"


class Forbidden(OmniForgeError):
    http_status = 403
    close_code = 1008
    code = "forbidden"


class MalformedMessage(OmniForgeError):
    """A frame that is not valid y-websocket (or gateway) protocol."""

    http_status = 400
    close_code = 1002  # protocol error
    code = "malformed"


class UnsupportedMessage(OmniForgeError):
    """A well-formed frame of a message type we do not speak."""

    http_status = 400
    close_code = 1003  # unsupported data
    code = "unsupported"


class RateLimited(OmniForgeError):
    http_status = 429
    close_code = 1008
    code = "rate_limited"


class SlowConsumer(OmniForgeError):
    """A peer's outbound queue overflowed: it cannot keep up with its room."""

    http_status = 503
    close_code = 1013  # try again later
    code = "slow_consumer"


class RoomClosed(OmniForgeError):
    """The room was deleted, the server is shutting down, or the room reopens from its store
    (a server-side change to it was refused)."""

    http_status = 410
    close_code = 1001  # going away
    code = "room_closed"


class TooManyRooms(OmniForgeError):
    """Over a quota of rooms: per gateway connection, or opened per user per minute."""

    http_status = 429
    close_code = 1008
    code = "too_many_rooms"


class TooManyConnections(OmniForgeError):
    """A user holds as many connections as ``max_connections_per_user`` allows."""

    http_status = 429
    close_code = 1008
    code = "too_many_connections"


class ServerBusy(OmniForgeError):
    """The server holds as many rooms in memory as it may, none of them idle."""

    http_status = 503
    close_code = 1013  # try again later
    code = "server_busy"


class DocumentTooLarge(OmniForgeError):
    """An update would grow a room's document past ``max_document_bytes``; it is refused and
    the stored document is unchanged."""

    http_status = 413
    close_code = 1009  # message too big
    code = "document_too_large"


class AwarenessRefused(OmniForgeError):
    """An awareness update over a cap: client ids per connection, bytes per state."""

    http_status = 400
    close_code = 1008
    code = "awareness_refused"


class ValidationError(OmniForgeError):
    """Event type, channel or data refused by validation."""

    http_status = 400
    code = "invalid"


class ReservedEventType(ValidationError):
    """An event type only the server emits (``user.joined``, ``user.left``)."""

    code = "reserved"


class EventTooLarge(ValidationError):
    """An event whose data is larger than ``max_event_bytes``."""

    http_status = 413
    code = "too_large"


class BackplaneUnavailable(OmniForgeError):
    """Redis (or another shared backplane) cannot be reached."""

    http_status = 503
    close_code = 1013  # try again later
    code = "backplane_unavailable"


class ConfigurationError(OmniForgeError):
    """A setting the server cannot serve with (a policy file that does not parse, a key that
    does not open the stored rows); ``str(error)`` says which and why."""

    http_status = 503
    close_code = 1011
    code = "misconfigured"
