"""Scenario 3: PostgreSQL restarted while a job runs. The worker process survives, its
next tasks reconnect (no stale-connection errors forever), the interrupted job is
recovered by maintenance and completes exactly, and a job asked for after the restart
runs on the same worker.

Under `make faults` the suite has its own throwaway cluster, stopped and started
again for real. Without one (plain pytest on a shared server) the server is left
alone and every other connection to the test database is terminated instead
(`pg_terminate_backend`), which is what a restart does to a client."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from sync.maintenance import maintenance_run
from sync.models import ACTIVE_JOB_STATUSES, IngestionJob, JobStatus
from tests.faults.figures import figure
from tests.faults.infra import OwnPostgres
from tests.faults.support import Workers, app_env, db_retrying, wait_until
from tests.worker.support import World, start_job, stored_events

SCENARIO = "3. PostgreSQL restarted mid-job"
LEASE_SECONDS = 3
PERIOD = 3.0
DOWN_SECONDS = 3.0

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _terminate_other_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return int(cursor.fetchone()[0])


def _job(job_id: int) -> IngestionJob:
    return db_retrying(lambda: IngestionJob.objects.get(pk=job_id))


@pytest.mark.timeout(600)
def test_postgres_restart_mid_job_the_worker_reconnects_and_the_job_ends_exact(
    sim_world: Callable[..., World], settings: Any, workers: Workers
) -> None:
    own = OwnPostgres.from_env()
    settings.SYNC_LEASE_SECONDS = LEASE_SECONDS
    world = sim_world(size="2x3x20", seed=13, latency_ms=30)
    env = app_env(world.sim, SYNC_LEASE_SECONDS=str(LEASE_SECONDS), SYNC_SLICE_SECONDS="2")
    first, second = list(world.installations)
    worker = workers.start(env, label="pg-restart")
    job_id = start_job(world.installation(first))
    wait_until(lambda: _job(job_id).events_ingested > 0, timeout=60)
    before = _job(job_id)
    assert before.status == JobStatus.RUNNING

    if own is not None:
        mode = "server stopped and started again"
        connection.close()
        own.stop()
        time.sleep(DOWN_SECONDS)
        own.start()
    else:
        mode = f"{_terminate_other_connections()} connections terminated (shared server)"
    restarted = time.monotonic()

    def finished(pk: int) -> Callable[[], bool]:
        def check() -> bool:
            db_retrying(maintenance_run)
            return _job(pk).status not in ACTIVE_JOB_STATUSES

        return check

    wait_until(finished(job_id), timeout=120, every=PERIOD)
    interrupted = _job(job_id)
    recovery_seconds = time.monotonic() - restarted
    # A job asked for after the restart (maintenance's catch-up of the never-synced
    # installation, or ours), on the same, never restarted, worker process.
    installation = world.installation(second)
    asked = IngestionJob.objects.filter(installation=installation).first()
    after_id = asked.pk if asked is not None else start_job(installation)
    wait_until(finished(after_id), timeout=120, every=PERIOD)
    after = _job(after_id)

    missing = invented = 0
    for job in (interrupted, after):
        github_id = job.installation.github_id
        stored = stored_events(job.installation)
        missing += len(world.expected(github_id, job.since) - stored)
        invented += len(stored - world.true_events(github_id))
    log = worker.log_path.read_text(errors="replace")
    stale_errors = log.count("connection already closed") + log.count("the connection is closed")
    figure(SCENARIO, "what happened", mode)
    figure(SCENARIO, "interrupted job / job after restart",
           f"{interrupted.status} / {after.status}")  # fmt: skip
    not_completed = sum(1 for j in (interrupted, after) if j.status != JobStatus.COMPLETED)
    figure(SCENARIO, "jobs not completed", not_completed, required="0")
    figure(SCENARIO, "missing events", missing, required="0")
    figure(SCENARIO, "invented events", invented, required="0")
    figure(SCENARIO, "worker process restarted", int(not worker.alive), required="0")
    figure(SCENARIO, "time from restart to the job completed (s)", round(recovery_seconds, 1))
    figure(SCENARIO, "stale-connection errors in the worker log", stale_errors)
    assert interrupted.status == JobStatus.COMPLETED, (interrupted.error, interrupted.checkpoint)
    assert after.status == JobStatus.COMPLETED, after.error
    assert (missing, invented) == (0, 0)
    assert worker.alive
