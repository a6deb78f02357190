"""Builds the policy's SyncState from an installation row and the few facts the
policy needs beside it (owner, repositories, an active job)."""

from django.conf import settings

from integrations.models import Installation
from sync.policy import PolicyConfig, SyncState


def policy_config() -> PolicyConfig:
    return PolicyConfig.from_settings(settings)


def sync_state_for(
    installation: Installation,
    *,
    has_owner: bool,
    active_repository_count: int,
    has_active_job: bool,
) -> SyncState:
    return SyncState(
        installation_status=installation.status,
        has_owner=has_owner,
        active_repository_count=active_repository_count,
        has_active_job=has_active_job,
        sync_status=installation.sync_status,
        last_synced_at=installation.last_synced_at,
        last_manual_sync_at=installation.last_manual_sync_at,
        last_sync_error_at=installation.last_sync_error_at,
        rate_limit_limit=installation.rate_limit_limit,
        rate_limit_remaining=installation.rate_limit_remaining,
        rate_limit_reset_at=installation.rate_limit_reset_at,
        blocked_until=installation.blocked_until,
    )
