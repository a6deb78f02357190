"""Running an IngestionJob: claim it, read every repository's streams page by page with
a checkpoint after each, and decide what GitHub's answers mean for the job.

One call (`job_run`) is one task run: it ends when the job is finished, blocked by a
rate limit (re-enqueued for the reset), out of its time slice (re-enqueued now), or
waiting to retry a transient failure (re-enqueued with backoff). Every continuation is
a new message for `process_sync_job`; if that message is lost, maintenance finds the
job by its lease and status and enqueues it again.
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from integrations.events import events_upsert
from integrations.github.client import (
    AuthenticationFailed,
    GitHubClient,
    GitHubError,
    GitHubNotConfigured,
    RateLimit,
    RateLimited,
    TransientError,
    client_from_settings,
)
from integrations.models import Installation, InstallationSyncStatus, Repository, StreamState
from sync.models import IngestionJob, JobStatus
from sync.worker.lease import (
    Lease,
    LeaseLost,
    budget_fields,
    installation_update,
    job_claim,
    job_locked,
    job_write,
    lease_seconds,
)
from sync.worker.streams import Cursor, RepositoryReader, Step

log = structlog.get_logger(__name__)

BLOCK_CAP = timedelta(minutes=65)
# `x-ratelimit-reset` is whole epoch seconds; the window may turn up to a second later.
RESET_MARGIN = timedelta(seconds=1)
RETRY_BACKOFF_CAP_SECONDS = 300.0


class Outcome(StrEnum):
    NOT_CLAIMED = "not_claimed"
    COMPLETED = "completed"
    FAILED = "failed"
    BLOCKED = "blocked"
    SLICED = "sliced"
    RETRYING = "retrying"
    LEASE_LOST = "lease_lost"


class _Pause(Exception):
    """Stop before the next request: the remaining budget is down to the reserve."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"budget reserve until {until.isoformat()}")
        self.until = until


class _SliceOver(Exception):
    """This task run has had its time slice."""


def failure_message(count: int) -> str | None:
    """The installation's `last_sync_error` after a job with `count` failed repositories."""
    if count == 0:
        return None
    noun = "repository" if count == 1 else "repositories"
    return f"{count} {noun} could not be synced"


def job_run(*, job_id: int) -> Outcome:
    """Run (a slice of) the job; a no-op returning NOT_CLAIMED when another worker holds
    it or it is not runnable (finished, blocked until later, gone)."""
    now = timezone.now()
    lease = job_claim(job_id=job_id, now=now)
    if lease is None:
        log.debug("sync.job.not_claimed", job_id=job_id)
        return Outcome.NOT_CLAIMED
    job = IngestionJob.objects.select_related("installation").get(pk=job_id)
    with structlog.contextvars.bound_contextvars(
        job_id=job_id, installation_id=job.installation.github_id
    ):
        return _JobRunner(job, lease, claimed_at=now).run()


def _enqueue_after_commit(job_id: int, eta: datetime | None = None) -> None:
    from sync.services import enqueue_job

    transaction.on_commit(lambda: enqueue_job(job_id=job_id, eta=eta))


def _jitter(wait: timedelta) -> timedelta:
    """A little spread so jobs blocked by one reset do not all wake in the same second."""
    return timedelta(seconds=random.uniform(0.0, min(30.0, 0.5 + wait.total_seconds() * 0.02)))


