"""The suite fails a test that leaks: a socket left open, or an asyncio task still pending when
the test's event loop goes away. Shown with planted leaks, in a pytest run of their own that
detects them as this suite does: with this suite's tests/conftest.py as its conftest, and
pyproject.toml's filterwarnings."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parent.parent

PLANTED = """
import asyncio
import socket


async def test_clean():
    await asyncio.sleep(0)


async def test_leaves_a_socket_open():
    sock = socket.socket()
    cycle = [sock]
    cycle.append(cycle)  # only a garbage collection finds it, not the end of the function


async def test_leaves_a_task_pending():
    asyncio.get_running_loop().create_task(asyncio.sleep(3600))
"""


@pytest.fixture
def planted(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_planted=PLANTED)
    return pytester


def test_a_socket_left_open_and_a_task_left_pending_fail_their_tests(planted):
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    planted.makeini(
        "[pytest]\nfilterwarnings =\n" + "".join(f"    {w}\n" for w in options["filterwarnings"])
    )
    # The file itself, not a plugin importing it: as a conftest its fixtures (the event loop
    # that collects the leaks) override pytest-jupyter's, as they do here.
    planted.makeconftest((ROOT / "tests" / "conftest.py").read_text())
    result = planted.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines_random(
        [
            "ERROR test_planted.py::test_leaves_a_socket_open - *",
            "*Exception ignored in: <socket.socket*",
            "ERROR test_planted.py::test_leaves_a_task_pending - *",
            "the test left asyncio tasks pending:",
        ]
    )


def test_without_that_detection_the_same_leaks_pass(planted):
    # pytest-jupyter alone, which runs async tests as the suite's conftest has it do.
    result = planted.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "pytest_jupyter.jupyter_core"
    )
    result.assert_outcomes(passed=3)
