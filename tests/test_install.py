"""Installing from a fresh clone, as the README says, needs no Node.js and loads both halves of
the extension."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_an_editable_install_of_a_fresh_clone_builds_nothing_and_loads(tmp_path: Path) -> None:
    """The JupyterLab bundle is committed: ``pip install -e .`` must use it, not run ``jlpm``
    (which made 205 MB of node_modules in 40 s, and needed Node). What is tested is the committed
    HEAD: a clone has no uncommitted changes."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout")
    clone, venv = tmp_path / "clone", tmp_path / "venv"
    subprocess.run(["git", "clone", "--quiet", ROOT, clone], check=True, timeout=120)
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=120)
    # The new environment first on the PATH, as after activating it; Node.js stays on the PATH if
    # it is installed, so a build that should not happen would happen.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV", "JUPYTER", "HATCH"))
    }
    env.update(
        PATH=os.pathsep.join([str(venv / "bin"), os.environ["PATH"]]),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
    )

    def run(*command: str | Path, timeout: float = 120) -> str:
        result = subprocess.run(
            command, cwd=clone, env=env, capture_output=True, text=True, timeout=timeout
        )
        output = ANSI.sub("", result.stdout + result.stderr)
        assert result.returncode == 0, f"{command} exited {result.returncode}:\n{output[-6000:]}"
        return output

    run(venv / "bin" / "pip", "install", "--quiet", "-e", ".", timeout=600)
    assert not (clone / "node_modules").exists()
    assert not (clone / "lib").exists()  # the TypeScript output of a build

    # The code that runs is the clone's.
    location = run(
        venv / "bin" / "python", "-c", "import jupyter_omniforge as m; print(m.__file__)"
    )
    assert location.strip() == str(clone / "jupyter_omniforge" / "__init__.py")
    # The server extension is enabled and loads; so does the JupyterLab extension, next to the
    # collaboration front end that makes notebooks shared documents.
    servers = run(venv / "bin" / "jupyter", "server", "extension", "list")
    assert re.search(r"jupyter_omniforge enabled\s+- Validating jupyter_omniforge", servers), (
        servers
    )
    assert re.search(r"jupyter_omniforge \S+ OK", servers), servers
    assert re.search(r"jupyter_server_ydoc enabled", servers), servers
    labs = run(venv / "bin" / "jupyter", "labextension", "list")
    for name in ("jupyter_omniforge", "@jupyter/docprovider-extension"):
        assert re.search(rf"{re.escape(name)} v\S+ enabled OK", labs), labs
    bundle = venv / "share" / "jupyter" / "labextensions" / "jupyter_omniforge"
    assert (bundle / "static" / "style.js").is_file()
    assert (bundle / "package.json").read_bytes() == (
        clone / "jupyter_omniforge" / "labextension" / "package.json"
    ).read_bytes()
