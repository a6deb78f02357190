"""The periodic passes (SPEC §6) at fleet scale: beat's cron and maintenance passes read
the installations that may be due in one query and ask `request_sync` only for those,
so a pass over hundreds of installations that are syncing or synced recently costs
next to nothing, and every start still goes through `request_sync`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from structlog.testing import capture_logs

from integrations.models import Installation, InstallationMember, InstallationSyncStatus
from sync.maintenance import maintenance_run
from sync.models import ACTIVE_JOB_STATUSES, IngestionJob
from sync.periodic import installations_due, installations_request
from sync.policy import Action, Reason, Trigger, evaluate
from sync.state import policy_config, sync_state_for
from sync.tasks import request_periodic_syncs
from tests.factories import make_installation, make_job

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)
# What request_sync answers, without writing anything, for an installation a pass leaves out.
LEFT_OUT_REASONS = {
    Reason.ALREADY_SYNCING,
    Reason.NOT_DUE,
    Reason.NO_OWNER,
    Reason.NO_REPOSITORIES,
    Reason.INSTALLATION_INACTIVE,
}


def _a_fleet_with_nothing_due(size: int) -> None:
    now = timezone.now()
    for n in range(size):
        installation = make_installation(repos=1, last_synced_at=now - timedelta(minutes=5))
        if n % 3 == 0:  # a third of them backfilling
            make_job(installation, status="running")
        if n % 7 == 0:
            make_installation(repos=1, owner=False)  # never synced, but no owner
            make_installation(repos=0)  # never synced, no repository


@pytest.mark.parametrize("trigger", [Trigger.CRON, Trigger.MAINTENANCE])
def test_a_beat_pass_with_nothing_due_is_one_query_and_asks_no_installation(
    trigger: Trigger,
) -> None:
    _a_fleet_with_nothing_due(30)

    with CaptureQueriesContext(connection) as queries, capture_logs() as logs:
        decisions = installations_request(trigger=trigger)

    assert decisions == {}
    assert [e for e in logs if e["event"] == "sync.request"] == []
    assert len(queries) == 1, [q["sql"] for q in queries]


def test_the_cron_task_over_a_busy_fleet_starts_only_the_installation_that_is_due() -> None:
    _a_fleet_with_nothing_due(20)
    due = make_installation(repos=1, last_synced_at=timezone.now() - timedelta(hours=2))

    with capture_logs() as logs:
        started = request_periodic_syncs()

    assert started == 1
    requests = [e for e in logs if e["event"] == "sync.request"]
    assert [(e["installation_id"], e["action"]) for e in requests] == [(due.github_id, "start")]
    assert IngestionJob.objects.filter(installation=due, status__in=ACTIVE_JOB_STATUSES).exists()


def _grid(now: datetime) -> list[Installation]:
    """Installations on both sides of every bound the passes read, and in every state
    the policy refuses before them."""
    config = policy_config()
    cron_bound = now - timedelta(seconds=config.cron_due_after_seconds)
    catchup_bound = now - timedelta(seconds=config.maintenance_catchup_seconds)
    retry_bound = now - timedelta(seconds=config.error_retry_seconds)
    rows: list[Installation] = [make_installation(repos=1)]  # never synced
    for bound in (cron_bound, catchup_bound):
        for offset in (-SECOND, timedelta(0), SECOND):
            rows.append(make_installation(repos=1, last_synced_at=bound + offset))
    recent = now - timedelta(minutes=5)
    for errored_at in (None, retry_bound - SECOND, retry_bound, retry_bound + SECOND):
        rows.append(
            make_installation(
                repos=1,
                last_synced_at=recent,
                sync_status=InstallationSyncStatus.ERROR,
                last_sync_error_at=errored_at,
            )
        )
    rows.append(  # due, but GitHub refused it until later: the policy records the block
        make_installation(
            repos=1, last_synced_at=cron_bound - SECOND, blocked_until=now + timedelta(minutes=9)
        )
    )
    rows.append(  # due, below the cron reserve
        make_installation(
            repos=1,
            last_synced_at=catchup_bound - SECOND,
            rate_limit_limit=5000,
            rate_limit_remaining=300,
            rate_limit_reset_at=now + timedelta(minutes=20),
        )
    )
    rows.append(make_installation(repos=1, owner=False))
    rows.append(make_installation(repos=0))
    rows.append(make_installation(repos=1, status="suspended"))
    busy = make_installation(repos=1)
    make_job(busy, status="blocked")
    rows.append(busy)
    return rows


@pytest.mark.parametrize("trigger", [Trigger.CRON, Trigger.MAINTENANCE])
def test_the_due_query_leaves_out_only_installations_the_policy_would_not_start(
    trigger: Trigger,
) -> None:
    now = timezone.now()
    grid = _grid(now)

    due = set(installations_due(trigger=trigger, now=now).values_list("pk", flat=True))

    config = policy_config()
    for installation in grid:
        installation.refresh_from_db()
        state = sync_state_for(
            installation,
            has_owner=InstallationMember.objects.filter(installation=installation).exists(),
            active_repository_count=installation.repositories.filter(is_active=True).count(),
            has_active_job=IngestionJob.objects.filter(
                installation=installation, status__in=ACTIVE_JOB_STATUSES
            ).exists(),
        )
        decision = evaluate(state, trigger, now, config)
        if installation.pk not in due:
            assert decision.reason in LEFT_OUT_REASONS, (installation.__dict__, decision)
        if decision.action == Action.START or decision.reason == Reason.RATE_LIMITED:
            assert installation.pk in due, (installation.__dict__, decision)
    assert 0 < len(due) < len(grid)


def test_maintenance_still_retries_an_installation_in_error_and_catches_up_a_stale_one(
    settings: Any,
) -> None:
    now = timezone.now()
    errored = make_installation(
        repos=1,
        last_synced_at=now - timedelta(minutes=5),
        sync_status=InstallationSyncStatus.ERROR,
        last_sync_error_at=now - timedelta(seconds=settings.SYNC_ERROR_RETRY_SECONDS + 60),
    )
    stale = make_installation(
        repos=1,
        last_synced_at=now - timedelta(seconds=settings.SYNC_MAINTENANCE_CATCHUP_SECONDS + 60),
    )
    recent = make_installation(repos=1, last_synced_at=now - timedelta(minutes=5))

    report = maintenance_run()

    assert {gid: d.action for gid, d in report.decisions.items()} == {
        errored.github_id: Action.START,
        stale.github_id: Action.START,
    }
    assert not IngestionJob.objects.filter(installation=recent).exists()
