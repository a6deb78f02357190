"""The periodic request (SPEC §6): beat asks for a `cron` sync of every active
installation every SYNC_BEAT_INTERVAL_SECONDS, and the policy decides which are due.
Maintenance asks the same way with its own trigger."""

from __future__ import annotations

from datetime import datetime

from integrations.models import Installation, InstallationStatus
from sync.policy import SyncDecision, Trigger
from sync.services import InstallationNotFound, request_sync


def installations_request(
    *, trigger: Trigger, now: datetime | None = None
) -> dict[int, SyncDecision]:
    """`request_sync(trigger=...)` for every active installation. GitHub id -> decision."""
    decisions: dict[int, SyncDecision] = {}
    active = Installation.objects.filter(status=InstallationStatus.ACTIVE)
    for pk, github_id in active.values_list("pk", "github_id"):
        try:
            decisions[github_id] = request_sync(installation_id=pk, trigger=trigger, now=now)
        except InstallationNotFound:
            continue  # deleted since the list was read
    return decisions


def periodic_syncs_request(*, now: datetime | None = None) -> dict[int, SyncDecision]:
    """The periodic `cron` request for every active installation."""
    return installations_request(trigger=Trigger.CRON, now=now)
