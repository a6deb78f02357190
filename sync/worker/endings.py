"""How a task run of a job ends: completed, failed, blocked by a rate limit, out of its
time slice, or waiting to retry a transient failure. Each is one transaction on the job
(conditional on the lease) and its installation; every continuation is a new message
for `process_sync_job`, sent after commit. If that message is lost, maintenance finds
the job by its status, lease and `blocked_until` and enqueues it again."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations.github.client import RateLimit
from integrations.models import ErrorKind, InstallationSyncStatus, sync_status_move
from sync.models import IngestionJob, JobStatus
from sync.policy import cap_blocked_until
from sync.queue import enqueue_job
from sync.wording import partial_failure_message
from sync.worker.lease import (
    Lease,
    budget_fields,
    budget_record,
    job_locked,
    job_write,
    lease_seconds,
)

log = structlog.get_logger("sync.worker")

RETRY_BACKOFF_CAP_SECONDS = 300.0
JITTER_MIN_SECONDS = 3.0
JITTER_MAX_SECONDS = 30.0


def _enqueue_after_commit(job_id: int, eta: datetime | None = None) -> None:
    transaction.on_commit(lambda: enqueue_job(job_id=job_id, eta=eta))


def eta_jitter(wait: timedelta) -> timedelta:
    """A little spread so jobs blocked by one reset do not all wake in the same second,
    and never less than JITTER_MIN_SECONDS: a worker whose clock is a little behind
    the one that blocked the job still finds it claimable when the message arrives."""
    spread = min(JITTER_MAX_SECONDS, JITTER_MIN_SECONDS + 0.5 + wait.total_seconds() * 0.02)
    return timedelta(seconds=random.uniform(JITTER_MIN_SECONDS, spread))


def job_complete(*, lease: Lease, rate_limit: RateLimit | None) -> IngestionJob:
    """Completed; the installation idle, synced as of the job's first start (never
    "now": activity during the run would fall in a gap), with the partial-failure
    message or NULL, and the budget of the last response."""
    now = timezone.now()
    with transaction.atomic():
        job = job_locked(lease)
        job.transition(JobStatus.COMPLETED)
        job.finished_at = now
        job.lease_token = None
        job.lease_expires_at = None
        job.current_repository = ""
        job.save(
            update_fields=[
                "status",
                "finished_at",
                "lease_token",
                "lease_expires_at",
                "current_repository",
                "updated_at",
            ]
        )
        failed = len(job.failures)
        sync_status_move(
            installation_id=job.installation_id,
            to=InstallationSyncStatus.IDLE,
            last_synced_at=job.started_at,
            last_sync_error=partial_failure_message(failed) if failed else None,
            last_sync_error_kind=ErrorKind.PARTIAL if failed else None,
            last_sync_failed_repositories=failed,
            last_sync_error_at=now if failed else None,
            blocked_until=None,
            **budget_fields(rate_limit),
        )
    log.info(
        "sync.job.completed",
        job_id=job.pk,
        events_ingested=job.events_ingested,
        duration_ms=int((now - (job.started_at or now)).total_seconds() * 1000),
        failed_repositories=len(job.failures),
    )
    return job


def job_fail(
    job: IngestionJob, *, error: str, kind: ErrorKind, rate_limit: RateLimit | None = None
) -> None:
    """Fail a locked job and put its installation in `error` with the error's kind (what
    a person reads) and its raw text (what logs and the admin read)."""
    now = timezone.now()
    job.transition(JobStatus.FAILED)
    job.error = error
    job.error_kind = kind
    job.finished_at = now
    job.lease_token = None
    job.lease_expires_at = None
    job.save(
        update_fields=[
            "status",
            "error",
            "error_kind",
            "finished_at",
            "lease_token",
            "lease_expires_at",
            "updated_at",
        ]
    )
    sync_status_move(
        installation_id=job.installation_id,
        to=InstallationSyncStatus.ERROR,
        last_sync_error=error,
        last_sync_error_kind=kind,
        last_sync_failed_repositories=0,
        last_sync_error_at=now,
        blocked_until=None,
        **budget_fields(rate_limit),
    )
    log.error("sync.job.failed", job_id=job.pk, error=error, error_kind=str(kind))


def job_fail_leased(
    *, lease: Lease, error: str, kind: ErrorKind, rate_limit: RateLimit | None
) -> None:
    with transaction.atomic():
        job_fail(job_locked(lease), error=error, kind=kind, rate_limit=rate_limit)


def job_block(
    *, lease: Lease, until: datetime, reason: str, rate_limit: RateLimit | None
) -> datetime:
    """Blocked until `until` (capped at 65 minutes), recorded on the installation too,
    and re-enqueued with that `eta` plus jitter. Returns the (capped) time."""
    now = timezone.now()
    until = cap_blocked_until(max(until, now), now)
    with transaction.atomic():
        job = job_locked(lease)
        job.transition(JobStatus.BLOCKED)
        job.blocked_until = until
        job.blocked_reason = reason
        job.lease_token = None
        job.lease_expires_at = None
        job.save(
            update_fields=[
                "status",
                "blocked_until",
                "blocked_reason",
                "lease_token",
                "lease_expires_at",
                "updated_at",
            ]
        )
        sync_status_move(
            installation_id=job.installation_id,
            to=InstallationSyncStatus.BLOCKED,
            blocked_until=until,
            **budget_fields(rate_limit),
        )
        _enqueue_after_commit(job.pk, eta=until + eta_jitter(until - now))
    log.info("sync.job.blocked", job_id=job.pk, blocked_until=until.isoformat(), reason=reason)
    return until


def job_release_slice(*, lease: Lease, rate_limit: RateLimit | None, requests: int) -> None:
    """End of a time slice: the job stays `running`, its lease is released and it goes
    back to the queue behind the other installations' work."""
    with transaction.atomic():
        job_write(lease, lease_token=None)
        if rate_limit is not None:
            job = IngestionJob.objects.only("installation_id").get(pk=lease.job_id)
            budget_record(job.installation_id, rate_limit)
        _enqueue_after_commit(lease.job_id)
    log.info("sync.job.sliced", job_id=lease.job_id, requests=requests)


def job_retry_later(
    *, lease: Lease, error: str, kind: ErrorKind, rate_limit: RateLimit | None
) -> bool:
    """After a transient failure: retry from the checkpoint with exponential backoff,
    or fail once the job has been retried SYNC_MAX_ATTEMPTS times without progress.
    True when a retry was scheduled."""
    now = timezone.now()
    with transaction.atomic():
        job = job_locked(lease)
        if job.attempts >= settings.SYNC_MAX_ATTEMPTS:
            job_fail(job, error=error, kind=kind, rate_limit=rate_limit)
            return False
        job.attempts += 1
        job.lease_token = None
        job.lease_expires_at = now + lease_seconds()
        job.save(update_fields=["attempts", "lease_token", "lease_expires_at", "updated_at"])
        wait = timedelta(seconds=min(RETRY_BACKOFF_CAP_SECONDS, 2.0**job.attempts))
        _enqueue_after_commit(job.pk, eta=now + wait + eta_jitter(wait))
    log.warning(
        "sync.job.retrying",
        job_id=job.pk,
        attempts=job.attempts,
        retry_in_s=round(wait.total_seconds(), 1),
        error=error,
    )
    return True
