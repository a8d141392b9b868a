"""A Jupyter Server extension that registers a hand-written app through jupyter_omniforge.apps,
for the extension-point stories of test_agent.py (enabled there as ``tests.agent_app``)."""

from __future__ import annotations

from typing import Any

from jupyter_omniforge.apps import Arrival, Channel, RealtimeApp, Rejected, register

NAMESPACE = "shop"

#: What the hooks saw, oldest first (the tests clear it).
ARRIVALS: list[Arrival[Any]] = []


async def check_order(event: Arrival[Any]) -> None:
    ARRIVALS.append(event)
    if event.data["total"] > 1000:
        raise Rejected("orders over 1000 need a manager")


def crash(event: Arrival[Any]) -> None:
    raise RuntimeError("a bug in a hook")


APP = RealtimeApp(
    namespace=NAMESPACE,
    name="tests.agent_app",
    channels=[
        Channel(
            "order",
            {"notes": "text", "lines": "array"},
            {
                "order.placed": {
                    "type": "object",
                    "properties": {"total": {"type": "number", "minimum": 0}},
                    "required": ["total"],
                },
                "order.audited": {"type": "object"},
            },
        ),
        Channel("till", {"cash": "map"}, {"till.opened": {"type": "object"}}),
    ],
    presence={"status": "string"},
    hooks={"order.placed": check_order, "order.audited": crash},
)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "tests.agent_app"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    register(serverapp, APP)
