"""The authorization sweep's world (every role, one row of every model the admin
lists) and its walk of config.urls; shared by the sweep and the query-string fuzz."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from knox.models import AuthToken

from integrations.models import (
    Event,
    GitHubProfile,
    Installation,
    InstallationMember,
    MemberRole,
    WebhookDelivery,
)
from sync.models import IngestionJob
from sync.policy import Trigger
from sync.services import request_sync
from tests.factories import make_installation, make_user

ROLES = ("anonymous", "non-member", "viewer", "owner", "staff", "bare staff")
GITHUB_ID = 424_242
# Ids a URL or query may carry that are not ids: str.isdigit() is true for the first
# three (superscript two, Arabic-Indic and double-struck digits) and int() refuses
# them; int() refuses more than 4,300 digits; the last is past the BIGINT column.
ODD_IDS = {
    "<superscript>": "\u00b2",
    "<arabic-indic>": "\u0664\u0662\u0664\u0662",
    "<double-struck>": "\U0001d7dc\U0001d7da",
    "<4301 digits>": "4" * 4301,
    "<past bigint>": str(2**63),
}


def routes(patterns: list[Any] | None = None, prefix: str = "") -> Iterator[str]:
    """Every URL pattern of config.urls as one string."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            yield from routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


class World:
    """An installation with a viewer and an owner; a non-member who owns another one;
    staff (a superuser) and bare staff (is_staff, no permission at all); and one row of
    every model the admin lists, for the object URLs."""

    def __init__(self) -> None:
        self.users = {
            "non-member": make_user("nonmember"),
            "viewer": make_user("viewer"),
            "owner": make_user("owner", email="owner@example.com"),
            "staff": make_user("staff", is_staff=True, is_superuser=True),
            "bare staff": make_user("barestaff", is_staff=True),
        }
        self.installation = make_installation(
            github_id=GITHUB_ID, account_login="acme", owner=self.users["owner"]
        )
        InstallationMember.objects.create(
            user=self.users["viewer"], installation=self.installation, role=MemberRole.VIEWER
        )
        make_installation(github_id=GITHUB_ID + 1, owner=self.users["non-member"])
        repository = self.installation.repositories.first()
        assert repository is not None
        request_sync(installation_id=self.installation.pk, trigger=Trigger.ADMIN)
        IngestionJob.objects.update(status="completed", finished_at=timezone.now())
        event = Event.objects.create(
            installation=self.installation, repository=repository, kind="commit",
            github_id="a" * 40, occurred_at=timezone.now(),
        )  # fmt: skip
        delivery = WebhookDelivery.objects.create(delivery_id="sweep", event="ping")
        profile = GitHubProfile.objects.create(
            user=self.users["owner"], github_id=5001, github_login="owner-gh"
        )
        interval = IntervalSchedule.objects.create(every=10, period="seconds")
        self.objects: dict[str, Any] = {
            "auth/group": Group.objects.create(name="sweepers"),
            "auth/user": self.users["owner"],
            "knox/authtoken": AuthToken.objects.create(user=self.users["owner"])[0],
            "django_celery_beat/periodictask": PeriodicTask.objects.create(
                name="sweep", task="sync.tasks.run_maintenance", interval=interval
            ),
            "django_celery_beat/clockedschedule": ClockedSchedule.objects.create(
                clocked_time=timezone.now()
            ),
            "django_celery_beat/crontabschedule": CrontabSchedule.objects.create(),
            "django_celery_beat/solarschedule": SolarSchedule.objects.create(
                event="sunrise", latitude=50, longitude=10
            ),
            "django_celery_beat/intervalschedule": interval,
            "integrations/installation": self.installation,
            "integrations/repository": repository,
            "integrations/event": event,
            "integrations/webhookdelivery": delivery,
            "integrations/installationmember": InstallationMember.objects.get(
                user=self.users["viewer"]
            ),
            "integrations/githubprofile": profile,
            "sync/ingestionjob": IngestionJob.objects.get(),
        }

    def url(self, route: str) -> str:
        """A concrete URL for a route pattern: this world's ids in its parameters."""
        url = route
        model = re.match(r"admin/(\w+/\w+)/<path:object_id>/", route)
        if model:
            url = url.replace("<path:object_id>", str(self.objects[model.group(1)].pk))
        content_type = ContentType.objects.get_for_model(Installation)
        replacements = {
            "<int:github_id>": str(GITHUB_ID),
            "(?P<github_id>[0-9]+)": str(GITHUB_ID),
            "<github_id>": str(GITHUB_ID),
            "<path:content_type_id>/<path:object_id>": f"{content_type.pk}/{self.installation.pk}",
            "<id>": str(self.users["owner"].pk),
            "<uidb64>/<token>": "MQ/not-a-token",
            "(?P<app_label>auth|knox|django_celery_beat|integrations|sync)": "integrations",
            "(?P<url>.*)": "no-such-page/",
            "^": "",
            "/?$": "/",
            "$": "",
        }
        replacements.update(ODD_IDS)
        for pattern, value in replacements.items():
            url = url.replace(pattern, value)
        assert "<" not in url and "(?P" not in url, f"no value for a parameter of {route!r}"
        return "/" + url

    def client(self, role: str, **options: Any) -> Client:
        client = Client(**options)
        if role != "anonymous":
            client.force_login(self.users[role])
        return client
