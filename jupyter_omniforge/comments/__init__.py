"""Comments on rooms: threads anchored to text that moves, mentions and notifications (issue 20)."""
