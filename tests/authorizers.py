"""Authorizers the tests plug into the server (``ServerApp.authorizer_class``)."""

from __future__ import annotations

from jupyter_server.auth import Authorizer

READ_ONLY_HEADER = "X-Test-Read-Only"


class ReadOnlyOnRequest(Authorizer):
    """Everyone may read; a request carrying ``X-Test-Read-Only`` may not write."""

    def is_authorized(self, handler, user, action, resource) -> bool:
        if action == "write" and handler.request.headers.get(READ_ONLY_HEADER):
            return False
        return True


class NobodyMayRead(Authorizer):
    """Refuses everything on the omniforge resource (for 403 stories)."""

    def is_authorized(self, handler, user, action, resource) -> bool:
        return resource != "omniforge"
