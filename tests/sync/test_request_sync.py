"""request_sync: the only code that creates an IngestionJob (SPEC §4)."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from structlog.testing import capture_logs

from integrations.models import Installation, InstallationStatus, InstallationSyncStatus
from sync.models import IngestionJob, JobStatus
from sync.policy import Action, Reason, SyncDecision, SyncState, Trigger
from sync.services import InstallationNotFound, request_sync
from tests.dbenv import child_database_url, child_env
from tests.factories import make_installation, make_job
from tests.sync import gate_probe

pytestmark = pytest.mark.django_db(transaction=True)


def started_job(decision: SyncDecision) -> IngestionJob:
    assert decision.job_id is not None, decision
    return IngestionJob.objects.get(pk=decision.job_id)


def test_start_creates_one_pending_job_with_window_and_snapshot() -> None:
    installation = make_installation(repos=3)
    decision = request_sync(installation_id=installation.pk, trigger=Trigger.ADMIN)
    assert (decision.action, decision.reason) == (Action.START, Reason.READY)
    job = started_job(decision)
    assert job.status == JobStatus.PENDING or job.status == JobStatus.RUNNING
    assert job.progress_total == 3
    assert sorted(job.repository_ids) == sorted(
        installation.repositories.values_list("id", flat=True)
    )
    assert abs(job.since - (timezone.now() - timedelta(days=30))) < timedelta(minutes=1)
    installation.refresh_from_db()
    assert installation.sync_status == InstallationSyncStatus.SYNCING


def test_second_request_is_skipped_as_already_syncing() -> None:
    installation = make_installation()
    request_sync(installation_id=installation.pk, trigger=Trigger.ADMIN)
    decision = request_sync(installation_id=installation.pk, trigger=Trigger.WEBHOOK)
    assert (decision.action, decision.reason) == (Action.SKIP, Reason.ALREADY_SYNCING)
    assert IngestionJob.objects.filter(installation=installation).count() == 1


def test_start_clears_last_sync_error_to_null_and_stamps_manual_sync() -> None:
    installation = make_installation(
        last_sync_error="boom", sync_status=InstallationSyncStatus.ERROR
    )
    decision = request_sync(installation_id=installation.pk, trigger=Trigger.MANUAL)
    assert decision.started
    installation.refresh_from_db()
    assert installation.last_sync_error is None
    assert installation.last_manual_sync_at is not None


def test_incremental_window_overlaps_the_last_sync() -> None:
    last = timezone.now() - timedelta(hours=5)
    installation = make_installation(last_synced_at=last)
    job = started_job(request_sync(installation_id=installation.pk, trigger=Trigger.ADMIN))
    assert job.since == last - timedelta(seconds=settings.SYNC_OVERLAP_SECONDS)


def test_full_request_backfills_the_whole_window() -> None:
    installation = make_installation(last_synced_at=timezone.now() - timedelta(hours=5))
    decision = request_sync(installation_id=installation.pk, trigger=Trigger.ADMIN, full=True)
    job = started_job(decision)
    assert job.full is True
    assert timezone.now() - job.since > timedelta(days=29)


def test_rate_limited_decision_records_blocked_until_capped() -> None:
    now = timezone.now()
    installation = make_installation(
        rate_limit_limit=5000,
        rate_limit_remaining=3,
        rate_limit_reset_at=now + timedelta(days=3),  # an arithmetic bug upstream
    )
    decision = request_sync(installation_id=installation.pk, trigger=Trigger.ADMIN, now=now)
    assert (decision.action, decision.reason) == (Action.BLOCK, Reason.RATE_LIMITED)
    installation.refresh_from_db()
    assert installation.sync_status == InstallationSyncStatus.BLOCKED
    assert installation.blocked_until == now + timedelta(minutes=65)
    assert not IngestionJob.objects.filter(installation=installation).exists()


def test_stale_syncing_status_without_active_job_is_repaired() -> None:
    installation = make_installation(
        sync_status=InstallationSyncStatus.SYNCING, status=InstallationStatus.SUSPENDED
    )
    decision = request_sync(installation_id=installation.pk, trigger=Trigger.CRON)
    assert decision.reason == Reason.INSTALLATION_INACTIVE
    installation.refresh_from_db()
    assert installation.sync_status == InstallationSyncStatus.IDLE


def test_syncing_status_with_active_job_is_kept() -> None:
    installation = make_installation()
    request_sync(installation_id=installation.pk, trigger=Trigger.ADMIN)
    request_sync(installation_id=installation.pk, trigger=Trigger.CRON)
    installation.refresh_from_db()
    assert installation.sync_status == InstallationSyncStatus.SYNCING


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"owner": False}, Reason.NO_OWNER),
        ({"repos": 0}, Reason.NO_REPOSITORIES),
        ({"status": InstallationStatus.DELETED}, Reason.INSTALLATION_INACTIVE),
    ],
)
def test_blocked_requests_create_no_job(kwargs: dict, reason: Reason) -> None:
    installation = make_installation(**kwargs)
    decision = request_sync(installation_id=installation.pk, trigger=Trigger.ADMIN)
    assert (decision.action, decision.reason) == (Action.BLOCK, reason)
    assert not IngestionJob.objects.exists()


def test_unknown_installation_raises_a_typed_error() -> None:
    with pytest.raises(InstallationNotFound):
        request_sync(installation_id=987654321, trigger=Trigger.ADMIN)


def test_request_emits_sync_request_event() -> None:
    installation = make_installation()
    with capture_logs() as logs:
        decision = request_sync(installation_id=installation.pk, trigger=Trigger.WEBHOOK)
    events = [entry for entry in logs if entry["event"] == "sync.request"]
    assert events == [
        {
            "event": "sync.request",
            "log_level": "info",
            "installation_id": installation.github_id,
            "trigger": "webhook",
            "action": "start",
            "reason": "ready",
            "job_id": decision.job_id,
        }
    ]


@pytest.mark.parametrize("status", [JobStatus.PENDING, JobStatus.RUNNING, JobStatus.BLOCKED])
def test_database_refuses_a_second_active_job(status: str) -> None:
    installation = make_installation()
    finished = make_job(installation, JobStatus.COMPLETED)
    make_job(installation, JobStatus.PENDING)
    # Bringing the finished job back to life would make two active jobs: the partial
    # unique constraint refuses it, whatever code tries.
    with pytest.raises(IntegrityError), transaction.atomic():
        IngestionJob.objects.filter(pk=finished.pk).update(status=status)


def test_finished_jobs_do_not_count_as_active() -> None:
    installation = make_installation()
    make_job(installation, JobStatus.COMPLETED)
    make_job(installation, JobStatus.FAILED)
    assert request_sync(installation_id=installation.pk, trigger=Trigger.ADMIN).started


def test_request_succeeds_and_job_stays_pending_when_the_broker_is_unreachable() -> None:
    installation = make_installation()
    script = (
        "import django, json; django.setup();"
        "from sync.services import request_sync;"
        f"d = request_sync(installation_id={installation.pk}, trigger='admin');"
        "print(json.dumps(d.as_dict()))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=child_env(CELERY_BROKER_URL="redis://127.0.0.1:1/0"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout.strip().splitlines()[-1])
    assert (decision["action"], decision["reason"]) == ("start", "ready")
    assert "sync.job.enqueue_failed" in result.stderr
    job = IngestionJob.objects.get(pk=decision["job_id"])
    assert job.status == JobStatus.PENDING


def _assert_exactly_one_start(
    results: list[tuple[str, str, int | None, str | None]], installation: Installation
) -> None:
    raised = [r for r in results if r[0] == "raised"]
    assert raised == []
    starts = [r for r in results if r[0] == "start"]
    assert len(starts) == 1
    assert all(r[:2] == ("skip", "already_syncing") for r in results if r[0] != "start")
    assert IngestionJob.objects.filter(installation=installation).count() == 1
    assert IngestionJob.objects.get(installation=installation).pk == starts[0][2]


def test_64_concurrent_threads_create_exactly_one_job() -> None:
    installation = make_installation()
    barrier = threading.Barrier(64)
    results: list = []
    lock = threading.Lock()

    def call() -> None:
        outcome = gate_probe.request_once(installation.pk, barrier)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=call) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 64
    _assert_exactly_one_start(results, installation)


@pytest.mark.postgres
def test_64_concurrent_processes_create_exactly_one_job() -> None:
    installation = make_installation()
    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    barrier = manager.Barrier(64)
    connection.close()
    with context.Pool(
        64, initializer=gate_probe.setup_django, initargs=(child_database_url(),)
    ) as pool:
        results = pool.starmap(gate_probe.request_once, [(installation.pk, barrier)] * 64)
    manager.shutdown()
    _assert_exactly_one_start(results, installation)


def _low_budget(remaining: int) -> dict:
    """A budget of `remaining` until a reset half an hour away; synced a day ago."""
    return {
        "rate_limit_limit": 5000,
        "rate_limit_remaining": remaining,
        "rate_limit_reset_at": timezone.now() + timedelta(minutes=30),
        "last_synced_at": timezone.now() - timedelta(days=1),
    }


def test_a_cron_request_refused_for_the_reserve_changes_nothing_on_the_installation() -> None:
    from sync.status import get_status

    installation = make_installation(**_low_budget(300))
    before = Installation.objects.filter(pk=installation.pk).values().get()

    decision = request_sync(installation_id=installation.pk, trigger=Trigger.CRON)

    assert (decision.action, decision.reason) == (Action.SKIP, Reason.BUDGET_RESERVED)
    assert Installation.objects.filter(pk=installation.pk).values().get() == before
    status = get_status(Installation.objects.get(pk=installation.pk), timezone.now())
    assert status.state == "idle" and status.blocked_until is None
    assert status.can_sync_now  # "Sync now" is not disabled by the cron reserve
    assert request_sync(installation_id=installation.pk, trigger=Trigger.MANUAL).started


def _paused_cron_job(installation: Installation) -> IngestionJob:
    """A job cron started, paused by its worker at the reserve (as job_block leaves it)."""
    decision = request_sync(installation_id=installation.pk, trigger=Trigger.CRON)
    job = started_job(decision)
    assert job.keeps_reserve
    until = timezone.now() + timedelta(minutes=30)
    IngestionJob.objects.filter(pk=job.pk).update(
        status=JobStatus.BLOCKED, blocked_until=until, blocked_reason="budget_reserve"
    )
    Installation.objects.filter(pk=installation.pk).update(
        sync_status=InstallationSyncStatus.BLOCKED, blocked_until=until, **_low_budget(400)
    )
    return job


def test_sync_now_on_a_cron_job_paused_at_the_reserve_resumes_it_at_once() -> None:
    from sync.status import get_status
    from sync.worker import job_claim

    installation = make_installation(last_synced_at=timezone.now() - timedelta(days=1))
    job = _paused_cron_job(installation)
    status = get_status(Installation.objects.get(pk=installation.pk), timezone.now())
    assert status.state == "blocked" and status.can_sync_now

    assert request_sync(installation_id=installation.pk, trigger=Trigger.WEBHOOK).reason == (
        Reason.ALREADY_SYNCING
    )
    decision = request_sync(installation_id=installation.pk, trigger=Trigger.MANUAL)

    assert (decision.action, decision.job_id) == (Action.START, job.pk)
    assert IngestionJob.objects.filter(installation=installation).count() == 1
    job.refresh_from_db()
    assert job.status == JobStatus.BLOCKED and not job.keeps_reserve
    assert job.blocked_until is None  # claimable now, by a worker whatever its clock
    installation.refresh_from_db()
    assert installation.sync_status == InstallationSyncStatus.SYNCING
    assert installation.blocked_until is None and installation.last_manual_sync_at is not None
    assert job_claim(job_id=job.pk) is not None
    # Once resumed it is an ordinary active job.
    again = request_sync(installation_id=installation.pk, trigger=Trigger.MANUAL)
    assert again.reason == Reason.ALREADY_SYNCING


def _hold_row_lock(installation: Installation, held: threading.Event, release: threading.Event):
    """Another transaction holding the installation's row lock (SQLite: the write lock)."""

    def hold() -> None:
        try:
            with transaction.atomic():
                Installation.objects.select_for_update().get(pk=installation.pk)
                held.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(timeout=10)
    return thread


