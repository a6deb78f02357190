"""The worker against the running simulator over HTTP: what a sync stores and spends."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from structlog.testing import capture_logs

from integrations.models import ErrorKind, Event, InstallationSyncStatus, Repository, StreamState
from sync.models import IngestionJob, JobStatus
from sync.policy import Trigger
from sync.status import AUTHENTICATION_MESSAGE, NETWORK_MESSAGE, State, get_status
from sync.tasks import process_sync_job
from sync.worker import Outcome
from tests.worker.support import (
    World,
    drive,
    start_job,
    stored_events,
    sync_once,
    time_passes_until_unblocked,
)

pytestmark = pytest.mark.django_db

StartWorld = Callable[..., World]


def _events(logs: Sequence[Mapping[str, Any]], name: str) -> list[Mapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


def test_full_backfill_stores_exactly_the_expected_events(
    start_world: StartWorld, fast_settings: Any
) -> None:
    world = start_world(size="1x3x16")
    installation = world.installation()
    job_id = start_job(installation)

    with capture_logs() as logs:
        assert drive(job_id) == [Outcome.COMPLETED]

    job = IngestionJob.objects.get(pk=job_id)
    stored = stored_events(installation)
    expected = world.expected(installation.github_id, job.since)
    assert expected - stored == set()  # nothing missing
    assert stored - world.true_events(installation.github_id) == set()  # nothing invented
    assert Event.objects.filter(installation=installation).count() == len(stored)
    # The special cases are in the expected set, so they are stored: authorless commits
    # (git name, no account) and commits of merged PRs dated before the window.
    authorless = Event.objects.filter(kind="commit", actor_github_id__isnull=True)
    assert authorless.exists() and all(e.actor_login for e in authorless)
    assert Event.objects.filter(
        kind="commit", data__committed_at__lt=job.since.isoformat()
    ).exists()
    # A perfect client's cost for this window; ours reads the repositories from the DB.
    assert world.spent(1001) <= world.sim.server.min_requests(1001, job.since, timezone.now())

    assert job.status == JobStatus.COMPLETED and job.error is None and job.failures == []
    assert (job.progress_current, job.progress_total) == (3, 3)
    assert job.events_ingested >= len(stored) and job.lease_token is None
    installation.refresh_from_db()
    assert installation.sync_status == InstallationSyncStatus.IDLE
    assert installation.last_synced_at == job.started_at
    assert installation.last_sync_error is None
    assert installation.rate_limit_remaining == 5000 - world.spent(1001)
    assert installation.rate_limit_limit == 5000 and installation.rate_limit_reset_at is not None
    started = _events(logs, "sync.job.started")
    assert started == [{**started[0], "job_id": job_id, "installation_id": 1001, "repo_count": 3}]
    progress = _events(logs, "sync.job.progress")
    assert [(p["current"], p["total"]) for p in progress] == [(1, 3), (2, 3), (3, 3)]
    assert progress[-1]["events_ingested"] == job.events_ingested
    (completed,) = _events(logs, "sync.job.completed")
    assert completed["events_ingested"] == job.events_ingested
    assert completed["failed_repositories"] == 0 and completed["duration_ms"] >= 0


@pytest.mark.usefixtures("rest_only")
def test_resync_with_nothing_changed_spends_only_the_empty_repositorys_request(
    start_world: StartWorld, fast_settings: Any
) -> None:
    world = start_world(size="1x3x16")  # repo-2 is empty
    installation = world.installation()
    first = sync_once(installation)
    before = stored_events(installation)
    world.sim.server.reset_stats()

    second = sync_once(installation)  # the first incremental run after the backfill

    assert world.spent(1001) == 1
    world.sim.server.reset_stats()

    third = sync_once(installation)

    stats = world.sim.server.stats()
    assert world.spent(1001) == 1
    # Every request answered 304 (two repositories x 5 listings, and the empty one's 4
    # other listings) but the empty repository's commits: a 409 each run.
    assert stats["requests_total"] == 2 * 5 + 5
    assert stats["not_modified_total"] == 2 * 5 + 4 and stats["requests_by_status"][409] == 1
    assert stored_events(installation) == before
    assert second.events_ingested == third.events_ingested == 0
    assert (
        StreamState.objects.filter(repository__installation=installation).exclude(etag="").count()
        == 14
    )
    installation.refresh_from_db()
    assert installation.last_synced_at == third.started_at
    assert third.started_at and first.started_at and third.started_at > first.started_at


def _next_second() -> None:
    time.sleep(1.05 - (time.time() % 1))


def test_sync_after_new_activity_picks_it_up_and_updates_an_edited_comment(
    start_world: StartWorld, fast_settings: Any
) -> None:
    world = start_world(size="1x3x16")
    installation = world.installation()
    sync_once(installation)
    sync_once(installation)
    # GitHub's times are whole seconds, and GraphQL's change check reads a stream again
    # when its newest update is later than the newest one it stored: activity in the
    # very second of that update, after the read, waits for a later change (or its
    # webhook). The dataset's newest updates are dated the second it was made.
    _next_second()
    new: set[tuple[str, str, str]] = set()
    for kind in ("commit", "pr_opened", "pr_merged", "pr_closed", "review_submitted",
                 "issue_opened", "issue_closed", "issue_comment", "review_comment"):  # fmt: skip
        created = world.sim.server.add_activity(kind, installation_id=1001, repo="org-1/repo-1")
        new |= {tuple(e) for e in created["events"]}
    world.sim.server.add_activity("comment_edited", repo="org-1/repo-3")
    edited_id = str(
        max(
            _sim_repo(world, "org-1/repo-3").comments,
            key=lambda c: (c.created_at, c.id),
        ).id
    )
    edited_before = Event.objects.get(kind="issue_comment", github_id=edited_id)
    world.sim.server.add_activity("review_comment_edited", repo="org-1/repo-3")
    note_id = str(
        max(
            _sim_repo(world, "org-1/repo-3").review_comments,
            key=lambda c: (c.created_at, c.id),
        ).id
    )
    note_before = Event.objects.get(kind="review_comment", github_id=note_id)
    before = stored_events(installation)
    assert not new & before

    job = sync_once(installation)

    stored = stored_events(installation)
    assert new <= stored
    assert stored - before == new
    assert stored <= world.true_events(1001)
    edited = Event.objects.get(kind="issue_comment", github_id=edited_id)
    assert edited.pk == edited_before.pk and edited.first_seen_at == edited_before.first_seen_at
    assert edited.data["updated_at"] != edited_before.data["updated_at"]
    note = Event.objects.get(kind="review_comment", github_id=note_id)
    assert (note.pk, note.first_seen_at) == (note_before.pk, note_before.first_seen_at)
    assert note.title == f"{note_before.title} (edited)"
    assert note.occurred_at == note_before.occurred_at
    assert job.events_ingested >= len(new)


@pytest.mark.usefixtures("rest_only")
@pytest.mark.parametrize("limit_status", [403, 429])
def test_primary_rate_limit_blocks_the_job_until_the_reset_and_it_resumes_exactly(
    start_world: StartWorld, fast_settings: Any, limit_status: int
) -> None:
    fast_settings.SYNC_MIN_BUDGET = -1  # no reserve: run into the limit itself
    world = start_world(size="1x1x10", budget=6, window_seconds=1, limit_status=limit_status)
    installation = world.installation()
    job_id = start_job(installation)

    with capture_logs() as logs:
        outcomes = drive(job_id, sim=world.sim)

    assert outcomes[0] == Outcome.BLOCKED and outcomes[-1] == Outcome.COMPLETED
    blocked = _events(logs, "sync.job.blocked")
    assert blocked and {b["reason"] for b in blocked} == {"primary_rate_limit"}
    assert world.sim.server.stats()["requests_by_status"].get(limit_status, 0) >= 1
    job = IngestionJob.objects.get(pk=job_id)
    assert world.expected(1001, job.since) <= stored_events(installation) <= world.true_events(1001)
    installation.refresh_from_db()
    assert installation.sync_status == InstallationSyncStatus.IDLE
    assert installation.blocked_until is None and job.blocked_until is None


@pytest.mark.usefixtures("rest_only")
def test_job_is_blocked_with_blocked_until_at_the_reset_and_the_installation_too(
    start_world: StartWorld, fast_settings: Any
) -> None:
    fast_settings.SYNC_MIN_BUDGET = -1
    world = start_world(size="1x1x10", budget=3, window_seconds=30)
    installation = world.installation()
    job_id = start_job(installation)

    with capture_logs() as logs:
        assert _run_once(job_id) == Outcome.BLOCKED

    job = IngestionJob.objects.get(pk=job_id)
    reset = world.sim.server.stats()["budgets"][1001]["reset"]
    assert job.status == JobStatus.BLOCKED and job.lease_token is None
    assert job.blocked_until is not None
    assert abs(job.blocked_until.timestamp() - reset) <= 2
    installation.refresh_from_db()
    assert installation.sync_status == InstallationSyncStatus.BLOCKED
    assert installation.blocked_until == job.blocked_until
    assert installation.rate_limit_remaining == 0
    (blocked,) = _events(logs, "sync.job.blocked")
    assert blocked["job_id"] == job_id and blocked["reason"] == "primary_rate_limit"
    # A message delivered before the reset does nothing.
    assert _run_once(job_id) == Outcome.NOT_CLAIMED


@pytest.mark.usefixtures("rest_only")
def test_budget_reserve_pauses_before_the_limit_requesting_only_while_the_minimum_remains(
    start_world: StartWorld, fast_settings: Any
) -> None:
    fast_settings.SYNC_MIN_BUDGET = 5
    world = start_world(size="1x1x10", budget=10, window_seconds=1)
    installation = world.installation()
    job_id = start_job(installation)
    outcomes: list[Outcome] = []
    remaining_at_pause: list[int] = []

    with capture_logs() as logs:
        while not outcomes or outcomes[-1] != Outcome.COMPLETED:
            outcomes.append(_run_once(job_id))
            if outcomes[-1] == Outcome.BLOCKED:
                remaining_at_pause.append(world.sim.server.stats()["budgets"][1001]["remaining"])
                time_passes_until_unblocked(job_id, sim=world.sim)
            assert len(outcomes) < 30

    assert remaining_at_pause and all(r == 4 for r in remaining_at_pause)  # never below 5 - 1
    assert {b["reason"] for b in _events(logs, "sync.job.blocked")} == {"budget_reserve"}
    assert world.sim.server.stats()["requests_by_status"].get(403, 0) == 0
    job = IngestionJob.objects.get(pk=job_id)
    assert world.expected(1001, job.since) <= stored_events(installation) <= world.true_events(1001)


@pytest.mark.usefixtures("rest_only")
def test_a_job_started_at_exactly_the_minimum_budget_makes_progress_before_it_pauses(
    start_world: StartWorld, fast_settings: Any
) -> None:
    """The policy starts at remaining == minimum; the worker makes a request at that
    budget too (the same comparison), so "Sync started" is not followed by "Paused"
    before anything happened."""
    fast_settings.SYNC_MIN_BUDGET = 5
    world = start_world(size="1x1x10")
    world.sim.server.set_budget(1001, remaining=5, limit=5000, reset_in=30)
    installation = world.installation()
    reset = timezone.now() + timedelta(seconds=30)
    type(installation).objects.filter(pk=installation.pk).update(
        rate_limit_limit=5000, rate_limit_remaining=5, rate_limit_reset_at=reset
    )
    job_id = start_job(installation)

    assert _run_once(job_id) == Outcome.BLOCKED

    assert world.spent(1001) == 1
    assert IngestionJob.objects.get(pk=job_id).events_ingested > 0


@pytest.mark.usefixtures("rest_only")
def test_a_cron_job_pauses_at_the_reserve_and_sync_now_lets_it_spend_down_to_the_minimum(
    start_world: StartWorld, fast_settings: Any
) -> None:
    from sync.services import request_sync

    fast_settings.SYNC_MIN_BUDGET = 5
    fast_settings.SYNC_CRON_RESERVE = 10
    world = start_world(size="1x2x16", budget=25, window_seconds=60)
    installation = world.installation()
    job_id = start_job(installation, trigger=Trigger.CRON)

    with capture_logs() as logs:
        assert _run_once(job_id) == Outcome.BLOCKED
    assert world.sim.server.stats()["budgets"][1001]["remaining"] == 14  # floor 15
    assert [b["reason"] for b in _events(logs, "sync.job.blocked")] == ["budget_reserve"]
    installation.refresh_from_db()
    assert installation.rate_limit_remaining == 14

    decision = request_sync(installation_id=installation.pk, trigger=Trigger.MANUAL)
    assert (str(decision.action), decision.job_id) == ("start", job_id)

    assert _run_once(job_id) == Outcome.BLOCKED  # at once, down to the minimum
    assert world.sim.server.stats()["budgets"][1001]["remaining"] == 4  # floor 5
    assert world.sim.server.stats()["requests_by_status"].get(403, 0) == 0


def _poison(world: World) -> str:
    """Comments whose author id no column can hold, in the installation's first
    repository with comments. Returns that repository's name."""
    from simulator.dataset import User

    for repo in world.sim.dataset.installations[1001].repositories:
        if repo.comments:
            for comment in repo.comments:
                comment.user = User(login="poison", id=2**70)
            return repo.full_name
    raise AssertionError("no repository with comments")


