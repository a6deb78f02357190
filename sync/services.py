"""SyncService: the one place a sync is asked for, and the only code that creates an
IngestionJob. Every caller (webhook, beat, Sync now, admin, commands, maintenance)
calls `request_sync` and gets a `SyncDecision` back."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import structlog
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.models import (
    Installation,
    InstallationMember,
    InstallationSyncStatus,
    Repository,
)
from sync.models import ACTIVE_JOB_STATUSES, IngestionJob, JobStatus
from sync.policy import (
    Action,
    PolicyConfig,
    Reason,
    SyncDecision,
    SyncState,
    Trigger,
    evaluate,
    sync_window,
)
from sync.queue import enqueue_job
from sync.state import (
    BUDGET_RESERVE,
    paused_for_reserve,
    policy_config,
    sync_state_for,
)

log = structlog.get_logger(__name__)


class InstallationNotFound(Exception):
    """No installation has that primary key."""


def request_sync(
    *,
    installation_id: int,
    trigger: Trigger,
    actor: User | None = None,
    full: bool = False,
    since: datetime | None = None,
    now: datetime | None = None,
) -> SyncDecision:
    """Decide whether to sync `installation_id` (primary key) now, and start it if so.

    `since` asks for history on demand: a full sync whose window starts there, however
    far back (it must be in the past). Without it the window is the policy's, with the
    installation's own backfill depth when it has one.

    The installation row is locked for the decision; the partial unique constraint on
    active jobs is the backstop when two requests race anyway. The worker is enqueued
    after commit; if the broker is down the job stays pending for maintenance."""
    now = now or timezone.now()
    if since is not None and since >= now:
        raise ValueError("since must be in the past")
    config = policy_config()
    # Read first: the common "a job is already active" answer needs no lock, so a burst
    # of requests for an installation that is syncing never queues on its row, and one
    # query (_read_state), so it costs each of them little.
    installation, state = _read_state(installation_id)
    decision = evaluate(state, trigger, now, config)
    if not state.has_active_job or decision.reason != Reason.ALREADY_SYNCING:
        with transaction.atomic():
            installation = _lock_installation(installation_id)
            decision = _decide_locked(
                installation,
                trigger=trigger,
                actor=actor,
                full=full,
                since=since,
                now=now,
                config=config,
            )
    log.info(
        "sync.request",
        installation_id=installation.github_id,
        trigger=str(trigger),
        action=str(decision.action),
        reason=str(decision.reason),
        job_id=decision.job_id,
    )
    return decision


def _decide(
    installation: Installation, *, trigger: Trigger, now: datetime, config: PolicyConfig
) -> tuple[SyncDecision, IngestionJob | None, list[int]]:
    """The policy's decision on what is stored now, the active job, the repositories."""
    active_repository_ids = list(
        installation.repositories.filter(is_active=True)
        .order_by("full_name", "id")
        .values_list("id", flat=True)
    )
    active_job = (
        IngestionJob.objects.filter(installation=installation, status__in=ACTIVE_JOB_STATUSES)
        .only("status", "blocked_reason", "keeps_reserve")
        .first()
    )
    state = sync_state_for(
        installation,
        has_owner=InstallationMember.objects.filter(installation=installation).exists(),
        active_repository_count=len(active_repository_ids),
        has_active_job=active_job is not None,
        active_job_paused_for_reserve=paused_for_reserve(active_job),
    )
    return evaluate(state, trigger, now, config), active_job, active_repository_ids


def _decide_locked(
    installation: Installation,
    *,
    trigger: Trigger,
    actor: User | None,
    full: bool,
    since: datetime | None,
    now: datetime,
    config: PolicyConfig,
) -> SyncDecision:
    """Decide again holding the row lock, and act on the decision."""
    if not IngestionJob.objects.filter(
        installation=installation, status__in=ACTIVE_JOB_STATUSES
    ).exists():
        sync_status_repair(installation=installation, now=now)
    decision, active_job, repository_ids = _decide(
        installation, trigger=trigger, now=now, config=config
    )
    if decision.action == Action.START and active_job is not None:
        return _release_reserve(
            installation, job_id=active_job.pk, decision=decision, trigger=trigger, now=now
        )
    if decision.action == Action.START:
        return _start_job(
            installation,
            decision=decision,
            trigger=trigger,
            actor=actor,
            full=full or since is not None,
            since=since,
            now=now,
            repository_ids=repository_ids,
        )
    if decision.reason == Reason.RATE_LIMITED:
        _refused_for_rate_limit(installation, decision.metadata["blocked_until"])
    return decision


def _state_sql() -> str:
    """The one query of `_read_state`: the installation's row and the four facts the
    policy reads beside it. Hand-written because it is the hot path of a burst of
    requests: compiling the same query through the ORM costs several times more CPU
    than running it. Table names and statuses come from the models."""
    job = IngestionJob._meta.db_table
    active = ", ".join(f"'{status}'" for status in ACTIVE_JOB_STATUSES)
    # Only names and statuses from the models go into the text; values are parameters.
    return f"""
        SELECT i.*,
            EXISTS (SELECT 1 FROM {InstallationMember._meta.db_table} m
                    WHERE m.installation_id = i.id) AS has_owner,
            (SELECT COUNT(*) FROM {Repository._meta.db_table} r
             WHERE r.installation_id = i.id AND r.is_active) AS active_repository_count,
            EXISTS (SELECT 1 FROM {job} j
                    WHERE j.installation_id = i.id AND j.status IN ({active})) AS has_active_job,
            EXISTS (SELECT 1 FROM {job} j
                    WHERE j.installation_id = i.id AND j.status = '{JobStatus.BLOCKED}'
                      AND j.blocked_reason = %s AND j.keeps_reserve) AS paused_for_reserve
        FROM {Installation._meta.db_table} i
        WHERE i.id = %s
    """  # noqa: S608


