"""REST for outgoing webhooks: what each endpoint's queue holds. Thin: asks the guard, reads
the sender's status, writes JSON."""

from __future__ import annotations

from tornado import web

from .api import OmniForgeAPIHandler


class WebhooksHandler(OmniForgeAPIHandler):
    """``GET omniforge/api/webhooks`` (``admin`` everywhere): each endpoint's URL (never its
    secret), last status and time, backlog and given-up deliveries."""

    @web.authenticated
    async def get(self) -> None:
        self.guard.require("*", "admin")
        sender = self.extensionapp.webhook_sender
        self.write_json({"webhooks": await sender.status() if sender is not None else []})
