"""Scenario 4: GitHub misbehaving. The simulator answers 10 % of requests with a 5xx
(500/502/503) and throws secondary rate limits (403 with `retry-after`); the sync still
stores exactly GitHub's events, and the extra requests it spent are reported."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from sync.models import IngestionJob, JobStatus
from sync.worker import Outcome
from tests.faults.figures import figure
from tests.faults.support import Workers, app_env, wait_until
from tests.worker.support import World, drive, start_job, stored_events

SCENARIO = "4. GitHub 10 % 5xx + secondary limits"
FAULTS: dict[str, Any] = {"fault_rate": 0.10, "secondary_rate": 0.03, "secondary_retry_after": 1}


def _exactness(world: World, jobs: dict[int, IngestionJob]) -> tuple[int, int]:
    """(missing, invented) events over every installation's job."""
    missing = invented = 0
    for github_id, job in jobs.items():
        stored = stored_events(world.installation(github_id))
        missing += len(world.expected(github_id, job.since) - stored)
        invented += len(stored - world.true_events(github_id))
    return missing, invented


def _served(world: World) -> tuple[int, int, int]:
    """(requests, 5xx answers, secondary-limit answers) the simulator served."""
    stats = world.sim.server.stats()
    by_status = stats["requests_by_status"]
    faults = sum(n for status, n in by_status.items() if int(status) >= 500)
    return int(stats["requests_total"]), faults, int(by_status.get(403, 0))


@pytest.mark.django_db(transaction=True)
def test_flaky_github_still_gives_the_exact_dataset(
    sim_world: Callable[..., World], settings: Any
) -> None:
    """Fast (make test): one installation driven in this process."""
    settings.SYNC_SLICE_SECONDS = 600
    world = sim_world(size="1x3x8", fault_seed=11, **FAULTS)
    installation = world.installation()

    job_id = start_job(installation)
    outcomes = drive(job_id, timeout=90)

    assert outcomes[-1] == Outcome.COMPLETED, outcomes
    job = IngestionJob.objects.get(pk=job_id)
    missing, invented = _exactness(world, {installation.github_id: job})
    _, faults, secondary = _served(world)
    assert (missing, invented) == (0, 0)
    assert faults > 0 and secondary > 0, "no faults injected: the test would prove nothing"
    assert job.failures == []


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.django_db(transaction=True)
def test_flaky_github_on_real_workers_gives_the_exact_dataset(
    sim_world: Callable[..., World], settings: Any, workers: Workers
) -> None:
    """Full (make faults): three installations, two real worker processes, slices."""
    settings.SYNC_LEASE_SECONDS = 10
    world = sim_world(size="3x3x20", latency_ms=5, fault_seed=23, **FAULTS)
    env = app_env(world.sim, SYNC_LEASE_SECONDS="10", SYNC_SLICE_SECONDS="2")
    for _ in range(2):
        workers.start(env, label="github-faults")
    started = time.monotonic()
    job_ids = {gid: start_job(world.installation(gid)) for gid in world.installations}

    def finished() -> bool:
        return not IngestionJob.objects.filter(
            pk__in=job_ids.values(), status__in=[JobStatus.PENDING, JobStatus.RUNNING,
                                                  JobStatus.BLOCKED]
        ).exists()  # fmt: skip

    wait_until(finished, timeout=300, every=0.5)
    elapsed = time.monotonic() - started
    jobs = {gid: IngestionJob.objects.get(pk=pk) for gid, pk in job_ids.items()}
    missing, invented = _exactness(world, jobs)
    requests, faults, secondary = _served(world)
    perfect = sum(
        world.sim.server.min_requests(gid, job.since, timezone.now()) for gid, job in jobs.items()
    )
    failed = [job.pk for job in jobs.values() if job.status != JobStatus.COMPLETED]
    figure(SCENARIO, "jobs not completed", len(failed), required="0")
    figure(SCENARIO, "missing events", missing, required="0")
    figure(SCENARIO, "invented events", invented, required="0")
    figure(SCENARIO, "requests served / perfect client's minimum", f"{requests} / {perfect}")
    figure(SCENARIO, "5xx answers / secondary limits thrown", f"{faults} / {secondary}")
    figure(SCENARIO, "extra requests over the minimum (faults included)", requests - perfect)
    figure(SCENARIO, "wall time (s)", round(elapsed, 1))
    assert failed == []
    assert (missing, invented) == (0, 0)
    assert faults > 0 and secondary > 0
