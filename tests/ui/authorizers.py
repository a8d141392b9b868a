"""An authorizer the browser tests plug into ``jupyter lab`` (``ServerApp.authorizer_class``)."""

from __future__ import annotations

from jupyter_server.auth import Authorizer


class NoOmniForge(Authorizer):
    """JupyterLab works as usual; everything on the ``omniforge`` resource is refused (403)."""

    def is_authorized(self, handler, user, action, resource) -> bool:
        return resource != "omniforge"
