"""The sync worker: the service `process_sync_job` calls to run an IngestionJob."""

from sync.worker.endings import job_fail
from sync.worker.lease import Lease, LeaseLost, job_claim
from sync.worker.runner import Outcome, job_run

__all__ = ["Lease", "LeaseLost", "Outcome", "job_claim", "job_fail", "job_run"]
