"""Celery tasks: thin interfaces onto the sync services (ids in, one service call)."""

from celery import shared_task

from sync.models import heartbeat_record


@shared_task(acks_late=True, ignore_result=True)
def process_sync_job(job_id: int) -> str:
    """Run (a slice of) one IngestionJob. Idempotent: a duplicate delivery, or a message
    for a job another worker holds or that has finished, does nothing."""
    from sync.worker import job_run

    heartbeat_record("worker")
    return str(job_run(job_id=job_id))


@shared_task(acks_late=True, ignore_result=True)
def request_periodic_syncs() -> int:
    """Beat, every SYNC_BEAT_INTERVAL_SECONDS: ask for a `cron` sync of every active
    installation; the policy decides which are due."""
    from sync.maintenance import periodic_syncs_request

    heartbeat_record("worker")
    heartbeat_record("beat")
    return len(periodic_syncs_request())


@shared_task(acks_late=True, ignore_result=True)
def run_maintenance() -> int:
    """Beat, every SYNC_BEAT_INTERVAL_SECONDS: recover stuck jobs, repair stale flags,
    then ask for a `maintenance` sync of each installation."""
    from sync.maintenance import maintenance_run

    heartbeat_record("worker")
    heartbeat_record("beat")
    return len(maintenance_run().recovered)