def _read_state(installation_id: int) -> tuple[Installation, SyncState]:
    """The installation and the policy's state, read in one query and no lock: the
    facts `_decide` reads in four (tests/sync/test_request_sync.py holds them equal)."""
    rows = list(Installation.objects.raw(_STATE_SQL, [BUDGET_RESERVE, installation_id]))
    if not rows:
        raise InstallationNotFound(f"No installation with id {installation_id}")
    row = rows[0]
    facts = row.__dict__  # the extra columns of the query, as RawQuerySet sets them
    state = sync_state_for(
        row,
        has_owner=bool(facts["has_owner"]),
        active_repository_count=int(facts["active_repository_count"]),
        has_active_job=bool(facts["has_active_job"]),
        active_job_paused_for_reserve=bool(facts["paused_for_reserve"]),
    )
    return row, state


_STATE_SQL = _state_sql()


def _refused_for_rate_limit(installation: Installation, blocked_until: datetime) -> None:
    """Record the refusal's `blocked_until`; the installation shows `blocked` until then.
    An installation in `error` stays there (SPEC §7: error "whatever refusals came
    after it"): the view-model shows the block while it lasts, then the error again."""
    if installation.sync_status == InstallationSyncStatus.ERROR:
        installation.blocked_until = blocked_until
        installation.save(update_fields=["blocked_until", "updated_at"])
        return
    installation.move_sync_status(InstallationSyncStatus.BLOCKED, blocked_until=blocked_until)


def _lock_installation(installation_id: int) -> Installation:
    try:
        return Installation.objects.select_for_update().get(pk=installation_id)
    except Installation.DoesNotExist as exc:
        raise InstallationNotFound(f"No installation with id {installation_id}") from exc


def sync_status_repair(*, installation: Installation, now: datetime) -> bool:
    """`syncing` (or a `blocked` whose time has passed) with no active job is left over
    from a crash: back to `idle`. The caller holds the row lock and knows there is no
    active job. Returns whether anything was repaired."""
    stale_syncing = installation.sync_status == InstallationSyncStatus.SYNCING
    expired_block = installation.sync_status == InstallationSyncStatus.BLOCKED and (
        installation.blocked_until is None or installation.blocked_until <= now
    )
    if not (stale_syncing or expired_block):
        return False
    log.warning(
        "sync.status.repaired", installation_id=installation.github_id, was=installation.sync_status
    )
    installation.move_sync_status(InstallationSyncStatus.IDLE)
    return True


def _start_job(
    installation: Installation,
    *,
    decision: SyncDecision,
    trigger: Trigger,
    actor: User | None,
    full: bool,
    since: datetime | None,
    now: datetime,
    repository_ids: list[int],
) -> SyncDecision:
    config = policy_config()
    if installation.backfill_days:
        config = replace(config, backfill_days=installation.backfill_days)
    if since is None:
        since = sync_window(installation.last_synced_at, now, full, config)
    try:
        with transaction.atomic():
            job = IngestionJob.objects.create(
                installation=installation,
                trigger=str(trigger),
                actor=actor if actor is not None and actor.pk is not None else None,
                full=full,
                status=JobStatus.PENDING,
                since=since,
                repository_ids=repository_ids,
                progress_total=len(repository_ids),
                keeps_reserve=trigger == Trigger.CRON,
            )
    except IntegrityError:
        # Another request won the race for the one active job.
        return SyncDecision(Action.SKIP, Reason.ALREADY_SYNCING)
    manual = {"last_manual_sync_at": now} if trigger == Trigger.MANUAL else {}
    installation.move_sync_status(
        InstallationSyncStatus.SYNCING,
        last_sync_error=None,
        last_sync_error_kind=None,
        last_sync_failed_repositories=0,
        last_sync_error_at=None,
        blocked_until=None,
        **manual,
    )
    job_id = job.pk
    transaction.on_commit(lambda: enqueue_job(job_id=job_id))
    return decision.with_job(job_id)


def _release_reserve(
    installation: Installation,
    *,
    job_id: int,
    decision: SyncDecision,
    trigger: Trigger,
    now: datetime,
) -> SyncDecision:
    """A person asked for a sync while a cron job is paused at the reserve: the job
    resumes now and may spend down to the minimum. Conditional on the pause, so a
    worker that took the job meanwhile wins and the request is `already_syncing`."""
    released = IngestionJob.objects.filter(
        pk=job_id, status=JobStatus.BLOCKED, blocked_reason=BUDGET_RESERVE, keeps_reserve=True
    ).update(keeps_reserve=False, blocked_until=None, blocked_reason="", updated_at=now)
    if not released:
        return SyncDecision(Action.SKIP, Reason.ALREADY_SYNCING)
    manual = {"last_manual_sync_at": now} if trigger == Trigger.MANUAL else {}
    installation.move_sync_status(InstallationSyncStatus.SYNCING, blocked_until=None, **manual)
    transaction.on_commit(lambda: enqueue_job(job_id=job_id))
    return decision.with_job(job_id)


def new_repositories_follow_up(*, job_id: int) -> SyncDecision | None:
    """After a job completes: repositories added while it ran (their webhook's request
    found this job active and was skipped) are not in its snapshot, so ask for a sync
    that covers them. None when there were none."""
    job = IngestionJob.objects.only("installation_id", "repository_ids").get(pk=job_id)
    added = (
        Repository.objects.filter(installation_id=job.installation_id, is_active=True)
        .exclude(pk__in=job.repository_ids)
        .exists()
    )
    if not added:
        return None
    return request_sync(installation_id=job.installation_id, trigger=Trigger.WEBHOOK)
