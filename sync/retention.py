"""Retention (run by maintenance): webhook deliveries (up to 25 MiB each) and finished
jobs are kept for SYNC_WEBHOOK_RETENTION_DAYS / SYNC_JOB_RETENTION_DAYS, then deleted
in batches of at most SYNC_PRUNE_BATCH rows a pass, so one pass never holds a long
lock or a long transaction however much has piled up. An installation's last finished
job is always kept: its state (`error`, "Synced N repositories") comes from it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db.models import F, Model, OuterRef, QuerySet, Subquery
from django.utils import timezone

from integrations.models import DeliveryStatus, WebhookDelivery
from sync.models import IngestionJob, JobStatus

log = structlog.get_logger(__name__)

FINISHED_JOBS = (JobStatus.COMPLETED, JobStatus.FAILED)
# `received` deliveries are still to be processed; everything else is history.
FINISHED_DELIVERIES = (DeliveryStatus.PROCESSED, DeliveryStatus.IGNORED, DeliveryStatus.FAILED)


@dataclass(frozen=True)
class Pruned:
    deliveries: int
    jobs: int


def history_prune(*, now: datetime | None = None) -> Pruned:
    """Delete one batch of expired deliveries and one of expired finished jobs."""
    now = now or timezone.now()
    batch = int(settings.SYNC_PRUNE_BATCH)
    deliveries = WebhookDelivery.objects.filter(
        status__in=FINISHED_DELIVERIES,
        received_at__lt=now - timedelta(days=settings.SYNC_WEBHOOK_RETENTION_DAYS),
    )
    last_finished = (
        IngestionJob.objects.filter(installation=OuterRef("installation"), status__in=FINISHED_JOBS)
        .order_by("-finished_at", "-id")
        .values("pk")[:1]
    )
    jobs = (
        IngestionJob.objects.filter(
            status__in=FINISHED_JOBS,
            finished_at__lt=now - timedelta(days=settings.SYNC_JOB_RETENTION_DAYS),
        )
        .annotate(last_finished=Subquery(last_finished))
        .exclude(pk=F("last_finished"))
    )
    pruned = Pruned(_delete_batch(deliveries, batch), _delete_batch(jobs, batch))
    if pruned.deliveries or pruned.jobs:
        log.info("maintenance.pruned", deliveries=pruned.deliveries, jobs=pruned.jobs)
    return pruned


def _delete_batch(rows: QuerySet[Model], batch: int) -> int:
    pks = list(rows.order_by("pk").values_list("pk", flat=True)[:batch])
    if not pks:
        return 0
    deleted, _ = rows.model._default_manager.filter(pk__in=pks).delete()
    return deleted
