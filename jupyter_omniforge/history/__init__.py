"""Version history of rooms: who wrote what, and what changed between versions (issue 17)."""