@pytest.mark.usefixtures("rest_only")
def test_an_unexpected_error_fails_that_repository_and_the_job_goes_on(
    start_world: StartWorld, fast_settings: Any
) -> None:
    world = start_world(size="1x3x10")
    poisoned = _poison(world)
    installation = world.installation()
    job_id = start_job(installation)

    with capture_logs() as logs:
        assert drive(job_id) == [Outcome.COMPLETED]

    job = IngestionJob.objects.get(pk=job_id)
    assert job.lease_token is None and job.progress_current == job.progress_total == 3
    (failure,) = job.failures
    assert failure["repository"] == poisoned and failure["kind"] == "internal"
    assert failure["error"].startswith("Unexpected error: ValueError")
    assert len(failure["error"]) <= 200 and "\n" not in failure["error"]
    tracebacks = [e for e in logs if e.get("exc_info")]
    assert [e["event"] for e in tracebacks] == ["sync.repository.unexpected_error"]
    stored = {key for key in stored_events(installation) if key[0] != poisoned}
    expected = {key for key in world.expected(1001, job.since) if key[0] != poisoned}
    assert expected <= stored  # every other repository complete
    installation.refresh_from_db()
    assert installation.sync_status == InstallationSyncStatus.IDLE
    assert installation.last_sync_error == "1 repository could not be synced"

    # The poison stays: every later sync still completes the rest.
    later = sync_once(installation, full=True)
    assert [f["repository"] for f in later.failures] == [poisoned]


