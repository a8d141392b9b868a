"""Named users for browser stories (``ServerApp.identity_provider_class``).

A browser context sets the ``omniforge-test-user`` cookie (``name_browser_user``) before it
opens JupyterLab: every request it makes, the page, REST and WebSockets alike, is then that
user, as a deployment's login would make it. The server's token is still needed to log in;
the cookie only names who logged in. Requests without the cookie behave as in
tests/identities.py (the ``X-Test-User`` header or ``?user=``, else Jupyter's own user).
"""

from __future__ import annotations

from jupyter_server.auth.identity import User

from tests.identities import NamedUsers

USER_COOKIE = "omniforge-test-user"


class BrowserUsers(NamedUsers):
    async def get_user(self, handler):
        if getattr(handler, "_jupyter_current_user", None):
            # Already someone: a room-scoped token's user (its request carries the cookie too).
            return handler._jupyter_current_user
        user = await super().get_user(handler)
        if user is None:
            return None
        name = handler.get_cookie(USER_COOKIE)
        if not name:
            return user
        return User(username=name, name=name.title(), display_name=name.title())


def name_browser_user(context, server_url: str, name: str) -> None:
    """Make every request of Playwright's browser ``context`` to ``server_url`` ``name``'s."""
    context.add_cookies([{"name": USER_COOKIE, "value": name, "url": server_url}])
