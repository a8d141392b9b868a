"""Whoever holds the Jupyter token is the server's owner, the same user on every request: a
script's or the CLI's events say who sent them, and its room clients show that user. Jupyter
alone would make each token request a new random user."""

from __future__ import annotations

import re

from jupyter_omniforge.client.rooms import open_connection, room_url

from .conftest import fetch_json, wait_for
from .test_rooms import FrameReader, awareness_frame


async def token_only_story(server_url: str, token: str) -> tuple[list[str], dict]:
    """The ``source.username`` of two events, each emitted by a request carrying only the token,
    and the awareness ``user`` of a room client with only the token, as another one sees it."""
    sources = []
    for _ in range(2):
        status, envelope = await fetch_json(
            server_url + "omniforge/api/events",
            method="POST",
            token=token,
            body={"channel": "build:owned", "type": "build.started", "data": {}},
        )
        assert status == 201
        sources.append(envelope["source"]["username"])
    url = room_url(server_url, "idea:owned", token)
    sender = FrameReader(await open_connection(url))
    watcher = FrameReader(await open_connection(url))
    try:
        await sender.conn.write_message(awareness_frame(4242, 1, {"cursor": None}), binary=True)
        state = await wait_for(lambda: watcher.states().get(4242))
    finally:
        for reader in (sender, watcher):
            reader.conn.close()
            await reader.closed.wait()
    return sources, state["user"]


async def test_every_token_request_is_the_owner(server_url, token, omniforge):
    sources, user = await token_only_story(server_url, token)
    owner = omniforge.owner_username  # $JUPYTERHUB_USER, else the OS user
    assert sources == [owner, owner]
    assert not re.fullmatch(r"[0-9a-f]{32}", owner)  # not one of Jupyter's anonymous users
    assert user["username"] == owner


async def test_owner_username_names_the_owner(server_process):
    server = await server_process(["--OmniForgeApp.owner_username=builder"]).start()
    sources, user = await token_only_story(server.url, server.token)
    assert sources == ["builder", "builder"]
    assert user["username"] == "builder" and user["name"] == "builder"
