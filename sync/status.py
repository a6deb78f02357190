"""The status view-model (SPEC §7): what a person is told about an installation.

The banner, the health card, the status API and `manage.py sync_status` read only
this, never the job table. Whether "Sync now" would start comes from the policy
(`evaluate(state, "manual", now)`), so no page or view re-implements a rule.

`get_status_for_user` answers for every installation a user is a member of in a
constant number of queries (three), whatever their count."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery

from integrations.models import (
    ErrorKind,
    Installation,
    InstallationMember,
    InstallationStatus,
    InstallationSyncStatus,
    Repository,
)
from sync.models import ACTIVE_JOB_STATUSES, IngestionJob, JobStatus
from sync.policy import (
    Action,
    Reason,
    Resource,
    available_budget,
    evaluate,
    inactive_message,
    user_message,
)
from sync.state import paused_for_reserve, policy_config, sync_state_for
from sync.wording import partial_failure_message

# How long the banner says "Synced 12 repositories, 340 new events" after a job ends.
RECENT_COMPLETION = timedelta(minutes=5)


class State(StrEnum):
    IDLE = "idle"
    SYNCING = "syncing"
    BLOCKED = "blocked"
    ERROR = "error"


# --------------------------------------------------------------------------- errors

RATE_LIMIT_MESSAGE = "GitHub rate limit reached. Sync will resume automatically."
AUTHENTICATION_MESSAGE = "GitHub authentication failed. Reinstall or reconnect the app."
NETWORK_MESSAGE = "Could not reach GitHub. Sync will retry."
GENERIC_MESSAGE = "Sync failed. It will be retried."

# The sentence of each kind (SPEC §7); `partial` and `suspended` say more than a kind.
ERROR_MESSAGES: dict[str, str] = {
    ErrorKind.RATE_LIMIT: RATE_LIMIT_MESSAGE,
    ErrorKind.AUTHENTICATION: AUTHENTICATION_MESSAGE,
    ErrorKind.NETWORK: NETWORK_MESSAGE,
    ErrorKind.INTERNAL: GENERIC_MESSAGE,
}

# A repository GitHub will not let ghsync read, by the HTTP status it answered.
UNAVAILABLE_MESSAGES: dict[int, str] = {
    404: "Repository not found on GitHub",
    410: "Repository not found on GitHub",
    451: "Unavailable for legal reasons",
    403: "The app has no access to this repository",
}


def error_message(
    kind: str | None,
    *,
    failed_repositories: int = 0,
    installation_status: str = InstallationStatus.ACTIVE,
) -> str:
    """The one sentence a person reads for an error of `kind` (SPEC §7). A row stored
    before kinds existed has none: it reads as `internal`."""
    if kind == ErrorKind.PARTIAL:
        return partial_failure_message(failed_repositories)
    if kind == ErrorKind.SUSPENDED:
        return inactive_message(installation_status)
    return ERROR_MESSAGES.get(kind or ErrorKind.INTERNAL, GENERIC_MESSAGE)


def installation_error(installation: Installation) -> str | None:
    """The installation's `last_sync_error` as a person reads it; None when it has none."""
    if not installation.last_sync_error and installation.last_sync_error_kind is None:
        return None
    return error_message(
        installation.last_sync_error_kind,
        failed_repositories=installation.last_sync_failed_repositories,
        installation_status=installation.status,
    )


def job_error(job: IngestionJob) -> str | None:
    """A finished job's error as a person reads it; None when it has none."""
    if not job.error and job.error_kind is None:
        return None
    return error_message(job.error_kind)


def repository_error(repository: Repository) -> str | None:
    """A repository's own failure (404, 403, 451…) in plain words; None when it has none."""
    if not repository.last_error and repository.last_error_kind is None:
        return None
    if repository.last_error_kind == ErrorKind.UNAVAILABLE:
        return UNAVAILABLE_MESSAGES.get(repository.last_error_status or 0, GENERIC_MESSAGE)
    return error_message(repository.last_error_kind)


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class FailedRepository:
    full_name: str
    error: str


@dataclass(frozen=True)
class CompletedJob:
    """The installation's last finished job, for "Synced 12 repositories, 340 new events"."""

    status: str
    repositories: int
    events_ingested: int
    finished_at: datetime


