"""Plain factories for test data (real rows, no mocks)."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth import get_user_model

from integrations.models import Installation, InstallationMember, MemberRole, Repository

_ids = itertools.count(10_000)


def make_user(
    username: str | None = None, *, password: str = "pw-for-tests-1", **fields: Any
) -> Any:
    username = username or f"user{next(_ids)}"
    return get_user_model().objects.create_user(username=username, password=password, **fields)


def make_installation(
    *,
    github_id: int | None = None,
    account_login: str | None = None,
    repos: int = 2,
    owner: Any = True,
    **fields: Any,
) -> Installation:
    """An active installation with `repos` active repositories and, unless owner=False,
    an owner member (a new user when owner=True)."""
    github_id = github_id or next(_ids)
    installation = Installation.objects.create(
        github_id=github_id, account_login=account_login or f"org-{github_id}", **fields
    )
    for index in range(repos):
        Repository.objects.create(
            github_id=next(_ids),
            installation=installation,
            full_name=f"{installation.account_login}/repo-{index}",
        )
    if owner is True:
        owner = make_user()
    if owner:
        InstallationMember.objects.create(
            user=owner, installation=installation, role=MemberRole.OWNER
        )
    return installation
