"""The webhook endpoints as configured (``OmniForgeApp.webhooks``): checked once, at start.

An entry is ``{url, channels, types, secret, format}``:

- ``url``: where to POST, ``http://`` or ``https://``;
- ``channels``: event-channel patterns (:mod:`jupyter_omniforge.events.channels`: ``*``,
  ``build:*``, ``idea:7``, ``{namespace}/*``); default every channel;
- ``types``: event types, each exact (``build.completed``), a family (``build.*``) or ``*``;
  default every type. An exact type or a family nobody defines is refused (a typo would
  otherwise match nothing, silently);
- ``secret``: the signing key, ``whsec_`` + base64 (the Standard Webhooks form: the key is the
  decoded bytes) or any other text (the key is its UTF-8 bytes); at least 16 bytes. Optional
  only for ``format: slack``, where the URL itself is the secret;
- ``format``: ``json`` (default: the event envelope) or ``slack`` (``{"text": …}``).

A secret is never shown: not by ``repr``, not in an error, not by the API. Neither is the query
string of a URL, nor its user and password (:attr:`Endpoint.shown_url`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..errors import InvalidRoomName
from ..events.channels import ChannelMatcher, parse_channel_pattern

FORMATS = ("json", "slack")
_KEYS = frozenset({"url", "channels", "types", "secret", "format"})
_MIN_SECRET_BYTES = 16
_MAX_URL = 2048


class WebhookConfigError(ValueError):
    """An entry of ``OmniForgeApp.webhooks`` that cannot be used; ``str(error)`` says which and
    why (never its secret)."""


@dataclass
class Endpoint:
    """One endpoint, checked. ``key`` names its queue: the same URL is the same queue across
    restarts and instances."""

    url: str
    channels: tuple[str, ...]
    types: tuple[str, ...]
    secret: bytes = field(repr=False)
    format: str = "json"
    _on_channel: ChannelMatcher = field(init=False, repr=False, compare=False)
    _every_type: bool = field(init=False, repr=False, compare=False)
    _exact: frozenset[str] = field(init=False, repr=False, compare=False)
    _families: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._on_channel = ChannelMatcher(list(self.channels))
        self._every_type = "*" in self.types
        self._exact = frozenset(t for t in self.types if not t.endswith(".*"))
        self._families = tuple(t[:-1] for t in self.types if t.endswith(".*"))  # "build."

    @property
    def key(self) -> str:
        return hashlib.sha256(self.url.encode()).hexdigest()[:16]

    @property
    def shown_url(self) -> str:
        """The URL without user, password, query or fragment (they may hold credentials)."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
        query = "?…" if parts.query else ""
        return f"{parts.scheme}://{host}{port}{parts.path}{query}"

    def matches(self, channel: str, event_type: str) -> bool:
        return self._on_channel(channel) and (
            self._every_type or event_type in self._exact or event_type.startswith(self._families)
        )


def parse_endpoints(entries: Iterable[Any], known_types: Collection[str]) -> list[Endpoint]:
    """Check every entry (``known_types``: the event types this server defines); raise
    :class:`WebhookConfigError` naming the first entry that is wrong, and why."""
    endpoints: list[Endpoint] = []
    urls: set[str] = set()
    for index, entry in enumerate(entries):
        try:
            endpoint = _parse(entry, known_types)
        except WebhookConfigError as e:
            raise WebhookConfigError(f"OmniForgeApp.webhooks[{index}]: {e}") from None
        if endpoint.url in urls:
            raise WebhookConfigError(
                f"OmniForgeApp.webhooks[{index}]: {endpoint.shown_url} is configured twice "
                "(one entry per URL: list all its channels and types in it)"
            )
        urls.add(endpoint.url)
        endpoints.append(endpoint)
    return endpoints


def _parse(entry: Any, known_types: Collection[str]) -> Endpoint:
    if not isinstance(entry, dict):
        raise WebhookConfigError("expected a dict {url, channels, types, secret, format}")
    unknown = set(entry) - _KEYS
    if unknown:
        raise WebhookConfigError(
            f"unknown keys {', '.join(sorted(map(str, unknown)))}; expected "
            f"{', '.join(sorted(_KEYS))}"
        )
    url = _url(entry.get("url"))
    channels = tuple(_strings(entry, "channels"))
    for pattern in channels:
        try:
            parse_channel_pattern(pattern)
        except InvalidRoomName as e:
            raise WebhookConfigError(f"channels: {e}") from None
    types = tuple(_strings(entry, "types"))
    families = {t.partition(".")[0] for t in known_types}
    for event_type in types:
        if event_type == "*" or event_type in known_types:
            continue
        if event_type.endswith(".*") and event_type[:-2] in families:
            continue
        raise WebhookConfigError(
            f"types: unknown event type {event_type[:80]!r}; give a type "
            "(build.completed), a family (build.*) or *"
        )
    fmt = entry.get("format", "json")
    if fmt not in FORMATS:
        raise WebhookConfigError(f"format: expected one of {', '.join(FORMATS)}")
    secret = _secret(entry.get("secret"), required=fmt != "slack")
    return Endpoint(url, channels, types, secret, fmt)


def _url(url: Any) -> str:
    if not isinstance(url, str) or not url:
        raise WebhookConfigError("url: expected an http:// or https:// URL")
    if len(url) > _MAX_URL or any(c.isspace() or ord(c) < 32 for c in url):
        raise WebhookConfigError("url: not a URL (too long, or spaces or control characters)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        raise WebhookConfigError("url: not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookConfigError("url: expected an http:// or https:// URL with a host")
    return url


def _strings(entry: dict[str, Any], name: str) -> list[str]:
    value = entry.get(name, ["*"])
    if (
        not isinstance(value, list | tuple)
        or not value
        or not all(isinstance(v, str) and v for v in value)
    ):
        raise WebhookConfigError(f"{name}: expected a non-empty list of strings")
    return list(value)


def _secret(secret: Any, *, required: bool) -> bytes:
    if secret is None or secret == "":
        if required:
            raise WebhookConfigError("secret: required (whsec_ + base64, or text)")
        return b""
    if not isinstance(secret, str):
        raise WebhookConfigError("secret: expected a string")
    if secret.startswith("whsec_"):
        try:
            key = base64.b64decode(secret[len("whsec_") :], validate=True)
        except (binascii.Error, ValueError):
            raise WebhookConfigError("secret: whsec_ must be followed by base64") from None
    else:
        key = secret.encode()
    if len(key) < _MIN_SECRET_BYTES:
        raise WebhookConfigError(f"secret: at least {_MIN_SECRET_BYTES} bytes")
    return key