@dataclass(frozen=True)
class SyncStatus:
    """One installation as a person should see it. `as_dict()` is the §7 object."""

    installation_id: int  # the GitHub id
    account_login: str
    state: State
    can_sync_now: bool
    cooldown_ms: int | None
    blocked_until: datetime | None
    active_job_progress: dict[str, Any] | None
    last_synced_at: datetime | None
    last_sync_error: str | None
    unavailable_reason: str | None
    # What the health card and banner need beyond the §7 object.
    installation_status: str = InstallationStatus.ACTIVE
    active_job_status: str | None = None
    active_job_started_at: datetime | None = None
    next_sync_at: datetime | None = None
    rate_limit_remaining: int | None = None
    rate_limit_limit: int | None = None
    # GitHub's GraphQL budget (points), beside the REST one; shown while the sync spends it.
    graphql_remaining: int | None = None
    graphql_limit: int | None = None
    spends_graphql: bool = True
    failed_repositories: tuple[FailedRepository, ...] = ()
    last_completed_job: CompletedJob | None = None
    now: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """The SPEC §7 object, JSON-ready (datetimes as ISO 8601)."""
        return {
            "installation_id": self.installation_id,
            "account_login": self.account_login,
            "state": str(self.state),
            "can_sync_now": self.can_sync_now,
            "cooldown_ms": self.cooldown_ms,
            "blocked_until": _iso(self.blocked_until),
            "active_job_progress": dict(self.active_job_progress)
            if self.active_job_progress is not None
            else None,
            "last_synced_at": _iso(self.last_synced_at),
            "last_sync_error": self.last_sync_error,
            "unavailable_reason": self.unavailable_reason,
        }

    # -- conveniences for templates (no policy here: only presentation of the fields)

    @property
    def is_active(self) -> bool:
        """Something is happening that the page should follow live."""
        return self.state in (State.SYNCING, State.BLOCKED)

    @property
    def recently_completed(self) -> CompletedJob | None:
        job = self.last_completed_job
        if job is None or self.state != State.IDLE or self.now is None:
            return None
        if job.status != JobStatus.COMPLETED or self.now - job.finished_at > RECENT_COMPLETION:
            return None
        return job

    @property
    def budget_percent(self) -> int | None:
        return _percent(self.rate_limit_remaining, self.rate_limit_limit)

    @property
    def graphql_budget_percent(self) -> int | None:
        return _percent(self.graphql_remaining, self.graphql_limit)


def _percent(remaining: int | None, limit: int | None) -> int | None:
    if remaining is None or not limit:
        return None
    return max(0, min(100, round(100 * remaining / limit)))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


# --------------------------------------------------------------------------- queries


def get_status(installation: Installation, now: datetime) -> SyncStatus:
    """The view-model of one installation (three queries)."""
    statuses = _statuses(Installation.objects.filter(pk=installation.pk), now)
    if not statuses:
        raise Installation.DoesNotExist(f"installation {installation.pk} no longer exists")
    return statuses[0]


def get_status_for_user(user: User | AnonymousUser, now: datetime) -> list[SyncStatus]:
    """Every installation `user` is a member of (superusers too: membership rules), in
    three queries whatever their count."""
    if not user.is_authenticated:
        return []
    member_of = InstallationMember.objects.filter(user=user, installation=OuterRef("pk"))
    return _statuses(Installation.objects.filter(Exists(member_of)), now)


def get_status_for_all(now: datetime) -> list[SyncStatus]:
    """Every installation (for `manage.py sync_status`), in three queries."""
    return _statuses(Installation.objects.all(), now)


def _statuses(installations: QuerySet[Installation], now: datetime) -> list[SyncStatus]:
    last_finished = IngestionJob.objects.filter(
        installation=OuterRef("pk"), status__in=[JobStatus.COMPLETED, JobStatus.FAILED]
    ).order_by("-finished_at", "-id")
    rows = list(
        installations.annotate(
            has_owner=Exists(InstallationMember.objects.filter(installation=OuterRef("pk"))),
            active_repository_count=Subquery(
                Repository.objects.filter(installation=OuterRef("pk"), is_active=True)
                .order_by()
                .values("installation")
                .annotate(n=Count("id"))
                .values("n"),
                output_field=IntegerField(),
            ),
            last_job_status=Subquery(last_finished.values("status")[:1]),
            last_job_total=Subquery(last_finished.values("progress_total")[:1]),
            last_job_events=Subquery(last_finished.values("events_ingested")[:1]),
            last_job_finished_at=Subquery(last_finished.values("finished_at")[:1]),
        ).order_by("account_login", "github_id")
    )
    if not rows:
        return []
    scope = Q(installation__in=installations.values("pk"))
    active_jobs = {
        job.installation_id: job
        for job in IngestionJob.objects.filter(scope, status__in=ACTIVE_JOB_STATUSES).only(
            "installation_id",
            "status",
            "progress_current",
            "progress_total",
            "events_ingested",
            "current_repository",
            "blocked_until",
            "blocked_reason",
            "keeps_reserve",
            "started_at",
            "created_at",
        )
    }
    failures: dict[int, list[FailedRepository]] = defaultdict(list)
    for repository in (
        Repository.objects.filter(scope, is_active=True)
        .filter(Q(last_error__isnull=False) | Q(last_error_kind__isnull=False))
        .only("installation_id", "full_name", "last_error", "last_error_kind", "last_error_status")
        .order_by("full_name")
    ):
        error = repository_error(repository)
        if error is not None:
            failures[repository.installation_id].append(
                FailedRepository(full_name=repository.full_name, error=error)
            )
    return [
        _build(
            row,
            now=now,
            active_job=active_jobs.get(row.pk),
            failed_repositories=tuple(failures.get(row.pk, ())),
        )
        for row in rows
    ]


