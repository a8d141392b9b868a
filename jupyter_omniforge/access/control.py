"""Access control, enforced from one place.

Every request and every connection gets a :class:`Guard`: who it is (a
:class:`~.policy.Subject`), the token it came with, and the answers of the policy, cached per
room. Handlers and the event bus ask the guard (``guard.require(room, "write")``,
``guard.can(channel, "read")``); nothing else decides.

The rules every policy shares:

- the server's owner (the Jupyter token, or ``owner_username``'s login) may do everything;
- a room-scoped token's claims narrow what the policy allows its user, never widen it;
- an answer cached under an older policy generation is asked again.

:class:`Access` also keeps open connections honest: twice a second it re-reads a changed
policy file, and tells each open guard whose answers changed (a socket that lost ``read`` is
closed 4403, one that lost ``write`` refuses later updates), and closes the guards whose token
expired (4401) unless a fresh token arrived first. A revoked token closes its guards at once, on
every instance of a deployment (the backplane shares revocations).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from ..auth import Identity
from ..errors import Forbidden, OmniForgeError
from ..store.base import AuditLog, Revocations
from .policy import ACTIONS, NOTHING, READ, RoomPolicy, Subject
from .tokens import TokenClaims, TokenRefused, Tokens

#: How often a changed policy file is looked for, in seconds: a change reaches open sockets
#: within a second, this plus the time to tell them.
CHECK_INTERVAL = 0.5


class ReadRevoked(OmniForgeError):
    """The connection may no longer read its room (a policy change, a revoked permission)."""

    http_status = 403
    close_code = 4403
    code = "forbidden"


class Guard:
    """What one request or connection may do, asked of the policy once per room."""

    def __init__(
        self,
        access: Access,
        subject: Subject,
        prepared: Any,
        claims: TokenClaims | None,
    ) -> None:
        self.access = access
        self.subject = subject
        self.prepared = prepared
        self.claims = claims
        self._answers: dict[str, frozenset[str]] = {}
        self._generation = access.policy.generation
        self._denied: set[tuple[str, str]] = set()
        #: Called (with no argument) when answers may have changed; set by open connections.
        self.on_change: Callable[[], None] | None = None
        #: Called with the reason when the token expired or was revoked.
        self.on_expired: Callable[[OmniForgeError], None] | None = None

    @property
    def identity(self) -> Identity:
        return self.subject.identity

    @property
    def expires(self) -> float | None:
        return self.claims.expires if self.claims is not None else None

    def allowed(self, room: str) -> frozenset[str]:
        """The actions this guard's subject may take in ``room``."""
        if self._generation != self.access.policy.generation:
            self._answers.clear()
            self._generation = self.access.policy.generation
        answer = self._answers.get(room)
        if answer is None:
            answer = self._answers[room] = self.access.decide(self, room)
        return answer

    def can(self, room: str, action: str) -> bool:
        return action in self.allowed(room)

    def require(self, room: str, action: str) -> None:
        """Raise :class:`Forbidden` (and record the refusal in the audit trail) unless
        ``action`` is allowed in ``room``."""
        if action not in self.allowed(room):
            self.denied(room, action)
            raise Forbidden(f"{self.identity.username} may not {action} in {room}")

    def denied(self, room: str, action: str) -> None:
        """Record in the audit trail that ``action`` was refused in ``room``: once per guard
        (one request or connection) and room and action, so a client repeating a refused
        write cannot flood the trail."""
        if (room, action) in self._denied:
            return
        self._denied.add((room, action))
        self.access.audit.record(
            "permission.denied", user=self.identity.username, room=room, wanted=action
        )

    def may_connect(self) -> bool:
        """Whether the subject may read anything (a connection not about one room)."""
        if self.claims is not None and self.claims.permissions is not None:
            if READ not in self.claims.permissions:
                return False
        if self.subject.owner:
            return True
        return self.access.policy.reaches(self.subject, self.prepared)

    def refresh(self, claims: TokenClaims) -> None:
        """A fresh token for the same user, sent on an open connection: its expiry (and claims)
        from now on."""
        if claims.username != self.identity.username:
            raise TokenRefused("a fresh token must be for the same user")
        self.claims = claims
        self._answers.clear()
        self.access.rearm(self)


