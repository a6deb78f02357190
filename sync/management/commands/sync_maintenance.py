"""`manage.py sync_maintenance`: one maintenance pass now, as beat would run it."""

from typing import Any

from django.core.management.base import BaseCommand

from sync.maintenance import maintenance_run


class Command(BaseCommand):
    help = "Run one maintenance pass now: recover stuck jobs, repair stale flags, request syncs."

    def handle(self, *args: Any, **options: Any) -> None:
        report = maintenance_run()
        for recovery in report.recovered:
            self.stdout.write(f"job {recovery.job_id}: {recovery.why}, {recovery.action}")
        for github_id in report.repaired_installations:
            self.stdout.write(f"installation {github_id}: stale status repaired")
        for github_id, decision in report.decisions.items():
            self.stdout.write(
                f"installation {github_id}: {decision.action} {decision.reason}"
                + (f" (job {decision.job_id})" if decision.job_id else "")
            )
        self.stdout.write(
            f"Recovered {len(report.recovered)} job(s), repaired"
            f" {len(report.repaired_installations)} installation(s),"
            f" started {sum(1 for d in report.decisions.values() if d.job_id)} sync(s),"
            f" pruned {report.pruned.deliveries} delivery(ies) and {report.pruned.jobs} job(s)."
        )