def _build(
    installation: Any,
    *,
    now: datetime,
    active_job: IngestionJob | None,
    failed_repositories: tuple[FailedRepository, ...],
) -> SyncStatus:
    config = policy_config()
    policy_state = sync_state_for(
        installation,
        has_owner=bool(installation.has_owner),
        active_repository_count=installation.active_repository_count or 0,
        has_active_job=active_job is not None,
        active_job_paused_for_reserve=paused_for_reserve(active_job),
    )
    decision = evaluate(policy_state, "manual", now, config)
    can_sync_now = decision.action == Action.START

    state, blocked_until = _state_of(installation, active_job, now)
    last_sync_error = installation_error(installation)
    if state == State.ERROR and last_sync_error is None:
        last_sync_error = GENERIC_MESSAGE

    progress = None
    if active_job is not None:
        progress = {
            "current": active_job.progress_current,
            "total": active_job.progress_total,
            "events_ingested": active_job.events_ingested,
            "current_repository": active_job.current_repository or None,
        }

    # A stored number whose window has reset reads as the full limit, as the policy
    # reads it; an unknown one stays unknown ("Not known yet").
    remaining = installation.rate_limit_remaining
    if remaining is not None:
        remaining = available_budget(policy_state, now, Resource.CORE)
    graphql_remaining = installation.graphql_remaining
    if graphql_remaining is not None:
        graphql_remaining = available_budget(policy_state, now, Resource.GRAPHQL)

    completed = None
    if installation.last_job_finished_at is not None:
        completed = CompletedJob(
            status=installation.last_job_status,
            repositories=installation.last_job_total or 0,
            events_ingested=installation.last_job_events or 0,
            finished_at=installation.last_job_finished_at,
        )

    return SyncStatus(
        installation_id=installation.github_id,
        account_login=installation.account_login,
        state=state,
        can_sync_now=can_sync_now,
        cooldown_ms=decision.metadata.get("cooldown_ms")
        if decision.reason == Reason.COOLDOWN_ACTIVE
        else None,
        blocked_until=blocked_until,
        active_job_progress=progress,
        last_synced_at=installation.last_synced_at,
        last_sync_error=last_sync_error,
        unavailable_reason=None if can_sync_now else user_message(decision),
        installation_status=installation.status,
        active_job_status=active_job.status if active_job is not None else None,
        active_job_started_at=(active_job.started_at or active_job.created_at)
        if active_job is not None
        else None,
        next_sync_at=_next_sync_at(installation, state, blocked_until, now),
        rate_limit_remaining=remaining,
        rate_limit_limit=installation.rate_limit_limit,
        graphql_remaining=graphql_remaining,
        graphql_limit=installation.graphql_limit,
        spends_graphql=config.spends_graphql,
        failed_repositories=failed_repositories,
        last_completed_job=completed,
        now=now,
    )


def _state_of(
    installation: Installation, active_job: IngestionJob | None, now: datetime
) -> tuple[State, datetime | None]:
    """SPEC §7: syncing while the active job is pending or running; blocked while it is
    blocked or while the installation is refused for the rate limit; error when the
    last job failed; otherwise idle."""
    if active_job is not None:
        if active_job.status == JobStatus.BLOCKED:
            return State.BLOCKED, active_job.blocked_until or installation.blocked_until
        return State.SYNCING, None
    if installation.blocked_until is not None and installation.blocked_until > now:
        return State.BLOCKED, installation.blocked_until
    if installation.sync_status == InstallationSyncStatus.ERROR:
        return State.ERROR, None
    return State.IDLE, None


def _next_sync_at(
    installation: Installation, state: State, blocked_until: datetime | None, now: datetime
) -> datetime | None:
    """When beat's periodic request will next find the installation due (never in the
    past: an overdue installation is picked up by the next beat run)."""
    if installation.status != InstallationStatus.ACTIVE:
        return None
    if state == State.BLOCKED and blocked_until is not None:
        return blocked_until
    if state == State.SYNCING:
        return None
    if installation.last_synced_at is None:
        return now
    due = installation.last_synced_at + timedelta(seconds=settings.SYNC_CRON_DUE_AFTER_SECONDS)
    return max(due, now)
