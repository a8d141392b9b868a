"""How instances share rooms, awareness and events: in-process (default) or through Redis."""

from .base import REMOTE, Backplane, BackplaneSettings
from .local import LocalBackplane

__all__ = ["REMOTE", "Backplane", "BackplaneSettings", "LocalBackplane"]
