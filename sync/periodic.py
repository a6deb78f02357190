"""The periodic request (SPEC §6): beat asks for a `cron` sync of every active
installation every SYNC_BEAT_INTERVAL_SECONDS, and the policy decides which are due.
Maintenance asks the same way with its own trigger."""

from __future__ import annotations

from datetime import datetime

import structlog

from integrations.models import Installation, InstallationStatus
from sync.policy import SyncDecision, Trigger
from sync.services import InstallationNotFound, request_sync

log = structlog.get_logger(__name__)


def installations_request(
    *, trigger: Trigger, now: datetime | None = None
) -> dict[int, SyncDecision]:
    """`request_sync(trigger=...)` for every active installation. GitHub id -> decision.
    One installation that cannot be asked (a bug, a row no rule expected) is logged
    with its traceback and left out; the pass goes on for everyone else."""
    decisions: dict[int, SyncDecision] = {}
    active = Installation.objects.filter(status=InstallationStatus.ACTIVE)
    for pk, github_id in active.values_list("pk", "github_id"):
        try:
            decisions[github_id] = request_sync(installation_id=pk, trigger=trigger, now=now)
        except InstallationNotFound:
            continue  # deleted since the list was read
        except Exception:
            log.exception(
                "sync.periodic.request_failed", installation_id=github_id, trigger=str(trigger)
            )
    return decisions


def periodic_syncs_request(*, now: datetime | None = None) -> dict[int, SyncDecision]:
    """The periodic `cron` request for every active installation."""
    return installations_request(trigger=Trigger.CRON, now=now)
