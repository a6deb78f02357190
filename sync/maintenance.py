"""The worker's safety net (SPEC §6), run by beat every SYNC_BEAT_INTERVAL_SECONDS and
by `manage.py sync_maintenance`: find jobs nobody is working on and enqueue them again,
give up on a job after SYNC_MAX_ATTEMPTS recoveries, repair stale `syncing` flags, then
ask for a `maintenance` sync of each installation (the policy decides which are due).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations.models import ErrorKind, Installation, InstallationSyncStatus
from sync.models import ACTIVE_JOB_STATUSES, IngestionJob, JobStatus
from sync.periodic import installations_request
from sync.policy import SyncDecision, Trigger
from sync.queue import enqueue_job
from sync.services import sync_status_repair
from sync.webhooks.deliveries import deliveries_redrive
from sync.worker.endings import job_fail
from sync.worker.lease import lease_seconds

log = structlog.get_logger(__name__)

TIMED_OUT = "Job timed out"


@dataclass(frozen=True)
class Recovery:
    job_id: int
    why: str  # lease_expired / never_picked_up / block_expired
    action: str  # requeued / failed


@dataclass
class MaintenanceReport:
    recovered: list[Recovery] = field(default_factory=list)
    repaired_installations: list[int] = field(default_factory=list)  # GitHub ids
    decisions: dict[int, SyncDecision] = field(default_factory=dict)  # GitHub id -> decision
    redriven_deliveries: int = 0


def _stuck_conditions(now: datetime) -> list[tuple[str, Q]]:
    """Jobs no worker is on. A job gets one lease period of grace after it became
    runnable: its own message is normally delivered within that."""
    grace = now - lease_seconds()
    return [
        (
            "lease_expired",
            Q(status=JobStatus.RUNNING)
            & (Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True)),
        ),
        ("never_picked_up", Q(status=JobStatus.PENDING, created_at__lt=grace)),
        (
            "block_expired",
            Q(status=JobStatus.BLOCKED)
            & (Q(blocked_until__lt=grace) | Q(blocked_until__isnull=True)),
        ),
    ]


def jobs_recover(*, now: datetime | None = None) -> list[Recovery]:
    """Re-enqueue every stuck job (attempts + 1), or fail it with "Job timed out" once it
    has been recovered SYNC_MAX_ATTEMPTS times."""
    now = now or timezone.now()
    recoveries: list[Recovery] = []
    for why, condition in _stuck_conditions(now):
        for job_id in IngestionJob.objects.filter(condition).values_list("pk", flat=True):
            recovery = _recover_one(job_id, why=why, condition=condition, now=now)
            if recovery is not None:
                recoveries.append(recovery)
    return recoveries


def _recover_one(job_id: int, *, why: str, condition: Q, now: datetime) -> Recovery | None:
    with transaction.atomic():
        job = IngestionJob.objects.select_for_update().filter(condition).filter(pk=job_id).first()
        if job is None:  # a worker took it meanwhile
            return None
        if job.attempts >= settings.SYNC_MAX_ATTEMPTS:
            job_fail(job, error=TIMED_OUT, kind=ErrorKind.INTERNAL)
            action = "failed"
        else:
            job.attempts += 1
            fields = ["attempts", "updated_at"]
            if job.status == JobStatus.RUNNING:
                # Claimable now; the next pass waits one more lease before trying again.
                job.lease_token = None
                job.lease_expires_at = now + lease_seconds()
                fields += ["lease_token", "lease_expires_at"]
            job.save(update_fields=fields)
            transaction.on_commit(lambda: enqueue_job(job_id=job_id))
            action = "requeued"
    log.info("maintenance.recovered", job_id=job_id, why=why, action=action)
    return Recovery(job_id, why, action)


def stale_flags_repair(*, now: datetime | None = None) -> list[int]:
    """Repair stale `syncing` / expired `blocked` flags of installations with no active
    job (suspended ones included, which no request would reach). Returns GitHub ids."""
    now = now or timezone.now()
    stale = Q(sync_status=InstallationSyncStatus.SYNCING) | (
        Q(sync_status=InstallationSyncStatus.BLOCKED)
        & (Q(blocked_until__isnull=True) | Q(blocked_until__lte=now))
    )
    repaired: list[int] = []
    for pk in Installation.objects.filter(stale).values_list("pk", flat=True):
        with transaction.atomic():
            installation = Installation.objects.select_for_update().filter(pk=pk).first()
            if (
                installation is None
                or IngestionJob.objects.filter(
                    installation=installation, status__in=ACTIVE_JOB_STATUSES
                ).exists()
            ):
                continue
            if sync_status_repair(installation=installation, now=now):
                repaired.append(installation.github_id)
    return repaired


def maintenance_run(*, now: datetime | None = None) -> MaintenanceReport:
    """One maintenance pass, as beat runs it. Webhook deliveries a broker outage left
    unprocessed are sent again too."""
    recovered = jobs_recover(now=now)
    repaired = stale_flags_repair(now=now)
    redriven = deliveries_redrive(now=now)
    decisions = installations_request(trigger=Trigger.MAINTENANCE, now=now)
    return MaintenanceReport(recovered, repaired, decisions, redriven)
