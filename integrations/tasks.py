"""Celery tasks of the integrations app: thin interfaces onto its services."""

from __future__ import annotations

import random

from celery import Task, shared_task

from integrations.webhooks.deliveries import max_attempts
from integrations.webhooks.processing import DeliveryFailed, delivery_process

BACKOFF_BASE_SECONDS = 10
BACKOFF_MAX_SECONDS = 600


def retry_countdown(retries: int) -> float:
    """Exponential backoff with jitter: ~10 s, 20 s, 40 s ... capped at 10 minutes."""
    delay = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**retries)
    return delay * random.uniform(0.8, 1.2)


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=None)
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
