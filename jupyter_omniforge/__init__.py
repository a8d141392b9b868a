"""jupyter_omniforge: a Jupyter Server extension that serves real-time collaboration rooms."""

from typing import Any

from ._version import __version__

__all__ = ["__version__"]


def _jupyter_server_extension_points() -> list[dict]:
    from .app import OmniForgeApp

    return [{"module": "jupyter_omniforge", "app": OmniForgeApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the prebuilt JupyterLab extension is (for ``jupyter labextension develop``)."""
    return [{"src": "labextension", "dest": "jupyter_omniforge"}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_omniforge``: the ``%%omniforge`` cell magic (see magics.py)."""
    from .magics import OmniForgeMagics

    ipython.register_magics(OmniForgeMagics)