class _JobRunner:
    def __init__(self, job: IngestionJob, lease: Lease, *, claimed_at: datetime) -> None:
        self.job = job
        self.installation: Installation = job.installation
        self.lease = lease
        self.claimed_at = claimed_at
        self.events_ingested = job.events_ingested
        self.stored_budget = _stored_budget(self.installation, claimed_at)
        self.deadline = time.monotonic() + settings.SYNC_SLICE_SECONDS
        self.requests = 0
        self.client: GitHubClient | None = None

    @property
    def last_rate_limit(self) -> RateLimit | None:
        if self.client is not None and self.client.last_rate_limit is not None:
            return self.client.last_rate_limit
        return self.stored_budget

    # ----------------------------------------------------------------- the run

    def run(self) -> Outcome:
        self._started()
        try:
            self.client = client_from_settings(self.installation.github_id)
            self._repositories()
            return self._complete()
        except LeaseLost:
            log.warning("sync.job.lease_lost", job_id=self.job.pk)
            return Outcome.LEASE_LOST
        except _Pause as pause:
            return self._block(pause.until, "budget_reserve")
        except RateLimited as exc:
            if exc.rate_limit is not None:
                self.stored_budget = exc.rate_limit
            margin = RESET_MARGIN if exc.kind == "primary" else timedelta(0)
            return self._block(exc.reset_at + margin, f"{exc.kind}_rate_limit")
        except _SliceOver:
            return self._release_slice()
        except TransientError as exc:
            return self._retry_later(exc)
        except (AuthenticationFailed, GitHubNotConfigured) as exc:
            return self._fail(str(exc))

    def _started(self) -> None:
        first_start = self.job.started_at == self.claimed_at
        with transaction.atomic():
            installation_update(
                self.installation.pk, sync_status=InstallationSyncStatus.SYNCING, blocked_until=None
            )
        if first_start:
            log.info(
                "sync.job.started",
                job_id=self.job.pk,
                installation_id=self.installation.github_id,
                repo_count=len(self.job.repository_ids),
            )

    def _repositories(self) -> None:
        cursor = Cursor.from_json(self.job.checkpoint)
        repository_ids = list(self.job.repository_ids)
        while cursor.repo_index < len(repository_ids):
            repository = Repository.objects.filter(pk=repository_ids[cursor.repo_index]).first()
            if repository is None or not repository.is_active:
                cursor = self._skip_repository(cursor)
                continue
            try:
                self._read_repository(repository, cursor)
            except (RateLimited, TransientError, AuthenticationFailed, GitHubNotConfigured):
                raise
            except GitHubError as exc:  # 404 gone, 403 no access, 451, other 4xx
                cursor = self._fail_repository(repository, cursor, exc)
                continue
            cursor = Cursor.for_repository(cursor.repo_index + 1)

    def _read_repository(self, repository: Repository, cursor: Cursor) -> None:
        assert self.client is not None
        reader = RepositoryReader(
            client=self.client,
            repository=repository,
            states={state.stream: state for state in repository.streams.all()},
            window_since=self.job.since,
            backfill_since=self.claimed_at - timedelta(days=settings.SYNC_BACKFILL_DAYS),
            full=self.job.full,
            overlap=timedelta(seconds=settings.SYNC_OVERLAP_SECONDS),
        )
        while not cursor.finished:
            self._before_request()
            step = reader.step(cursor)
            self.requests += int(step.requested)
            self._commit(repository, step)

    def _before_request(self) -> None:
        budget = self.last_rate_limit
        if (
            budget is not None
            and budget.remaining is not None
            and budget.remaining <= settings.SYNC_MIN_BUDGET
            and budget.reset_at is not None
            and budget.reset_at + RESET_MARGIN > timezone.now()
        ):
            raise _Pause(budget.reset_at + RESET_MARGIN)
        if self.requests and time.monotonic() >= self.deadline:
            raise _SliceOver

    # ----------------------------------------------------------------- per page

    def _commit(self, repository: Repository, step: Step) -> None:
        """The page's events, the checkpoint, the lease and progress, in one transaction;
        when the page ended the repository, its stream states and progress too."""
        cursor = step.cursor
        finished = cursor.finished
        with transaction.atomic():
            written = events_upsert(
                installation=self.installation, repository=repository, events=step.events
            )
            fields: dict[str, Any] = {
                "events_ingested": F("events_ingested") + written,
                "current_repository": repository.full_name,
                "attempts": 0,
            }
            if finished:
                self._store_streams(repository, cursor)
                fields["checkpoint"] = Cursor.for_repository(cursor.repo_index + 1).to_json()
                fields["progress_current"] = cursor.repo_index + 1
            else:
                fields["checkpoint"] = cursor.to_json()
            job_write(self.lease, **fields)
            if finished:
                self._record_budget()
        self.events_ingested += written
        if finished:
            self._progress(cursor.repo_index + 1)

    def _store_streams(self, repository: Repository, cursor: Cursor) -> None:
        for stream, state in cursor.done.items():
            StreamState.objects.update_or_create(
                repository=repository,
                stream=stream,
                defaults={
                    "etag": state["etag"],
                    "etag_url": state["etag_url"],
                    "high_water_mark": datetime.fromisoformat(state["hwm"].replace("Z", "+00:00")),
                    "last_error": None,
                },
            )
        Repository.objects.filter(pk=repository.pk).update(
            last_error=None, last_synced_at=self.job.started_at, updated_at=timezone.now()
        )

    def _record_budget(self) -> None:
        fields = budget_fields(self.last_rate_limit)
        if fields:
            installation_update(self.installation.pk, **fields)

    def _progress(self, current: int) -> None:
        log.info(
            "sync.job.progress",
            job_id=self.job.pk,
            current=current,
            total=self.job.progress_total or len(self.job.repository_ids),
            events_ingested=self.events_ingested,
        )

    def _skip_repository(self, cursor: Cursor) -> Cursor:
        """A repository removed from the installation since the snapshot: nothing to read."""
        following = Cursor.for_repository(cursor.repo_index + 1)
        with transaction.atomic():
            job_write(
                self.lease, checkpoint=following.to_json(), progress_current=following.repo_index
            )
        self._progress(following.repo_index)
        return following

    def _fail_repository(self, repository: Repository, cursor: Cursor, exc: GitHubError) -> Cursor:
        """Record the repository's failure on the job and the repository; go on."""
        following = Cursor.for_repository(cursor.repo_index + 1)
        error = str(exc)
        with transaction.atomic():
            job = job_locked(self.lease)
            job.failures = [
                *job.failures,
                {"repository": repository.full_name, "status": exc.status, "error": error},
            ]
            job.checkpoint = following.to_json()
            job.progress_current = following.repo_index
            job.lease_expires_at = timezone.now() + lease_seconds()
            job.save(
                update_fields=[
                    "failures",
                    "checkpoint",
                    "progress_current",
                    "lease_expires_at",
                    "updated_at",
                ]
            )
            Repository.objects.filter(pk=repository.pk).update(
                last_error=error, updated_at=timezone.now()
            )
        log.warning(
            "sync.repository.failed",
            job_id=self.job.pk,
            repository=repository.full_name,
            status=exc.status,
            error=error,
        )
        self._progress(following.repo_index)
        return following

    # ----------------------------------------------------------------- endings

    def _complete(self) -> Outcome:
        now = timezone.now()
        with transaction.atomic():
            job = job_locked(self.lease)
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
            error = failure_message(len(job.failures))
            installation_update(
                self.installation.pk,
                sync_status=InstallationSyncStatus.IDLE,
                last_synced_at=job.started_at,
                last_sync_error=error,
                last_sync_error_at=now if error else None,
                blocked_until=None,
                **budget_fields(self.last_rate_limit),
            )
        started = job.started_at or now
        log.info(
            "sync.job.completed",
            job_id=job.pk,
            events_ingested=job.events_ingested,
            duration_ms=int((now - started).total_seconds() * 1000),
            failed_repositories=len(job.failures),
        )
        return Outcome.COMPLETED

    def _fail(self, error: str) -> Outcome:
        with transaction.atomic():
            job = job_locked(self.lease)
            job_fail(job, error=error, rate_limit=self.last_rate_limit)
        return Outcome.FAILED

    def _block(self, until: datetime, reason: str) -> Outcome:
        now = timezone.now()
        until = min(max(until, now), now + BLOCK_CAP)
        with transaction.atomic():
            job = job_locked(self.lease)
            job.transition(JobStatus.BLOCKED)
            job.blocked_until = until
            job.lease_token = None
            job.lease_expires_at = None
            job.save(
                update_fields=[
                    "status",
                    "blocked_until",
                    "lease_token",
                    "lease_expires_at",
                    "updated_at",
                ]
            )
            installation_update(
                self.installation.pk,
                sync_status=InstallationSyncStatus.BLOCKED,
                blocked_until=until,
                **budget_fields(self.last_rate_limit),
            )
            _enqueue_after_commit(job.pk, eta=until + _jitter(until - now))
        log.info("sync.job.blocked", job_id=job.pk, blocked_until=until.isoformat(), reason=reason)
        return Outcome.BLOCKED

    def _release_slice(self) -> Outcome:
        with transaction.atomic():
            job_write(self.lease, lease_token=None)
            self._record_budget()
            _enqueue_after_commit(self.job.pk)
        log.info("sync.job.sliced", job_id=self.job.pk, requests=self.requests)
        return Outcome.SLICED

    def _retry_later(self, exc: TransientError) -> Outcome:
        """Retry from the checkpoint with backoff; after SYNC_MAX_ATTEMPTS, fail."""
        now = timezone.now()
        with transaction.atomic():
            job = job_locked(self.lease)
            if job.attempts >= settings.SYNC_MAX_ATTEMPTS:
                job_fail(job, error=str(exc), rate_limit=self.last_rate_limit)
                return Outcome.FAILED
            job.attempts += 1
            job.lease_token = None
            job.lease_expires_at = now + lease_seconds()
            job.save(update_fields=["attempts", "lease_token", "lease_expires_at", "updated_at"])
            wait = timedelta(seconds=min(RETRY_BACKOFF_CAP_SECONDS, 2.0**job.attempts))
            _enqueue_after_commit(job.pk, eta=now + wait + _jitter(wait))
        log.warning(
            "sync.job.retrying",
            job_id=job.pk,
            attempts=job.attempts,
            retry_in_s=round(wait.total_seconds(), 1),
            error=str(exc),
        )
        return Outcome.RETRYING


