"""Connecting: the listen backlog a storm of clients meets."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from jupyter_omniforge.listening import kernel_cap

pytestmark = pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)")


def backlog_of(port: int) -> int:
    """The backlog the kernel gives the socket listening on ``port`` (``ss``: Send-Q)."""
    out = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out and out[0] == "LISTEN", out
    return int(out[2])


async def test_the_server_listens_with_a_backlog_a_storm_fits_in(server_process):
    server = await server_process().start()
    cap = kernel_cap() or 4096
    assert backlog_of(server.port) == min(4096, cap)
    assert "Listening with a backlog of" in server.log_path.read_text()


async def test_listen_backlog_0_leaves_jupyters(server_process):
    server = await server_process(["--OmniForgeApp.listen_backlog=0"]).start()
    assert backlog_of(server.port) == 128
