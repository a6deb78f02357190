"""GitHub's two budgets as the worker records them: a response's rate limit goes to
the bucket its `x-ratelimit-resource` names (GraphQL points to the graphql_* columns,
REST's `core` and anything unnamed to the rate_limit_* ones), and a job counts what it
spent of each. Real rows, the real lease."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.github.transport import RateLimit
from integrations.models import Installation
from sync.models import IngestionJob, JobStatus
from sync.worker.endings import job_block, job_complete
from sync.worker.lease import (
    budget_fields,
    budget_record,
    budget_spent,
    budget_stored,
    job_claim,
    job_write,
)
from tests.factories import make_installation, make_job

pytestmark = pytest.mark.django_db

REST_COLUMNS = ("rate_limit_limit", "rate_limit_remaining", "rate_limit_reset_at")
GRAPHQL_COLUMNS = ("graphql_limit", "graphql_remaining", "graphql_reset_at")


def budgets(installation: Installation) -> tuple[tuple[object, ...], tuple[object, ...]]:
    row = Installation.objects.values(*REST_COLUMNS, *GRAPHQL_COLUMNS).get(pk=installation.pk)
    return tuple(row[c] for c in REST_COLUMNS), tuple(row[c] for c in GRAPHQL_COLUMNS)


def limit(resource: str | None, remaining: int, minutes: int = 30) -> RateLimit:
    reset_at = timezone.now().replace(microsecond=0) + timedelta(minutes=minutes)
    return RateLimit(
        limit=5000, remaining=remaining, used=None, reset_at=reset_at, resource=resource
    )


def test_a_graphql_response_is_recorded_in_the_graphql_columns_only() -> None:
    installation = make_installation(
        rate_limit_limit=5000, rate_limit_remaining=4212, rate_limit_reset_at=None
    )
    points = limit("graphql", 4980)
    budget_record(installation.pk, points)
    assert budgets(installation) == ((5000, 4212, None), (5000, 4980, points.reset_at))


@pytest.mark.parametrize("resource", ["core", None, "search"])
def test_a_rest_response_or_one_naming_no_graphql_is_recorded_in_the_rest_columns(
    resource: str | None,
) -> None:
    installation = make_installation()
    requests = limit(resource, 4321)
    budget_record(installation.pk, requests)
    assert budgets(installation) == ((5000, 4321, requests.reset_at), (None, None, None))


def test_recording_both_buckets_keeps_each() -> None:
    installation = make_installation()
    requests, points = limit("core", 4212, minutes=20), limit("graphql", 4980, minutes=50)
    budget_record(installation.pk, requests)
    budget_record(installation.pk, points)
    assert budgets(installation) == (
        (5000, 4212, requests.reset_at),
        (5000, 4980, points.reset_at),
    )


def test_budget_fields_leave_out_what_the_headers_did_not_say() -> None:
    partial = RateLimit(limit=None, remaining=7, used=None, reset_at=None, resource="graphql")
    assert budget_fields(partial) == {"graphql_remaining": 7}
    assert budget_fields(None) == {}


def test_a_job_blocked_by_graphql_records_the_graphql_budget_on_the_installation() -> None:
    installation = make_installation()
    job = make_job(installation, JobStatus.PENDING)
    lease = job_claim(job_id=job.pk)
    assert lease is not None
    points = limit("graphql", 0, minutes=40)
    assert points.reset_at is not None
    job_block(lease=lease, until=points.reset_at, reason="primary_rate_limit", rate_limit=points)
    assert budgets(installation) == ((None, None, None), (5000, 0, points.reset_at))


def test_budget_stored_reads_one_bucket_until_its_window_resets() -> None:
    now = timezone.now()
    installation = make_installation(
        rate_limit_limit=5000,
        rate_limit_remaining=4000,
        rate_limit_reset_at=now + timedelta(minutes=5),
        graphql_limit=5000,
        graphql_remaining=120,
        graphql_reset_at=now + timedelta(minutes=10),
    )
    graphql = budget_stored(installation, "graphql", now)
    assert graphql == RateLimit(5000, 120, None, now + timedelta(minutes=10), "graphql")
    core = budget_stored(installation, "core", now)
    assert core is not None and core.remaining == 4000
    assert budget_stored(installation, "graphql", now + timedelta(minutes=10)) is None
    assert budget_stored(make_installation(), "graphql", now) is None


def test_a_job_counts_rest_requests_and_graphql_points_across_pages() -> None:
    installation = make_installation(sync_status="syncing")
    job = make_job(installation, JobStatus.PENDING)
    lease = job_claim(job_id=job.pk)
    assert lease is not None
    job_write(lease, **budget_spent(rest_requests=3))
    job_write(lease, **budget_spent(rest_requests=2, graphql_points=4))
    job_write(lease, **budget_spent(graphql_points=1))
    job_write(lease, **budget_spent())  # a page that spent nothing still renews the lease
    job_complete(lease=lease, rate_limit=None)
    finished = IngestionJob.objects.get(pk=job.pk)
    assert (finished.status, finished.rest_requests, finished.graphql_points) == (
        JobStatus.COMPLETED,
        5,
        5,
    )
