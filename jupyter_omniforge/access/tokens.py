"""Room-scoped tokens: JSON Web Tokens the server mints (HS256, a secret of its own), and tokens
a team's identity provider signs (RS256/ES256 with a public key or a JWKS file).

A token names a user (``sub``, ``name``, ``groups``) and, when the server minted it, what it may
be used for: ``rooms`` (names or patterns) and ``permissions`` (actions). Those claims narrow
what the policy allows the user; they never widen it. Tokens expire (``exp``) and can be
revoked by their id (``jti``).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from ..errors import OmniForgeError
from ..events.channels import ChannelMatcher, parse_channel_pattern
from .policy import ACTIONS

#: The issuer of the tokens this server mints.
ISSUER = "jupyter_omniforge"
AUDIENCE = "omniforge"
#: Longest lifetime of a minted token: 30 days.
MAX_TTL = 30 * 24 * 3600
_ASYMMETRIC = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256")


class TokenRefused(OmniForgeError):
    """A token that is not valid (signature, issuer, audience, shape) or no longer is."""

    http_status = 401
    close_code = 4401
    code = "invalid_token"


class TokenExpired(TokenRefused):
    code = "token_expired"


class TokenRevoked(TokenRefused):
    code = "token_revoked"


def looks_like_jwt(value: str | None) -> bool:
    """Three dot-separated base64url parts: not a Jupyter token (hex), maybe ours."""
    return bool(value) and value.count(".") == 2 and len(value) < 16_384  # type: ignore[union-attr]


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says."""

    jti: str
    username: str
    name: str
    groups: frozenset[str]
    expires: float
    #: Room names or patterns it may be used for (None: any, as the policy says).
    rooms: tuple[str, ...] | None
    #: Actions it may be used for (None: any the policy allows).
    permissions: frozenset[str] | None
    #: Signed by the team's identity provider rather than minted here.
    external: bool = False

    def narrows(self, room: str, allowed: frozenset[str]) -> frozenset[str]:
        """``allowed`` (the policy's answer) cut down to what this token may be used for."""
        if self.rooms is not None and not ChannelMatcher(list(self.rooms))(room):
            return frozenset()
        if self.permissions is not None:
            return allowed & self.permissions
        return allowed

    def audit(self) -> dict[str, Any]:
        """What the audit trail may say of it: never the token itself."""
        return {"jti": self.jti, "user": self.username, "external": self.external}


