"""GitHub integration: the REST client package (`client` is its entry point)."""
