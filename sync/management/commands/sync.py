"""manage.py sync [INSTALLATION_GITHUB_ID ...|--all] [--full] [--since DATE] [--wait] [--json]

Asks the SyncService (trigger `admin`) and prints each decision: one sentence a line,
or with --json one object a line (installation_id, action, reason, message, job_id).
--since DATE (or an ISO 8601 datetime) asks for history on demand: a full sync whose
window starts there, further back than SYNC_BACKFILL_DAYS if need be.
--wait follows every started job to its end with a progress bar on stderr (redrawn in
place on a terminal, one line per change otherwise); a failed job exits non-zero."""

from __future__ import annotations

import json
import time
from argparse import SUPPRESS, ArgumentParser
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from integrations.management.commands._input import describe, installations_by_github_id
from integrations.models import Installation
from sync.api.filters import parse_when
from sync.models import ACTIVE_JOB_STATUSES, IngestionJob, JobStatus
from sync.policy import Trigger, user_message
from sync.services import request_sync
from sync.wording import plural

BAR_WIDTH = 24


def progress_line(job: IngestionJob, label: str) -> str:
    total = job.progress_total or 0
    done = min(job.progress_current or 0, total) if total else 0
    filled = round(BAR_WIDTH * done / total) if total else 0
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    status = str(job.status)
    if job.status == JobStatus.BLOCKED and job.blocked_until:
        status = f"paused by the rate limit until {job.blocked_until:%H:%M} UTC"
    current = f" {job.current_repository}" if job.current_repository else ""
    return (
        f"{label} [{bar}] {done}/{total} repositories, "
        f"{job.events_ingested} events, {status}{current}"
    )


def final_line(job: IngestionJob, label: str) -> str:
    if job.status == JobStatus.COMPLETED:
        text = (
            f"{label}: completed, {job.progress_current}/{job.progress_total} repositories, "
            f"{job.events_ingested} events, {plural(job.rest_requests, 'REST request')}, "
            f"{plural(job.graphql_points, 'GraphQL point')}"
        )
        if job.failures:
            text += f", {len(job.failures)} failed"
        return text
    return f"{label}: {job.status}" + (f" ({job.error})" if job.error else "")


class Command(BaseCommand):
    help = "Request a sync of installations (trigger admin) and print each decision."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("installation_ids", nargs="*", metavar="INSTALLATION_GITHUB_ID")
        parser.add_argument("--all", action="store_true", help="every installation")
        parser.add_argument("--full", action="store_true", help="the full backfill window")
        parser.add_argument(
            "--since",
            metavar="DATE",
            help="history on demand: a full sync from DATE (2024-01-01 or an ISO 8601 datetime)",
        )
        parser.add_argument("--wait", action="store_true", help="follow started jobs to the end")
        parser.add_argument("--json", action="store_true", help="one JSON object a line")
        parser.add_argument(
            "--timeout", type=float, default=None, help="with --wait: give up after SECONDS"
        )
        parser.add_argument("--interval", type=float, default=1.0, help=SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        since = self._since(options["since"])
        installations = self._installations(options["installation_ids"], options["all"])
        started: list[tuple[int, str]] = []
        for installation in installations:
            decision = request_sync(
                installation_id=installation.pk,
                trigger=Trigger.ADMIN,
                full=options["full"],
                since=since,
            )
            if options["json"]:
                line = json.dumps(
                    {
                        "installation_id": installation.github_id,
                        "action": str(decision.action),
                        "reason": str(decision.reason),
                        "message": user_message(decision),
                        "job_id": decision.job_id,
                    }
                )
            else:
                line = f"{describe(installation)}: {user_message(decision)}"
                if decision.job_id is not None:
                    line += f" (job {decision.job_id})"
            self.stdout.write(line)
            self.stdout.flush()
            if decision.job_id is not None:
                started.append((decision.job_id, describe(installation)))
        if options["wait"] and started:
            self._wait(started, interval=max(0.05, options["interval"]), timeout=options["timeout"])

    def _since(self, value: str | None) -> datetime | None:
        if value is None:
            return None
        try:
            since, _ = parse_when(value.strip())
        except ValueError:
            raise CommandError(
                f"--since: {value!r} is not a date (2024-01-01) or an ISO 8601 datetime"
            ) from None
        if since >= timezone.now():
            raise CommandError(f"--since: {value} is not in the past")
        return since

    def _installations(self, values: list[str], every: bool) -> list[Installation]:
        if every and values:
            raise CommandError("give installation GitHub ids or --all, not both")
        if every:
            return list(Installation.objects.order_by("github_id"))
        if not values:
            raise CommandError("give one or more installation GitHub ids, or --all")
        return installations_by_github_id(values)

    def _wait(
        self, started: list[tuple[int, str]], *, interval: float, timeout: float | None
    ) -> None:
        labels = dict(started)
        interactive = self.stderr.isatty()
        shown: dict[int, str] = {}
        deadline = None if timeout is None else time.monotonic() + timeout
        failed = 0
        pending = set(labels)
        while pending:
            jobs = {job.pk: job for job in IngestionJob.objects.filter(pk__in=pending)}
            for job_id in sorted(pending):
                job = jobs.get(job_id)
                if job is None:
                    self._write_progress(
                        f"{labels[job_id]}: job {job_id} no longer exists", interactive
                    )
                    pending.discard(job_id)
                    continue
                if job.status not in ACTIVE_JOB_STATUSES:
                    self._write_progress(final_line(job, labels[job_id]), interactive)
                    failed += int(job.status == JobStatus.FAILED)
                    pending.discard(job_id)
                    continue
                line = progress_line(job, labels[job_id])
                if shown.get(job_id) != line:
                    shown[job_id] = line
                    self._write_progress(line, interactive, in_place=True)
            if not pending:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise CommandError(f"gave up waiting after {timeout:g} s; jobs still running")
            time.sleep(interval)
        if failed:
            raise CommandError(f"{plural(failed, 'sync job')} failed")

    def _write_progress(self, line: str, interactive: bool, *, in_place: bool = False) -> None:
        if interactive:
            self.stderr.write("\r\033[K" + line, style_func=str, ending="" if in_place else "\n")
        else:
            self.stderr.write(line, style_func=str)
        self.stderr.flush()
