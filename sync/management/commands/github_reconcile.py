"""manage.py github_reconcile: make the database agree with GitHub's list of the App's
installations and their repositories, then request a sync of each."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from integrations.github.client import GitHubError
from integrations.management.commands._input import describe
from sync.policy import user_message
from sync.reconcile import installations_reconcile


class Command(BaseCommand):
    help = (
        "Discover installations and repositories from GitHub (GET /app/installations, "
        "GET /installation/repositories), then request syncs."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = installations_reconcile()
        except GitHubError as exc:
            raise CommandError(f"cannot list the App's installations: {exc}") from exc
        new = 0
        for item in result.installations:
            installation = item.installation
            new += int(item.created)
            parts = ["new" if item.created else "known", str(installation.status)]
            if item.repositories is not None:
                change = item.repositories
                active = installation.repositories.filter(is_active=True).count()
                parts.append(
                    f"{active} active repositories"
                    f" ({change.added} added, {change.deactivated} deactivated)"
                )
            if item.error:
                parts.append(f"repositories not read: {item.error}")
            sync = user_message(item.decision)
            if item.decision.job_id is not None:
                sync += f" (job {item.decision.job_id})"
            parts.append(sync)
            self.stdout.write(f"{describe(installation)}: " + ", ".join(parts))
        for github_id in result.removed:
            self.stdout.write(
                f"installation {github_id}: no longer listed by GitHub, marked deleted"
            )
        self.stdout.write(
            f"Reconciled {len(result.installations)} installations"
            f" ({new} new, {len(result.removed)} removed)."
        )