def test_secondary_rate_limit_blocks_for_retry_after_then_completes(
    start_world: StartWorld, fast_settings: Any
) -> None:
    world = start_world(size="1x2x10")
    world.sim.server.set_faults(secondary_next=2, secondary_retry_after=1)
    installation = world.installation()
    job_id = start_job(installation)

    with capture_logs() as logs:
        outcomes = drive(job_id)

    assert outcomes == [Outcome.BLOCKED, Outcome.BLOCKED, Outcome.COMPLETED]
    blocked = _events(logs, "sync.job.blocked")
    assert [b["reason"] for b in blocked] == ["secondary_rate_limit"] * 2
    job = IngestionJob.objects.get(pk=job_id)
    assert world.expected(1001, job.since) <= stored_events(installation) <= world.true_events(1001)


def test_transient_storm_is_retried_from_the_checkpoint_and_ends_exact(
    start_world: StartWorld, fast_settings: Any
) -> None:
    world = start_world(size="1x2x10")
    installation = world.installation()
    job_id = start_job(installation)
    world.sim.server.set_faults(fail_next=4)  # outlasts the client's 3 retries

    with capture_logs() as logs:
        outcomes = drive(job_id)

    assert outcomes[0] == Outcome.RETRYING and outcomes[-1] == Outcome.COMPLETED
    assert _events(logs, "sync.job.retrying")[0]["attempts"] == 1
    by_status = world.sim.server.stats()["requests_by_status"]
    assert sum(count for status, count in by_status.items() if status >= 500) == 4
    job = IngestionJob.objects.get(pk=job_id)
    assert job.status == JobStatus.COMPLETED and job.attempts == 0
    assert world.expected(1001, job.since) <= stored_events(installation) <= world.true_events(1001)


