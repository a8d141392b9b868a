"""REST for access control: room-scoped tokens and the audit trail. Thin: each method asks the
guard, calls :mod:`jupyter_omniforge.access`, and writes JSON."""

from __future__ import annotations

import time
from typing import Any

from tornado import web

from ..access.tokens import MAX_TTL
from ..errors import ValidationError
from .api import OmniForgeAPIHandler


class TokensHandler(OmniForgeAPIHandler):
    """``POST omniforge/api/tokens`` mints a token (``admin`` in every room it names)."""

    @web.authenticated
    async def post(self) -> None:
        app = self.extensionapp
        body = self.json_body(64 * 1024)
        if not isinstance(body, dict):
            raise ValidationError(
                "expected a JSON object {user, name, groups, rooms, permissions, ttl}"
            )
        unknown = set(body) - {"user", "name", "groups", "rooms", "permissions", "ttl"}
        if unknown:
            raise ValidationError(f"unknown fields: {', '.join(sorted(unknown))}")
        rooms = body.get("rooms", ["*"])
        if not isinstance(rooms, list) or not all(isinstance(r, str) for r in rooms):
            raise ValidationError("rooms: a list of room names or patterns")
        rooms = app.room_names.patterns(rooms)
        for room in rooms:
            self.guard.require(room, "admin")
        groups = body.get("groups", [])
        permissions = body.get("permissions", ["read", "presence"])
        if not isinstance(groups, list) or not isinstance(permissions, list):
            raise ValidationError("groups and permissions: lists of strings")
        ttl = body.get("ttl", 3600)
        if not isinstance(ttl, int | float) or isinstance(ttl, bool):
            raise ValidationError("ttl: a number of seconds")
        user = body.get("user")
        try:
            token, claims = app.access.tokens.mint(
                user,
                name=body.get("name") if isinstance(body.get("name"), str) else None,
                groups=[g for g in groups if isinstance(g, str)],
                rooms=rooms,
                permissions=permissions,
                ttl=float(ttl),
            )
        except ValueError as e:
            raise ValidationError(str(e)) from None
        app.store.audit.record(
            "token.minted",
            user=self.guard.identity.username,
            subject=claims.username,
            jti=claims.jti,
            rooms=list(claims.rooms or ()),
            permissions=sorted(claims.permissions or ()),
            expires=claims.expires,
        )
        self.write_json(
            {"token": token, "jti": claims.jti, "expires": claims.expires, "user": claims.username},
            status=201,
        )


class TokenHandler(OmniForgeAPIHandler):
    """``DELETE omniforge/api/tokens/{jti}`` revokes a token (``admin`` everywhere); the
    connections using it are closed (4401) and the revocation survives restarts."""

    @web.authenticated
    async def delete(self, jti: str) -> None:
        self.guard.require("*", "admin")
        if not 1 <= len(jti) <= 200:
            raise ValidationError("a token id (jti) is 1-200 characters")
        app = self.extensionapp
        closed = await app.access.revoke(
            jti, time.time() + MAX_TTL, by=self.guard.identity.username
        )
        self.write_json({"revoked": jti, "closed": closed})


class AuditHandler(OmniForgeAPIHandler):
    """``GET omniforge/api/audit?after=&limit=&user=&room=`` (``admin`` in that room, or
    everywhere): the audit trail, oldest first."""

    @web.authenticated
    async def get(self) -> None:
        room = self.get_query_argument("room", "")
        if room:
            room = str(self.extensionapp.room_names.parse(room))
        self.guard.require(room or "*", "admin")
        after = self._int("after", None)
        limit = max(1, min(self._int("limit", 100) or 100, 1000))
        entries = await self.extensionapp.store.audit.read(
            after=after, limit=limit, user=self.get_query_argument("user", ""), room=room
        )
        self.write_json({"entries": entries})

    def _int(self, name: str, default: Any) -> Any:
        raw = self.get_query_argument(name, None)
        if raw is None:
            return default
        if not raw.isdigit() or len(raw) > 18:
            raise ValidationError(f"{name} must be a whole number")
        return int(raw)


class MyAccessHandler(OmniForgeAPIHandler):
    """``GET omniforge/api/access?room=idea:1``: what the requesting user may do in that room
    (``{"user", "room", "actions", "owner"}``), for a UI to show what it can offer."""

    @web.authenticated
    async def get(self) -> None:
        room = str(self.extensionapp.room_names.parse(self.get_query_argument("room", "")))
        self.write_json(
            {
                "user": self.guard.identity.username,
                "room": room,
                "actions": sorted(self.guard.allowed(room)),
                "owner": self.guard.subject.owner,
            }
        )
