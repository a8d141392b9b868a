"""The RealtimeAgent: generates the real-time endpoints, hooks, clients (Python, TypeScript) and
tests of a Jupyter-hosted app from a declarative spec. The generated app uses jupyter_omniforge
as its runtime, through :mod:`jupyter_omniforge.apps`.

    from jupyter_omniforge.agent import RealtimeAgent

    RealtimeAgent("inventory.yaml").generate("inventory/")

or ``jupyter omniforge generate inventory.yaml -o inventory/ [--check]``.
"""

from .generator import RealtimeAgent, Result
from .spec import SCHEMA_PATH, Spec, SpecError, load_spec

__all__ = ["SCHEMA_PATH", "RealtimeAgent", "Result", "Spec", "SpecError", "load_spec"]
