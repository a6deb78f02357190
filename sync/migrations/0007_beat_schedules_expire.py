"""The beat schedules' messages expire after one interval: after a worker outage, the
queued runs are dropped instead of running back to back, and the next beat sends a
fresh one (each pass does the whole job anyway)."""

from django.conf import settings
from django.db import migrations

SCHEDULES = ["ghsync: periodic sync request", "ghsync: maintenance"]


def set_expiry(apps, schema_editor):  # type: ignore[no-untyped-def]
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every = int(getattr(settings, "SYNC_BEAT_INTERVAL_SECONDS", 300))
    PeriodicTask.objects.filter(name__in=SCHEDULES, expires__isnull=True).update(
        expire_seconds=every
    )


def clear_expiry(apps, schema_editor):  # type: ignore[no-untyped-def]
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=SCHEDULES).update(expire_seconds=None)


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0006_job_recovery_and_reserve"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(set_expiry, clear_expiry)]
