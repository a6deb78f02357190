"""Fixtures for the pages, the API and the status view-model: real rows, real
clients, no mocks."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from integrations.models import Installation, InstallationMember, MemberRole
from tests.factories import make_installation, make_user
from tests.web.browsing import browser, page  # noqa: F401  (Chromium fixtures for this folder)


@pytest.fixture
def now() -> datetime:
    return timezone.now()


@pytest.fixture
def member(db: Any) -> Any:
    return make_user("alice")


@pytest.fixture
def member_client(member: Any) -> Client:
    client = Client()
    client.force_login(member)
    return client


@pytest.fixture
def installation(member: Any, now: datetime) -> Installation:
    """Synced two hours ago (not stale, not in cooldown), owned by `member`."""
    return make_installation(
        github_id=4242,
        account_login="acme",
        repos=3,
        owner=member,
        last_synced_at=now - timedelta(hours=2),
    )


def add_member(user: Any, installation: Installation, role: str = MemberRole.VIEWER) -> None:
    InstallationMember.objects.create(user=user, installation=installation, role=role)
