"""A deployment plugs in its own engines: the store and the backplane are settings
(``store_class``, ``backplane_class``) naming a class, and the server builds and uses that."""

from __future__ import annotations

import pytest
from pycrdt import Doc, Text

from jupyter_omniforge.app import OmniForgeApp
from jupyter_omniforge.backplane import LocalBackplane
from jupyter_omniforge.client import connect_room
from jupyter_omniforge.store import SQLiteStore

from .plugins import RecordingBackplane, RecordingStore


@pytest.fixture
def omniforge_config() -> dict[str, str]:
    return {
        "store_class": "tests.plugins.RecordingStore",
        "backplane_class": "tests.plugins.RecordingBackplane",
    }


async def test_the_engines_named_by_setting_carry_the_rooms(omniforge, server_url, token, db_path):
    doc = Doc()
    async with connect_room(server_url, "idea:plugged", doc, token=token):
        doc.get("code", type=Text).insert(0, "plugged in")

    store, backplane = omniforge.store, omniforge.backplane
    assert type(store) is RecordingStore and store.started
    assert store.built_from.path == str(db_path)
    assert type(backplane) is RecordingBackplane
    assert backplane.built_from.instance_id == omniforge.instance_id
    assert backplane.event_log is store.events
    # The room opened through the plugged-in backplane, its edit was published to it and kept
    # by the plugged-in store.
    assert backplane.opened == ["idea:plugged"]
    assert backplane.published and {room for room, _ in backplane.published} == {"idea:plugged"}
    kept = Doc()
    for update in await store.rooms.load("idea:plugged"):
        kept.apply_update(update)
    assert str(kept.get("code", type=Text)) == "plugged in"


def test_by_default_one_server_shares_nothing_and_redis_url_picks_redis():
    from jupyter_omniforge.backplane.redis import RedisBackplane

    alone = OmniForgeApp()
    assert alone.store_class is SQLiteStore and alone.backplane_class is LocalBackplane
    assert OmniForgeApp(redis_url="redis://127.0.0.1:6379/0").backplane_class is RedisBackplane
    # A class set explicitly wins over what redis_url would pick.
    chosen = OmniForgeApp(redis_url="redis://127.0.0.1:6379/0", backplane_class=RecordingBackplane)
    assert chosen.backplane_class is RecordingBackplane
