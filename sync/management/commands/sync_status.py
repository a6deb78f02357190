"""manage.py sync_status [--json]: the §7 status of every installation."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from sync.status import SyncStatus, get_status_for_all


def status_line(status: SyncStatus) -> str:
    parts = [str(status.state)]
    progress = status.active_job_progress
    if progress:
        parts.append(
            f"{progress.get('current')}/{progress.get('total')} repositories, "
            f"{progress.get('events_ingested')} events"
        )
    if status.blocked_until:
        parts.append(f"blocked until {status.blocked_until:%Y-%m-%d %H:%M} UTC")
    synced = status.last_synced_at
    parts.append(f"last synced {synced:%Y-%m-%d %H:%M} UTC" if synced else "never synced")
    if status.last_sync_error:
        parts.append(status.last_sync_error)
    parts.append("can sync now" if status.can_sync_now else (status.unavailable_reason or ""))
    return f"{status.account_login} ({status.installation_id}): " + "; ".join(p for p in parts if p)


class Command(BaseCommand):
    help = "Show the sync status of every installation."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON array")

    def handle(self, *args: Any, **options: Any) -> None:
        statuses = get_status_for_all(timezone.now())
        if options["json"]:
            self.stdout.write(json.dumps([status.as_dict() for status in statuses]))
            return
        if not statuses:
            self.stdout.write("No installations.")
        for status in statuses:
            self.stdout.write(status_line(status))