def test_transient_failures_past_the_attempt_limit_fail_the_job(
    start_world: StartWorld, fast_settings: Any
) -> None:
    fast_settings.SYNC_MAX_ATTEMPTS = 0
    world = start_world(size="1x1x4")
    installation = world.installation()
    job_id = start_job(installation)
    world.sim.server.set_faults(fail_next=4)

    with capture_logs() as logs:
        assert drive(job_id) == [Outcome.FAILED]

    job = IngestionJob.objects.get(pk=job_id)
    assert job.status == JobStatus.FAILED and "after 4 attempts" in (job.error or "")
    installation.refresh_from_db()
    assert installation.sync_status == InstallationSyncStatus.ERROR
    assert installation.last_sync_error == job.error
    assert _events(logs, "sync.job.failed")[0]["error"] == job.error


def test_authentication_failure_fails_the_job_and_puts_the_installation_in_error(
    start_world: StartWorld, fast_settings: Any
) -> None:
    world = start_world(size="1x1x4")
    world.sim.server.configure(auth_failure=True)
    installation = world.installation()
    job_id = start_job(installation)

    assert drive(job_id) == [Outcome.FAILED]

    job = IngestionJob.objects.get(pk=job_id)
    assert "401" in (job.error or "") and job.error_kind == ErrorKind.AUTHENTICATION
    installation.refresh_from_db()
    assert installation.sync_status == InstallationSyncStatus.ERROR
    assert installation.last_sync_error == job.error and installation.last_synced_at is None
    assert installation.last_sync_error_kind == ErrorKind.AUTHENTICATION
    assert get_status(installation, timezone.now()).last_sync_error == AUTHENTICATION_MESSAGE


