"""Comment bodies: Markdown rendered to HTML that is safe to insert into a page, and the
``@username`` mentions they hold.

The renderer is markdown-it-py's CommonMark with raw HTML off (a ``<script>`` in a body is
shown as text), no images (a remote image would tell its host who read the comment, and when),
and links only to ``http``, ``https`` and ``mailto`` URLs: anything else (``javascript:``,
``data:``, ``vbscript:``, a relative path into the Jupyter server) stays plain text. Links open
in a new tab without a referrer or an opener.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt

#: URL schemes a rendered link may use.
LINK_SCHEMES = ("http:", "https:", "mailto:")

#: ``@name`` not inside a word or an e-mail address; a name is what Jupyter usernames are made
#: of in practice (letters, digits, ``_``, ``-``, ``.``), not ending with a dot.
_MENTION = re.compile(r"(?<![\w@.])@([\w][\w.-]{0,63}(?<![.]))")

#: Mentions honoured per comment (the rest stay plain text).
MAX_MENTIONS = 20


def _safe_link(url: str) -> bool:
    return url.strip().lower().startswith(LINK_SCHEMES)


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable("image")
    md.validateLink = _safe_link  # type: ignore[method-assign]

    def link_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        tokens[idx].attrSet("target", "_blank")
        tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
        return renderer.renderToken(tokens, idx, options, env)

    md.add_render_rule("link_open", link_open)
    return md


@lru_cache(maxsize=1024)
def to_html(body: str) -> str:
    """``body`` (Markdown) as safe HTML. Cached: a thread list renders the same comments
    again on every read (a page of 50 threads is a few hundred of them at most)."""
    return _renderer().render(body)


def mentions(body: str) -> list[str]:
    """The usernames ``@mentioned`` in ``body``, each once, in order (at most
    :data:`MAX_MENTIONS`)."""
    found = list(dict.fromkeys(_MENTION.findall(body)))
    return found[:MAX_MENTIONS]


def excerpt(body: str, size: int = 140) -> str:
    """The start of ``body`` on one line, for a notification."""
    line = " ".join(body.split())
    return line if len(line) <= size else line[: size - 1] + "…"
