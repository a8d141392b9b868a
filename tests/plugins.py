"""Engines the tests plug into a server by dotted name (``OmniForgeApp.store_class``,
``OmniForgeApp.backplane_class``), as a deployment plugs in its own: the stock ones, recording
what the server asks of them."""

from __future__ import annotations

from jupyter_omniforge.backplane import BackplaneSettings, LocalBackplane
from jupyter_omniforge.store import SQLiteStore, StoreSettings


class RecordingStore(SQLiteStore):
    """The SQLite store, keeping the settings it was built from and whether it was started."""

    def __init__(self, settings: StoreSettings) -> None:
        super().__init__(settings)
        self.built_from = settings
        self.started = False

    async def start(self) -> None:
        await super().start()
        self.started = True


class RecordingBackplane(LocalBackplane):
    """The in-process backplane, keeping its settings and the rooms and updates it carried."""

    @classmethod
    def from_settings(cls, settings: BackplaneSettings) -> RecordingBackplane:
        backplane = super().from_settings(settings)
        backplane.built_from = settings
        return backplane

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.opened: list[str] = []
        self.published: list[tuple[str, bytes]] = []

    async def open_room(self, room: str) -> list[bytes]:
        self.opened.append(room)
        return await super().open_room(room)

    def publish_update(self, room: str, update: bytes) -> None:
        self.published.append((room, update))
