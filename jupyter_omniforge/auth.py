"""Who a connection is, as the rooms see it, and what it may do.

The awareness ``user`` field of every connection is built here from the authenticated Jupyter
identity, never from what a client says about itself.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

# Fixed, readable colours for users whose Jupyter identity carries none. Hex (not CSS variables)
# because non-JupyterLab clients (y-codemirror, y-websocket demos) paint carets with them.
_PALETTE = (
    "#e6194b",
    "#3cb44b",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#008080",
    "#9a6324",
    "#800000",
    "#808000",
    "#000075",
    "#f032e6",
    "#469990",
)


@dataclass(frozen=True, slots=True)
class Identity:
    """The authenticated user of one connection."""

    username: str
    name: str
    display_name: str
    initials: str
    color: str
    avatar_url: str | None = None
    #: Whether ``color`` is the Jupyter identity's own (else a fallback a client may replace).
    own_color: bool = True

    @property
    def shown_name(self) -> str:
        """The name to show for this user: the display name, else the name, else the username."""
        return self.display_name or self.name or self.username

    def awareness_user(self) -> dict[str, Any]:
        """The ``user`` field the server writes into this connection's awareness states.

        Carries Jupyter's identity fields plus ``color``/``colorLight`` as y-codemirror expects.
        """
        return {
            "username": self.username,
            "name": self.shown_name,
            "display_name": self.display_name,
            "initials": self.initials,
            "color": self.color,
            "colorLight": _light(self.color),
            "avatar_url": self.avatar_url,
        }

    def with_claimed_color(self, user: dict[str, Any], claimed: Any) -> dict[str, Any]:
        """``user`` (this identity's :meth:`awareness_user`) in the colour its client claims.

        Jupyter's server gives most users no colour: JupyterLab picks one in the browser
        (``var(--jp-collaborator-colorN)``) and shows it in the top bar. A client that says so
        in its awareness ``user.color`` keeps that colour, so a person has one colour in every
        view. The colour is not an identity claim, but it is painted into other users' pages:
        only a hex colour or a collaborator variable is kept, anything else is ignored.
        """
        color = claimed.get("color") if isinstance(claimed, dict) else None
        if self.own_color or not is_safe_color(color) or color == user["color"]:
            return user
        return {**user, "color": color, "colorLight": _light(color)}

    def as_source(self) -> dict[str, str]:
        """Who emitted an event, as its ``source`` shows it: the username, and the display
        name when the identity has one of its own (a token's ``name``, a login's full name)."""
        name = self.display_name or self.name
        if name and name != self.username:
            return {"username": self.username, "name": name}
        return {"username": self.username}


#: The colours a client may claim: hex, or one of JupyterLab's collaborator variables.
_SAFE_COLOR = re.compile(
    r"#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})|var\(--jp-collaborator-color[1-9]\)"
)


def is_safe_color(color: Any) -> bool:
    """Whether ``color`` is a colour the server passes on (hex or a collaborator variable)."""
    return isinstance(color, str) and _SAFE_COLOR.fullmatch(color) is not None


def color_for(username: str) -> str:
    """A stable colour for ``username``: the same user gets the same colour on every server."""
    digest = hashlib.sha1(username.encode()).digest()
    return _PALETTE[digest[0] % len(_PALETTE)]


def _light(color: str) -> str:
    # y-codemirror paints selections with colorLight: a translucent variant of the colour.
    if color.startswith("#") and len(color) == 7:
        return color + "33"
    return f"color-mix(in srgb, {color} 20%, transparent)"


def _initials(text: str) -> str:
    parts = [p for p in text.replace("_", " ").replace("-", " ").split() if p]
    letters = "".join(p[0] for p in parts[:2]).upper()
    return letters or text[:1].upper() or "?"


def identity_from_user(user: Any) -> Identity:
    """Build an :class:`Identity` from a ``jupyter_server.auth.User`` (or any object like it)."""
    username = str(getattr(user, "username", None) or "anonymous")
    name = str(getattr(user, "name", None) or username)
    display_name = str(getattr(user, "display_name", None) or name)
    initials = str(getattr(user, "initials", None) or _initials(display_name))
    color = getattr(user, "color", None)
    # Jupyter's identity colour (a hex colour, or a JupyterLab collaborator variable) is kept:
    # JupyterLab shows the user in it. Without one (or an unsafe one), a stable fallback.
    own = is_safe_color(color)
    avatar_url = getattr(user, "avatar_url", None) or None
    return Identity(
        username,
        name,
        display_name,
        initials,
        color if own else color_for(username),
        avatar_url,
        own_color=own,
    )


def identity_of_owner(username: str) -> Identity:
    """The identity of the server's owner: whoever holds the Jupyter token."""
    return identity_from_user(type("Owner", (), {"username": username})())


def is_token_only(handler: Any, user: Any = None) -> bool:
    """Whether ``handler``'s request was authenticated by the Jupyter token alone (header or
    ``?token=``), with no login cookie: a script, the CLI, a notebook's client. Jupyter gives
    such a request a new random anonymous user each time (a uuid4 hex username); we give it the
    owner's identity. A browser that logged in (a cookie) keeps its own user, token or not, and
    so does a user an identity provider of a deployment names for the token."""
    if not getattr(handler, "_token_authenticated", False):
        return False
    if user is not None and not _GENERATED.fullmatch(str(getattr(user, "username", ""))):
        return False
    if "Cookie" not in handler.request.headers:
        return True  # no cookie at all (a script, the CLI): no need to name the login cookie
    provider = getattr(handler, "identity_provider", None)
    try:
        cookie = provider.get_cookie_name(handler) if provider is not None else None
    except Exception:
        cookie = None
    return cookie is None or handler.get_cookie(cookie) is None


# What jupyter_server's IdentityProvider.generate_anonymous_user names a user: uuid4().hex.
_GENERATED = re.compile(r"[0-9a-f]{32}")
