"""The RealtimeAgent: from a spec to an app's Jupyter Server extension, clients and tests.

    agent = RealtimeAgent("inventory.yaml")     # or a mapping; raises SpecError when invalid
    agent.generate("inventory/")                # writes DIR; returns what it wrote
    agent.check("inventory/")                   # unified diffs of what is out of date ([] if none)

The output is a function of the spec alone: the same spec gives the same bytes (sorted, no
timestamps, no paths). *Generated* files carry a "do not edit" header and are rewritten on every
run; *user* files (``handlers.py``, the hooks) are written once, when missing, and never touched
again. Everything is rendered in memory first, so an error leaves DIR as it was.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .render import environment
from .spec import Spec, load_spec


@dataclass(frozen=True)
class Planned:
    """One file of the output: its path relative to DIR, its text, and whether it is the user's."""

    path: str
    text: str
    user: bool = False


@dataclass
class Result:
    """What :meth:`RealtimeAgent.generate` did, by path relative to DIR (sorted)."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # user files already there
    #: Hooks the spec has that the (kept) handlers.py lacks: ``(event type, function name)``.
    missing_hooks: list[tuple[str, str]] = field(default_factory=list)


class RealtimeAgent:
    """Generates the real-time endpoints, hooks, clients and tests of an app from its spec.

    ``spec`` is a path (YAML, or JSON when it ends in ``.json``) or the parsed mapping. An invalid
    spec raises :class:`~jupyter_omniforge.agent.spec.SpecError` naming each problem's path.
    """

    def __init__(self, spec: str | os.PathLike[str] | Mapping[str, Any]) -> None:
        if isinstance(spec, os.PathLike):
            spec = os.fspath(spec)
        self.spec: Spec = load_spec(spec)

    def plan(self) -> list[Planned]:
        """Every file of the output, rendered (sorted by path)."""
        spec = self.spec
        env = environment()
        app = spec.app

        def render(template: str) -> str:
            return env.get_template(template).render(spec=spec)

        files = [
            Planned("README.md", render("README.md.j2")),
            Planned("pyproject.toml", render("pyproject.toml.j2")),
            Planned(f"jupyter-config/server-config/{app}.json", render("jupyter-config.json.j2")),
            Planned(f"{app}/__init__.py", render("package/__init__.py.j2")),
            Planned(f"{app}/_generated.py", render("package/_generated.py.j2")),
            Planned(f"{app}/client.py", render("package/client.py.j2")),
            Planned(f"{app}/handlers.py", render("package/handlers.py.j2"), user=True),
            Planned(f"{app}/spec.json", json.dumps(spec.data, indent=2, sort_keys=True) + "\n"),
            Planned("tests/conftest.py", render("tests/conftest.py.j2")),
            Planned(f"tests/test_{app}.py", render("tests/test_app.py.j2")),
            Planned("ts/package.json", render("ts/package.json.j2")),
            Planned("ts/tsconfig.json", render("ts/tsconfig.json.j2")),
            Planned(f"ts/src/{app}.ts", render("ts/client.ts.j2")),
        ]
        return sorted(files, key=lambda f: f.path)

    def generate(self, out_dir: str | os.PathLike[str]) -> Result:
        """Write the output into ``out_dir`` (created if needed): generated files are rewritten
        when they differ, user files only created when missing."""
        root = Path(out_dir)
        result = Result()
        for planned in self.plan():
            target = root / planned.path
            if planned.user and target.exists():
                result.kept.append(planned.path)
                continue
            if target.exists() and target.read_bytes() == planned.text.encode():
                result.unchanged.append(planned.path)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(planned.text.encode())
            tmp.replace(target)
            result.written.append(planned.path)
        result.missing_hooks = self.missing_hooks(root)
        return result

    def check(self, out_dir: str | os.PathLike[str]) -> list[str]:
        """Unified diffs of the generated files of ``out_dir`` that differ from the spec's output
        (and notes on missing user files); empty when it is up to date."""
        root = Path(out_dir)
        diffs = []
        for planned in self.plan():
            target = root / planned.path
            if planned.user:
                if not target.exists():
                    diffs.append(f"missing {planned.path} (created once by generate)\n")
                continue
            current = target.read_text(encoding="utf-8") if target.exists() else ""
            if current != planned.text:
                diff = difflib.unified_diff(
                    current.splitlines(keepends=True),
                    planned.text.splitlines(keepends=True),
                    fromfile=f"a/{planned.path}" if target.exists() else "/dev/null",
                    tofile=f"b/{planned.path}",
                )
                diffs.append("".join(_terminated(diff)))
        return diffs

    def missing_hooks(self, out_dir: str | os.PathLike[str]) -> list[tuple[str, str]]:
        """``(event type, function)`` of the hooks the spec declares that handlers.py lacks."""
        handlers = Path(out_dir) / self.spec.app / "handlers.py"
        if not handlers.exists():
            return []
        text = handlers.read_text(encoding="utf-8")
        return [
            (event.name, event.hook)
            for event in self.spec.events
            if f"def {event.hook}(" not in text
        ]


def _terminated(lines: Any) -> Any:
    for line in lines:
        yield line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
