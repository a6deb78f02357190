"""A worker's hold on an IngestionJob: the claim, and every later write to the job,
conditional on the lease token it was given.

The claim is one conditional UPDATE, so a duplicate delivery or a second worker that
reaches the same job finds zero rows and does nothing. Every write after it names the
token; a worker whose lease was taken over (it stalled past `lease_expires_at` and
another worker claimed the job) gets `LeaseLost` and stops, and the transaction it was
in (the page's events included) rolls back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from integrations.github.client import RateLimit
from integrations.models import Installation
from sync.models import IngestionJob, JobStatus, new_lease_token


class LeaseLost(Exception):
    """Another worker holds the job now (or it finished); this one must stop."""


@dataclass(frozen=True)
class Lease:
    job_id: int
    token: uuid.UUID


def lease_seconds() -> timedelta:
    return timedelta(seconds=settings.SYNC_LEASE_SECONDS)


def claimable(now: datetime) -> Q:
    """Jobs a worker may take: pending; blocked whose block has passed; running whose
    lease was released (between time slices) or has expired (its worker died)."""
    return (
        Q(status=JobStatus.PENDING)
        | Q(status=JobStatus.BLOCKED, blocked_until__isnull=True)
        | Q(status=JobStatus.BLOCKED, blocked_until__lte=now)
        | Q(status=JobStatus.RUNNING, lease_token__isnull=True)
        | Q(status=JobStatus.RUNNING, lease_expires_at__lt=now)
    )


def job_claim(*, job_id: int, now: datetime | None = None) -> Lease | None:
    """Take the job with a fresh lease, or None when it is not claimable (owned by a
    live worker, blocked until later, finished, or gone)."""
    now = now or timezone.now()
    token = new_lease_token()
    claimed = (
        IngestionJob.objects.filter(pk=job_id)
        .filter(claimable(now))
        .update(
            status=JobStatus.RUNNING,
            lease_token=token,
            lease_expires_at=now + lease_seconds(),
            blocked_until=None,
            blocked_reason="",
            started_at=Coalesce(F("started_at"), now),
            updated_at=now,
        )
    )
    return Lease(job_id, token) if claimed else None


def job_write(lease: Lease, *, now: datetime | None = None, **fields: Any) -> None:
    """Write `fields` and renew the lease, only while this lease holds the job."""
    now = now or timezone.now()
    updated = IngestionJob.objects.filter(pk=lease.job_id, lease_token=lease.token).update(
        lease_expires_at=now + lease_seconds(), updated_at=now, **fields
    )
    if not updated:
        raise LeaseLost(f"job {lease.job_id}: lease lost")


def job_locked(lease: Lease) -> IngestionJob:
    """The job row, locked for a status change, while this lease still holds it."""
    job = (
        IngestionJob.objects.select_for_update()
        .select_related("installation")
        .filter(pk=lease.job_id, lease_token=lease.token)
        .first()
    )
    if job is None:
        raise LeaseLost(f"job {lease.job_id}: lease lost")
    return job


# The installation's columns of each bucket: (limit, remaining, reset_at).
BUDGET_COLUMNS: dict[str, tuple[str, str, str]] = {
    "core": ("rate_limit_limit", "rate_limit_remaining", "rate_limit_reset_at"),
    "graphql": ("graphql_limit", "graphql_remaining", "graphql_reset_at"),
}


def budget_columns(resource: str | None) -> tuple[str, str, str]:
    """The columns a response's budget belongs in, by its `x-ratelimit-resource`:
    GraphQL's points in the graphql_* columns, anything else (core, a response that
    names no resource) in the REST rate_limit_* ones."""
    return BUDGET_COLUMNS["graphql" if resource == "graphql" else "core"]


def budget_fields(rate_limit: RateLimit | None) -> dict[str, Any]:
    """The installation's budget columns from the last response's rate-limit headers,
    routed to the bucket the response names (REST or GraphQL)."""
    if rate_limit is None:
        return {}
    limit, remaining, reset_at = budget_columns(rate_limit.resource)
    fields: dict[str, Any] = {}
    if rate_limit.limit is not None:
        fields[limit] = rate_limit.limit
    if rate_limit.remaining is not None:
        fields[remaining] = rate_limit.remaining
    if rate_limit.reset_at is not None:
        fields[reset_at] = rate_limit.reset_at
    return fields


def budget_record(installation_id: int, rate_limit: RateLimit | None) -> None:
    """The installation's budget columns from the last response (a plain column update,
    no read-modify-write race); nothing when there was no rate-limit header. Call it
    once per bucket: `budget_record(pk, rest_rate_limit)`, `budget_record(pk,
    graphql_rate_limit)`."""
    fields = budget_fields(rate_limit)
    if fields:
        Installation.objects.filter(pk=installation_id).update(updated_at=timezone.now(), **fields)


def budget_stored(installation: Installation, resource: str, now: datetime) -> RateLimit | None:
    """The budget of one bucket as recorded on the installation, while its window has
    not reset (a worker seeds its pause-before-the-limit check with it); None when
    unknown or reset."""
    limit, remaining, reset_at = (getattr(installation, c) for c in budget_columns(resource))
    if remaining is None or reset_at is None or reset_at <= now:
        return None
    return RateLimit(
        limit=limit, remaining=remaining, used=None, reset_at=reset_at, resource=resource
    )


def budget_spent(*, rest_requests: int = 0, graphql_points: int = 0) -> dict[str, Any]:
    """The job's spend counters, incremented in the database (no read-modify-write),
    to pass to `job_write` with a page's other fields:
    `job_write(lease, **fields, **budget_spent(rest_requests=n, graphql_points=p))`."""
    fields: dict[str, Any] = {}
    if rest_requests:
        fields["rest_requests"] = F("rest_requests") + rest_requests
    if graphql_points:
        fields["graphql_points"] = F("graphql_points") + graphql_points
    return fields