def test_a_502_on_a_repository_named_token_service_reads_could_not_reach_github(
    start_world: StartWorld, fast_settings: Any
) -> None:
    """The kind is chosen where the typed exception is caught; the stored words (here a
    repository name with "token" in it) never choose what a person reads."""
    fast_settings.SYNC_MAX_ATTEMPTS = 0
    world = start_world(size="1x1x4")
    installation = world.installation()
    repository = installation.repositories.get()
    with world.sim.dataset.lock:
        renamed = next(r for r in world.sim.dataset.repositories() if r.id == repository.github_id)
        renamed.owner, renamed.name = "acme", "token-service"
    Repository.objects.filter(pk=repository.pk).update(full_name="acme/token-service")
    job_id = start_job(installation)
    # Outlasts the client's retries; only the repository's own requests fail.
    world.sim.server.set_faults(
        fail_next=4, fail_status=502, fail_path="/repos/acme/token-service/"
    )

    assert drive(job_id) == [Outcome.FAILED]

    job = IngestionJob.objects.get(pk=job_id)
    assert "/repos/acme/token-service/" in (job.error or "") and "502" in (job.error or "")
    assert job.error_kind == ErrorKind.NETWORK
    installation.refresh_from_db()
    assert installation.sync_status == InstallationSyncStatus.ERROR
    assert installation.last_sync_error == job.error  # the raw text stays, for logs and admin
    assert installation.last_sync_error_kind == ErrorKind.NETWORK
    status = get_status(installation, timezone.now())
    assert status.state == State.ERROR
    assert status.last_sync_error == NETWORK_MESSAGE == "Could not reach GitHub. Sync will retry."


