"""The worker's safety net (SPEC §6), run by beat every SYNC_BEAT_INTERVAL_SECONDS and
by `manage.py sync_maintenance`: find jobs nobody is working on and enqueue them again,
give up on a job after SYNC_MAX_ATTEMPTS recoveries, repair stale `syncing` flags, then
ask for a `maintenance` sync of each installation (the policy decides which are due).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import DurationField, ExpressionWrapper, F, Q, Value
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

from integrations.models import ErrorKind, Installation, InstallationSyncStatus
from sync.models import ACTIVE_JOB_STATUSES, IngestionJob, JobStatus
from sync.periodic import installations_request
from sync.policy import SyncDecision, Trigger
from sync.queue import enqueue_job
from sync.retention import Pruned, history_prune
from sync.services import sync_status_repair
from sync.webhooks.deliveries import deliveries_redrive
from sync.worker.endings import job_fail
from sync.worker.lease import claimable, lease_seconds

log = structlog.get_logger(__name__)

TIMED_OUT = "Job timed out"


@dataclass(frozen=True)
class Recovery:
    job_id: int
    why: str  # lease_expired / never_picked_up / between_slices / block_expired
    action: str  # requeued / failed


@dataclass
class MaintenanceReport:
    recovered: list[Recovery] = field(default_factory=list)
    repaired_installations: list[int] = field(default_factory=list)  # GitHub ids
    decisions: dict[int, SyncDecision] = field(default_factory=dict)  # GitHub id -> decision
    redriven_deliveries: int = 0
    pruned: Pruned = field(default_factory=lambda: Pruned(0, 0))


def _not_sent_lately(now: datetime, grace: datetime, waiting_since: str) -> Q:
    """Never sent again, or last sent a lease period ago and at least as long ago as the
    job had been waiting then (since `waiting_since`): the gaps between two messages
    double while a job waits. A job waiting in a backlog still has its message in the
    queue, so a fleet's backlog is not flooded with copies of every job, one per job
    per lease; a message the broker lost is still sent again within the time the job
    had already waited."""
    waited_when_sent = ExpressionWrapper(
        F("requeued_at") - F(waiting_since), output_field=DurationField()
    )
    since_sent = ExpressionWrapper(Value(now) - F("requeued_at"), output_field=DurationField())
    return Q(requeued_at__isnull=True) | (
        Q(requeued_at__lte=grace) & Q(LessThanOrEqual(waited_when_sent, since_sent))
    )


def backlog_wait(now: datetime) -> timedelta:
    """How long the queue ahead of a waiting job may take to drain: the jobs waiting for
    a worker, shared among the workers holding a job now, one time slice each. Zero
    when no worker holds a job: nothing is moving, a lost message is the likely cause."""
    held = IngestionJob.objects.filter(
        status=JobStatus.RUNNING, lease_token__isnull=False, lease_expires_at__gte=now
    ).count()
    if not held:
        return timedelta(0)
    waiting = IngestionJob.objects.filter(claimable(now)).count()
    return math.ceil(waiting / held) * timedelta(seconds=settings.SYNC_SLICE_SECONDS)


def _waiting_conditions(now: datetime, backlog: timedelta) -> list[tuple[str, Q]]:
    """Jobs waiting for a worker to take their message: not stuck, never counted. Each
    gets a lease period of grace after it became runnable, plus the time the backlog
    ahead of it may take (`backlog_wait`), and is sent again at most once a lease
    period after that, less often the longer it waits (see _not_sent_lately): the
    message of a job waiting in a queue backlog is most likely still in the queue."""
    grace = now - lease_seconds() - backlog
    released_by = now - backlog  # released between slices: lease_expires_at = release + lease
    return [
        (
            "never_picked_up",
            Q(status=JobStatus.PENDING, created_at__lt=grace)
            & _not_sent_lately(now, grace, "created_at"),
        ),
        (
            "between_slices",
            Q(status=JobStatus.RUNNING, lease_token__isnull=True)
            & (
                (
                    Q(lease_expires_at__lt=released_by)
                    & _not_sent_lately(now, grace, "lease_expires_at")
                )
                | (Q(lease_expires_at__isnull=True) & _not_sent_lately(now, grace, "updated_at"))
            ),
        ),
        (
            "block_expired",
            Q(status=JobStatus.BLOCKED)
            & (
                (Q(blocked_until__lt=grace) & _not_sent_lately(now, grace, "blocked_until"))
                | (Q(blocked_until__isnull=True) & _not_sent_lately(now, grace, "updated_at"))
            ),
        ),
    ]


def _dead_worker(now: datetime) -> Q:
    """A running job whose worker holds a lease it stopped renewing: a failure."""
    return Q(status=JobStatus.RUNNING, lease_token__isnull=False, lease_expires_at__lt=now)


def jobs_recover(*, now: datetime | None = None) -> list[Recovery]:
    """Send again the message of every job left waiting, and release every job whose
    worker died (attempts + 1, or "Job timed out" once it has died SYNC_MAX_ATTEMPTS
    times without committing a page). Every write is conditional on what was read, so
    two passes at once (two beat processes) send nothing twice and count nothing
    twice."""
    now = now or timezone.now()
    recoveries: list[Recovery] = []
    dead = IngestionJob.objects.filter(_dead_worker(now)).values_list("pk", "lease_token")
    for job_id, token in dead:
        with _one_of_many("job", job_id):
            recovery = _release_dead(job_id, token=token, now=now)
            if recovery is not None:
                recoveries.append(recovery)
    for why, condition in _waiting_conditions(now, backlog_wait(now)):
        for job_id in IngestionJob.objects.filter(condition).values_list("pk", flat=True):
            with _one_of_many("job", job_id):
                if _send_again(job_id, condition=condition, now=now):
                    recoveries.append(Recovery(job_id, why, "requeued"))
                    log.info("maintenance.recovered", job_id=job_id, why=why, action="requeued")
    return recoveries


@contextmanager
def _one_of_many(what: str, pk: int) -> Iterator[None]:
    """One job or installation the pass cannot handle is logged with its traceback; the
    pass goes on for the others."""
    try:
        yield
    except Exception:
        log.exception("maintenance.item_failed", item=what, pk=pk)


def _send_again(job_id: int, *, condition: Q, now: datetime) -> bool:
    with transaction.atomic():
        sent = (
            IngestionJob.objects.filter(condition)
            .filter(pk=job_id)
            .update(requeued_at=now, updated_at=now)
        )
        if sent:
            transaction.on_commit(lambda: enqueue_job(job_id=job_id))
    return bool(sent)


def _release_dead(job_id: int, *, token: uuid.UUID | None, now: datetime) -> Recovery | None:
    why = "lease_expired"
    with transaction.atomic():
        job = (
            IngestionJob.objects.select_for_update()
            .filter(_dead_worker(now), pk=job_id, lease_token=token)
            .first()
        )
        if job is None:  # its worker renewed it, or another pass got there first
            return None
        if job.attempts >= settings.SYNC_MAX_ATTEMPTS:
            job_fail(job, error=TIMED_OUT, kind=ErrorKind.INTERNAL)
            action = "failed"
        else:
            job.attempts += 1
            job.lease_token = None
            job.requeued_at = now
            job.save(update_fields=["attempts", "lease_token", "requeued_at", "updated_at"])
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
        with _one_of_many("installation", pk), transaction.atomic():
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
    unprocessed are sent again too, and history past its retention is pruned."""
    recovered = jobs_recover(now=now)
    repaired = stale_flags_repair(now=now)
    redriven = deliveries_redrive(now=now)
    decisions = installations_request(trigger=Trigger.MAINTENANCE, now=now)
    pruned = history_prune(now=now)
    return MaintenanceReport(recovered, repaired, decisions, redriven, pruned)
