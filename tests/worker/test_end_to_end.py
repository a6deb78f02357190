"""End to end with real Celery workers on the broker of the run (the embedded
filesystem broker by default, Redis with CELERY_BROKER_URL): the worker runs the job,
re-enqueues itself through the broker (slices, rate-limit blocks with `eta`), and a
worker process killed mid-job is recovered by maintenance."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from structlog.testing import capture_logs

from config.celery import app as celery_app
from integrations.models import InstallationSyncStatus
from sync.maintenance import maintenance_run
from sync.models import Heartbeat, IngestionJob, JobStatus
from sync.policy import Trigger
from tests.celery_worker import running_worker
from tests.dbenv import child_env
from tests.worker.support import World, start_job, stored_events

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

StartWorld = Callable[..., World]
BASE_DIR = Path(django_settings.BASE_DIR)


@pytest.fixture
def purged_broker() -> None:
    celery_app.control.purge()  # messages earlier tests left for rows that are gone


@pytest.fixture
def worker() -> Iterator[None]:
    with running_worker():
        yield


def _job_when(job_id: int, check: Callable[[IngestionJob], bool], timeout: float) -> IngestionJob:
    deadline = time.monotonic() + timeout
    while True:
        job = IngestionJob.objects.get(pk=job_id)
        if check(job):
            return job
        assert time.monotonic() < deadline, (job.status, job.checkpoint, job.error)
        time.sleep(0.1)


def _lease_expired(job: IngestionJob) -> bool:
    return job.lease_expires_at is not None and job.lease_expires_at < timezone.now()


def _finished(job: IngestionJob) -> bool:
    return job.status in (JobStatus.COMPLETED, JobStatus.FAILED)


def test_a_requested_sync_runs_to_completion_on_a_real_worker(
    start_world: StartWorld, fast_settings: Any, worker: None
) -> None:
    world = start_world(size="1x3x10")
    installation = world.installation()

    job_id = start_job(installation, trigger=Trigger.MANUAL)  # enqueued on commit

    job = _job_when(job_id, _finished, timeout=30)
    assert job.status == JobStatus.COMPLETED
    assert world.expected(1001, job.since) <= stored_events(installation) <= world.true_events(1001)
    installation.refresh_from_db()
    assert installation.sync_status == InstallationSyncStatus.IDLE
    assert installation.last_synced_at == job.started_at
    assert Heartbeat.objects.filter(name="worker").exists()


@pytest.mark.parametrize(
    ("mode", "budget"),
    [
        ("off", {"budget": 9}),  # REST: 9 requests a one-second window
        ("auto", {"graphql_points": 7}),  # GraphQL: 7 points a one-second window
    ],
)
def test_blocked_and_sliced_job_re_enqueues_itself_through_the_broker_and_completes(
    start_world: StartWorld, fast_settings: Any, worker: None, mode: str, budget: dict[str, int]
) -> None:
    """On a real worker: the budget the run spends from pauses the job at the minimum,
    time slices re-enqueue it, and it ends with the exact dataset, never meeting the
    limit itself."""
    fast_settings.SYNC_GRAPHQL = mode
    fast_settings.SYNC_MIN_BUDGET = 2
    fast_settings.SYNC_SLICE_SECONDS = 0.1
    world = start_world(size="1x2x10", window_seconds=1, latency_ms=30, **budget)
    installation = world.installation()

    with capture_logs() as logs:
        job_id = start_job(installation)
        job = _job_when(job_id, _finished, timeout=60)

    assert job.status == JobStatus.COMPLETED
    events = [e["event"] for e in logs]
    assert "sync.job.blocked" in events, sorted(set(events))
    assert "sync.job.sliced" in events, sorted(set(events))
    assert job.rest_requests + job.graphql_points > sum(budget.values())
    assert world.expected(1001, job.since) <= stored_events(installation) <= world.true_events(1001)
    stats = world.sim.server.stats()
    assert stats["requests_by_status"].get(403, 0) == 0
    assert stats["graphql_rate_limited"].get(1001, 0) == 0


def test_worker_process_killed_mid_job_is_recovered_by_maintenance_and_ends_exact(
    start_world: StartWorld, fast_settings: Any, purged_broker: None
) -> None:
    fast_settings.SYNC_LEASE_SECONDS = 2
    world = start_world(size="1x3x10", latency_ms=40)
    installation = world.installation()
    env = child_env(
        GITHUB_API_URL=world.sim.url,
        GITHUB_APP_ID=str(world.sim.app_id),
        GITHUB_APP_PRIVATE_KEY=world.sim.private_key_pem,
        SYNC_LEASE_SECONDS="2",
        LOG_LEVEL="WARNING",
    )
    process = subprocess.Popen(
        [str(BASE_DIR / ".venv/bin/celery"), "-A", "config", "worker", "--pool", "solo",
         "--without-mingle", "--without-gossip", "--without-heartbeat", "-l", "warning"],
        cwd=BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        job_id = start_job(installation)
        _job_when(job_id, lambda j: j.events_ingested > 0, timeout=45)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    killed = IngestionJob.objects.get(pk=job_id)
    assert killed.status == JobStatus.RUNNING and killed.lease_token is not None
    _job_when(job_id, _lease_expired, timeout=10)

    report = maintenance_run()

    assert [(r.job_id, r.why) for r in report.recovered] == [(job_id, "lease_expired")]
    with running_worker(purge=False):
        job = _job_when(job_id, _finished, timeout=45)
    assert job.status == JobStatus.COMPLETED
    assert job.events_ingested >= killed.events_ingested
    assert world.expected(1001, job.since) <= stored_events(installation) <= world.true_events(1001)
