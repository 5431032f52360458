"""Items: an organization's catalogue entries, with fast filtered lists and cached reads."""