def job_fail(job: IngestionJob, *, error: str, rate_limit: RateLimit | None = None) -> None:
    """Fail a locked job and put its installation in `error` with the raw error."""
    now = timezone.now()
    job.transition(JobStatus.FAILED)
    job.error = error
    job.finished_at = now
    job.lease_token = None
    job.lease_expires_at = None
    job.save(
        update_fields=[
            "status",
            "error",
            "finished_at",
            "lease_token",
            "lease_expires_at",
            "updated_at",
        ]
    )
    installation_update(
        job.installation_id,
        sync_status=InstallationSyncStatus.ERROR,
        last_sync_error=error,
        last_sync_error_at=now,
        blocked_until=None,
        **budget_fields(rate_limit),
    )
    log.error("sync.job.failed", job_id=job.pk, error=error)


def _stored_budget(installation: Installation, now: datetime) -> RateLimit | None:
    """The budget recorded on the installation, while its window has not reset."""
    reset_at = installation.rate_limit_reset_at
    if installation.rate_limit_remaining is None or reset_at is None:
        return None
    if reset_at + RESET_MARGIN <= now:
        return None
    return RateLimit(
        limit=installation.rate_limit_limit,
        remaining=installation.rate_limit_remaining,
        used=None,
        reset_at=reset_at,
        resource="core",
    )
