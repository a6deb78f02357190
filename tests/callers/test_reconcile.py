"""manage.py github_reconcile against the running simulator (real client, real HTTP)."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from integrations.models import Installation, InstallationStatus, Repository
from simulator.testing import RunningSimulator
from sync.models import IngestionJob
from tests.factories import make_installation, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def _reconcile() -> list[str]:
    out = StringIO()
    call_command("github_reconcile", stdout=out)
    return out.getvalue().splitlines()


def test_reconcile_discovers_installations_and_repositories(
    github_settings: RunningSimulator,
) -> None:
    lines = _reconcile()
    dataset = github_settings.dataset
    assert set(Installation.objects.values_list("github_id", flat=True)) == set(
        dataset.installations
    )
    for inst in dataset.installations.values():
        expected = {repo.id for repo in inst.repositories if not repo.deleted}
        stored = Repository.objects.filter(installation__github_id=inst.id, is_active=True)
        assert set(stored.values_list("github_id", flat=True)) == expected
    assert lines[0] == (
        "org-1 (1001): new, active, 3 active repositories (3 added, 0 deactivated), "
        "This installation has no owner yet"
    )
    assert lines[-1] == "Reconciled 2 installations (2 new, 0 removed)."
    assert not IngestionJob.objects.exists()  # nobody owns them yet: the policy blocks


def test_reconcile_deactivates_what_github_no_longer_lists_then_requests_syncs(
    github_settings: RunningSimulator,
) -> None:
    owner = make_user("owner")
    known = make_installation(github_id=1001, account_login="org-1", repos=1, owner=owner)
    stale_repo = known.repositories.get()
    make_installation(github_id=4040, account_login="uninstalled")
    lines = _reconcile()
    stale_repo.refresh_from_db()
    assert stale_repo.is_active is False
    assert Installation.objects.get(github_id=4040).status == InstallationStatus.DELETED
    job = IngestionJob.objects.get(installation=known)
    assert job.trigger == "admin"
    assert job.progress_total == 3
    assert lines[0] == (
        f"org-1 (1001): known, active, 3 active repositories (3 added, 1 deactivated), "
        f"Sync started (job {job.pk})"
    )
    assert "installation 4040: no longer listed by GitHub, marked deleted" in lines
    assert lines[-1] == "Reconciled 2 installations (1 new, 1 removed)."
    again = _reconcile()
    assert again[0].endswith("Sync already in progress")
    assert Repository.objects.filter(installation=known, is_active=True).count() == 3


def test_reconcile_without_app_credentials_is_a_one_line_error(settings: Any) -> None:
    settings.GITHUB_APP_ID = None
    with pytest.raises(CommandError, match="GITHUB_APP_ID is not set"):
        _reconcile()