def test_deleted_repository_is_recorded_and_skipped_and_an_empty_one_is_no_failure(
    start_world: StartWorld, fast_settings: Any
) -> None:
    world = start_world(size="3x3x8")  # 1003: repo-2 empty, repo-3 deleted
    installation = world.installation(1003)
    job_id = start_job(installation)

    with capture_logs() as logs:
        assert drive(job_id) == [Outcome.COMPLETED]

    job = IngestionJob.objects.get(pk=job_id)
    assert [(f["repository"], f["status"], f["kind"]) for f in job.failures] == [
        ("org-3/repo-3", 404, ErrorKind.UNAVAILABLE)
    ]
    assert (job.progress_current, job.progress_total) == (3, 3)
    assert world.expected(1003, job.since) <= stored_events(installation) <= world.true_events(1003)
    assert not Event.objects.filter(repository__full_name__in=["org-3/repo-2", "org-3/repo-3"])
    repositories = {r.full_name: r for r in installation.repositories.all()}
    assert "404" in (repositories["org-3/repo-3"].last_error or "")
    assert repositories["org-3/repo-3"].last_error_kind == ErrorKind.UNAVAILABLE
    assert repositories["org-3/repo-3"].last_error_status == 404
    assert repositories["org-3/repo-2"].last_error is None
    assert repositories["org-3/repo-2"].last_synced_at == job.started_at
    installation.refresh_from_db()
    assert installation.sync_status == InstallationSyncStatus.IDLE
    assert installation.last_sync_error == "1 repository could not be synced"
    assert installation.last_sync_error_kind == ErrorKind.PARTIAL
    assert installation.last_sync_failed_repositories == 1
    assert installation.last_synced_at == job.started_at
    assert _events(logs, "sync.job.completed")[0]["failed_repositories"] == 1
    status = get_status(installation, timezone.now())
    assert (status.state, status.last_sync_error) == (
        State.IDLE,
        "1 repository could not be synced",
    )
    assert [(f.full_name, f.error) for f in status.failed_repositories] == [
        ("org-3/repo-3", "Repository not found on GitHub")
    ]


def test_a_later_sync_that_reaches_every_repository_clears_the_partial_error(
    start_world: StartWorld, fast_settings: Any
) -> None:
    world = start_world(size="3x3x4")
    installation = world.installation(1003)
    sync_once(installation)
    installation.refresh_from_db()
    assert installation.last_sync_error == "1 repository could not be synced"
    with world.sim.dataset.lock:
        _sim_repo(world, "org-3/repo-3").deleted = False

    sync_once(installation)

    installation.refresh_from_db()
    assert installation.last_sync_error is None and installation.last_sync_error_kind is None
    assert installation.last_sync_failed_repositories == 0
    repository = installation.repositories.get(full_name="org-3/repo-3")
    assert (repository.last_error_kind, repository.last_error_status) == (None, None)
    assert get_status(installation, timezone.now()).failed_repositories == ()


@pytest.mark.usefixtures("rest_only")
def test_time_slices_re_enqueue_the_job_which_stays_running_and_ends_exact(
    start_world: StartWorld, fast_settings: Any
) -> None:
    fast_settings.SYNC_SLICE_SECONDS = 0  # one request per task run
    world = start_world(size="1x3x8")
    installation = world.installation()
    job_id = start_job(installation)

    assert _run_once(job_id) == Outcome.SLICED
    job = IngestionJob.objects.get(pk=job_id)
    assert job.status == JobStatus.RUNNING and job.lease_token is None
    assert job.checkpoint["stream"] == "pulls"
    outcomes = drive(job_id)

    assert set(outcomes[:-1]) == {Outcome.SLICED} and outcomes[-1] == Outcome.COMPLETED
    assert len(outcomes) > 10
    job.refresh_from_db()
    assert world.expected(1001, job.since) <= stored_events(installation) <= world.true_events(1001)
    installation.refresh_from_db()
    assert installation.last_synced_at == job.started_at


def test_a_duplicate_delivery_while_a_worker_holds_the_job_does_nothing(
    start_world: StartWorld, fast_settings: Any
) -> None:
    from sync.worker import job_claim

    world = start_world(size="1x1x4")
    installation = world.installation()
    job_id = start_job(installation)
    assert job_claim(job_id=job_id) is not None
    world.sim.server.reset_stats()

    assert _run_once(job_id) == Outcome.NOT_CLAIMED

    assert world.sim.server.stats()["requests_total"] == 0
    assert not Event.objects.exists()


def test_a_finished_job_delivered_again_does_nothing(
    start_world: StartWorld, fast_settings: Any
) -> None:
    world = start_world(size="1x1x4")
    installation = world.installation()
    job = sync_once(installation)
    world.sim.server.reset_stats()

    assert _run_once(job.pk) == Outcome.NOT_CLAIMED
    assert _run_once(job.pk + 1000) == Outcome.NOT_CLAIMED  # a job that does not exist

    assert world.sim.server.stats()["requests_total"] == 0
    assert IngestionJob.objects.get(pk=job.pk).finished_at == job.finished_at


