"""Reconcile (SPEC §6, `manage.py github_reconcile`): make the database agree with
what GitHub lists (missed webhooks, a fresh database), then ask for a sync of each
installation."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from integrations.github.client import GitHubError, app_from_settings, client_from_settings
from integrations.models import Installation, InstallationStatus
from integrations.services import (
    InstallationData,
    PayloadError,
    RepositoriesChange,
    installation_status_set,
    installation_upsert,
    repositories_from_github,
    repositories_update,
)
from sync.policy import SyncDecision, Trigger
from sync.services import request_sync

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class InstallationReconciled:
    installation: Installation
    created: bool
    repositories: RepositoriesChange | None
    decision: SyncDecision
    error: str | None = None


@dataclass(frozen=True)
class ReconcileResult:
    installations: list[InstallationReconciled]
    removed: list[int]


def installations_reconcile() -> ReconcileResult:
    """Discover installations (`GET /app/installations`) and their repositories
    (`GET /installation/repositories`) from GitHub, make the database agree (missed
    webhooks, a fresh database), then ask for a sync of each. An installation GitHub no
    longer lists is marked deleted; a repository no longer listed becomes inactive.

    Raises `GitHubNotConfigured` without App credentials and `GitHubError` when the
    installations cannot be listed; one installation's repository error is recorded
    in its result and the others go on."""
    app = app_from_settings()
    listed = [InstallationData.from_github(item) for item in app.list_installations()]
    results = []
    for data in listed:
        installation, created = installation_upsert(data=data)
        change: RepositoriesChange | None = None
        error: str | None = None
        if not data.suspended:
            try:
                repositories = repositories_from_github(
                    list(client_from_settings(data.github_id).installation_repositories())
                )
                change = repositories_update(
                    installation=installation, added=repositories, complete=True
                )
            except (GitHubError, PayloadError) as exc:
                error = str(exc)
                log.warning(
                    "installation.reconcile_failed", installation_id=data.github_id, error=error
                )
        decision = request_sync(installation_id=installation.pk, trigger=Trigger.ADMIN)
        results.append(InstallationReconciled(installation, created, change, decision, error))
    gone = list(
        Installation.objects.exclude(github_id__in=[data.github_id for data in listed])
        .exclude(status=InstallationStatus.DELETED)
        .order_by("github_id")
        .values_list("github_id", flat=True)
    )
    for github_id in gone:
        installation_status_set(github_id=github_id, status=InstallationStatus.DELETED)
    log.info("installation.reconciled", listed=len(listed), removed=len(gone))
    return ReconcileResult(installations=results, removed=gone)
