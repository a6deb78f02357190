"""Rows stored before error kinds existed get one from their structure (migration
sync 0005), never from their words."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.utils import timezone

from integrations.models import ErrorKind, InstallationSyncStatus
from sync.models import JobStatus
from sync.status import GENERIC_MESSAGE, get_status
from tests.factories import make_installation, make_job

pytestmark = pytest.mark.django_db

backfill = importlib.import_module("sync.migrations.0005_error_kinds_backfill").backfill


def test_an_idle_installation_with_an_error_had_a_partial_failure_counted_from_its_last_job() -> (
    None
):
    installation = make_installation(repos=3)
    make_job(
        installation,
        JobStatus.COMPLETED,
        finished_at=timezone.now(),
        failures=[
            {"repository": f"{installation.account_login}/repo-1", "status": 404, "error": "x"},
            {"repository": f"{installation.account_login}/repo-2", "status": 500, "error": "y"},
        ],
    )
    installation.repositories.exclude(full_name__endswith="repo-0").update(last_error="raw")
    type(installation).objects.filter(pk=installation.pk).update(
        sync_status=InstallationSyncStatus.IDLE,
        last_sync_error="2 repositories could not be synced",
    )

    backfill(apps, None)

    installation.refresh_from_db()
    assert installation.last_sync_error_kind == ErrorKind.PARTIAL
    assert installation.last_sync_failed_repositories == 2
    kinds = {
        r.full_name.split("/")[1]: (r.last_error_kind, r.last_error_status)
        for r in installation.repositories.all()
    }
    assert kinds == {
        "repo-0": (None, None),
        "repo-1": (ErrorKind.UNAVAILABLE, 404),
        "repo-2": (ErrorKind.INTERNAL, 500),
    }
    assert get_status(installation, timezone.now()).last_sync_error == (
        "2 repositories could not be synced"
    )


def test_any_other_stored_error_is_internal() -> None:
    installation = make_installation(
        repos=1,
        sync_status=InstallationSyncStatus.ERROR,
        last_sync_error="GET /repos/acme/token-service -> 502 after 4 attempts",
    )
    job = make_job(installation, JobStatus.FAILED, error="boom", finished_at=timezone.now())

    backfill(apps, None)

    installation.refresh_from_db()
    job.refresh_from_db()
    assert installation.last_sync_error_kind == ErrorKind.INTERNAL
    assert job.error_kind == ErrorKind.INTERNAL
    assert get_status(installation, timezone.now()).last_sync_error == GENERIC_MESSAGE
