"""A fresh installation for a benchmark run, mirrored from the simulator's dataset
(`/_sim/dataset`): its repositories and an owner, nothing synced yet."""

from __future__ import annotations

from typing import Any


def installation_reset(dataset: dict[str, Any], installation_github_id: int) -> Any:
    """Delete the installation (events and stream state with it) and create it again."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from integrations.models import Installation, InstallationMember, MemberRole, Repository

    spec = next(i for i in dataset["installations"] if i["id"] == installation_github_id)
    with transaction.atomic():
        Installation.objects.filter(github_id=installation_github_id).delete()
        installation = Installation.objects.create(
            github_id=installation_github_id, account_login=spec["account"]
        )
        Repository.objects.bulk_create(
            Repository(
                github_id=repo["id"],
                installation=installation,
                full_name=repo["full_name"],
                default_branch="main",
            )
            for repo in spec["repositories"]
        )
        owner, _ = get_user_model().objects.get_or_create(username="bench-owner")
        InstallationMember.objects.create(
            user=owner, installation=installation, role=MemberRole.OWNER
        )
    return installation