def test_a_request_finding_a_job_already_active_answers_without_waiting_on_the_row_lock() -> None:
    import time

    installation = make_installation()
    request_sync(installation_id=installation.pk, trigger=Trigger.ADMIN)
    held, release = threading.Event(), threading.Event()
    holder = _hold_row_lock(installation, held, release)
    try:
        started = time.monotonic()
        decision = request_sync(installation_id=installation.pk, trigger=Trigger.MANUAL)
        elapsed = time.monotonic() - started
    finally:
        release.set()
        holder.join(timeout=30)

    assert decision.reason == Reason.ALREADY_SYNCING
    assert elapsed < 2  # the lock is held for 30 s


def test_the_error_state_survives_a_rate_limit_refusal() -> None:
    from sync.maintenance import stale_flags_repair
    from sync.status import get_status

    now = timezone.now()
    installation = make_installation(
        sync_status=InstallationSyncStatus.ERROR,
        last_sync_error="Job timed out",
        last_sync_error_at=now - timedelta(hours=2),
        **_low_budget(10),
    )

    decision = request_sync(installation_id=installation.pk, trigger=Trigger.MANUAL, now=now)

    assert decision.reason == Reason.RATE_LIMITED
    installation.refresh_from_db()
    assert installation.sync_status == InstallationSyncStatus.ERROR
    assert installation.blocked_until is not None
    assert get_status(installation, now).state == "blocked"  # while the refusal lasts
    after = installation.blocked_until + timedelta(seconds=1)
    stale_flags_repair(now=after)
    installation.refresh_from_db()
    assert installation.sync_status == InstallationSyncStatus.ERROR
    assert get_status(installation, after).state == "error"
    assert installation.last_sync_error == "Job timed out"
    # Maintenance still retries it on the error schedule.
    retry = request_sync(installation_id=installation.pk, trigger=Trigger.MAINTENANCE, now=after)
    assert retry.started


