"""Celery tasks: thin interfaces onto the sync services."""

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from sync.models import IngestionJob, JobStatus


@shared_task(acks_late=True, ignore_result=True)
def process_sync_job(job_id: int) -> None:
    """STUB until the worker issue lands: only marks a pending job running."""
    with transaction.atomic():
        job = IngestionJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != JobStatus.PENDING:
            return
        job.transition(JobStatus.RUNNING)
        job.started_at = timezone.now()
        job.save(update_fields=["status", "started_at", "updated_at"])
