"""Shapes the SPEC fixes, written out here (not imported from the code under test)."""

# SPEC §7: a status object's keys, in order.
STATUS_KEYS = [
    "installation_id",
    "account_login",
    "state",
    "can_sync_now",
    "cooldown_ms",
    "blocked_until",
    "active_job_progress",
    "last_synced_at",
    "last_sync_error",
    "unavailable_reason",
]

# SPEC §6: an event in the API (and in its CSV / NDJSON exports), keys in order.
EVENT_KEYS = [
    "kind",
    "github_id",
    "repository",
    "installation_id",
    "actor_login",
    "actor_github_id",
    "occurred_at",
    "title",
    "url",
    "number",
    "data",
]