def test_a_request_finding_a_job_already_active_answers_in_one_query() -> None:
    from django.test.utils import CaptureQueriesContext

    installation = make_installation(repos=3)
    request_sync(installation_id=installation.pk, trigger=Trigger.ADMIN)

    with CaptureQueriesContext(connection) as queries:
        decision = request_sync(installation_id=installation.pk, trigger=Trigger.MANUAL)

    assert decision.reason == Reason.ALREADY_SYNCING
    assert len(queries) == 1, [q["sql"] for q in queries]


def _orm_state(installation: Installation) -> SyncState:
    """The policy's state as the locked path builds it, query by query."""
    from integrations.models import InstallationMember
    from sync.models import ACTIVE_JOB_STATUSES
    from sync.state import paused_for_reserve, sync_state_for

    installation.refresh_from_db()
    job = IngestionJob.objects.filter(
        installation=installation, status__in=ACTIVE_JOB_STATUSES
    ).first()
    return sync_state_for(
        installation,
        has_owner=InstallationMember.objects.filter(installation=installation).exists(),
        active_repository_count=installation.repositories.filter(is_active=True).count(),
        has_active_job=job is not None,
        active_job_paused_for_reserve=paused_for_reserve(job),
    )


@pytest.mark.parametrize("trigger", [Trigger.MANUAL, Trigger.CRON])
def test_the_one_query_read_decides_as_the_locked_path_in_every_state_beside_an_active_job(
    trigger: Trigger,
) -> None:
    from sync.policy import evaluate
    from sync.state import BUDGET_RESERVE, policy_config

    def active(installation: Installation, **job: Any) -> Installation:
        make_job(installation, **job)
        return installation

    from integrations.models import InstallationMember

    cases = {
        "syncing": active(make_installation(repos=2)),
        "no owner": active(make_installation(repos=1)),
        "suspended": active(make_installation(repos=1)),
        "no active repository": active(make_installation(repos=1)),
        "paused at the reserve": active(
            make_installation(repos=1),
            status="blocked",
            blocked_reason=BUDGET_RESERVE,
            keeps_reserve=True,
            blocked_until=timezone.now() + timedelta(minutes=30),
        ),
        "blocked by GitHub": active(
            make_installation(repos=1), status="blocked", blocked_until=timezone.now()
        ),
        "no job": make_installation(repos=1, last_synced_at=timezone.now()),
    }
    # What changed while the job ran: the policy answers these before "already syncing".
    InstallationMember.objects.filter(installation=cases["no owner"]).delete()
    cases["no active repository"].repositories.update(is_active=False)
    Installation.objects.filter(pk=cases["suspended"].pk).update(
        status=InstallationStatus.SUSPENDED
    )

    for name, installation in cases.items():
        now = timezone.now()
        expected = evaluate(_orm_state(installation), trigger, now, policy_config())
        decision = request_sync(installation_id=installation.pk, trigger=trigger, now=now)
        assert (decision.action, decision.reason) == (expected.action, expected.reason), name
