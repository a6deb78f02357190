"""Installation.sync_status moves through one function that refuses an illegal move,
as IngestionJob.transition does for jobs."""

from __future__ import annotations

import pytest

from integrations.models import (
    SYNC_STATUS_TRANSITIONS,
    IllegalTransition,
    Installation,
    InstallationSyncStatus,
    sync_status_move,
)
from tests.factories import make_installation

pytestmark = pytest.mark.django_db

PAIRS = [(source, to) for source in InstallationSyncStatus for to in InstallationSyncStatus]


@pytest.mark.parametrize(("source", "to"), PAIRS)
def test_every_move_is_made_or_refused_as_the_table_says(
    source: InstallationSyncStatus, to: InstallationSyncStatus
) -> None:
    installation = make_installation(
        repos=0, owner=False, sync_status=source, last_sync_error="raw"
    )
    if to in SYNC_STATUS_TRANSITIONS[source]:
        sync_status_move(installation_id=installation.pk, to=to, last_sync_error=None)
        installation.refresh_from_db()
        assert (installation.sync_status, installation.last_sync_error) == (to, None)
    else:
        with pytest.raises(IllegalTransition):
            sync_status_move(installation_id=installation.pk, to=to, last_sync_error=None)
        installation.refresh_from_db()
        assert (installation.sync_status, installation.last_sync_error) == (source, "raw")


def test_an_installation_in_error_cannot_be_made_idle_without_a_sync() -> None:
    installation = make_installation(repos=0, owner=False, sync_status=InstallationSyncStatus.ERROR)
    with pytest.raises(IllegalTransition, match="error -> idle"):
        installation.move_sync_status(InstallationSyncStatus.IDLE)
    assert installation.sync_status == InstallationSyncStatus.ERROR
    installation.refresh_from_db()
    assert installation.sync_status == InstallationSyncStatus.ERROR


def test_the_instance_follows_a_move() -> None:
    installation = make_installation(repos=0, owner=False, sync_status=InstallationSyncStatus.IDLE)
    installation.move_sync_status(InstallationSyncStatus.SYNCING, last_sync_error=None)
    assert installation.sync_status == InstallationSyncStatus.SYNCING
    assert Installation.objects.get(pk=installation.pk).sync_status == "syncing"


def test_a_move_of_an_installation_that_is_gone_says_so() -> None:
    with pytest.raises(Installation.DoesNotExist):
        sync_status_move(installation_id=987654321, to=InstallationSyncStatus.SYNCING)
