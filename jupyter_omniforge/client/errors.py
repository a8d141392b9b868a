"""The errors of the Python clients: one base, :class:`ClientError`, whose ``str()`` is a message
fit for a user; the HTTP statuses and WebSocket outcomes they stand for are decided here."""

from __future__ import annotations

import json


class ClientError(Exception):
    """Base of the errors of this client; ``str(error)`` is a message fit for a user."""


class ServerUnreachable(ClientError):
    """The server could not be reached (refused, unresolvable, timed out, dropped)."""


class RequestFailed(ClientError):
    """The server answered with an HTTP error. ``status`` is the HTTP status, ``message`` the
    server's explanation (its ``message`` field when the body is JSON)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class NotAuthorized(RequestFailed):
    """HTTP 401 or 403: the token (or login) is wrong, or lacks the permission."""


class InvalidRequest(RequestFailed):
    """HTTP 400: the server found the request invalid; ``message`` says why."""


class EventRejected(InvalidRequest):
    """The server refused the event (HTTP 400): invalid channel, type or data. Nothing was stored
    or sent. ``message`` is the server's validation message."""


class SubscriptionRefused(ClientError):
    """The gateway refused the subscription: an ``error`` frame, or a refused upgrade.
    ``code`` is the gateway's error code (or the HTTP status of a refused upgrade)."""

    def __init__(self, code: str | int | None, message: str) -> None:
        super().__init__(f"{message} ({code})" if code is not None else message)
        self.code = code
        self.message = message


class EditsNotConfirmed(ClientError):
    """A room connection ended before the server confirmed it holds every edit of the document:
    the connection dropped or was closed, the server refused the edits (read-only), or the
    confirmation did not come within the timeout. The document still holds the edits; connect
    again to send them."""


def server_message(body: bytes, fallback: str) -> str:
    """The explanation in an error response: its JSON ``message``, else its text, else
    ``fallback``."""
    try:
        payload = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return text[:500] or fallback
    if isinstance(payload, dict) and payload.get("message"):
        return str(payload["message"])
    return fallback


def http_error(
    status: int, body: bytes, method: str, url: str, invalid: type[InvalidRequest]
) -> RequestFailed:
    """The error for an HTTP error response: ``invalid`` for 400, :class:`NotAuthorized` for
    401/403, :class:`RequestFailed` otherwise."""
    if status == 400:
        return invalid(status, server_message(body, "the server refused the request"))
    if status in (401, 403):
        detail = server_message(body, "")
        reason = "not authorized: check the token" + (f" ({detail})" if detail else "")
        return NotAuthorized(status, f"{method} {url}: HTTP {status}: {reason}")
    if status == 404:
        reason = "not found: is the jupyter_omniforge extension enabled on this server?"
    else:
        reason = "request failed"
    return RequestFailed(status, f"{method} {url}: HTTP {status}: {server_message(body, reason)}")
