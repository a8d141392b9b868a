"""Find the OmniForge server to talk to: its URL and token.

In order of precedence:

1. an explicit ``url`` (and ``token``) given by the caller;
2. the environment: ``OMNIFORGE_URL`` and ``OMNIFORGE_TOKEN``;
3. the running Jupyter servers (what ``jupyter server list`` shows): the one that is an ancestor of
   this process — so code in a notebook's kernel, or in a terminal of JupyterLab, talks to its own
   server — or else the only one running.

When the URL is explicit but the token is not, the token comes from ``OMNIFORGE_TOKEN`` or from
the running server with that URL, if any. Nothing found, or several candidates, raises a
:class:`DiscoveryError` that says what to do.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

URL_ENV = "OMNIFORGE_URL"
TOKEN_ENV = "OMNIFORGE_TOKEN"

_HINT = f"pass a URL and token, or set {URL_ENV} and {TOKEN_ENV}"


class DiscoveryError(LookupError):
    """No server could be chosen; ``str(error)`` says why and what to do."""


class ServerNotFound(DiscoveryError):
    """No running Jupyter server was found."""


class AmbiguousServer(DiscoveryError):
    """Several Jupyter servers are running and none is an ancestor of this process."""

    def __init__(self, message: str, urls: list[str]) -> None:
        super().__init__(message)
        self.urls = urls


@dataclass(frozen=True)
class ServerInfo:
    """Where a server is. ``url`` ends with ``/`` and includes the base URL."""

    url: str
    token: str | None
    #: How it was found: ``"argument"``, ``"environment"``, ``"ancestor"`` or ``"only-running"``.
    source: str


def normalize_url(url: str) -> str:
    """``url`` with a trailing slash, so that ``url + "omniforge/..."`` is right."""
    return url if url.endswith("/") else url + "/"


def running_servers() -> list[dict[str, Any]]:
    """The info dicts of the running Jupyter servers, as ``jupyter server list --json`` prints."""
    from jupyter_server.serverapp import list_running_servers

    return list(list_running_servers())


def find_server(
    url: str | None = None,
    token: str | None = None,
    *,
    environ: dict[str, str] | None = None,
    servers: Callable[[], Iterable[dict[str, Any]]] = running_servers,
) -> ServerInfo:
    """Choose the server as described in the module docstring.

    ``environ`` and ``servers`` default to the process environment and the running-server list;
    they are parameters so that callers (and tests) can substitute their own.
    """
    env = os.environ if environ is None else environ
    if url:
        url = normalize_url(url)
        if token is None:
            token = env.get(TOKEN_ENV) or _token_of(url, servers)
        return ServerInfo(url, token, "argument")
    if env.get(URL_ENV):
        return ServerInfo(
            normalize_url(env[URL_ENV]), token or env.get(TOKEN_ENV) or None, "environment"
        )

    candidates = list(servers())
    if not candidates:
        raise ServerNotFound(f"no running Jupyter server found; {_HINT}")
    by_pid = {info.get("pid"): info for info in candidates}
    for pid in ancestor_pids(env):
        if pid in by_pid:
            return _info(by_pid[pid], token, "ancestor")
    if len(candidates) == 1:
        return _info(candidates[0], token, "only-running")
    urls = sorted(str(info.get("url")) for info in candidates)
    raise AmbiguousServer(
        f"{len(candidates)} Jupyter servers are running ({', '.join(urls)}) and none of them "
        f"started this process; {_HINT}",
        urls,
    )


def _info(server: dict[str, Any], token: str | None, source: str) -> ServerInfo:
    return ServerInfo(normalize_url(server["url"]), token or server.get("token") or None, source)


def _token_of(url: str, servers: Callable[[], Iterable[dict[str, Any]]]) -> str | None:
    try:
        candidates = list(servers())
    except Exception:  # a broken runtime dir must not hide an explicit URL
        return None
    for server in candidates:
        if normalize_url(str(server.get("url", ""))) == url:
            return server.get("token") or None
    return None


def ancestor_pids(environ: dict[str, str] | None = None) -> list[int]:
    """Process ids of this process' ancestors, nearest first.

    ``JPY_PARENT_PID`` (set by jupyter_client for the kernels it launches on POSIX) comes first;
    then the parent chain, read from ``/proc`` where there is one, else from ``psutil`` if it is
    installed, else just the direct parent.
    """
    env = os.environ if environ is None else environ
    pids: list[int] = []
    parent = env.get("JPY_PARENT_PID", "")
    if parent.isdigit() and sys.platform != "win32":  # on Windows it is a handle, not a pid
        pids.append(int(parent))
    pids.extend(p for p in _parent_chain(os.getpid()) if p not in pids)
    return pids


def _parent_chain(pid: int) -> list[int]:
    if os.path.isdir("/proc/self"):
        chain = []
        while pid > 1 and len(chain) < 256:
            pid = _proc_ppid(pid)
            if pid <= 0:
                break
            chain.append(pid)
        return chain
    try:
        import psutil
    except ImportError:
        return [os.getppid()]
    try:
        return [p.pid for p in psutil.Process(pid).parents()]
    except psutil.Error:
        return [os.getppid()]


def _proc_ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            stat = f.read()
    except OSError:
        return 0
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 else 0
