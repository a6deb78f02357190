"""The two beat schedules of SPEC §6, every SYNC_BEAT_INTERVAL_SECONDS (read when the
migration runs; editable in the admin afterwards)."""

from django.conf import settings
from django.db import migrations

SCHEDULES = {
    "ghsync: periodic sync request": "sync.tasks.request_periodic_syncs",
    "ghsync: maintenance": "sync.tasks.run_maintenance",
}


def create_schedules(apps, schema_editor):  # type: ignore[no-untyped-def]
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every = int(getattr(settings, "SYNC_BEAT_INTERVAL_SECONDS", 300))
    interval, _ = IntervalSchedule.objects.get_or_create(every=every, period="seconds")
    for name, task in SCHEDULES.items():
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={"task": task, "interval": interval, "enabled": True, "args": "[]"},
        )


def delete_schedules(apps, schema_editor):  # type: ignore[no-untyped-def]
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=SCHEDULES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0002_heartbeat"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, delete_schedules)]