class Access:
    """The one place that decides and enforces (see the module doc)."""

    def __init__(
        self,
        policy: RoomPolicy,
        tokens: Tokens,
        revocations: Revocations,
        audit: AuditLog,
        *,
        owner_username: str,
        log: logging.Logger | None = None,
    ) -> None:
        self.policy = policy
        self.tokens = tokens
        self.revocations = revocations
        self.audit = audit
        self.owner_username = owner_username
        self.log = log or logging.getLogger(__name__)
        self.revoked: dict[str, float] = {}
        self._guards: weakref.WeakSet[Guard] = weakref.WeakSet()
        self._timers: weakref.WeakKeyDictionary[Guard, asyncio.TimerHandle] = (
            weakref.WeakKeyDictionary()
        )
        self._ticker: asyncio.Task[None] | None = None
        tokens.revoked = self.revoked.__contains__
        #: Shares a revocation made here with the other instances of a deployment (the
        #: backplane's ``share_revocation``; None: one instance).
        self.share_revocation: Callable[[str, float], Awaitable[None]] | None = None

    async def start(self) -> None:
        await self.policy.start()
        self.revoked.update(await self.revocations.load())
        if self._ticker is None:  # start is retried after a failed start of the server
            self._ticker = asyncio.ensure_future(self._tick_forever())

    async def close(self) -> None:
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        for timer in list(self._timers.values()):
            timer.cancel()

    # -- deciding --------------------------------------------------------------------------------

    async def guard(
        self,
        identity: Identity,
        *,
        user: Any = None,
        handler: Any = None,
        groups: frozenset[str] = frozenset(),
        owner: bool = False,
        claims: TokenClaims | None = None,
    ) -> Guard:
        """A guard for one request or connection."""
        if claims is not None:
            groups = groups | claims.groups
        owner = owner or (claims is None and identity.username == self.owner_username)
        subject = Subject(identity, frozenset(groups), owner, user, handler)
        prepared = None if owner else await self.policy.prepare(subject)
        return Guard(self, subject, prepared, claims)

    def decide(self, guard: Guard, room: str) -> frozenset[str]:
        subject = guard.subject
        if subject.owner:
            allowed = ACTIONS
        else:
            try:
                allowed = self.policy.decide(subject, guard.prepared, room) & ACTIONS
            except Exception:
                self.log.exception(
                    "the room policy failed; refusing %s in %s", subject.username, room
                )
                allowed = NOTHING
        if guard.claims is not None:
            allowed = guard.claims.narrows(room, allowed)
        return allowed

    # -- open connections ------------------------------------------------------------------------

    def watch(self, guard: Guard) -> None:
        """Keep ``guard`` (an open connection's) up to date until it is dropped."""
        self._guards.add(guard)
        self.rearm(guard)

    def unwatch(self, guard: Guard) -> None:
        self._guards.discard(guard)
        timer = self._timers.pop(guard, None)
        if timer is not None:
            timer.cancel()

    def rearm(self, guard: Guard) -> None:
        """(Re)schedule the end of ``guard``'s token."""
        timer = self._timers.pop(guard, None)
        if timer is not None:
            timer.cancel()
        expires = guard.expires
        if expires is None or guard not in self._guards:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, expires - time.time())
        self._timers[guard] = loop.call_later(delay, self._expired, weakref.ref(guard))

    def _expired(self, ref: weakref.ref[Guard]) -> None:
        guard = ref()
        if guard is None or guard.expires is None or guard.expires > time.time():
            return
        self._end(guard, TokenRefused("the token has expired"))

    def _end(self, guard: Guard, error: OmniForgeError) -> None:
        self.unwatch(guard)
        if guard.on_expired is not None:
            try:
                guard.on_expired(error)
            except Exception:
                self.log.exception("closing a connection whose token ended failed")

    async def revoke(self, jti: str, expires: float, *, by: str) -> int:
        """Revoke a token (kept across restarts); close the connections using it. Returns how
        many were closed."""
        await self.revocations.revoke(jti, expires)
        self.revoked[jti] = expires
        self.audit.record("token.revoked", user=by, jti=jti)
        closed = self._end_token(jti)
        if self.share_revocation is not None:
            await self.share_revocation(jti, expires)
        return closed

    def revoked_elsewhere(self, jti: str, expires: float) -> None:
        """Another instance revoked a token (the backplane says so): refuse it here too, and
        close the connections using it."""
        if expires <= time.time() or jti in self.revoked:
            return
        self.revoked[jti] = expires
        self._end_token(jti)

    def _end_token(self, jti: str) -> int:
        closed = 0
        for guard in list(self._guards):
            if guard.claims is not None and guard.claims.jti == jti:
                self._end(guard, TokenRefused("the token was revoked"))
                closed += 1
        return closed

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(CHECK_INTERVAL)
            try:
                self.tick()
            except Exception:
                self.log.exception("access control's periodic check failed")

    def tick(self) -> None:
        """Pick up a changed policy, and tell every open guard."""
        if not self.policy.check():
            return
        self.audit.record("policy.reloaded", generation=self.policy.generation)
        for guard in list(self._guards):
            if guard.on_change is not None:
                try:
                    guard.on_change()
                except Exception:
                    self.log.exception("re-checking an open connection failed")


__all__ = ["READ", "Access", "Guard", "ReadRevoked"]
