"""Running an IngestionJob: claim it, read every repository's streams page by page with
a checkpoint after each, and decide what GitHub's answers mean for the job.

One call (`job_run`) is one task run: it ends when the job is finished, blocked by a
rate limit (re-enqueued for the reset), out of its time slice (re-enqueued now), or
waiting to retry a transient failure (re-enqueued with backoff). Every continuation is
a new message for `process_sync_job`; if that message is lost, maintenance finds the
job by its lease and status and enqueues it again.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import structlog
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from integrations.events import events_annotate, events_upsert, parse_github_time
from integrations.github.client import (
    AuthenticationFailed,
    GitHubClient,
    GitHubError,
    GitHubNotConfigured,
    GraphQLUnavailable,
    RateLimit,
    RateLimited,
    RepositoryUnavailable,
    TransientError,
    client_from_settings,
)
from integrations.github.graphql import CHANGES_PER_QUERY
from integrations.models import (
    ErrorKind,
    EventKind,
    Installation,
    InstallationStatus,
    InstallationSyncStatus,
    Repository,
    StreamState,
    sync_status_move,
)
from sync.models import IngestionJob
from sync.policy import budget_floor, inactive_message
from sync.state import BUDGET_RESERVE, policy_config
from sync.worker.endings import (
    job_block,
    job_complete,
    job_fail_leased,
    job_release_slice,
    job_retry_later,
)
from sync.worker.graphql_streams import GraphQLRepositoryReader, changes
from sync.worker.lease import (
    Lease,
    LeaseLost,
    budget_record,
    budget_spent,
    budget_stored,
    job_claim,
    job_locked,
    job_write,
    lease_seconds,
)
from sync.worker.streams import Cursor, RepositoryReader, Step

log = structlog.get_logger(__name__)

# `x-ratelimit-reset` is whole epoch seconds; the window may turn up to a second later.
RESET_MARGIN = timedelta(seconds=1)
# Prefetching overlaps a page's write with the next request's wait on the network
# (GitHub answers in tens to hundreds of milliseconds). When answers take less (a
# server on the same machine), there is no wait to overlap: the thread handoffs only
# cost, so pages are read one after another.
PREFETCH_MIN_ELAPSED_SECONDS = 0.01


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


class _Stopped(Exception):
    """The installation was suspended or removed while the job ran."""

    def __init__(self, installation_status: str) -> None:
        super().__init__(inactive_message(installation_status))


# Never turned into a failure: the control flow of a run, GitHub's answers the run
# handles itself, and the database going away (the worker reconnects; a task that died
# with it is recovered by maintenance as a dead worker).
UNEXPECTED_SPARED: tuple[type[BaseException], ...] = (
    _Pause,
    _SliceOver,
    _Stopped,
    LeaseLost,
    RateLimited,
    TransientError,
    AuthenticationFailed,
    GitHubNotConfigured,
    OperationalError,
    InterfaceError,
)
UNEXPECTED_MESSAGE_MAX = 200


def unexpected_message(exc: BaseException) -> str:
    """A short, one-line description of an unexpected error (the log has the rest)."""
    detail = " ".join(str(exc).split())
    message = f"Unexpected error: {type(exc).__name__}" + (f": {detail}" if detail else "")
    if len(message) > UNEXPECTED_MESSAGE_MAX:
        message = message[: UNEXPECTED_MESSAGE_MAX - 1] + "…"
    return message


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


class _JobRunner:
    def __init__(self, job: IngestionJob, lease: Lease, *, claimed_at: datetime) -> None:
        self.job = job
        self.installation: Installation = job.installation
        self.lease = lease
        self.claimed_at = claimed_at
        self.events_ingested = job.events_ingested
        # The budgets recorded on the installation, while their windows have not reset
        # (`x-ratelimit-reset` is whole seconds: the window may turn a second later).
        recorded_as_of = claimed_at - RESET_MARGIN
        self.stored_budget = budget_stored(self.installation, "core", recorded_as_of)
        self.stored_graphql_budget = budget_stored(self.installation, "graphql", recorded_as_of)
        self.keeps_reserve = job.keeps_reserve
        self.deadline = time.monotonic() + settings.SYNC_SLICE_SECONDS
        self.requests = 0
        # Spent since the last page written (added to the job's figures with it).
        self.rest_requests = 0
        self.graphql_points = 0
        self.graphql = settings.SYNC_GRAPHQL != "off"  # SPEC §5a
        self.client: GitHubClient | None = None
        # How far back a stream never read before starts: the installation's own depth.
        self.backfill_days = self.installation.backfill_days or settings.SYNC_BACKFILL_DAYS

    @property
    def last_graphql_rate_limit(self) -> RateLimit | None:
        """The GraphQL points left: from the last answer, else as recorded."""
        if self.client is not None and self.client.last_graphql_rate_limit is not None:
            return self.client.last_graphql_rate_limit
        return self.stored_graphql_budget

    @property
    def last_rate_limit(self) -> RateLimit | None:
        if self.client is not None and self.client.last_rate_limit is not None:
            return self.client.last_rate_limit
        return self.stored_budget

    # ----------------------------------------------------------------- the run

    def run(self) -> Outcome:
        self._started()
        try:
            return self._run()
        finally:
            if self.client is not None and self.client.last_graphql_rate_limit is not None:
                budget_record(self.installation.pk, self.client.last_graphql_rate_limit)

    def _run(self) -> Outcome:
        try:
            try:
                self.client = client_from_settings(self.installation.github_id)
                self._repositories()
            except _Pause as pause:
                self._block(pause.until, BUDGET_RESERVE)
                return Outcome.BLOCKED
            except RateLimited as exc:
                if exc.rate_limit is not None and exc.rate_limit.resource != "graphql":
                    self.stored_budget = exc.rate_limit
                margin = RESET_MARGIN if exc.kind == "primary" else timedelta(0)
                self._block(exc.reset_at + margin, f"{exc.kind}_rate_limit")
                return Outcome.BLOCKED
            except _SliceOver:
                job_release_slice(
                    lease=self.lease, rate_limit=self.last_rate_limit, requests=self.requests
                )
                return Outcome.SLICED
            except TransientError as exc:
                retrying = job_retry_later(
                    lease=self.lease,
                    error=str(exc),
                    kind=ErrorKind.NETWORK,
                    rate_limit=self.last_rate_limit,
                )
                return Outcome.RETRYING if retrying else Outcome.FAILED
            except (AuthenticationFailed, GitHubNotConfigured) as exc:
                job_fail_leased(
                    lease=self.lease,
                    error=str(exc),
                    kind=ErrorKind.AUTHENTICATION,
                    rate_limit=self.last_rate_limit,
                )
                return Outcome.FAILED
            except _Stopped as stop:
                if self.client is not None:  # its token must not outlive the installation
                    self.client.app.forget_token(self.installation.github_id)
                job_fail_leased(
                    lease=self.lease,
                    error=str(stop),
                    kind=ErrorKind.SUSPENDED,
                    rate_limit=self.last_rate_limit,
                )
                return Outcome.FAILED
            job_complete(lease=self.lease, rate_limit=self.last_rate_limit)
            return Outcome.COMPLETED
        except LeaseLost:
            log.warning("sync.job.lease_lost", job_id=self.job.pk)
            return Outcome.LEASE_LOST
        except UNEXPECTED_SPARED:
            raise
        except Exception as exc:  # a bug outside any one repository: fail, never stuck
            log.exception("sync.job.unexpected_error", job_id=self.job.pk)
            job_fail_leased(
                lease=self.lease,
                error=unexpected_message(exc),
                kind=ErrorKind.INTERNAL,
                rate_limit=self.last_rate_limit,
            )
            return Outcome.FAILED

    def _block(self, until: datetime, reason: str) -> None:
        job_block(lease=self.lease, until=until, reason=reason, rate_limit=self.last_rate_limit)

    def _started(self) -> None:
        first_start = self.job.started_at == self.claimed_at
        with transaction.atomic():
            sync_status_move(
                installation_id=self.installation.pk,
                to=InstallationSyncStatus.SYNCING,
                blocked_until=None,
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
                if self._checks_changes(cursor) and cursor.repo_index >= cursor.planned_to:
                    self._check_changes(cursor, repository_ids)
                streams = (
                    cursor.plan.get(str(repository.pk)) if self._checks_changes(cursor) else None
                )
                if streams == []:
                    cursor = self._unchanged_repository(repository, cursor)
                    continue
                self._read_repository(repository, cursor, streams)
            except GraphQLUnavailable:
                if settings.SYNC_GRAPHQL == "on":
                    raise
                log.warning(
                    "sync.graphql.unavailable",
                    message="GitHub's GraphQL API answered 404: this run reads through REST",
                )
                cursor = cursor.restart()
                cursor.rest_only, cursor.plan, cursor.pushed, cursor.planned_to = True, {}, {}, 0
                continue
            except (RateLimited, TransientError, AuthenticationFailed, GitHubNotConfigured):
                raise
            except GitHubError as exc:  # 404 gone, 403 no access, 451, other 4xx
                cursor = self._fail_repository(repository, cursor, exc)
                continue
            except UNEXPECTED_SPARED:
                raise
            except Exception as exc:  # a malformed item, a value no column holds, a bug
                log.exception("sync.repository.unexpected_error", repository=repository.full_name)
                cursor = self._fail_repository(repository, cursor, exc)
                continue
            cursor = cursor.following()

    # ----------------------------------------------------------------- change check

    def _uses_graphql(self, cursor: Cursor) -> bool:
        return self.graphql and not cursor.rest_only

    def _checks_changes(self, cursor: Cursor) -> bool:
        """A regular sync asks GraphQL which repositories have news; a full one re-reads
        everything (SPEC §5)."""
        return self._uses_graphql(cursor) and not self.job.full

    def _check_changes(self, cursor: Cursor, repository_ids: list[int]) -> None:
        """The change check for the next 100 repositories of the snapshot; its answer
        rides in the cursor, written with the next page."""
        assert self.client is not None
        self._still_active()
        self._before_request()
        batch = repository_ids[cursor.repo_index : cursor.repo_index + CHANGES_PER_QUERY]
        found = {r.pk: r for r in Repository.objects.filter(pk__in=batch, is_active=True)}
        repositories = [found[pk] for pk in batch if pk in found]
        plan, pushed, points = changes(self.client, repositories)
        self.requests += 1
        self.graphql_points += points
        cursor.plan, cursor.pushed = plan, pushed
        cursor.planned_to = cursor.repo_index + len(batch)
        with transaction.atomic():  # a slice ending now does not ask again
            job_write(self.lease, checkpoint=cursor.to_json(), **self._spent())
        log.info(
            "sync.changes.checked",
            repositories=len(repositories),
            with_news=sum(1 for streams in plan.values() if streams),
            points=points,
        )

    def _unchanged_repository(self, repository: Repository, cursor: Cursor) -> Cursor:
        """Nothing new since the repository's last sync (the change check says so):
        nothing to read, and it counts as synced now."""
        following = cursor.following()
        with transaction.atomic():
            self._synced(repository, cursor)
            job_write(
                self.lease,
                checkpoint=following.to_json(),
                progress_current=following.repo_index,
                **self._spent(),
            )
        self._progress(following.repo_index)
        return following

    def _spent(self) -> dict[str, Any]:
        """The budget spent since the last write, as increments of the job's figures."""
        fields = budget_spent(rest_requests=self.rest_requests, graphql_points=self.graphql_points)
        self.rest_requests = self.graphql_points = 0
        return fields

    # ----------------------------------------------------------------- reading

    def _read_repository(
        self, repository: Repository, cursor: Cursor, streams: list[str] | None = None
    ) -> None:
        assert self.client is not None
        reader_class: type[RepositoryReader] = RepositoryReader
        extra: dict[str, Any] = {}
        if self._uses_graphql(cursor):
            reader_class, extra = GraphQLRepositoryReader, {"streams": streams}
        reader = reader_class(
            **extra,
            client=self.client,
            repository=repository,
            states={state.stream: state for state in repository.streams.all()},
            window_since=self.job.since,
            backfill_since=self.claimed_at - timedelta(days=self.backfill_days),
            full=self.job.full,
            overlap=timedelta(seconds=settings.SYNC_OVERLAP_SECONDS),
        )
        try:
            while not cursor.finished:
                self._still_active()
                if not reader.prefetching:  # else the request was made already
                    self._before_request()
                step = reader.step(cursor)
                self.requests += int(step.requested)
                if step.points:
                    self.graphql_points += step.points
                elif step.requested:
                    self.rest_requests += 1
                self._prefetch(reader, step.cursor)
                self._commit(repository, step)
        finally:
            reader.close()

    def _prefetch(self, reader: RepositoryReader, cursor: Cursor) -> None:
        """Start the next request while this page is written, when it is one the next
        step makes anyway and the run would make it now: within the budget reserve and
        the time slice (so a prefetched page is always used, never wasted)."""
        if not settings.SYNC_PREFETCH or reader.prefetching:  # one request at a time
            return
        assert self.client is not None
        elapsed = self.client.last_elapsed
        if elapsed is None or elapsed < PREFETCH_MIN_ELAPSED_SECONDS:
            return
        url = reader.upcoming(cursor)
        if url is None or self._reserve_reached() is not None or self._slice_over():
            return
        reader.prefetch(url)

    def _still_active(self) -> None:
        """Stop at the next page once the installation is suspended or removed."""
        status = (
            Installation.objects.filter(pk=self.installation.pk)
            .values_list("status", flat=True)
            .first()
        )
        if status != InstallationStatus.ACTIVE:
            raise _Stopped(status or InstallationStatus.DELETED)

    def _before_request(self) -> None:
        until = self._reserve_reached()
        if until is not None:
            raise _Pause(until)
        if self._slice_over():
            raise _SliceOver

    def _reserve_reached(self) -> datetime | None:
        """When a remaining budget (REST, or GraphQL when the run spends it) is below the
        job's floor (the minimum, plus the cron reserve for a job cron started): the
        time to wait until."""
        budgets = [self.last_rate_limit]
        if self.graphql:
            budgets.append(self.last_graphql_rate_limit)
        waits = []
        now = timezone.now()
        for budget in budgets:
            if budget is None or budget.remaining is None or budget.reset_at is None:
                continue
            floor = budget_floor(
                keeps_reserve=self.keeps_reserve, limit=budget.limit, config=policy_config()
            )
            if budget.remaining < floor and budget.reset_at + RESET_MARGIN > now:
                waits.append(budget.reset_at + RESET_MARGIN)
        return max(waits) if waits else None

    def _slice_over(self) -> bool:
        return bool(self.requests) and time.monotonic() >= self.deadline

    # ----------------------------------------------------------------- per page

    def _commit(self, repository: Repository, step: Step) -> None:
        """The page's events, the checkpoint, the lease and progress, in one transaction;
        when the page ended the repository, its stream states and progress too."""
        cursor = step.cursor
        finished = cursor.finished
        with transaction.atomic():
            _relaxed_commit()
            written = events_upsert(
                installation=self.installation, repository=repository, events=step.events
            )
            events_annotate(repository=repository, kind=EventKind.COMMIT, notes=step.notes)
            fields: dict[str, Any] = {
                "events_ingested": F("events_ingested") + written,
                "current_repository": repository.full_name,
                "attempts": 0,
                **self._spent(),
            }
            if finished:
                self._store_streams(repository, cursor)
                fields["checkpoint"] = cursor.following().to_json()
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
                    "etag_scope": state.get("etag_scope", ""),
                    "last_modified": state.get("last_modified", ""),
                    "high_water_mark": parse_github_time(state["hwm"]),
                    "last_error": None,
                },
            )
        self._synced(repository, cursor)

    def _synced(self, repository: Repository, cursor: Cursor) -> None:
        """The repository is read as of the job's start: no error, and the last push
        the change check saw."""
        Repository.objects.filter(pk=repository.pk).update(
            last_error=None,
            last_error_kind=None,
            last_error_status=None,
            last_synced_at=self.job.started_at,
            updated_at=timezone.now(),
            **_pushed(cursor, repository),
        )

    def _record_budget(self) -> None:
        budget_record(self.installation.pk, self.last_rate_limit)

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
        following = cursor.following()
        with transaction.atomic():
            job_write(
                self.lease, checkpoint=following.to_json(), progress_current=following.repo_index
            )
        self._progress(following.repo_index)
        return following

    def _fail_repository(self, repository: Repository, cursor: Cursor, exc: Exception) -> Cursor:
        """Record the repository's failure on the job and the repository; go on. GitHub
        refusing the repository, or anything unexpected (kind `internal`, a short
        message; the traceback was logged once by the caller)."""
        following = cursor.following()
        if isinstance(exc, GitHubError):
            error = str(exc)
            status: int | None = exc.status
            kind = (
                ErrorKind.UNAVAILABLE
                if isinstance(exc, RepositoryUnavailable)
                else ErrorKind.INTERNAL
            )
        else:
            status, kind, error = None, ErrorKind.INTERNAL, unexpected_message(exc)
        with transaction.atomic():
            job = job_locked(self.lease)
            job.failures = [
                *job.failures,
                {
                    "repository": repository.full_name,
                    "status": status,
                    "kind": str(kind),
                    "error": error,
                },
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
            spent = self._spent()
            if spent:
                job_write(self.lease, **spent)
            Repository.objects.filter(pk=repository.pk).update(
                last_error=error,
                last_error_kind=kind,
                last_error_status=status,
                updated_at=timezone.now(),
            )
        log.warning(
            "sync.repository.failed",
            job_id=self.job.pk,
            repository=repository.full_name,
            status=status,
            error_kind=str(kind),
            error=error,
        )
        self._progress(following.repo_index)
        return following


def _pushed(cursor: Cursor, repository: Repository) -> dict[str, Any]:
    """GitHub's `pushedAt` from the change check, stored once the repository is read: a
    later check reads its commits again only after another push."""
    pushed = parse_github_time(cursor.pushed.get(str(repository.pk)))
    return {"pushed_at": pushed} if pushed is not None else {}


def _relaxed_commit() -> None:
    """Let this page's COMMIT return before its WAL record is flushed to disk.

    Safe for the per-page transaction: the page's events and the checkpoint that says
    they are stored (at a repository's end, its stream states too) commit together or
    not at all, and the upsert is idempotent. A commit lost in a database crash
    (PostgreSQL never loses it half-way) therefore rolls the job back to the previous
    checkpoint: that page is read again and written again, never skipped and never
    duplicated. Only this transaction is relaxed (SET LOCAL); job endings are not."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
