"""Builds the policy's SyncState from an installation row and the few facts the
policy needs beside it (owner, repositories, an active job)."""

from django.conf import settings

from integrations.models import Installation
from sync.models import IngestionJob, JobStatus
from sync.policy import PolicyConfig, SyncState

BUDGET_RESERVE = "budget_reserve"  # a job's `blocked_reason` when it paused at the reserve


def policy_config() -> PolicyConfig:
    return PolicyConfig.from_settings(settings)


def paused_for_reserve(job: IngestionJob | None) -> bool:
    """A job cron started, paused where the cron reserve begins (SPEC §3, rule 9b)."""
    return (
        job is not None
        and job.status == JobStatus.BLOCKED
        and job.blocked_reason == BUDGET_RESERVE
        and job.keeps_reserve
    )


def sync_state_for(
    installation: Installation,
    *,
    has_owner: bool,
    active_repository_count: int,
    has_active_job: bool,
    active_job_paused_for_reserve: bool = False,
) -> SyncState:
    return SyncState(
        installation_status=installation.status,
        has_owner=has_owner,
        active_repository_count=active_repository_count,
        has_active_job=has_active_job,
        active_job_paused_for_reserve=active_job_paused_for_reserve,
        sync_status=installation.sync_status,
        last_synced_at=installation.last_synced_at,
        last_manual_sync_at=installation.last_manual_sync_at,
        last_sync_error_at=installation.last_sync_error_at,
        rate_limit_limit=installation.rate_limit_limit,
        rate_limit_remaining=installation.rate_limit_remaining,
        rate_limit_reset_at=installation.rate_limit_reset_at,
        graphql_limit=installation.graphql_limit,
        graphql_remaining=installation.graphql_remaining,
        graphql_reset_at=installation.graphql_reset_at,
        blocked_until=installation.blocked_until,
    )
