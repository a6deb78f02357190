"""Concurrency with real threads on the real database (SQLite here, PostgreSQL in the
services run): one claim wins, and a worker whose lease was taken over stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from integrations.models import Event
from sync.models import IngestionJob, JobStatus
from sync.worker import Outcome, job_claim, job_run
from tests.worker.support import World, start_job, stored_events

pytestmark = pytest.mark.django_db(transaction=True)

StartWorld = Callable[..., World]


def _in_thread(target: Callable[[], Any], results: list[Any]) -> threading.Thread:
    def run() -> None:
        try:
            results.append(target())
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_many_workers_claiming_one_job_at_once_only_one_gets_it(
    start_world: StartWorld, fast_settings: Any
) -> None:
    world = start_world(size="1x1x2")
    job_id = start_job(world.installation())
    barrier = threading.Barrier(6)
    results: list[Any] = []

    def claim() -> Any:
        barrier.wait()
        return job_claim(job_id=job_id)

    threads = [_in_thread(claim, results) for _ in range(6)]
    for thread in threads:
        thread.join(timeout=30)

    winners = [lease for lease in results if lease is not None]
    assert len(results) == 6 and len(winners) == 1
    job = IngestionJob.objects.get(pk=job_id)
    assert job.status == JobStatus.RUNNING and job.lease_token == winners[0].token


def test_a_stalled_worker_loses_its_job_to_a_second_one_and_nothing_is_duplicated(
    start_world: StartWorld, fast_settings: Any
) -> None:
    fast_settings.SYNC_LEASE_SECONDS = 0  # every lease has run out as soon as it is taken
    world = start_world(size="1x2x6", latency_ms=40)
    installation = world.installation()
    job_id = start_job(installation)
    first: list[Any] = []
    thread = _in_thread(lambda: job_run(job_id=job_id), first)
    deadline = time.monotonic() + 20
    while not IngestionJob.objects.get(pk=job_id).events_ingested:
        assert time.monotonic() < deadline
        time.sleep(0.02)

    second = job_run(job_id=job_id)
    thread.join(timeout=30)

    assert second == Outcome.COMPLETED and first == [Outcome.LEASE_LOST]
    job = IngestionJob.objects.get(pk=job_id)
    stored = stored_events(installation)
    assert world.expected(1001, job.since) <= stored <= world.true_events(1001)
    assert Event.objects.filter(installation=installation).count() == len(stored)
