"""What is POSTed for an event: the envelope itself (``json``), or a one-line summary in a
Slack-compatible message (``slack``: ``{"text": "build:42 completed in 3.2 s"}``)."""

from __future__ import annotations

from typing import Any

from .. import strictjson

#: Longest error or message quoted in a summary, in characters.
_QUOTE = 300


def body(fmt: str, envelope_json: str, envelope: dict[str, Any], took: float | None) -> bytes:
    """The body for ``fmt``; ``envelope_json`` is the envelope as the event stream sends it,
    ``took`` the seconds since the run's start when known (for ``*.completed|failed``)."""
    if fmt == "slack":
        return strictjson.dumps({"text": _escape(summary(envelope, took))}).encode()
    return envelope_json.encode()


def summary(envelope: dict[str, Any], took: float | None = None) -> str:
    """One readable line about an event: ``build:42 completed in 3.2 s``,
    ``deployment:7 failed after 12.0 s: disk full``, ``build:42 40% compiling``."""
    channel = envelope.get("channel", "?")
    event_type = str(envelope.get("type", "?"))
    data = envelope.get("data") if isinstance(envelope.get("data"), dict) else {}
    user = (envelope.get("source") or {}).get("username", "")
    action = event_type.partition(".")[2] or event_type
    message = _quote(data.get("message"))
    duration = data.get("duration", took)
    if not isinstance(duration, int | float) or isinstance(duration, bool) or duration < 0:
        duration = None
    if action == "completed":
        return f"{channel} completed" + (f" in {duration:.1f} s" if duration is not None else "")
    if action == "failed":
        after = f" after {duration:.1f} s" if duration is not None else ""
        return f"{channel} failed{after}: {_quote(data.get('error')) or 'no error given'}"
    if action == "progress":
        percent = data.get("percent")
        shown = f" {percent:g}%" if isinstance(percent, int | float) else ""
        return f"{channel}{shown}" + (f" {message}" if message else "")
    if event_type in ("user.joined", "user.left"):
        return f"{user} {action} {channel}"
    line = f"{channel} {action}" + (f" by {user}" if user else "")
    return line + (f": {message}" if message else "")


def _quote(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    line = " ".join(value.split())
    return line if len(line) <= _QUOTE else line[: _QUOTE - 1] + "…"


def _escape(text: str) -> str:
    """Slack's three control characters, as its message formatting asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
