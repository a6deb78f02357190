"""Plain factories for test data (real rows, no mocks)."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth import get_user_model

from integrations.models import Installation, InstallationMember, MemberRole, Repository
from sync.policy import Trigger

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


def make_job(installation: Installation, status: str = "running", **fields: Any) -> Any:
    """A job in the state a worker would leave it. Created the only way jobs are created,
    by request_sync (trigger admin); the installation row is left as it was, so a test
    sets the installation's and the job's states independently."""
    from sync.models import IngestionJob
    from sync.services import request_sync

    saved = Installation.objects.filter(pk=installation.pk).values().get()
    decision = request_sync(installation_id=installation.pk, trigger=Trigger.ADMIN)
    assert decision.job_id is not None, f"request_sync did not start a job: {decision}"
    Installation.objects.filter(pk=installation.pk).update(
        **{k: v for k, v in saved.items() if k not in {"id", "updated_at"}}
    )
    IngestionJob.objects.filter(pk=decision.job_id).update(status=status, **fields)
    return IngestionJob.objects.get(pk=decision.job_id)
