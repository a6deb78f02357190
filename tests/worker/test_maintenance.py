"""Maintenance (SPEC §6): stuck jobs are found and re-enqueued, or given up on; stale
flags are repaired; every installation is asked for a maintenance sync. And the beat
schedules that run it."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import ModelEntry
from structlog.testing import capture_logs

from config.celery import app as celery_app
from integrations.models import Installation, InstallationSyncStatus
from sync.maintenance import backlog_wait, jobs_recover, maintenance_run, stale_flags_repair
from sync.models import Heartbeat, IngestionJob, JobStatus, new_lease_token
from sync.tasks import request_periodic_syncs, run_maintenance
from tests.factories import make_installation, make_job
from tests.worker.support import start_job

pytestmark = pytest.mark.django_db

Capture = Callable[..., Any]


@pytest.fixture
def lease(settings: Any) -> timedelta:
    settings.SYNC_LEASE_SECONDS = 60
    settings.SYNC_MAX_ATTEMPTS = 3
    return timedelta(seconds=60)


def _job(**fields: Any) -> IngestionJob:
    job_id = start_job(make_installation(repos=1))
    IngestionJob.objects.filter(pk=job_id).update(**fields)
    return IngestionJob.objects.get(pk=job_id)


def _dead(now: Any, **fields: Any) -> IngestionJob:
    """A running job whose worker holds a lease it stopped renewing."""
    return _job(
        status=JobStatus.RUNNING,
        lease_token=new_lease_token(),
        lease_expires_at=now - timedelta(seconds=1),
        **fields,
    )


def test_running_job_with_an_expired_lease_is_released_and_re_enqueued(
    lease: timedelta, django_capture_on_commit_callbacks: Capture
) -> None:
    now = timezone.now()
    stuck = _dead(now, started_at=now - lease)
    alive = _job(
        status=JobStatus.RUNNING, lease_token=new_lease_token(), lease_expires_at=now + lease
    )

    with capture_logs() as logs, django_capture_on_commit_callbacks() as enqueued:
        recovered = jobs_recover(now=now)

    assert [(r.job_id, r.why, r.action) for r in recovered] == [
        (stuck.pk, "lease_expired", "requeued")
    ]
    assert len(enqueued) == 1
    stuck.refresh_from_db()
    assert stuck.status == JobStatus.RUNNING and stuck.attempts == 1
    assert stuck.lease_token is None and stuck.requeued_at == now
    alive.refresh_from_db()
    assert alive.attempts == 0 and alive.lease_token is not None
    entries = [e for e in logs if e["event"] == "maintenance.recovered"]
    assert entries == [{**entries[0], "job_id": stuck.pk, "why": "lease_expired"}]


def test_pending_job_never_picked_up_is_re_enqueued_after_a_lease(
    lease: timedelta, django_capture_on_commit_callbacks: Capture
) -> None:
    now = timezone.now()
    forgotten = _job(created_at=now - lease - timedelta(seconds=1))
    fresh = _job()

    with django_capture_on_commit_callbacks() as enqueued:
        recovered = jobs_recover(now=now)

    assert [(r.job_id, r.why) for r in recovered] == [(forgotten.pk, "never_picked_up")]
    assert len(enqueued) == 1
    forgotten.refresh_from_db()
    fresh.refresh_from_db()
    assert (forgotten.status, forgotten.attempts, forgotten.requeued_at) == (
        JobStatus.PENDING,
        0,
        now,
    )
    assert fresh.requeued_at is None


def test_blocked_job_past_blocked_until_is_re_enqueued_and_one_still_blocked_is_not(
    lease: timedelta, django_capture_on_commit_callbacks: Capture
) -> None:
    now = timezone.now()
    overdue = _job(status=JobStatus.BLOCKED, blocked_until=now - lease - timedelta(seconds=1))
    waiting = _job(status=JobStatus.BLOCKED, blocked_until=now + timedelta(minutes=10))

    with django_capture_on_commit_callbacks() as enqueued:
        recovered = jobs_recover(now=now)

    assert [(r.job_id, r.why) for r in recovered] == [(overdue.pk, "block_expired")]
    assert len(enqueued) == 1
    waiting.refresh_from_db()
    assert waiting.attempts == 0 and waiting.requeued_at is None


def _backlog(now: Any, lease: timedelta) -> list[IngestionJob]:
    """One job of each kind of waiting: pending, between two slices, blocked past its
    time. Each has been waiting in the queue for longer than a lease."""
    return [
        _job(created_at=now - 2 * lease),
        _job(status=JobStatus.RUNNING, lease_token=None, lease_expires_at=now - lease),
        _job(status=JobStatus.BLOCKED, blocked_until=now - 2 * lease),
    ]


def test_a_job_waiting_in_a_backlog_is_never_timed_out(
    lease: timedelta, django_capture_on_commit_callbacks: Capture
) -> None:
    now = timezone.now()
    jobs = _backlog(now, lease)
    sent = 0

    for n in range(20):  # 20 passes, one every half lease: ten lease periods of waiting
        with django_capture_on_commit_callbacks(execute=False) as enqueued:
            jobs_recover(now=now + n * lease / 2)
        sent += len(enqueued)

    assert sent >= 2 * len(jobs)  # each job sent again, more than once
    for job in jobs:
        job.refresh_from_db()
        assert job.status in (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.BLOCKED)
        assert job.attempts == 0 and job.error is None


def test_a_job_waiting_in_a_backlog_is_sent_again_less_and_less_often_but_never_stops(
    lease: timedelta, django_capture_on_commit_callbacks: Capture
) -> None:
    now = timezone.now()
    jobs = _backlog(now, lease)
    sent: dict[int, list[int]] = {job.pk: [] for job in jobs}  # job -> passes that sent it

    for n in range(40):  # one pass every half lease: twenty lease periods of waiting
        at = now + n * lease / 2
        with django_capture_on_commit_callbacks(execute=False):
            jobs_recover(now=at)
        for job in jobs:
            job.refresh_from_db()
            if job.requeued_at == at:
                sent[job.pk].append(n)

    for passes in sent.values():
        gaps = [b - a for a, b in itertools.pairwise(passes)]
        assert passes[0] == 0 and len(passes) >= 3, passes  # still sent again, ever later
        assert gaps == sorted(gaps) and gaps[-1] > gaps[0], passes
    # Once a lease period would be 20 messages for each job.
    assert sum(len(passes) for passes in sent.values()) <= 3 * 5


def test_a_job_behind_a_backlog_workers_are_draining_is_not_sent_again_until_it_could_have_run(
    lease: timedelta, settings: Any, django_capture_on_commit_callbacks: Capture
) -> None:
    settings.SYNC_SLICE_SECONDS = 10
    now = timezone.now()
    for _ in range(2):  # two workers, each holding a job now
        _job(status=JobStatus.RUNNING, lease_token=new_lease_token(), lease_expires_at=now + lease)
    waiting = [_job(created_at=now - lease - timedelta(seconds=1)) for _ in range(6)]
    drained_by = lease + 3 * timedelta(seconds=10)  # 6 waiting / 2 workers, a slice each

    assert backlog_wait(now) == timedelta(seconds=30)
    with django_capture_on_commit_callbacks(execute=False) as early:
        jobs_recover(now=now)
    later = now + drained_by
    IngestionJob.objects.filter(lease_token__isnull=False).update(lease_expires_at=later + lease)
    with django_capture_on_commit_callbacks(execute=False) as late:
        recovered = jobs_recover(now=later)

    assert early == []
    assert {r.job_id for r in recovered} == {job.pk for job in waiting}
    assert len(late) == len(waiting)


def test_when_no_worker_holds_a_job_a_waiting_job_is_sent_again_after_a_lease(
    lease: timedelta, django_capture_on_commit_callbacks: Capture
) -> None:
    now = timezone.now()
    waiting = [_job(created_at=now - lease - timedelta(seconds=1)) for _ in range(6)]

    assert backlog_wait(now) == timedelta(0)
    recovered = jobs_recover(now=now)

    assert {r.job_id for r in recovered} == {job.pk for job in waiting}


def test_a_maintenance_pass_run_twice_sends_nothing_twice_and_counts_nothing_twice(
    lease: timedelta, django_capture_on_commit_callbacks: Capture
) -> None:
    now = timezone.now()
    waiting = _backlog(now, lease)
    dead = _dead(now)

    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        first = jobs_recover(now=now)
        second = jobs_recover(now=now + timedelta(seconds=5))  # another beat, seconds later

    assert len(first) == 4 and second == []
    assert len(enqueued) == 4  # one message for each job
    dead.refresh_from_db()
    assert dead.attempts == 1
    for job in waiting:
        job.refresh_from_db()
        assert job.attempts == 0


@pytest.mark.django_db(transaction=True)
def test_two_beat_processes_running_maintenance_at_once_count_a_dead_worker_once(
    lease: timedelta,
) -> None:
    """Two passes racing in threads (each its own connection): one counts and sends."""
    now = timezone.now()
    dead = _dead(now)
    waiting = _job(created_at=now - 2 * lease)
    barrier = threading.Barrier(2)
    results: list[list[tuple[int, str]]] = []

    def one_pass() -> None:
        try:
            barrier.wait()
            results.append([(r.job_id, r.why) for r in jobs_recover(now=now)])
        finally:
            connection.close()

    threads = [threading.Thread(target=one_pass) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r for result in results for r in result) == sorted(
        [(dead.pk, "lease_expired"), (waiting.pk, "never_picked_up")]
    )
    dead.refresh_from_db()
    assert dead.attempts == 1


def test_only_a_worker_dying_repeatedly_gives_up_with_job_timed_out(
    lease: timedelta, django_capture_on_commit_callbacks: Capture
) -> None:
    now = timezone.now()
    dying = _dead(now, attempts=3)
    waiting = [
        _job(created_at=now - 2 * lease, attempts=3),
        _job(status=JobStatus.BLOCKED, blocked_until=now - 2 * lease, attempts=3),
    ]

    with capture_logs() as logs, django_capture_on_commit_callbacks() as enqueued:
        recovered = jobs_recover(now=now)

    assert sorted((r.job_id, r.action) for r in recovered) == sorted(
        [(dying.pk, "failed")] + [(job.pk, "requeued") for job in waiting]
    )
    assert len(enqueued) == 2
    dying.refresh_from_db()
    assert dying.status == JobStatus.FAILED and dying.error == "Job timed out"
    assert dying.finished_at is not None and dying.lease_token is None
    installation = Installation.objects.get(pk=dying.installation_id)
    assert installation.sync_status == InstallationSyncStatus.ERROR
    assert installation.last_sync_error == "Job timed out"
    assert len([e for e in logs if e["event"] == "sync.job.failed"]) == 1
    for job in waiting:
        job.refresh_from_db()
        assert job.status != JobStatus.FAILED


def test_a_stuck_job_is_recovered_until_the_limit_then_fails(lease: timedelta) -> None:
    job = _dead(timezone.now())
    actions = []
    for n in range(6):
        later = timezone.now() + (n + 1) * 2 * lease
        actions += [r.action for r in jobs_recover(now=later) if r.job_id == job.pk]
        # A worker takes the message and dies holding the lease again.
        IngestionJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            lease_token=new_lease_token(), lease_expires_at=later + lease
        )

    assert actions == ["requeued", "requeued", "requeued", "failed"]


def test_stale_syncing_flag_without_an_active_job_is_repaired(lease: timedelta) -> None:
    stale = make_installation(repos=1, sync_status=InstallationSyncStatus.SYNCING)
    busy = make_installation(repos=1)
    start_job(busy)  # syncing, with its job

    repaired = stale_flags_repair()

    assert repaired == [stale.github_id]
    stale.refresh_from_db()
    busy.refresh_from_db()
    assert stale.sync_status == InstallationSyncStatus.IDLE
    assert busy.sync_status == InstallationSyncStatus.SYNCING


def test_maintenance_pass_then_asks_each_installation_that_may_be_due_for_a_sync(
    lease: timedelta,
) -> None:
    never_synced = make_installation(repos=1)
    recent = make_installation(repos=1, last_synced_at=timezone.now() - timedelta(minutes=5))
    suspended = make_installation(repos=1, status="suspended")

    with capture_logs() as logs:
        report = maintenance_run()

    # `recent` is not due: the pass leaves it out rather than hear "not_due" from it
    assert set(report.decisions) == {never_synced.github_id}
    assert report.decisions[never_synced.github_id].job_id is not None
    assert not IngestionJob.objects.filter(installation=recent).exists()
    requests = [e for e in logs if e["event"] == "sync.request"]
    assert {e["trigger"] for e in requests} == {"maintenance"}
    assert not IngestionJob.objects.filter(installation=suspended).exists()


def test_sync_maintenance_command_runs_one_pass(lease: timedelta) -> None:
    job = _dead(timezone.now())
    out = StringIO()

    call_command("sync_maintenance", stdout=out)

    assert f"job {job.pk}: lease_expired, requeued" in out.getvalue()
    assert "Recovered 1 job(s)" in out.getvalue()


def test_beat_schedules_exist_after_migrate_and_name_registered_tasks(settings: Any) -> None:
    tasks = {t.name: t for t in PeriodicTask.objects.filter(name__startswith="ghsync:")}

    assert {t.task for t in tasks.values()} == {
        "sync.tasks.request_periodic_syncs",
        "sync.tasks.run_maintenance",
    }
    for task in tasks.values():
        assert task.enabled and task.interval is not None
        assert (task.interval.every, task.interval.period) == (
            settings.SYNC_BEAT_INTERVAL_SECONDS,
            "seconds",
        )
        assert task.task in celery_app.tasks


def test_beat_messages_expire_after_one_interval_so_an_outage_leaves_no_burst(
    settings: Any,
) -> None:
    for task in PeriodicTask.objects.filter(name__startswith="ghsync:"):
        entry = ModelEntry(task, app=celery_app)
        assert entry.options["expires"] == settings.SYNC_BEAT_INTERVAL_SECONDS, task.name


def test_periodic_task_requests_a_cron_sync_of_each_due_installation_and_beats() -> None:
    due = make_installation(repos=1)
    not_due = make_installation(repos=1, last_synced_at=timezone.now() - timedelta(minutes=5))

    with capture_logs() as logs:
        request_periodic_syncs()

    decisions = {e["installation_id"]: e for e in logs if e["event"] == "sync.request"}
    assert decisions[due.github_id]["action"] == "start"
    assert not_due.github_id not in decisions  # not due: left out of the pass
    assert {e["trigger"] for e in decisions.values()} == {"cron"}
    assert set(Heartbeat.objects.values_list("name", flat=True)) == {"beat", "worker"}


def test_maintenance_task_records_the_beat_heartbeat(lease: timedelta) -> None:
    run_maintenance()

    assert Heartbeat.objects.filter(name="beat").exists()


def test_maintenance_sends_again_a_webhook_delivery_a_broker_outage_left_unprocessed(
    django_capture_on_commit_callbacks: Capture,
) -> None:
    from integrations.models import WebhookDelivery

    WebhookDelivery.objects.create(delivery_id="stranded", event="issues", payload={})
    WebhookDelivery.objects.filter(delivery_id="stranded").update(
        received_at=timezone.now() - timedelta(minutes=10)
    )
    WebhookDelivery.objects.create(delivery_id="just-arrived", event="issues", payload={})

    report = maintenance_run()

    assert report.redriven_deliveries == 1


def test_one_bad_installation_never_aborts_the_cron_or_maintenance_pass_for_everyone(
    lease: timedelta,
) -> None:
    # A row no rule expected: synced at the dawn of time, its window underflows.
    bad = make_installation(repos=1, last_synced_at=datetime(1, 1, 1, 0, 30, tzinfo=UTC))
    good = make_installation(repos=1)

    with capture_logs() as logs:
        cron = request_periodic_syncs()
        report = maintenance_run()

    assert cron == 1
    assert IngestionJob.objects.filter(installation=good).count() == 1
    assert not IngestionJob.objects.filter(installation=bad).exists()
    assert bad.github_id not in report.decisions
    failed = [e for e in logs if e["event"] == "sync.periodic.request_failed"]
    assert [(e["installation_id"], e["trigger"]) for e in failed] == [
        (bad.github_id, "cron"),
        (bad.github_id, "maintenance"),
    ]
    assert all(e.get("exc_info") for e in failed)


def test_maintenance_prunes_expired_deliveries_and_finished_jobs_in_bounded_batches(
    settings: Any,
) -> None:
    from integrations.models import WebhookDelivery
    from sync.retention import history_prune

    settings.SYNC_WEBHOOK_RETENTION_DAYS = 14
    settings.SYNC_JOB_RETENTION_DAYS = 90
    settings.SYNC_PRUNE_BATCH = 3
    now = timezone.now()
    for n, status in enumerate(["processed"] * 4 + ["ignored", "failed", "received"]):
        WebhookDelivery.objects.create(delivery_id=f"old-{n}", event="push", status=status)
    WebhookDelivery.objects.update(received_at=now - timedelta(days=15))
    WebhookDelivery.objects.create(delivery_id="recent", event="push", status="processed")
    installation = make_installation(repos=1)
    old = now - timedelta(days=91)
    expired = [make_job(installation, "completed", finished_at=old) for _ in range(2)]
    last = make_job(installation, "failed", finished_at=old + timedelta(hours=1))
    recent = make_job(make_installation(repos=1), "completed", finished_at=now)

    first = history_prune(now=now)
    second = history_prune(now=now)
    third = history_prune(now=now)

    assert (first.deliveries, second.deliveries, third.deliveries) == (3, 3, 0)
    assert set(WebhookDelivery.objects.values_list("delivery_id", flat=True)) == {
        "old-6",  # still to be processed
        "recent",
    }
    assert (first.jobs, second.jobs) == (2, 0)
    remaining = set(IngestionJob.objects.values_list("pk", flat=True))
    assert remaining == {last.pk, recent.pk}  # the last finished job stays: its state
    assert not remaining & {job.pk for job in expired}
