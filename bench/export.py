"""Export benchmark: `/api/events/?format=csv|ndjson` at 10,000 and 100,000 events.

    .venv/bin/python bench/export.py [--sizes 10000,100000] [--formats csv,ndjson]

Not a test: prints one JSON object. For each size, a child process loads that many
events (bulk_create, one installation of 5 repositories with a member); then, for each
format, a fresh child process makes the request through Django's whole stack (the test
client: middleware, session authentication, DRF, the streaming response), reads the
download to its end, checks it has one row per event, and reports its own peak RSS
(`ru_maxrss`) before the request (after a warm-up request for nothing) and after the
download. Flat memory means the second figure hardly moves from 10k to 100k.

Storage: `BENCH_DATABASE_URL` (e.g. a PostgreSQL database of your own, where the rows
come through a server-side cursor), else SQLite under var/bench-export/. DEBUG is off,
as in production (with it on, Django keeps every query's SQL).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = ROOT / "var" / "bench-export"
GITHUB_ID = 777_001
KINDS = ["commit", "pr_opened", "pr_merged", "review_submitted", "issue_opened", "issue_comment"]
PEOPLE = ["octocat", "hubot", "monalisa", "spacecat", "mona-lisa-octocat"]


def _env() -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "GHSYNC_VAR_DIR": str(VAR_DIR),
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench-only-" + "x" * 40,
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "json",
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": os.environ.get(
            "BENCH_DATABASE_URL", f"sqlite:///{VAR_DIR / 'export.sqlite3'}"
        ),
    }
    env.pop("CELERY_BROKER_URL", None)
    return env


def _child(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, *args],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{result.stderr[-3000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


# ----------------------------------------------------------------------- children


def _setup() -> None:
    import django

    django.setup()


def load(count: int) -> dict[str, Any]:
    """Migrate, then replace the benchmark installation's events with `count` new ones."""
    _setup()
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from integrations.models import Event, Installation, InstallationMember, Repository

    call_command("migrate", verbosity=0)
    Installation.objects.filter(github_id=GITHUB_ID).delete()
    installation = Installation.objects.create(github_id=GITHUB_ID, account_login="bench")
    repositories = [
        Repository.objects.create(
            github_id=GITHUB_ID * 10 + i, installation=installation, full_name=f"bench/repo-{i}"
        )
        for i in range(5)
    ]
    user, _ = get_user_model().objects.get_or_create(username="bench-export")
    InstallationMember.objects.create(user=user, installation=installation, role="owner")
    end = timezone.now()
    started = time.monotonic()
    batch: list[Event] = []
    for index in range(count):
        kind = KINDS[index % len(KINDS)]
        repository = repositories[index % len(repositories)]
        batch.append(
            Event(
                installation=installation,
                repository=repository,
                kind=kind,
                github_id=f"{index:040x}" if kind == "commit" else str(index),
                actor_login=PEOPLE[index % len(PEOPLE)],
                actor_github_id=1000 + index % len(PEOPLE),
                occurred_at=end - timedelta(minutes=index),
                title=f"Improve the importer's batch upserts, part {index}",
                url=f"https://github.com/{repository.full_name}/pull/{index}",
                number=None if kind == "commit" else index,
                data={"sha": f"{index:040x}", "additions": index % 300}
                if kind == "commit"
                else {"state": "open"},
            )
        )
        if len(batch) == 5000:
            Event.objects.bulk_create(batch)
            batch = []
    Event.objects.bulk_create(batch)
    return {"events": count, "load_s": round(time.monotonic() - started, 2)}


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def export(export_format: str) -> dict[str, Any]:
    """One download through the whole stack, read to its end; this process's peak RSS."""
    _setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-export"))
    url = f"/api/events/?installation={GITHUB_ID}&format={export_format}"
    warm = client.get(f"{url}&kind=pr_closed")  # nothing matches: the code paths, no rows
    assert warm.status_code == 200, warm.status_code
    b"".join(warm.streaming_content)  # type: ignore[attr-defined]
    before = _peak_mb()
    started = time.monotonic()
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    size = lines = 0
    for block in response.streaming_content:  # type: ignore[attr-defined]
        size += len(block)
        lines += block.count(b"\n")
    elapsed = time.monotonic() - started
    rows = lines - 1 if export_format == "csv" else lines  # minus the CSV header
    return {
        "format": export_format,
        "database": connection.vendor,
        "rows": rows,
        "bytes": size,
        "seconds": round(elapsed, 2),
        "rows_per_s": round(rows / elapsed) if elapsed else None,
        "peak_rss_before_mb": before,
        "peak_rss_after_mb": _peak_mb(),
    }


# ------------------------------------------------------------------------- parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--formats", default="csv,ndjson")
    args = parser.parse_args()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    results = []
    for size in [int(s) for s in args.sizes.split(",")]:
        loaded = _child("--load", str(size))
        for export_format in args.formats.split(","):
            measured = _child("--export", export_format)
            if measured["rows"] != size:
                raise SystemExit(f"{export_format}: {measured['rows']} rows, expected {size}")
            results.append({"events": size, **measured, "load_s": loaded["load_s"]})
    print(json.dumps({"benchmark": "export", "results": results}, indent=2))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--load":
        print(json.dumps(load(int(sys.argv[2]))))
    elif len(sys.argv) == 3 and sys.argv[1] == "--export":
        print(json.dumps(export(sys.argv[2])))
    else:
        main()
