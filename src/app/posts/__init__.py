"""Posts in an organization, their comments, and the caller's activity feed."""
