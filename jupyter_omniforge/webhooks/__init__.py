"""Outgoing webhooks: events POSTed to the endpoints of ``OmniForgeApp.webhooks``, signed the
Standard Webhooks way, queued in the store and delivered in order, once, from one instance.

- :mod:`.endpoints` — the configured endpoints, checked, and which events each wants;
- :mod:`.signing` — the ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers;
- :mod:`.messages` — the body: the envelope, or a Slack-compatible one-line summary;
- :mod:`.sender` — queueing from the event bus, and delivering with retries.
"""

from .endpoints import Endpoint, WebhookConfigError, parse_endpoints
from .sender import WebhookSender

__all__ = ["Endpoint", "WebhookConfigError", "WebhookSender", "parse_endpoints"]
