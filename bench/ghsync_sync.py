"""One ghsync sync as an operator runs it: request it, wait for the worker to finish it.

`python bench/ghsync_sync.py INSTALLATION_GITHUB_ID [--full] [--timeout S]`, with the
bench's environment (database, broker, GitHub App settings). Calls `request_sync`
(trigger `admin`, like `manage.py sync`) and polls the job until it is completed or
failed; a real Celery worker does the work. Prints one JSON object; exit 0 when the job
completed, 1 when it failed, 2 on timeout, 3 when the request did not start a job.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("installation_github_id", type=int)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    import django

    django.setup()
    from integrations.models import Installation
    from sync.models import IngestionJob, JobStatus
    from sync.policy import Trigger
    from sync.services import request_sync

    installation = Installation.objects.get(github_id=args.installation_github_id)
    decision = request_sync(installation_id=installation.pk, trigger=Trigger.ADMIN, full=args.full)
    out: dict[str, object] = {"decision": decision.as_dict()}
    if decision.job_id is None:
        print(json.dumps(out, default=str))
        return 3
    deadline = time.monotonic() + args.timeout
    job = IngestionJob.objects.get(pk=decision.job_id)
    while job.status not in (JobStatus.COMPLETED, JobStatus.FAILED):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
        job.refresh_from_db()
    out["job"] = {
        "id": job.pk,
        "status": job.status,
        "since": job.since.isoformat(),
        "until": job.until.isoformat() if job.until else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "events_ingested": job.events_ingested,
        "attempts": job.attempts,
        "error": job.error,
        "failures": job.failures,
    }
    print(json.dumps(out, default=str))
    if job.status == JobStatus.COMPLETED:
        return 0
    return 1 if job.status == JobStatus.FAILED else 2


if __name__ == "__main__":
    sys.exit(main())
