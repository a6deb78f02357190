"""The periodic request (SPEC §6): beat asks for a `cron` sync every
SYNC_BEAT_INTERVAL_SECONDS, and the policy decides which are due. Maintenance asks the
same way with its own trigger.

A pass is one query when nothing is due: it reads only the active installations the
policy's due bounds (`periodic_due_bounds`) let through, with no active job, an owner
and an active repository, and calls `request_sync` for each of those, which decides
as for any other caller. An installation left out is one `request_sync` would answer
`already_syncing`, `not_due`, `no_owner` or `no_repositories` without writing anything,
so a fleet of hundreds costs a beat pass next to nothing while it backfills."""

from __future__ import annotations

from datetime import datetime

import structlog
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from integrations.models import (
    Installation,
    InstallationMember,
    InstallationStatus,
    InstallationSyncStatus,
    Repository,
)
from sync.models import ACTIVE_JOB_STATUSES, IngestionJob
from sync.policy import SyncDecision, Trigger, periodic_due_bounds
from sync.services import InstallationNotFound, request_sync
from sync.state import policy_config

log = structlog.get_logger(__name__)


def installations_due(*, trigger: Trigger, now: datetime) -> QuerySet[Installation]:
    """The installations a `cron` or `maintenance` request may start at `now`: active,
    no active job, an owner, an active repository, within the policy's due bounds."""
    bounds = periodic_due_bounds(trigger, now, policy_config())
    due = Q(last_synced_at__isnull=True) | Q(last_synced_at__lte=bounds.synced_by)
    if bounds.errored_by is not None:
        due |= Q(sync_status=InstallationSyncStatus.ERROR) & (
            Q(last_sync_error_at__isnull=True) | Q(last_sync_error_at__lte=bounds.errored_by)
        )
    active_job = IngestionJob.objects.filter(
        installation=OuterRef("pk"), status__in=ACTIVE_JOB_STATUSES
    )
    owner = InstallationMember.objects.filter(installation=OuterRef("pk"))
    repository = Repository.objects.filter(installation=OuterRef("pk"), is_active=True)
    return Installation.objects.filter(
        due,
        Exists(owner),
        Exists(repository),
        ~Exists(active_job),
        status=InstallationStatus.ACTIVE,
    )


def installations_request(
    *, trigger: Trigger, now: datetime | None = None
) -> dict[int, SyncDecision]:
    """`request_sync(trigger=...)` for every installation that may be due (see
    `installations_due`). GitHub id -> decision. One installation that cannot be asked
    (a bug, a row no rule expected) is logged with its traceback and left out; the pass
    goes on for everyone else."""
    decisions: dict[int, SyncDecision] = {}
    candidates = installations_due(trigger=trigger, now=now or timezone.now())
    for pk, github_id in candidates.values_list("pk", "github_id"):
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
    """The periodic `cron` request for every installation that may be due."""
    return installations_request(trigger=Trigger.CRON, now=now)
