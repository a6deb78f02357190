"""Give rows written before error kinds existed a kind, from structure, never from
their text: an idle installation with an error had a partial failure (the only error
a completed job writes), counted from its last completed job's failures; any other
stored error is `internal` ("Sync failed. It will be retried."). A repository's HTTP
status comes from the newest job failure that names it."""

from typing import Any

from django.db import migrations

UNAVAILABLE_STATUSES = {403, 404, 410, 451}


def backfill(apps: Any, schema_editor: Any) -> None:
    Installation = apps.get_model("integrations", "Installation")
    Repository = apps.get_model("integrations", "Repository")
    IngestionJob = apps.get_model("sync", "IngestionJob")

    IngestionJob.objects.filter(error__isnull=False, error_kind__isnull=True).update(
        error_kind="internal"
    )
    for installation in Installation.objects.filter(
        last_sync_error__isnull=False, last_sync_error_kind__isnull=True
    ):
        kind, count = "internal", 0
        if installation.sync_status == "idle":
            last = (
                IngestionJob.objects.filter(installation=installation, status="completed")
                .order_by("-finished_at", "-id")
                .first()
            )
            count = len(last.failures) if last is not None else 0
            if count:
                kind = "partial"
        installation.last_sync_error_kind = kind
        installation.last_sync_failed_repositories = count
        installation.save(update_fields=["last_sync_error_kind", "last_sync_failed_repositories"])

    for repository in Repository.objects.filter(
        last_error__isnull=False, last_error_kind__isnull=True
    ):
        status = None
        for job in IngestionJob.objects.filter(installation_id=repository.installation_id).order_by(
            "-created_at", "-id"
        ):
            named = [f for f in job.failures if f.get("repository") == repository.full_name]
            if named:
                status = named[-1].get("status")
                break
        status = status if isinstance(status, int) else None
        repository.last_error_status = status
        repository.last_error_kind = "unavailable" if status in UNAVAILABLE_STATUSES else "internal"
        repository.save(update_fields=["last_error_status", "last_error_kind"])


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0002_error_kinds"),
        ("sync", "0004_error_kinds"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
