"""The dashboard and the status API for a user with 1, 20 and 200 installations.

`python bench/status.py [--sizes 1 20 200] [--repeat 15]` with the bench's environment.
For each size: a user who is a member of that many installations (three repositories
each; a completed job on every one, a running job on every fifth, a failed one on every
seventh, a rate-limit block on every eleventh), then the Django test client, signed in,
asks for the dashboard (`/`) and the status API (`/api/sync/status/`). Figures per page
and size: SQL queries per request (session and user lookups included) and the median
latency over `--repeat` requests after two warm-up requests. Runs with DEBUG off, as
production does. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["DJANGO_DEBUG"] = "0"
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-status-secret-key-not-for-production-use-0123")

FIRST_GITHUB_ID = 800_000
PAGES = {"dashboard": "/", "status_api": "/api/sync/status/"}


def _populate(size: int, offset: int) -> Any:
    """A user who is a member of `size` fresh installations."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from integrations.models import (
        ErrorKind,
        Installation,
        InstallationMember,
        InstallationSyncStatus,
        MemberRole,
        Repository,
    )
    from sync.models import JobStatus
    from tests.factories import make_job

    now = timezone.now()
    user_model = get_user_model()
    user_model.objects.filter(username=f"bench-status-{size}").delete()
    user = user_model.objects.create_user(username=f"bench-status-{size}", password="x")
    installations = Installation.objects.bulk_create(
        Installation(
            github_id=FIRST_GITHUB_ID + offset + k,
            account_login=f"status-org-{size}-{k}",
            last_synced_at=now - timedelta(minutes=30 + k),
            rate_limit_limit=5000,
            rate_limit_remaining=4000,
            rate_limit_reset_at=now + timedelta(minutes=20),
            sync_status=(
                InstallationSyncStatus.SYNCING
                if k % 5 == 4
                else InstallationSyncStatus.ERROR
                if k % 7 == 6
                else InstallationSyncStatus.BLOCKED
                if k % 11 == 10
                else InstallationSyncStatus.IDLE
            ),
            last_sync_error="HTTP 502 from GitHub" if k % 7 == 6 else None,
            last_sync_error_kind=ErrorKind.NETWORK if k % 7 == 6 else None,
        )
        for k in range(size)
    )
    Repository.objects.bulk_create(
        Repository(
            github_id=(FIRST_GITHUB_ID + offset + k) * 10 + r,
            installation=inst,
            full_name=f"{inst.account_login}/repo-{r}",
        )
        for k, inst in enumerate(installations)
        for r in range(3)
    )
    InstallationMember.objects.bulk_create(
        InstallationMember(user=user, installation=inst, role=MemberRole.OWNER)
        for inst in installations
    )
    # Jobs are made the only way jobs are made (request_sync), then put in their state.
    for k, inst in enumerate(installations):
        finished_status = JobStatus.FAILED if k % 7 == 6 else JobStatus.COMPLETED
        make_job(
            inst,
            finished_status,
            trigger="cron",
            since=now - timedelta(days=30),
            progress_current=3,
            progress_total=3,
            events_ingested=120,
            started_at=now - timedelta(minutes=40),
            finished_at=now - timedelta(minutes=30),
            error="HTTP 502 from GitHub" if finished_status == JobStatus.FAILED else None,
            error_kind=ErrorKind.NETWORK if finished_status == JobStatus.FAILED else None,
        )
        if k % 5 == 4:
            make_job(
                inst,
                JobStatus.RUNNING,
                trigger="manual",
                since=now - timedelta(hours=2),
                progress_current=1,
                progress_total=3,
                current_repository=f"{inst.account_login}/repo-1",
                events_ingested=40,
                started_at=now - timedelta(minutes=1),
            )
    Installation.objects.filter(
        pk__in=[inst.pk for k, inst in enumerate(installations) if k % 11 == 10]
    ).update(blocked_until=now + timedelta(minutes=10))
    return user


def _measure(client: Any, url: str, repeat: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    # read now: the next request clears the connection's query log
    queries = len(captured.captured_queries)
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return {
        "queries": queries,
        "median_ms": round(statistics.median(timings), 2),
        "bytes": len(response.content),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[1, 20, 200])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from integrations.models import Installation

    def cleanup() -> None:
        Installation.objects.filter(
            github_id__gte=FIRST_GITHUB_ID, github_id__lt=FIRST_GITHUB_ID + 100_000
        ).delete()
        get_user_model().objects.filter(username__startswith="bench-status-").delete()

    report: dict[str, Any] = {"database": connection.vendor, "results": []}
    cleanup()
    try:
        offset = 0
        for size in args.sizes:
            user = _populate(size, offset)
            offset += size
            client = Client()
            client.force_login(user)
            for page, url in PAGES.items():
                figures = _measure(client, url, args.repeat)
                report["results"].append({"page": page, "installations": size, **figures})
    finally:
        cleanup()
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
