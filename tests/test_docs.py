"""The README documents every setting and the commands CI runs."""

from __future__ import annotations

from pathlib import Path

from jupyter_omniforge.app import OmniForgeApp

ROOT = Path(__file__).parent.parent


def test_the_readme_lists_every_setting():
    readme = (ROOT / "README.md").read_text()
    settings = OmniForgeApp.class_own_traits(config=True)
    missing = [name for name in settings if f"| `{name}` |" not in readme]
    assert not missing, f"settings missing from README.md: {missing}"
    for name, trait in settings.items():
        assert trait.help.strip(), f"{name} has no help text"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = readme.split("Run the tests", 1)[1].split("```bash\n", 1)[1].split("\n```", 1)[0]
    assert command.strip() in ci
