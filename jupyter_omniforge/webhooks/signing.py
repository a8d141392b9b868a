"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

A receiver recomputes ``v1,`` + base64(HMAC-SHA256(key, f"{webhook-id}.{webhook-timestamp}.{body}"))
with the key it shares with us and compares it (in constant time) to ``webhook-signature``; it
should also refuse a timestamp far from its clock (replays).
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header of ``body`` sent as ``message_id`` at ``timestamp``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(key: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (no signature without a key)."""
    sent = {"webhook-id": message_id, "webhook-timestamp": str(timestamp)}
    if key:
        sent["webhook-signature"] = signature(key, message_id, timestamp, body)
    return sent
