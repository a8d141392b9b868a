"""Python clients of a running OmniForge server."""

from .rooms import RoomConnection, connect_room, room_url

__all__ = ["RoomConnection", "connect_room", "room_url"]