def test_an_expired_lease_lets_a_second_worker_take_over_and_the_first_stops(
    start_world: StartWorld, fast_settings: Any
) -> None:
    from sync.worker import LeaseLost, job_claim
    from sync.worker.lease import job_write

    world = start_world(size="1x2x8")
    installation = world.installation()
    job_id = start_job(installation)
    stalled = job_claim(job_id=job_id)  # the first worker claims, then stalls
    assert stalled is not None
    assert _run_once(job_id) == Outcome.NOT_CLAIMED
    IngestionJob.objects.filter(pk=job_id).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert drive(job_id) == [Outcome.COMPLETED]

    with pytest.raises(LeaseLost):
        job_write(stalled, checkpoint={"repo_index": 0})
    job = IngestionJob.objects.get(pk=job_id)
    assert job.status == JobStatus.COMPLETED and job.checkpoint["repo_index"] == 2
    assert world.expected(1001, job.since) <= stored_events(installation) <= world.true_events(1001)


def _run_once(job_id: int) -> Outcome:
    from sync.worker import job_run

    return job_run(job_id=job_id)


def _sim_repo(world: World, full_name: str) -> Any:
    repo = world.sim.dataset.repository(full_name)
    assert repo is not None
    return repo


def test_a_repository_added_while_a_job_runs_gets_a_follow_up_sync(
    start_world: StartWorld, fast_settings: Any
) -> None:
    world = start_world(size="1x3x8")
    installation = world.installation()
    late = installation.repositories.order_by("full_name").last()
    assert late is not None
    late.is_active = False  # not yet added when the job was requested
    late.save()
    first = start_job(installation)
    late.is_active = True  # `installation_repositories` added, while the job runs
    late.save()

    assert drive(first) == [Outcome.COMPLETED]

    follow_up = IngestionJob.objects.exclude(pk=first).get(installation=installation)
    assert follow_up.trigger == "webhook"
    assert late.pk in follow_up.repository_ids
    assert drive(follow_up.pk) == [Outcome.COMPLETED]
    assert Event.objects.filter(repository=late).exists()


def test_no_follow_up_sync_when_the_snapshot_covered_every_repository(
    start_world: StartWorld, fast_settings: Any
) -> None:
    world = start_world(size="1x2x4")
    installation = world.installation()
    assert drive(start_job(installation)) == [Outcome.COMPLETED]
    assert IngestionJob.objects.filter(installation=installation).count() == 1


@pytest.mark.parametrize("wait_seconds", [0, 1, 60, 3600, 3900])
def test_a_blocked_jobs_eta_leaves_a_worker_a_few_seconds_behind_time_to_claim_it(
    wait_seconds: int,
) -> None:
    from sync.worker.endings import JITTER_MAX_SECONDS, JITTER_MIN_SECONDS, eta_jitter

    for _ in range(200):
        jitter = eta_jitter(timedelta(seconds=wait_seconds)).total_seconds()
        assert JITTER_MIN_SECONDS <= jitter <= JITTER_MAX_SECONDS
    assert JITTER_MIN_SECONDS >= 3


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("suspended", "This installation is suspended"),
        ("deleted", "This installation was removed from GitHub"),
    ],
)
def test_suspending_or_removing_an_installation_stops_its_active_job_at_the_next_page(
    start_world: StartWorld, fast_settings: Any, status: str, message: str
) -> None:
    from integrations.services import installation_status_set

    fast_settings.SYNC_SLICE_SECONDS = 0  # one page a task run
    world = start_world(size="1x2x10")
    installation = world.installation()
    job_id = start_job(installation)
    assert _run_once(job_id) == Outcome.SLICED
    tokens = world.sim.server.stats()["tokens_issued"]
    spent = world.spent(1001)

    assert installation_status_set(github_id=1001, status=status)  # the webhook's service
    assert _run_once(job_id) == Outcome.FAILED

    assert world.spent(1001) == spent  # not one more request
    job = IngestionJob.objects.get(pk=job_id)
    assert job.status == JobStatus.FAILED and job.error == message and job.lease_token is None
    installation.refresh_from_db()
    assert installation.last_sync_error == message
    # Its cached token was dropped: back in service, the next job asks for a new one.
    installation_status_set(github_id=1001, status="active")
    sync_once(installation)
    assert world.sim.server.stats()["tokens_issued"] == tokens + 1


