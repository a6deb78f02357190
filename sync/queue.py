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
    try:
        app.send_task(SYNC_JOB_TASK, args=[job_id], eta=eta)
    except (KombuError, OSError) as exc:
        log.warning("sync.job.enqueue_failed", job_id=job_id, error=str(exc))
        return False
    return True


def delivery_enqueue(*, delivery_pk: int, countdown: float | None = None) -> bool:
    """Send a webhook delivery to the processing task. False (and a warning) when the
    broker is unreachable: the delivery stays `received` for the redrive."""
    try:
        app.send_task(WEBHOOK_DELIVERY_TASK, args=[delivery_pk], countdown=countdown)
    except (KombuError, OSError) as exc:
        log.warning("webhook.enqueue_failed", delivery_pk=delivery_pk, error=str(exc))
        return False
    return True
