"""The Installation admin's "Sync now" action: each installation's decision reported
with message_user, through the SyncService like every caller; only for users with the
`integrations.sync_installation` permission (an admin sync skips the cooldown)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client

from integrations.models import Installation
from sync.models import IngestionJob
from tests.factories import make_installation, make_user

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "/admin/integrations/installation/"


def _staff(username: str, *codenames: str) -> Any:
    user = make_user(username, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="integrations", codename__in=codenames)
    )
    return user


def _sync_now(client: Client, *installations: Installation) -> Any:
    return client.post(
        CHANGELIST,
        {"action": "sync_now", "_selected_action": [i.pk for i in installations]},
        follow=True,
    )


def test_staff_with_the_sync_permission_sync_now_reports_each_decision() -> None:
    ready = make_installation(github_id=7001, account_login="acme")
    ownerless = make_installation(github_id=7002, account_login="beta", owner=False)
    staff = _staff("staffer", "view_installation", "sync_installation")
    client = Client()
    client.force_login(staff)
    response = _sync_now(client, ready, ownerless)
    assert response.status_code == 200
    job = IngestionJob.objects.get()
    assert (job.installation, job.trigger, job.actor) == (ready, "admin", staff)
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert shown == [
        f"acme (7001): Sync started (job {job.pk})",
        "beta (7002): This installation has no owner yet",
    ]
    content = response.content.decode().lower()  # the admin capitalises messages
    assert f"acme (7001): sync started (job {job.pk})" in content
    again = _sync_now(client, ready)
    assert "acme (7001): sync already in progress" in again.content.decode().lower()
    assert IngestionJob.objects.count() == 1


def test_non_staff_cannot_run_the_action() -> None:
    installation = make_installation(github_id=7001)
    client = Client()
    client.force_login(make_user("plain"))
    response = client.post(
        CHANGELIST, {"action": "sync_now", "_selected_action": [installation.pk]}
    )
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert not IngestionJob.objects.exists()


def test_staff_without_the_sync_permission_see_no_action_and_cannot_post_it() -> None:
    installation = make_installation(github_id=7001)
    client = Client()
    client.force_login(_staff("viewer-staff", "view_installation"))
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert 'value="sync_now"' not in page.content.decode()
    response = _sync_now(client, installation)
    assert response.status_code == 200
    assert not IngestionJob.objects.exists()


def test_staff_without_any_permission_cannot_see_or_sync_installations() -> None:
    installation = make_installation(github_id=7001)
    client = Client()
    client.force_login(make_user("bare-staff", is_staff=True))
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(f"{CHANGELIST}{installation.pk}/change/").status_code == 403
    assert _sync_now(client, installation).status_code == 403
    assert not IngestionJob.objects.exists()
    assert "integrations" not in client.get("/admin/").content.decode().lower()


def test_superusers_have_the_sync_permission() -> None:
    installation = make_installation(github_id=7001, account_login="acme")
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    assert 'value="sync_now"' in client.get(CHANGELIST).content.decode()
    _sync_now(client, installation)
    assert IngestionJob.objects.filter(installation=installation, trigger="admin").exists()


def test_installation_pages_stay_read_only_for_staff() -> None:
    installation = make_installation(github_id=7001)
    client = Client()
    client.force_login(_staff("staffer", "view_installation"))
    assert client.get(CHANGELIST).status_code == 200
    change = client.get(f"{CHANGELIST}{installation.pk}/change/")
    assert change.status_code == 200
    assert 'name="account_login"' not in change.content.decode()
    assert client.get(f"{CHANGELIST}add/").status_code == 403
    for path in ("webhookdelivery", "event", "repository"):
        assert client.get(f"/admin/integrations/{path}/add/").status_code == 403
