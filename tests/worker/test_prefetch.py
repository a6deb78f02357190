"""Prefetching under network latency (requests slower than PREFETCH_MIN_ELAPSED): the
next page is requested while the current one is written, and the job still stores
exactly the expected events, spends no more than a perfect client and never reaches
into the budget reserve."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from sync.models import IngestionJob
from sync.worker import Outcome, job_run
from tests.worker.support import (
    World,
    drive,
    start_job,
    stored_events,
    time_passes_until_unblocked,
)

# REST mechanics (requests, ETags, the REST budget): the GraphQL path is switched off.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rest_only")]

StartWorld = Callable[..., World]
LATENCY_MS = 20


def test_a_backfill_with_latency_is_exact_and_wastes_no_request(
    start_world: StartWorld, fast_settings: Any
) -> None:
    world = start_world(size="1x3x10", latency_ms=LATENCY_MS)
    installation = world.installation()
    job_id = start_job(installation)

    assert drive(job_id) == [Outcome.COMPLETED]

    job = IngestionJob.objects.get(pk=job_id)
    stored = stored_events(installation)
    assert world.expected(1001, job.since) <= stored <= world.true_events(1001)
    assert world.spent(1001) <= world.sim.server.min_requests(1001, job.since, timezone.now())


def test_prefetching_stops_at_the_budget_reserve(
    start_world: StartWorld, fast_settings: Any
) -> None:
    fast_settings.SYNC_MIN_BUDGET = 5
    world = start_world(size="1x1x6", budget=8, window_seconds=2, latency_ms=LATENCY_MS)
    installation = world.installation()
    job_id = start_job(installation)

    assert job_run(job_id=job_id) == Outcome.BLOCKED

    assert world.sim.server.stats()["budgets"][1001]["remaining"] == 4  # floor 5, minus one
    world.sim.server.set_budget(1001, remaining=5000, limit=5000, reset_in=3600)
    time_passes_until_unblocked(job_id, sim=world.sim)
    assert drive(job_id, sim=world.sim)[-1] == Outcome.COMPLETED
    job = IngestionJob.objects.get(pk=job_id)
    assert world.expected(1001, job.since) <= stored_events(installation)