def load_or_create_secret(path: Path) -> bytes:
    """The signing secret in ``path`` (base64 text), created (0600, 32 random bytes) on first
    use. Every instance of a deployment needs the same one."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Written whole under another name, then linked into place: instances starting together
        # on one data directory all end up with the first one's secret, never a partial file.
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
            os.link(draft, path)
        except FileExistsError:
            pass  # another instance was first
        finally:
            draft.unlink()
    secret = base64.b64decode(path.read_text().strip(), validate=True)
    if len(secret) < 32:
        raise ValueError(f"the token secret in {path} is shorter than 32 bytes")
    return secret


class Tokens:
    """Mints and verifies tokens; ``revoked(jti)`` says whether an id was revoked."""

    def __init__(
        self,
        secret: bytes,
        *,
        revoked: Callable[[str], bool] = lambda jti: False,
        public_keys: Any = None,
        jwt_issuer: str = "",
        jwt_audience: str = "",
        username_claim: str = "sub",
        name_claim: str = "name",
        groups_claim: str = "groups",
    ) -> None:
        self._secret = secret
        self.revoked = revoked
        self._keys = public_keys  # a PEM key or a jwt.PyJWKSet, for external tokens
        self.jwt_issuer = jwt_issuer
        self.jwt_audience = jwt_audience
        self.username_claim = username_claim
        self.name_claim = name_claim
        self.groups_claim = groups_claim

    def mint(
        self,
        user: str,
        *,
        name: str | None = None,
        groups: Iterable[str] = (),
        rooms: Iterable[str] = ("*",),
        permissions: Iterable[str] = ("read", "presence"),
        ttl: float = 3600,
        now: float | None = None,
    ) -> tuple[str, TokenClaims]:
        """A new token and its claims. Raises ``ValueError`` for what cannot be minted."""
        if not isinstance(user, str) or not user.strip() or len(user) > 200:
            raise ValueError("user: a username of 1-200 characters")
        if not 0 < ttl <= MAX_TTL:
            raise ValueError(f"ttl: between 1 second and {MAX_TTL} seconds")
        rooms = [parse_channel_pattern(r) for r in rooms]
        if not rooms or len(rooms) > 100:
            raise ValueError("rooms: 1 to 100 room names or patterns")
        permissions = list(dict.fromkeys(permissions))
        unknown = [p for p in permissions if p not in ACTIONS]
        if unknown:
            raise ValueError(
                f"permissions: unknown {unknown} (known: {', '.join(sorted(ACTIONS))})"
            )
        groups = [g for g in groups if isinstance(g, str)][:100]
        issued = time.time() if now is None else now
        claims = TokenClaims(
            jti=uuid.uuid4().hex,
            username=user,
            name=name or user,
            groups=frozenset(groups),
            expires=float(int(issued + ttl)),  # what the token says: `exp` is whole seconds
            rooms=tuple(rooms),
            permissions=frozenset(permissions),
        )
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "jti": claims.jti,
            "sub": user,
            "name": claims.name,
            "groups": sorted(claims.groups),
            "rooms": list(claims.rooms or ()),
            "permissions": sorted(claims.permissions or ()),
            "iat": int(issued),
            "exp": int(claims.expires),
        }
        return jwt.encode(payload, self._secret, algorithm="HS256"), claims

    def verify(self, token: str, *, now: float | None = None) -> TokenClaims:
        """The claims of a valid token; raises :class:`TokenRefused` (or its subclasses
        :class:`TokenExpired`, :class:`TokenRevoked`) saying why not."""
        if not looks_like_jwt(token):
            raise TokenRefused("not a token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRefused("not a token") from None
        algorithm = header.get("alg")
        options = {"require": ["exp", "sub"]}
        try:
            if algorithm == "HS256":
                payload = jwt.decode(
                    token,
                    self._secret,
                    algorithms=["HS256"],
                    issuer=ISSUER,
                    audience=AUDIENCE,
                    options=options,
                )
                claims = self._ours(payload)
            elif algorithm in _ASYMMETRIC and self._keys is not None:
                payload = jwt.decode(
                    token,
                    self._key_for(header),
                    algorithms=[algorithm],
                    issuer=self.jwt_issuer or None,
                    audience=self.jwt_audience or None,
                    options={**options, "verify_aud": bool(self.jwt_audience)},
                )
                claims = self._external(payload)
            else:
                raise TokenRefused(
                    "a token signed with an algorithm or key this server does not use"
                )
        except jwt.ExpiredSignatureError:
            raise TokenExpired("the token has expired") from None
        except jwt.PyJWTError as e:
            raise TokenRefused(f"invalid token: {e}") from None
        if now is not None and claims.expires <= now:
            raise TokenExpired("the token has expired")
        if self.revoked(claims.jti):
            raise TokenRevoked("the token was revoked")
        return claims

    def _key_for(self, header: dict[str, Any]) -> Any:
        if isinstance(self._keys, jwt.PyJWKSet):
            kid = header.get("kid")
            for key in self._keys.keys:
                if kid is None or key.key_id == kid:
                    return key.key
            raise TokenRefused("no key of the identity provider matches the token's kid")
        return self._keys

    @staticmethod
    def _ours(payload: dict[str, Any]) -> TokenClaims:
        try:
            rooms = tuple(parse_channel_pattern(r) for r in payload["rooms"])
            permissions = frozenset(payload["permissions"]) & ACTIONS
            return TokenClaims(
                jti=str(payload["jti"]),
                username=str(payload["sub"]),
                name=str(payload.get("name") or payload["sub"]),
                groups=frozenset(str(g) for g in payload.get("groups", [])),
                expires=float(payload["exp"]),
                rooms=rooms,
                permissions=permissions,
            )
        except (KeyError, TypeError, ValueError, OmniForgeError) as e:
            raise TokenRefused(f"invalid token claims: {e}") from None

    def _external(self, payload: dict[str, Any]) -> TokenClaims:
        username = payload.get(self.username_claim)
        if not isinstance(username, str) or not username:
            raise TokenRefused(f"the token has no {self.username_claim!r} claim")
        groups = payload.get(self.groups_claim) or []
        name = payload.get(self.name_claim)
        jti = payload.get("jti") or f"external:{username}:{payload.get('iat', '')}"
        return TokenClaims(
            jti=str(jti),
            username=username,
            name=name if isinstance(name, str) and name else username,
            groups=frozenset(g for g in groups if isinstance(g, str)),
            expires=float(payload["exp"]),
            rooms=None,
            permissions=None,
            external=True,
        )


def load_public_keys(path: Path) -> Any:
    """The identity provider's key: a PEM public key, or a JWKS (JSON) file."""
    text = path.read_text()
    if text.lstrip().startswith("{"):
        return jwt.PyJWKSet.from_dict(json.loads(text))
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    return load_pem_public_key(text.encode())
