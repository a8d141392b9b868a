"""A room's version history from Python: list, read, compare, name and restore versions, and
see who wrote what (issue 17). Mixed into :class:`~jupyter_omniforge.client.OmniForge`:

    forge = OmniForge()
    page = forge.versions("idea:42")                  # {"versions": [...], "next": id | None}
    old = forge.at("idea:42", page["versions"][-1]["id"], roots="code:text")
    print("\\n".join(forge.diff("idea:42", old["version"]["id"])["roots"]["code"]["unified"]))
    forge.name("idea:42", "before refactor")
    forge.restore("idea:42", old["version"]["id"])   # one forward update: everyone converges
    forge.blame("idea:42")                            # {"root", "text", "ranges": [...]}

Version ids are opaque strings. The ``a``-prefixed twins are for async code. A room or
version that does not exist raises :class:`~jupyter_omniforge.client.RequestFailed` with
``status`` 404; a bad limit, label or root raises
:class:`~jupyter_omniforge.client.InvalidRequest`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

ROOMS_PATH = "omniforge/api/rooms"


def room_path(room: str, *parts: str) -> str:
    """``omniforge/api/rooms/{room}/{parts...}``, each part quoted (a room keeps its ``:``;
    a version id cannot add path segments)."""
    path = f"{ROOMS_PATH}/{quote(room, safe=':')}"
    return "/".join([path, *(quote(part, safe="") for part in parts)])


def _calls(
    room: str, *, what: str, **arguments: Any
) -> tuple[str, str, dict[str, Any] | None, Any]:
    """The HTTP request (method, path, query, body) that each method makes."""
    if what == "versions":
        query = {"before": arguments["before"], "limit": arguments["limit"]}
        return "GET", room_path(room, "versions"), query, None
    if what == "at":
        roots = arguments["roots"]
        if roots is not None and not isinstance(roots, str):
            roots = ",".join(roots)
        return "GET", room_path(room, "versions", arguments["version"]), {"roots": roots}, None
    if what == "diff":
        path = room_path(room, "versions", arguments["a"], "diff", arguments["b"])
        return "GET", path, None, None
    if what == "restore":
        return "POST", room_path(room, "versions", arguments["version"], "restore"), None, {}
    if what == "name":
        return "POST", room_path(room, "versions"), None, {"label": arguments["label"]}
    return "GET", room_path(room, "blame"), {"root": arguments["root"]}, None


class VersionsMixin:
    """The version-history methods of :class:`~jupyter_omniforge.client.OmniForge` (which
    provides ``request`` and ``arequest``)."""

    def _history_call(self, room: str, what: str, **arguments: Any) -> Any:
        method, path, query, body = _calls(room, what=what, **arguments)
        return self.request(method, path, params=query, json=body)  # type: ignore[attr-defined]

    async def _ahistory_call(self, room: str, what: str, **arguments: Any) -> Any:
        method, path, query, body = _calls(room, what=what, **arguments)
        return await self.arequest(method, path, params=query, json=body)  # type: ignore[attr-defined]

    def versions(self, room: str, before: str | None = None, limit: int = 50) -> dict[str, Any]:
        """A page of ``room``'s versions, newest first: ``{"versions": [VERSION...], "next": id
        or None}``; pass ``next`` as ``before`` for the page after. VERSION is ``{"id", "time",
        "label", "kind", "authors", "size"}``."""
        return self._history_call(room, "versions", before=before, limit=limit)

    async def aversions(
        self, room: str, before: str | None = None, limit: int = 50
    ) -> dict[str, Any]:
        """:meth:`versions` for async code."""
        return await self._ahistory_call(room, "versions", before=before, limit=limit)

    def at(self, room: str, version: str, roots: str | list[str] | None = None) -> dict[str, Any]:
        """``room``'s content as of ``version``, shaped as the room endpoint answers (``roots``:
        ``"code:text,tokens:map"`` or a list of such items), plus ``"version"``."""
        return self._history_call(room, "at", version=version, roots=roots)

    async def aat(
        self, room: str, version: str, roots: str | list[str] | None = None
    ) -> dict[str, Any]:
        """:meth:`at` for async code."""
        return await self._ahistory_call(room, "at", version=version, roots=roots)

    def diff(self, room: str, a: str, b: str = "current") -> dict[str, Any]:
        """What changed from version ``a`` to ``b`` (a version id or ``"current"``): ``{"from",
        "to", "roots": {name: ...}}``, each Text root with its ``unified`` diff lines and the
        ``inserted`` and ``deleted`` ranges with their authors."""
        return self._history_call(room, "diff", a=a, b=b)

    async def adiff(self, room: str, a: str, b: str = "current") -> dict[str, Any]:
        """:meth:`diff` for async code."""
        return await self._ahistory_call(room, "diff", a=a, b=b)

    def restore(self, room: str, version: str) -> dict[str, Any]:
        """Make ``room``'s document equal ``version`` again (one forward update: connected
        clients converge, concurrent edits merge); returns ``{"version": VERSION}``, the new
        version recording the restore."""
        return self._history_call(room, "restore", version=version)

    async def arestore(self, room: str, version: str) -> dict[str, Any]:
        """:meth:`restore` for async code."""
        return await self._ahistory_call(room, "restore", version=version)

    def name(self, room: str, label: str) -> dict[str, Any]:
        """Keep ``room``'s current state as a named version (``label``: 1 to 200 characters);
        returns its VERSION."""
        return self._history_call(room, "name", label=label)

    async def aname(self, room: str, label: str) -> dict[str, Any]:
        """:meth:`name` for async code."""
        return await self._ahistory_call(room, "name", label=label)

    def blame(self, room: str, root: str = "code") -> dict[str, Any]:
        """Who wrote each part of the text ``root`` now: ``{"root", "text", "ranges": [{"start",
        "end", "author"}]}`` (indices in characters; author ``""``: unknown)."""
        return self._history_call(room, "blame", root=root)

    async def ablame(self, room: str, root: str = "code") -> dict[str, Any]:
        """:meth:`blame` for async code."""
        return await self._ahistory_call(room, "blame", root=root)
