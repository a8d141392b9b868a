"""The layout holds: storage and transport (``store/``, ``backplane/``) sit below the domain and
never import ``rooms/`` or ``handlers/``, directly or through another module of ours.

Read from the source (every ``import`` statement, in functions and ``TYPE_CHECKING`` blocks
too), not from what happens to be imported at run time. Importing ``a.b.c`` runs the
``__init__`` of ``a.b`` as well, so that counts; the package's own ``__init__`` does not, as it
runs whatever module is imported (it loads the app only inside the hook Jupyter calls).
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import jupyter_omniforge

PACKAGE = Path(jupyter_omniforge.__file__).parent
LOWER = ("store", "backplane")
UPPER = ("rooms", "handlers")


def modules_of(root: Path) -> dict[str, Path]:
    """Every module of the package at ``root``, by dotted name."""
    modules = {}
    for path in root.rglob("*.py"):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ours that importing ``name`` runs directly (and their packages' inits)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], *filter(None, [base])])
            # `from x import y`: y is a module of x, or a name x defines.
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            imported.update(
                prefix
                for i in range(2, len(parts) + 1)  # from 2: not the root package's __init__
                if (prefix := ".".join(parts[:i])) in modules
            )
    return imported


def crossings(
    root: Path, lower: tuple[str, ...] = LOWER, upper: tuple[str, ...] = UPPER
) -> list[str]:
    """One import chain (``a -> b -> c``) for each module under ``lower`` that reaches a module
    under ``upper``."""
    modules = modules_of(root)
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}

    def under(name: str, parts: tuple[str, ...]) -> bool:
        return any(
            name == (top := f"{root.name}.{part}") or name.startswith(top + ".") for part in parts
        )

    found = []
    for start in sorted(name for name in modules if under(name, lower)):
        came_from: dict[str, str | None] = {start: None}
        queue = deque([start])
        while queue:
            name = queue.popleft()
            if under(name, upper):
                chain = [name]
                while (previous := came_from[chain[-1]]) is not None:
                    chain.append(previous)
                found.append(" -> ".join(reversed(chain)))
                break
            for imported in sorted(graph[name] - came_from.keys()):
                came_from[imported] = name
                queue.append(imported)
    return found


def test_store_and_backplane_import_neither_rooms_nor_handlers():
    assert crossings(PACKAGE) == []


def test_the_check_follows_imports_through_other_modules(tmp_path: Path):
    """What the check above would report: a chain through a top-level module, a lazy import, a
    package's ``__init__``."""
    files = {
        "__init__.py": "from .app import App\n",  # the root's: not followed
        "app.py": "from .rooms.room import Room\n",
        "shape.py": "from .rooms.structure import Structure\n",
        "store/__init__.py": "",
        "store/fold.py": "from ..shape import Structure\n",
        "store/plain.py": "from .. import shape\n",
        "backplane/__init__.py": "",
        "backplane/lazy.py": "def f():\n    import pkg.handlers\n",
        "backplane/local.py": "from ..store import fold\n",
        "rooms/__init__.py": "",
        "rooms/room.py": "",
        "rooms/structure.py": "",
        "handlers/__init__.py": "",
    }
    for name, text in files.items():
        path = tmp_path / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert crossings(tmp_path / "pkg") == [
        "pkg.backplane.lazy -> pkg.handlers",
        # pkg.rooms.structure runs pkg.rooms (its __init__) first
        "pkg.backplane.local -> pkg.store.fold -> pkg.shape -> pkg.rooms",
        "pkg.store.fold -> pkg.shape -> pkg.rooms",
        "pkg.store.plain -> pkg.shape -> pkg.rooms",
    ]