def test_a_full_sync_never_trusts_a_304_and_restores_deleted_events(
    start_world: StartWorld, fast_settings: Any
) -> None:
    """SPEC §5: a `--full` sync re-reads the whole window. Before, it sent the stored
    ETags and took the pulls list's 304 as "pull requests, reviews and PR commits
    unchanged", so events deleted from the database never came back."""
    world = start_world(size="1x3x16")
    installation = world.installation()
    sync_once(installation)
    before = stored_events(installation)
    Event.objects.filter(installation=installation, repository__full_name="org-1/repo-1").delete()
    world.sim.server.reset_stats()

    sync_once(installation, full=True)

    assert stored_events(installation) == before
    assert world.sim.server.stats()["not_modified_total"] == 0


@pytest.mark.parametrize(
    ("status", "retry_after", "rate_headers", "wait"),
    [
        (403, 7, True, 7),
        (429, 7, True, 7),
        (403, -1, True, 60),  # no retry-after: at least a minute
        (429, -1, False, 60),  # neither retry-after nor rate headers
        (403, 7, False, 7),
    ],
)
def test_every_secondary_limit_variant_ends_in_a_pause_and_an_exact_dataset(
    start_world: StartWorld,
    fast_settings: Any,
    status: int,
    retry_after: int,
    rate_headers: bool,
    wait: int,
) -> None:
    """GitHub's docs ("Rate limits for the REST API", exceeding a secondary limit): the
    answer is a 403 or a 429; wait `retry-after` seconds when it is sent, else at least
    a minute; the x-ratelimit-* headers may be absent (SPEC §12). Every variant pauses
    the job for that long, then the job completes with exactly the expected events."""
    world = start_world(size="1x3x12")
    installation = world.installation()
    world.sim.server.set_faults(
        secondary_next=1,
        secondary_status=status,
        secondary_retry_after=retry_after,
        secondary_rate_headers=rate_headers,
    )
    job_id = start_job(installation)

    first = Outcome(process_sync_job(job_id))

    assert first == Outcome.BLOCKED
    job = IngestionJob.objects.get(pk=job_id)
    assert job.status == JobStatus.BLOCKED and job.blocked_until is not None
    paused = (job.blocked_until - timezone.now()).total_seconds()
    assert wait - 3 <= paused <= wait + 1
    # Time passes: the pause is over.
    IngestionJob.objects.filter(pk=job_id).update(blocked_until=timezone.now())
    assert drive(job_id) == [Outcome.COMPLETED]
    job.refresh_from_db()
    stored = stored_events(installation)
    assert world.expected(installation.github_id, job.since) - stored == set()
    assert stored <= world.true_events(installation.github_id)


@pytest.mark.parametrize(
    ("cuts", "truncations", "outcomes"),
    [
        (2, 1, [Outcome.COMPLETED]),  # within the client's retries (4 attempts)
        (3, 3, [Outcome.RETRYING, Outcome.COMPLETED]),  # then a task retry from the checkpoint
    ],
)
def test_responses_cut_mid_body_are_retried_and_the_job_completes_exactly(
    start_world: StartWorld,
    fast_settings: Any,
    cuts: int,
    truncations: int,
    outcomes: list[Outcome],
) -> None:
    """SPEC §5: a connection reset mid-body and a truncated JSON body are transient. The
    simulator cuts the next responses that spend budget (a reset after half the body,
    then half a body behind a matching Content-Length); the client retries them and the
    job completes with exactly the expected events."""
    world = start_world(size="1x3x12")
    installation = world.installation()
    world.sim.server.set_faults(cut_next=cuts, truncate_next=truncations)
    job_id = start_job(installation)

    assert drive(job_id) == outcomes

    assert world.sim.server.cut_next == world.sim.server.truncate_next == 0
    job = IngestionJob.objects.get(pk=job_id)
    stored = stored_events(installation)
    assert world.expected(installation.github_id, job.since) - stored == set()
    assert stored <= world.true_events(installation.github_id)
    assert job.failures == [] and job.error is None and job.status == JobStatus.COMPLETED
