"""The worker's GraphQL path (SPEC §5a) against the running simulator, which executes
every query against GitHub's published schema and charges GitHub's cost formula.

Facts encoded (docs.github.com, "Rate limits and node limits for the GraphQL API"):
a query costs its connection requests ÷ 100 (at least 1) from a points budget apart from
REST's; a spent budget is HTTP 200 with `errors[].type == "RATE_LIMITED"`; an API
without GraphQL answers 404 on `/graphql`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone
from graphql import parse, validate
from structlog.testing import capture_logs

from integrations.github import graphql as queries
from integrations.github.auth import app_from_settings
from integrations.models import Event, Installation, Repository, StreamState
from simulator.activity import add_activity
from simulator.dataset import User
from simulator.graphql.schema import github_schema
from sync.models import IngestionJob, JobStatus
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
Row = tuple[Any, ...]


def _rows(installation: Installation) -> set[Row]:
    """Every stored event as the fields both paths must agree on (`data.parents` aside:
    GraphQL counts a commit's parents on the default branch only, see test below)."""
    rows = set()
    for e in Event.objects.filter(installation=installation).select_related("repository"):
        rows.add(
            (
                e.repository.full_name,
                e.kind,
                e.github_id,
                e.occurred_at,
                e.actor_login,
                e.actor_github_id,
                e.number,
                e.title,
                e.url,
                e.data.get("pull_number"),
                e.data.get("merge_of"),
                e.data.get("state"),
                e.data.get("committed_at"),
            )
        )
    return rows


def _forget(installation: Installation) -> None:
    """Start over: no events, no stream state, never synced (as on a new database)."""
    Event.objects.filter(installation=installation).delete()
    StreamState.objects.filter(repository__installation=installation).delete()
    Repository.objects.filter(installation=installation).update(last_synced_at=None)
    Installation.objects.filter(pk=installation.pk).update(last_synced_at=None)


def _fresh_token(installation: Installation) -> None:
    """An hour later: the cached installation token is gone (and so every ETag)."""
    app_from_settings().forget_token(installation.github_id)


def _points(world: World, github_id: int) -> int:
    return int(world.sim.server.stats()["graphql_points_spent"].get(github_id, 0))


# --------------------------------------------------------------------------- queries


@pytest.mark.parametrize("size", [1, 37, queries.CHANGES_PER_QUERY])
def test_every_query_the_worker_sends_validates_against_githubs_schema(size: int) -> None:
    """graphql-core's `validate` against the vendored `@octokit/graphql-schema` SDL:
    a query that passes here is one GitHub accepts."""
    names = [f"org-{i}/repo.with-dots_{i}" for i in range(size)]
    for query in (queries.HISTORY, queries.PULL_REQUESTS, queries.ISSUES):
        assert validate(github_schema(), parse(query)) == []
    assert validate(github_schema(), parse(queries.changes_query(names))) == []
    with pytest.raises(ValueError):
        queries.changes_query(names * 2 if size > 50 else [])


def test_the_graphql_endpoint_is_derived_from_the_rest_base_for_github_and_ghes() -> None:
    assert queries.graphql_url("https://api.github.com") == "https://api.github.com/graphql"
    assert queries.graphql_url("https://ghe.example.com/api/v3/") == (
        "https://ghe.example.com/api/graphql"
    )
    assert queries.graphql_url("http://127.0.0.1:9000") == "http://127.0.0.1:9000/graphql"


# --------------------------------------------------------------------------- same events


@pytest.mark.parametrize("size", ["3x3x12"])
def test_graphql_and_rest_store_identical_events_merges_long_pr_empty_and_deleted(
    start_world: StartWorld, fast_settings: Any, size: str
) -> None:
    """Both paths over the same data: squash, rebase and merge-commit pull requests, a
    pull request of 260 commits (REST's `?sha=` walk past GitHub's 250, from either
    path), an empty repository and a deleted one. The same rows, and the expected set."""
    world = start_world(size=size, dataset_options={"long_pr": True})
    stored: dict[str, set[Row]] = {}
    for mode in ("off", "auto"):
        fast_settings.SYNC_GRAPHQL = mode
        for github_id in world.installations:
            installation = world.installation(github_id)
            _forget(installation)
            job = sync_once(installation, full=True)
            assert world.expected(github_id, job.since) <= stored_events(installation)
            assert stored_events(installation) <= world.true_events(github_id)
        stored[mode] = set().union(*(_rows(world.installation(g)) for g in world.installations))
        if mode == "auto":
            assert world.sim.server.stats()["graphql_refused"] == {}
    assert stored["auto"] == stored["off"]
    kinds = {row[1] for row in stored["auto"]}
    assert {"commit", "pr_merged", "review_submitted", "issue_comment", "review_comment"} <= kinds
    per_pull: dict[tuple[str, int], int] = {}
    for row in stored["auto"]:
        if row[1] == "commit" and row[9] is not None:
            per_pull[(row[0], row[9])] = per_pull.get((row[0], row[9]), 0) + 1
    assert max(per_pull.values()) == 260


def test_commits_on_the_default_branch_keep_their_parent_count_through_graphql(
    start_world: StartWorld, fast_settings: Any
) -> None:
    """`parents` comes from the default branch's history (one nested connection per
    commit, still one point per 100). A pull request's commits that never reached the
    default branch (squash, rebase) have none: counting them under a page of pull
    requests would cost a point per pull request, what REST spends."""
    world = start_world(size="1x3x12")
    installation = world.installation()
    job = sync_once(installation, full=True)
    counted = 0
    for repo in world.sim.dataset.repositories(1001):
        rows = Event.objects.filter(repository__full_name=repo.full_name, kind="commit")
        for row in rows:
            commit = repo.commit(row.github_id)
            if commit.on_default_branch and commit.committer_date >= job.since:
                assert row.data["parents"] == len(commit.parents), row.github_id
                counted += 1
    assert counted > 10


# --------------------------------------------------------------------------- budget


def test_graphql_backfill_spends_at_most_a_quarter_of_the_rest_minimum(
    start_world: StartWorld, fast_settings: Any
) -> None:
    """SPEC §5a's promise, on a dataset like the bench's (100 of each kind a repository):
    REST requests + GraphQL points ≤ 0.25 x the fewest REST requests that read it."""
    world = start_world(size="1x3x100")
    installation = world.installation()
    job = sync_once(installation, full=True)
    minimum = world.sim.server.min_requests(1001, job.since, timezone.now())
    spent = world.spent(1001) + _points(world, 1001)
    assert spent <= 0.25 * minimum, (world.spent(1001), _points(world, 1001), minimum)
    assert world.expected(1001, job.since) <= stored_events(installation)
    assert (job.rest_requests, job.graphql_points) == (world.spent(1001), _points(world, 1001))


@pytest.mark.parametrize("full_backfill", [False, True])
def test_a_no_change_resync_with_a_fresh_token_spends_no_rest_request_and_one_point(
    start_world: StartWorld, fast_settings: Any, full_backfill: bool
) -> None:
    """An hourly resync after the token expired (so no ETag of the last run can match):
    one change check for the installation's repositories, 2 one-item connections per
    repository (`(3 x 2) ÷ 100`, at least 1 point), and no REST request at all."""
    world = start_world(size="1x3x16")  # repo-2 is empty
    installation = world.installation()
    sync_once(installation, full=full_backfill)  # a full one asks no check: learns pushedAt
    before = stored_events(installation)
    world.sim.server.reset_stats()
    _fresh_token(installation)

    job = sync_once(installation)

    stats = world.sim.server.stats()
    assert world.spent(1001) == 0
    assert stats["graphql_points_total"] == 1 == job.graphql_points
    assert job.rest_requests == 0 and job.events_ingested == 0
    assert stored_events(installation) == before
    installation.refresh_from_db()
    assert installation.last_synced_at == job.started_at
    assert installation.graphql_remaining is not None
    assert set(
        Repository.objects.filter(installation=installation).values_list(
            "last_synced_at", flat=True
        )
    ) == {job.started_at}


@pytest.mark.parametrize(
    ("kind", "points", "rest"),
    [
        ("commit", 1 + 1, 0),  # the check, one page of history
        ("issue", 1 + 1, 0),  # the check, one page of issues (comments nested)
        ("issue_closed", 1 + 1, 0),
        ("pull_request", 1 + 1, 1),  # the check, a page of 49 pull requests; diff comments
    ],
)
def test_one_new_event_in_one_repository_of_many_reads_only_its_changed_stream(
    start_world: StartWorld, fast_settings: Any, kind: str, points: int, rest: int
) -> None:
    world = start_world(size="1x3x16")
    installation = world.installation()
    sync_once(installation)
    world.sim.server.reset_stats()
    _fresh_token(installation)
    made = add_activity(world.sim.dataset, kind, installation_id=1001, repo="org-1/repo-3")

    job = sync_once(installation)

    assert (job.graphql_points, job.rest_requests) == (points, rest)
    assert world.sim.server.stats()["graphql_points_total"] == points
    assert world.spent(1001) == rest
    assert set(made["events"]) <= stored_events(installation)
    reads = Repository.objects.filter(installation=installation, last_synced_at=job.started_at)
    assert reads.count() == 3


# --------------------------------------------------------------------------- faults


def test_graphql_rate_limited_pauses_the_job_until_the_reset_and_it_completes_exactly(
    start_world: StartWorld, fast_settings: Any
) -> None:
    """A spent points budget answers HTTP 200 with `RATE_LIMITED`: the job is blocked
    until the GraphQL window resets, then resumes from its checkpoint."""
    fast_settings.SYNC_MIN_BUDGET = 0  # spend to the last point: meet the real answer
    world = start_world(size="1x3x30")
    installation = world.installation()
    world.sim.server.graphql.set_budget(1001, remaining=4, reset_in=3600)
    job_id = start_job(installation, full=True)

    outcomes = drive(job_id, sim=world.sim)

    assert Outcome.BLOCKED in outcomes and outcomes[-1] == Outcome.COMPLETED
    assert world.sim.server.stats()["graphql_rate_limited"].get(1001, 0) >= 1
    job = IngestionJob.objects.get(pk=job_id)
    assert job.status == JobStatus.COMPLETED
    assert world.expected(1001, job.since) <= stored_events(installation)
    assert stored_events(installation) <= world.true_events(1001)


def test_the_graphql_budget_reserve_pauses_before_the_limit(
    start_world: StartWorld, fast_settings: Any
) -> None:
    """Like REST (§5): the job stops asking when the points left fall below the minimum
    budget, and waits for the GraphQL window's reset instead of meeting the limit."""
    world = start_world(size="1x3x30")
    installation = world.installation()
    world.sim.server.graphql.set_budget(1001, remaining=103, reset_in=1800)
    job_id = start_job(installation, full=True)

    first = drive_once(job_id)

    assert first == Outcome.BLOCKED
    job = IngestionJob.objects.select_related("installation").get(pk=job_id)
    assert world.sim.server.stats()["graphql_rate_limited"].get(1001, 0) == 0
    assert job.installation.graphql_remaining is not None
    assert 0 < job.installation.graphql_remaining < 100
    reset = job.installation.graphql_reset_at
    assert reset is not None and job.blocked_until is not None
    assert abs((job.blocked_until - reset).total_seconds()) <= 2
    time_passes_until_unblocked(job_id, sim=world.sim)
    outcomes = drive(job_id, sim=world.sim)
    assert outcomes[-1] == Outcome.COMPLETED
    assert world.expected(1001, job.since) <= stored_events(installation)


def drive_once(job_id: int) -> Outcome:
    return Outcome(process_sync_job(job_id))


def test_a_graphql_404_falls_back_to_rest_with_a_log_line_and_an_exact_dataset(
    start_world: StartWorld, fast_settings: Any
) -> None:
    """An API without GraphQL (404 on `/graphql`): `auto` reads through REST for the run
    and says so once in the log."""
    world = start_world(size="1x3x12")
    installation = world.installation()
    world.sim.server.set_faults(fail_next=1000, fail_status=404, fail_path="/graphql")

    with capture_logs() as logs:
        job = sync_once(installation)

    said = [e for e in logs if e["event"] == "sync.graphql.unavailable"]
    assert len(said) == 1 and "REST" in said[0]["message"]
    assert world.expected(1001, job.since) <= stored_events(installation)
    assert stored_events(installation) <= world.true_events(1001)
    assert job.graphql_points == 0 and job.rest_requests == world.spent(1001) > 0


def test_graphql_on_fails_the_job_when_the_endpoint_is_missing(
    start_world: StartWorld, fast_settings: Any
) -> None:
    fast_settings.SYNC_GRAPHQL = "on"
    world = start_world(size="1x2x4")
    installation = world.installation()
    world.sim.server.set_faults(fail_next=1000, fail_status=404, fail_path="/graphql")
    job_id = start_job(installation)
    assert drive(job_id) == [Outcome.FAILED]
    assert "404" in (IngestionJob.objects.get(pk=job_id).error or "")


def test_a_graphql_502_halves_the_page_and_the_job_completes_exactly(
    start_world: StartWorld, fast_settings: Any
) -> None:
    """A query too big to answer in time (a 502 or a timeout at GitHub) is asked again
    with half the page: 100, then 50, then 25."""
    world = start_world(size="1x2x30")
    installation = world.installation()
    world.sim.server.set_faults(fail_next=2, fail_status=502, fail_path="/graphql")

    with capture_logs() as logs:
        job = sync_once(installation, full=True)

    halved = [e["page_size"] for e in logs if e["event"] == "sync.graphql.page_halved"]
    assert halved == [50, 25]
    assert world.expected(1001, job.since) <= stored_events(installation)


def test_github_graphql_url_overrides_the_derived_endpoint(
    start_world: StartWorld, fast_settings: Any
) -> None:
    """GITHUB_GRAPHQL_URL: the endpoint as configured (here one that is not there, so
    the run falls back to REST, which proves the setting was used)."""
    world = start_world(size="1x2x4")
    fast_settings.GITHUB_GRAPHQL_URL = f"{world.sim.url}/api/graphql-nowhere"
    assert app_from_settings().graphql_url.endswith("/api/graphql-nowhere")
    installation = world.installation()
    with capture_logs() as logs:
        job = sync_once(installation)
    assert [e for e in logs if e["event"] == "sync.graphql.unavailable"]
    assert job.graphql_points == 0 and world.expected(1001, job.since) <= stored_events(
        installation
    )


def test_an_item_graphql_cannot_serve_fails_its_repository_and_the_job_goes_on(
    start_world: StartWorld, fast_settings: Any
) -> None:
    """A field GitHub answers with an error beside the data (here a user id past
    GraphQL's 32-bit `Int`) is a poison item: that repository fails with a short
    message, never half-stored; the others complete, now and at every later sync."""
    world = start_world(size="1x3x10")
    repo = next(r for r in world.sim.dataset.installations[1001].repositories if r.comments)
    for comment in repo.comments:
        comment.user = User(login="poison", id=2**40)
    installation = world.installation()

    job = sync_once(installation, full=True)

    (failure,) = job.failures
    assert failure["repository"] == repo.full_name and failure["kind"] == "internal"
    assert "Int cannot represent" in failure["error"] and len(failure["error"]) < 300
    others = {k for k in world.expected(1001, job.since) if k[0] != repo.full_name}
    assert others <= stored_events(installation)
    assert [f["repository"] for f in sync_once(installation, full=True).failures] == [
        repo.full_name
    ]


def test_time_slices_of_one_query_each_end_with_the_exact_dataset(
    start_world: StartWorld, fast_settings: Any
) -> None:
    """Slices re-enqueue the job after every query: the change check's answer rides in
    the checkpoint, so no slice asks it twice."""
    fast_settings.SYNC_SLICE_SECONDS = 0
    world = start_world(size="1x3x8")
    installation = world.installation()
    job_id = start_job(installation)

    outcomes = drive(job_id)

    assert set(outcomes[:-1]) == {Outcome.SLICED} and outcomes[-1] == Outcome.COMPLETED
    job = IngestionJob.objects.get(pk=job_id)
    assert world.expected(1001, job.since) <= stored_events(installation)
    stats = world.sim.server.stats()
    assert job.graphql_points == _points(world, 1001)
    # One request a slice: the check was asked once, and every query once.
    assert len(outcomes) == stats["graphql_requests_total"] + world.spent(1001)
