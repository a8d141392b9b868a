"""An identity provider the tests plug into the server (``ServerApp.identity_provider_class``)
so that one test can be several users.

A request that carries the server's token may name its user with the ``X-Test-User`` header or
a ``user=`` query argument (what a y-websocket client can send): it is then that user, as a
login would make it. Without a name it is what Jupyter makes of a token request (the owner, for
OmniForge). Jupyter still checks the token first: a request without it is nobody.
"""

from __future__ import annotations

from jupyter_server.auth.identity import IdentityProvider, User

USER_HEADER = "X-Test-User"


class NamedUsers(IdentityProvider):
    async def get_user(self, handler):
        user = await super().get_user(handler)
        if user is None:
            return None
        name = handler.request.headers.get(USER_HEADER) or handler.get_argument("user", None)
        if not name:
            return user
        # Still authenticated by the token (no XSRF check), but a user of its own, as a
        # deployment's identity provider would name it: not the owner.
        return User(username=name, name=name.title(), display_name=name.title())
