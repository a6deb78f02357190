"""Celery tasks: thin interfaces onto the services (ids in, one service call). Each has
an explicit name (sync/queue.py): messages already in a queue keep working."""

from __future__ import annotations

import random

from celery import Task, shared_task

from sync.maintenance import maintenance_run
from sync.models import heartbeat_record
from sync.periodic import periodic_syncs_request
from sync.queue import MAINTENANCE_TASK, PERIODIC_TASK, SYNC_JOB_TASK, WEBHOOK_DELIVERY_TASK
from sync.services import new_repositories_follow_up
from sync.webhooks.deliveries import max_attempts
from sync.webhooks.processing import DeliveryFailed, delivery_process
from sync.worker import Outcome, job_run

BACKOFF_BASE_SECONDS = 10
BACKOFF_MAX_SECONDS = 600


@shared_task(name=SYNC_JOB_TASK, acks_late=True, ignore_result=True)
def process_sync_job(job_id: int) -> str:
    """Run (a slice of) one IngestionJob. Idempotent: a duplicate delivery, or a message
    for a job another worker holds or that has finished, does nothing. A completed job
    is followed by a sync of repositories added while it ran."""
    heartbeat_record("worker")
    outcome = job_run(job_id=job_id)
    if outcome == Outcome.COMPLETED:
        new_repositories_follow_up(job_id=job_id)
    return str(outcome)


@shared_task(name=PERIODIC_TASK, acks_late=True, ignore_result=True)
def request_periodic_syncs() -> int:
    """Beat, every SYNC_BEAT_INTERVAL_SECONDS: ask for a `cron` sync of every active
    installation; the policy decides which are due."""
    heartbeat_record("worker")
    heartbeat_record("beat")
    return len(periodic_syncs_request())


@shared_task(name=MAINTENANCE_TASK, acks_late=True, ignore_result=True)
def run_maintenance() -> int:
    """Beat, every SYNC_BEAT_INTERVAL_SECONDS: recover stuck jobs, repair stale flags,
    then ask for a `maintenance` sync of each installation."""
    heartbeat_record("worker")
    heartbeat_record("beat")
    return len(maintenance_run().recovered)


def retry_countdown(retries: int) -> float:
    """Exponential backoff with jitter: ~10 s, 20 s, 40 s ... capped at 10 minutes."""
    delay = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**retries)
    return delay * random.uniform(0.8, 1.2)


@shared_task(
    name=WEBHOOK_DELIVERY_TASK, bind=True, acks_late=True, ignore_result=True, max_retries=None
)
def process_webhook_delivery(self: Task, delivery_pk: int) -> None:
    """Process one stored delivery. A failure stays visible on the delivery (`failed`,
    with its error and attempt count) and is retried with backoff until the attempts
    run out; a malformed payload is not retried."""
    try:
        delivery_process(delivery_pk=delivery_pk)
    except DeliveryFailed as exc:
        if not exc.retryable or self.request.retries + 1 >= max_attempts():
            return
        raise self.retry(countdown=retry_countdown(self.request.retries)) from exc
