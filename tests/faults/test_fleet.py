"""Scenario 9: a fleet. Many installations (a few large, most small) backfilling at once
on 4 worker processes (3 on the sync queue, 1 on the webhooks queue) with short leases
and time slices (so jobs wait in a queue backlog far longer than a lease), two beat
processes started by mistake (real `celery beat`, a 3 s interval: they start every
sync, as cron and maintenance), a webhook storm during the backfill, one installation
with a poison item and one whose rate limit is below the requirement. Nothing may
fail falsely, time out, go missing or duplicate.

Not reproduced: clocks a few seconds apart (no fake clock per process here); the
blocked job's eta margin for it is covered by a unit test."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import Count
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from integrations.models import Event, WebhookDelivery
from simulator.dataset import User
from simulator.webhooks import activity_payload, deliver
from sync.models import ACTIVE_JOB_STATUSES, IngestionJob, JobStatus
from tests.faults.figures import figure
from tests.faults.support import ISSUED, WebServer, Workers, app_env, log_dir
from tests.worker.support import World, stored_events

SCENARIO = "9. Fleet: 4 workers, two beats, a backlog, a webhook storm"
SIZE = "24x2x6"
LARGE = (1001, 1002, 1003)  # + activity: each a backfill many times a small one's
POISONED = 1004
SMALL_LIMIT = 1005
SMALL_LIMIT_BUDGET = 60  # below SYNC_MIN_BUDGET (100): the requirement is capped
SYNC_WORKERS = 3  # + one for the webhooks queue, as the README runs them
LEASE_SECONDS = 3
BEAT_EVERY = 3
STORM = 120  # signed deliveries posted while the fleet backfills
SECRET = "faults-fleet-webhook-secret"
DEADLINE_SECONDS = 600

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _beat_every(seconds: int) -> None:
    """Both beat schedules every `seconds`, as an operator would edit them."""
    interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
    PeriodicTask.objects.filter(name__startswith="ghsync:").update(interval=interval)


def _poison(world: World) -> str:
    for repo in world.sim.dataset.installations[POISONED].repositories:
        if repo.comments:
            for comment in repo.comments:
                comment.user = User(login="poison", id=2**70)
            return repo.full_name
    raise AssertionError("no repository with comments")


def _count_in_logs(workers: Workers, needle: str) -> int:
    return sum(w.log_path.read_text(errors="replace").count(needle) for w in workers.started)


@pytest.mark.timeout(900)
def test_a_fleet_backfills_with_no_false_failure_nothing_lost_nothing_duplicated(
    sim_world: Callable[..., World], settings: Any, workers: Workers
) -> None:
    ISSUED.webhook_secrets.add(SECRET)
    world = sim_world(size=SIZE, seed=9, latency_ms=15, window_seconds=20)
    for github_id in LARGE:
        for _ in range(40):
            for kind in ("commit", "pr_merged", "issue_comment"):
                world.sim.server.add_activity(kind, installation_id=github_id)
    poisoned_repo = _poison(world)
    world.sim.server.set_budget(
        SMALL_LIMIT, remaining=SMALL_LIMIT_BUDGET, limit=SMALL_LIMIT_BUDGET, reset_in=20
    )
    _beat_every(BEAT_EVERY)
    env = app_env(
        world.sim,
        SYNC_LEASE_SECONDS=str(LEASE_SECONDS),
        SYNC_SLICE_SECONDS="1",
        SYNC_BEAT_INTERVAL_SECONDS=str(BEAT_EVERY),
        GITHUB_WEBHOOK_SECRET=SECRET,
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="faults-fleet-" + "k" * 40,
    )
    web = WebServer(env)
    beats = []
    started = time.monotonic()
    try:
        web.wait_ready()
        for _ in range(SYNC_WORKERS):
            workers.start(env, label="fleet-sync", queues="sync")
        workers.start(env, label="fleet-webhooks", queues="webhooks")
        for n in range(2):  # two beats: the mistake the design must survive
            beats.append(
                workers.start_command(
                    env,
                    ["beat", "-l", "info", "-s", str(log_dir() / f"beat-{n}.db")],
                    label=f"beat{n}",
                )
            )
        # The storm, once the backfill is under way.
        while not IngestionJob.objects.filter(status=JobStatus.RUNNING).exists():
            assert time.monotonic() - started < 120, "no job started"
            time.sleep(0.2)
        kinds = ("push", "issues", "issue_comment", "pull_request")
        statuses = [
            deliver(
                f"{web.url}/webhooks/github/",
                SECRET,
                kinds[n % len(kinds)],
                activity_payload(
                    world.sim.dataset,
                    kinds[n % len(kinds)],
                    installation_id=list(world.installations)[n % len(world.installations)],
                ),
            )
            for n in range(STORM)
        ]
        # Until every installation has a finished job and nothing is active.
        while time.monotonic() - started < DEADLINE_SECONDS:
            finished = set(
                IngestionJob.objects.filter(
                    status__in=[JobStatus.COMPLETED, JobStatus.FAILED]
                ).values_list("installation__github_id", flat=True)
            )
            active = IngestionJob.objects.filter(status__in=ACTIVE_JOB_STATUSES).exists()
            processed = not WebhookDelivery.objects.filter(status="received").exists()
            if finished >= set(world.installations) and not active and processed:
                break
            time.sleep(1)
        elapsed = time.monotonic() - started
    finally:
        for beat in beats:
            beat.stop(timeout=10)
        web.stop()

    jobs = list(IngestionJob.objects.select_related("installation").order_by("pk"))
    failed = [(j.installation.github_id, j.error) for j in jobs if j.status == JobStatus.FAILED]
    timed_out = [j for j in jobs if j.error == "Job timed out"]
    unfinished = [j.pk for j in jobs if j.status in ACTIVE_JOB_STATUSES]
    missing = invented = 0
    for github_id in world.installations:
        installation = world.installation(github_id)
        own = [j for j in jobs if j.installation_id == installation.pk and j.started_at]
        if not own:
            missing += len(world.true_events(github_id))
            continue
        since = min(j.since for j in own)
        completed = [j.started_at for j in own if j.status == JobStatus.COMPLETED]
        until = max(t for t in completed if t is not None) if completed else since
        stored = stored_events(installation)
        expected = world.expected(github_id, since, until)
        if github_id == POISONED:
            expected = {key for key in expected if key[0] != poisoned_repo}
        missing += len(expected - stored)
        invented += len(stored - world.true_events(github_id))
    duplicates = (
        Event.objects.values("repository", "kind", "github_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    small = [
        (started_at - j.created_at).total_seconds()
        for j in jobs
        if (started_at := j.started_at) is not None and j.installation.github_id not in LARGE
    ]
    deliveries = list(
        WebhookDelivery.objects.filter(processed_at__isnull=False).values_list(
            "received_at", "processed_at"
        )
    )
    latency = sorted((done - got).total_seconds() for got, done in deliveries if done is not None)
    not_claimed = _count_in_logs(workers, "sync.job.not_claimed")
    poisoned_failures = [
        f["repository"] for j in jobs if j.installation.github_id == POISONED for f in j.failures
    ]

    figure(SCENARIO, "installations (large / poisoned / limit below the minimum)",
           f"{len(world.installations)} ({len(LARGE)} / 1 / 1)")  # fmt: skip
    figure(SCENARIO, "jobs completed / failed / timed out",
           f"{sum(j.status == JobStatus.COMPLETED for j in jobs)} / {len(failed)}"
           f" / {len(timed_out)}")  # fmt: skip
    figure(SCENARIO, "false failures (jobs failed)", len(failed), required="0")
    figure(SCENARIO, "jobs timed out", len(timed_out), required="0")
    figure(SCENARIO, "jobs unfinished at the end", len(unfinished), required="0")
    figure(SCENARIO, "events missing", missing, required="0")
    figure(SCENARIO, "events duplicated", duplicates, required="0")
    figure(SCENARIO, "events invented", invented, required="0")
    figure(
        SCENARIO,
        "small installations, request to start p50 / p95 (s)",
        f"{statistics.median(small):.1f} / {_p(small, 0.95):.1f}" if small else "-",
    )
    figure(SCENARIO, "webhook storm: 2xx / posted", f"{sum(200 <= s < 300 for s in statuses)}"
           f" / {STORM}")  # fmt: skip
    figure(
        SCENARIO,
        "webhook latency to processed p50 / p99 (s)",
        f"{_p(latency, 0.5):.2f} / {_p(latency, 0.99):.2f}" if latency else "-",
    )
    figure(SCENARIO, "extra messages (task runs that found nothing to claim)", not_claimed)
    figure(SCENARIO, "wall time (s)", round(elapsed, 1))
    assert unfinished == [] and failed == [] and timed_out == []
    assert (missing, invented, duplicates) == (0, 0, 0)
    assert poisoned_failures and set(poisoned_failures) == {poisoned_repo}
    assert all(200 <= s < 300 for s in statuses)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
