"""Scenario 2: the broker (Redis) stopped while `request_sync` is called, while a webhook
is delivered and while jobs run, then started again with every queued message gone
(no persistence). Nothing is lost: the requests succeed, and maintenance (every
period, as beat would) finds the jobs and deliveries and sends them again."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client

from integrations.models import DeliveryStatus, WebhookDelivery
from simulator.webhooks import activity_payload
from sync.maintenance import maintenance_run
from sync.models import ACTIVE_JOB_STATUSES, IngestionJob, JobStatus
from sync.policy import Trigger
from sync.services import request_sync
from sync.webhooks.deliveries import REDRIVE_AFTER_SECONDS
from sync.webhooks.signature import signature_for
from tests.faults.figures import figure
from tests.faults.infra import OwnRedis
from tests.faults.support import ISSUED, Workers, app_env, wait_until
from tests.worker.support import World, stored_events

SCENARIO = "2. Redis stopped and started again"
LEASE_SECONDS = 3
PERIOD = 3.0
SECRET = "faults-redis-webhook-secret"

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def own_redis() -> OwnRedis:
    redis = OwnRedis.from_env()
    if redis is None:
        pytest.skip("needs the fault suite's own Redis: run `make faults` (tests/faults/run.py)")
    assert f":{redis.port}/" in django_settings.CELERY_BROKER_URL
    if not redis.running:
        redis.start()
    return redis


def _issue_webhook(world: World, github_id: int) -> tuple[bytes, str]:
    """A signed `issues` delivery about an issue just opened in the simulator."""
    world.sim.server.add_activity("issue_opened", installation_id=github_id)
    payload = activity_payload(world.sim.dataset, "issues", installation_id=github_id)
    body = json.dumps(payload).encode()
    return body, signature_for(body, SECRET)


@pytest.mark.timeout(600)
def test_broker_outage_loses_no_job_and_no_delivery(
    sim_world: Callable[..., World], settings: Any, workers: Workers, own_redis: OwnRedis
) -> None:
    settings.SYNC_LEASE_SECONDS = LEASE_SECONDS
    settings.GITHUB_WEBHOOK_SECRET = SECRET
    ISSUED.webhook_secrets.add(SECRET)
    world = sim_world(size="4x3x15", seed=9, latency_ms=20)
    env = app_env(world.sim, SYNC_LEASE_SECONDS=str(LEASE_SECONDS), SYNC_SLICE_SECONDS="1")
    ids = list(world.installations)
    recovered = 0
    started = time.monotonic()

    # 1. The broker is down while a sync is asked for and a webhook arrives.
    own_redis.stop()
    asked = time.monotonic()
    decision = request_sync(installation_id=world.installation(ids[0]).pk, trigger=Trigger.MANUAL)
    request_seconds = time.monotonic() - asked
    body, signature = _issue_webhook(world, ids[0])
    response = Client().post(
        "/webhooks/github/", data=body, content_type="application/json",
        headers={"X-GitHub-Event": "issues", "X-GitHub-Delivery": "redis-outage-1",
                 "X-Hub-Signature-256": signature},
    )  # fmt: skip
    received_at = time.monotonic()
    assert decision.started, decision
    assert response.status_code == 202, response.content
    recovered += len(maintenance_run().recovered)  # beat runs while the broker is down too

    # Maintenance asked for the never-synced installations' catch-up meanwhile.
    job_ids = list(IngestionJob.objects.values_list("pk", flat=True))
    requested_while_down = len(job_ids)

    # 2. Back up (empty: every message is gone); a worker; maintenance re-sends the
    # jobs; the broker dies again while they run.
    own_redis.start()
    workers.start(env, label="redis-outage")

    def running() -> bool:
        nonlocal recovered
        recovered += len(maintenance_run().recovered)
        return IngestionJob.objects.filter(events_ingested__gt=0, status=JobStatus.RUNNING).exists()

    wait_until(running, timeout=60, every=1.0)
    own_redis.stop()
    time.sleep(PERIOD)
    recovered += len(maintenance_run().recovered)
    time.sleep(PERIOD)
    own_redis.start()
    outage_over = time.monotonic()

    # 3. Maintenance every period until every job, then the stranded delivery, is done
    # (a delivery is re-sent once it has waited REDRIVE_AFTER_SECONDS unprocessed).
    def jobs_done() -> bool:
        nonlocal recovered
        recovered += len(maintenance_run().recovered)
        return not IngestionJob.objects.filter(status__in=ACTIVE_JOB_STATUSES).exists()

    def delivery_done() -> bool:
        maintenance_run()
        delivery = WebhookDelivery.objects.get(delivery_id="redis-outage-1")
        return delivery.status == DeliveryStatus.PROCESSED

    wait_until(jobs_done, timeout=120, every=PERIOD)
    recovery_seconds = time.monotonic() - outage_over
    wait_until(delivery_done, timeout=REDRIVE_AFTER_SECONDS + 60, every=PERIOD)
    delivery_seconds = time.monotonic() - received_at

    jobs = list(IngestionJob.objects.filter(pk__in=job_ids))
    lost = len(job_ids) - sum(1 for j in jobs if j.status == JobStatus.COMPLETED)
    missing = invented = 0
    for job in jobs:
        github_id = job.installation.github_id
        stored = stored_events(job.installation)
        missing += len(world.expected(github_id, job.since) - stored)
        invented += len(stored - world.true_events(github_id))
    delivery = WebhookDelivery.objects.get(delivery_id="redis-outage-1")
    figure(SCENARIO, "request_sync with the broker down: decision (s)",
           f"{decision.action} ({request_seconds:.1f} s)")  # fmt: skip
    figure(SCENARIO, "jobs created while the broker was down", requested_while_down)
    figure(SCENARIO, "webhook with the broker down: HTTP status", response.status_code)
    figure(SCENARIO, "jobs requested / completed", f"{len(job_ids)} / {len(job_ids) - lost}")
    figure(SCENARIO, "jobs lost", lost, required="0")
    figure(SCENARIO, "webhook deliveries lost", int(delivery.status != DeliveryStatus.PROCESSED),
           required="0")  # fmt: skip
    figure(SCENARIO, "missing events", missing, required="0")
    figure(SCENARIO, "invented events", invented, required="0")
    figure(SCENARIO, "jobs re-sent by maintenance", recovered)
    figure(SCENARIO, "time from broker back to all jobs done (s)", round(recovery_seconds, 1))
    figure(SCENARIO, "time to the stranded delivery processed (s)", round(delivery_seconds, 1))
    figure(SCENARIO, "wall time (s)", round(time.monotonic() - started, 1))
    assert lost == 0, [(j.pk, j.status, j.error) for j in jobs]
    assert (missing, invented) == (0, 0)
    assert delivery.status == DeliveryStatus.PROCESSED
