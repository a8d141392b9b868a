"""Who a request is, for every OmniForge handler: Jupyter's login or token, or a room-scoped token
(``Authorization: Bearer <jwt>`` or ``?token=<jwt>``), and the guard that decides what it may do.

A room-scoped token is checked before Jupyter's authentication runs: a valid one makes the
request its user (Jupyter then sees an authenticated request), an invalid or expired one is
refused with 401 and its reason. Anything else (the Jupyter token, a login cookie) is
Jupyter's to judge, as before.

No token reaches the log: Jupyter's request log masks ``?token=``, and :class:`TokenSafeLog`
does the same for the lines Tornado writes about a failed request.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from jupyter_server.auth.identity import User
from tornado import web
from tornado.log import app_log, gen_log

from ..access.control import Guard
from ..access.policy import groups_of
from ..access.tokens import TokenClaims, TokenRefused, looks_like_jwt
from ..auth import is_token_only


def safe_uri(uri: str) -> str:
    """``uri`` with the value of every query argument whose name holds ``token`` (ours, and
    Jupyter's) replaced by ``[secret]``."""
    parts = urlsplit(uri)
    if "token" not in parts.query.lower():
        return uri
    arguments = []
    for argument in parts.query.split("&"):
        name, sep, _ = argument.partition("=")
        arguments.append(f"{name}{sep}[secret]" if "token" in name.lower() else argument)
    return urlunsplit(parts._replace(query="&".join(arguments)))


class TokenSafeLog:
    """Handler mixin: Tornado's lines about a failed request (an ``HTTPError``'s reason, an
    uncaught exception) name the request by its URI, tokens and all; these name it by
    :func:`safe_uri`. Otherwise as Tornado logs them."""

    request: Any

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        request = self.request
        summary = f"{request.method} {safe_uri(request.uri or '')} ({request.remote_ip})"
        if isinstance(value, web.HTTPError):
            message = value.get_message()
            if message:
                gen_log.warning("%d %s: %s", value.status_code, summary, message)
        else:
            app_log.error("Uncaught exception %s", summary, exc_info=(typ, value, tb))


def bearer_token(handler: web.RequestHandler) -> str | None:
    """A JWT the request carries (``Authorization: Bearer``, or ``?token=`` when it is one)."""
    header = handler.request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "token" and looks_like_jwt(value):
        return value  # a client that sends every token as Jupyter's ("token X")
    query = handler.get_query_argument("token", None)
    return query if looks_like_jwt(query) else None


def authenticate_bearer(handler: Any, app: Any) -> TokenClaims | None:
    """Verify the request's room-scoped token, if it has one, and make the request its user.

    Raises ``web.HTTPError(401)`` (recorded in the audit trail) for a token that is not valid.
    """
    token = bearer_token(handler)
    if token is None:
        return None
    try:
        claims = app.access.tokens.verify(token)
    except TokenRefused as e:
        app.store.audit.record(
            "connection.refused", room=_path_room(handler), reason=e.code, why=str(e)
        )
        raise web.HTTPError(401, str(e), reason=e.code) from None
    handler._jupyter_current_user = User(
        username=claims.username, name=claims.name, display_name=claims.name
    )
    handler._token_authenticated = True  # a bearer token is never sent by itself: no XSRF
    handler._omniforge_claims = claims
    return claims


def claims_of(handler: Any) -> TokenClaims | None:
    return getattr(handler, "_omniforge_claims", None)


async def guard_for(handler: Any, app: Any, user: Any) -> Guard:
    """The guard of this request: the owner for the Jupyter token alone, the token's user (with
    its claims) for a room-scoped token, else the Jupyter user."""
    claims = claims_of(handler)
    identity = app.identity_of(handler, user)
    return await app.access.guard(
        identity,
        user=user,
        handler=handler,
        groups=groups_of(user),
        owner=claims is None and is_token_only(handler, user),
        claims=claims,
    )


def _path_room(handler: Any) -> str:
    args = getattr(handler, "path_args", None) or []
    return str(args[0])[:300] if args else ""
