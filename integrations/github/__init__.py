"""GitHub integration: the REST client (`client`) and a simulator (`simulator`)."""
