"""Stored webhook deliveries: recording one (idempotent on the delivery id), sending
it to the processing task after commit, and re-sending the ones a broker outage or
a lost worker left behind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from integrations.models import DeliveryStatus, WebhookDelivery
from sync.queue import delivery_enqueue
from sync.webhooks.processing import event_disposition

log = structlog.get_logger(__name__)

# A delivery still `received` after this long was never picked up (broker outage,
# lost message); a `failed` one whose retries were lost is sent again after this.
REDRIVE_AFTER_SECONDS = 120
DEFAULT_MAX_ATTEMPTS = 6


@dataclass(frozen=True)
class Recorded:
    delivery: WebhookDelivery
    outcome: str  # "queued" | "ignored" | "duplicate"


def delivery_record(
    *,
    delivery_id: str,
    event: str,
    action: str,
    installation_github_id: int | None,
    payload: dict[str, Any],
) -> Recorded:
    """Store a verified delivery once. A replayed delivery id changes nothing and is
    reported as "duplicate". Events ghsync does not use are recorded as ignored right
    away; the others are sent to the processing task after commit."""
    existing = WebhookDelivery.objects.filter(delivery_id=delivery_id).first()
    if existing is not None:
        return Recorded(existing, "duplicate")
    handled, reason = event_disposition(event)
    fields: dict[str, Any] = {
        "delivery_id": delivery_id,
        "event": event,
        "action": action,
        "installation_github_id": installation_github_id,
        "payload": payload,
    }
    if not handled:
        fields.update(status=DeliveryStatus.IGNORED, error=reason, processed_at=timezone.now())
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(**fields)
            if handled:
                pk = delivery.pk
                transaction.on_commit(lambda: delivery_enqueue(delivery_pk=pk))
    except IntegrityError:
        # The same delivery raced in on another process and won.
        return Recorded(WebhookDelivery.objects.get(delivery_id=delivery_id), "duplicate")
    return Recorded(delivery, "queued" if handled else "ignored")


def max_attempts() -> int:
    return int(getattr(settings, "GITHUB_WEBHOOK_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))


def deliveries_redrive(*, now: datetime | None = None, limit: int = 500) -> int:
    """Re-send deliveries nobody processed: `received` for longer than a couple of
    minutes, and `failed` with attempts left whose retry was lost. Processing is
    idempotent, so a delivery sent twice is harmless. Returns how many were sent."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=REDRIVE_AFTER_SECONDS)
    stuck = WebhookDelivery.objects.filter(
        Q(status=DeliveryStatus.RECEIVED, received_at__lt=cutoff)
        | Q(
            status=DeliveryStatus.FAILED,
            attempts__lt=max_attempts(),
            processed_at__lt=cutoff,
        )
    ).order_by("received_at")[:limit]
    sent = 0
    for pk in stuck.values_list("pk", flat=True):
        if delivery_enqueue(delivery_pk=pk):
            sent += 1
    if sent:
        log.info("webhook.redriven", count=sent)
    return sent
