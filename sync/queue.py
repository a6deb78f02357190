"""Sending work to the workers. Messages name their task (the names are the contract
with messages already sitting in a queue), so nothing that enqueues imports the code
that runs: the worker's endings re-enqueue their own job without an import cycle.

A broker outage is never a failure of the caller: the job or delivery stays in the
database, and maintenance sends it again."""

from __future__ import annotations

from datetime import datetime

import structlog
from kombu.exceptions import KombuError

from config.celery import app

log = structlog.get_logger(__name__)

SYNC_JOB_TASK = "sync.tasks.process_sync_job"
WEBHOOK_DELIVERY_TASK = "integrations.tasks.process_webhook_delivery"
PERIODIC_TASK = "sync.tasks.request_periodic_syncs"
MAINTENANCE_TASK = "sync.tasks.run_maintenance"


def enqueue_job(*, job_id: int, eta: datetime | None = None) -> bool:
    """Send a job to a worker. False (and a warning) when the broker is unreachable."""
    return _send(SYNC_JOB_TASK, "sync.job.enqueue_failed", job_id=job_id, eta=eta)


def delivery_enqueue(*, delivery_pk: int, countdown: float | None = None) -> bool:
    """Send a webhook delivery to the processing task. False (and a warning) when the
    broker is unreachable: the delivery stays `received` for the redrive."""
    failure = "webhook.enqueue_failed"
    return _send(WEBHOOK_DELIVERY_TASK, failure, delivery_pk=delivery_pk, countdown=countdown)


def _send(
    task: str,
    failure_event: str,
    *,
    eta: datetime | None = None,
    countdown: float | None = None,
    **ids: int,
) -> bool:
    try:
        app.send_task(task, args=list(ids.values()), eta=eta, countdown=countdown)
    except (KombuError, OSError) as exc:
        log.warning(failure_event, error=str(exc), **ids)
        return False
    return True
