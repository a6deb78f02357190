"""History on demand from the callers (issue 17): `manage.py sync --since`, the admin's
"Backfill to the backfill depth" action and the per-installation depth in the admin.
What the worker then reads is tested in tests/worker/test_history.py."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from integrations.models import Installation
from sync.models import IngestionJob
from sync.policy import Trigger
from sync.services import request_sync
from tests.dbenv import child_env
from tests.factories import make_installation, make_user

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "/admin/integrations/installation/"
ROOT = Path(__file__).resolve().parents[2]


def run(*args: Any) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sync_since_starts_a_full_job_with_that_window() -> None:
    make_installation(github_id=7001, last_synced_at=timezone.now() - timedelta(hours=3))
    out, _ = run("sync", "7001", "--since", "2024-01-01", "--json")
    line = json.loads(out)
    assert (line["action"], line["reason"]) == ("start", "ready")
    job = IngestionJob.objects.get(pk=line["job_id"])
    assert job.since == datetime(2024, 1, 1, tzinfo=UTC)
    assert job.full is True


def test_sync_since_takes_an_iso_datetime() -> None:
    make_installation(github_id=7001)
    run("sync", "7001", "--since", "2024-06-30T12:30:00+02:00")
    assert IngestionJob.objects.get().since == datetime(2024, 6, 30, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", "'yesterday' is not a date"),
        ("2024-02-30", "'2024-02-30' is not a date"),
        ("2024-13-01T00:00:00Z", "is not a date"),
        ("2999-01-01", "2999-01-01 is not in the past"),
    ],
)
def test_sync_since_rejects_bad_dates_in_one_line(value: str, message: str) -> None:
    make_installation(github_id=7001)
    with pytest.raises(CommandError, match=message) as raised:
        run("sync", "7001", "--since", value)
    assert "\n" not in str(raised.value)
    assert not IngestionJob.objects.exists()


def test_manage_py_sync_bad_since_exits_non_zero_without_a_traceback() -> None:
    result = manage("sync", "7001", "--since", "soon")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "CommandError: --since: 'soon' is not a date (2024-01-01) or an ISO 8601 datetime"
    )


def test_request_sync_refuses_a_since_in_the_future() -> None:
    installation = make_installation(github_id=7001)
    with pytest.raises(ValueError, match="in the past"):
        request_sync(
            installation_id=installation.pk,
            trigger=Trigger.ADMIN,
            since=timezone.now() + timedelta(minutes=1),
        )


@pytest.mark.parametrize(("depth", "days"), [(None, 30), (90, 90), (7, 7)])
def test_a_first_sync_reads_back_the_installations_depth(depth: int | None, days: int) -> None:
    installation = make_installation(github_id=7001, backfill_days=depth)
    now = timezone.now()
    request_sync(installation_id=installation.pk, trigger=Trigger.ADMIN, now=now)
    job = IngestionJob.objects.get(installation=installation)
    assert job.since == now - timedelta(days=days)


def test_the_backfill_action_reads_back_each_installations_depth() -> None:
    deep = make_installation(github_id=7001, account_login="deep", backfill_days=400)
    plain = make_installation(github_id=7002, account_login="plain")
    client = Client()
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    before = timezone.now()
    response = client.post(
        CHANGELIST,
        {"action": "backfill", "_selected_action": [deep.pk, plain.pk]},
        follow=True,
    )
    assert response.status_code == 200
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    jobs = {job.installation_id: job for job in IngestionJob.objects.all()}
    assert texts == [
        f"deep (7001): Sync started (job {jobs[deep.pk].pk}, 400 days back)",
        f"plain (7002): Sync started (job {jobs[plain.pk].pk}, 30 days back)",
    ]
    assert jobs[deep.pk].full and jobs[plain.pk].full
    after = timezone.now()
    assert before - timedelta(days=400) <= jobs[deep.pk].since <= after - timedelta(days=400)


def test_the_backfill_depth_is_the_one_editable_field_for_staff_who_may_sync() -> None:
    installation = make_installation(github_id=7001)
    permissions = Permission.objects.filter(
        content_type__app_label="integrations",
        codename__in=["view_installation", "sync_installation"],
    )
    syncer, viewer = make_user("syncer", is_staff=True), make_user("viewer", is_staff=True)
    syncer.user_permissions.set(permissions)
    viewer.user_permissions.set(permissions.filter(codename="view_installation"))
    client = Client()
    client.force_login(syncer)
    page = client.get(f"{CHANGELIST}{installation.pk}/change/").content.decode()
    assert 'name="backfill_days"' in page
    assert 'name="account_login"' not in page
    client.force_login(viewer)  # may look, may not sync: nothing editable
    page = client.get(f"{CHANGELIST}{installation.pk}/change/").content.decode()
    assert 'name="backfill_days"' not in page
    assert Installation._meta.get_field("backfill_days").validators
