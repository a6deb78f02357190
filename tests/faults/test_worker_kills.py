"""Scenario 1: the worker process SIGKILLed 20 times at random moments across several
backfills, a new worker started after each kill, maintenance running every period as
beat would. Afterwards every job has finished, nothing is missing, nothing invented,
nothing duplicated."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import Count, Max, Sum

from integrations.models import Event
from sync.maintenance import maintenance_run
from sync.models import ACTIVE_JOB_STATUSES, IngestionJob, JobStatus
from sync.policy import Trigger
from sync.services import request_sync
from tests.faults.figures import figure
from tests.faults.support import WorkerProcess, Workers, app_env
from tests.worker.support import World, start_job, stored_events

SCENARIO = "1. 20 SIGKILLs of the worker"
KILLS = 20
LEASE_SECONDS = 2
PERIOD = 4.0  # the maintenance (beat) period of the run, seconds
POOL = 2  # workers alive at a time during the kills
SEED = 20240601

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class Beat:
    """Maintenance every PERIOD seconds, run from the test's polling loop."""

    def __init__(self) -> None:
        self.next_at = time.monotonic() + PERIOD
        self.recovered = 0
        self.passes = 0

    def tick(self) -> None:
        if time.monotonic() >= self.next_at:
            self.run()

    def run(self) -> None:
        self.recovered += len(maintenance_run().recovered)
        self.passes += 1
        self.next_at = time.monotonic() + PERIOD


def _progress() -> tuple[Any, ...]:
    """Anything a working worker changes: jobs' status, pages written, repositories."""
    return tuple(
        IngestionJob.objects.aggregate(
            Sum("events_ingested"), Sum("progress_current"), Max("updated_at"), Count("id")
        ).values()
    ) + tuple(IngestionJob.objects.filter(status__in=ACTIVE_JOB_STATUSES).values_list("pk"))


def _busy(worker: WorkerProcess) -> bool:
    """The worker is inside a task: something was logged after its last task ended
    (the job's own lines, the GitHub requests it makes at DEBUG)."""
    lines = [line for line in worker.log_path.read_text(errors="replace").splitlines()
             if line.startswith("{")]  # fmt: skip
    if not lines:
        return False
    last = lines[-1]
    return not any(end in last for end in ("succeeded in", "raised unexpected", " ready."))


def _ready(worker: WorkerProcess) -> bool:
    return "ready." in worker.log_path.read_text(errors="replace")


def _sleep(seconds: float, beat: Beat) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        beat.tick()
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def _new_round(world: World) -> None:
    """More backfills: new activity in every installation, then a full sync of each
    (a full window asks other URLs than the stored ETags': everything is read again)."""
    for github_id in world.installations:
        for kind in ("commit", "pr_merged", "issue_comment"):
            world.sim.server.add_activity(kind, installation_id=github_id)
        # Refused (rate limited, already syncing) is fine: that installation sits out.
        request_sync(
            installation_id=world.installation(github_id).pk, trigger=Trigger.ADMIN, full=True
        )


@pytest.mark.timeout(900)
def test_twenty_sigkills_lose_nothing_and_duplicate_nothing(
    sim_world: Callable[..., World], settings: Any, workers: Workers
) -> None:
    """Two workers at a time; each kill takes a random one and starts a replacement.
    GitHub's budget is small and its window short, so jobs also pause for the rate
    limit and wait in a worker for their ETA: killing that worker loses the message."""
    settings.SYNC_LEASE_SECONDS = LEASE_SECONDS
    settings.SYNC_MIN_BUDGET = 10
    # Over REST, whose backfill lasts long enough for most kills to land mid-job (the
    # claim, lease, checkpoint and recovery a kill tests are the same for both paths).
    settings.SYNC_GRAPHQL = "off"
    rng = random.Random(SEED)
    world = sim_world(size="6x3x25", seed=5, latency_ms=40, budget=40, window_seconds=4)
    env = app_env(world.sim, SYNC_LEASE_SECONDS=str(LEASE_SECONDS), SYNC_SLICE_SECONDS="2",
                  SYNC_MIN_BUDGET="10", SYNC_GRAPHQL="off")  # fmt: skip
    for github_id in world.installations:
        start_job(world.installation(github_id))
    beat = Beat()
    started = time.monotonic()
    kills_holding_a_job = rounds = 0
    pool = [workers.start(env, label="killed") for _ in range(POOL)]

    for _ in range(KILLS):
        if not IngestionJob.objects.filter(status__in=ACTIVE_JOB_STATUSES).exists():
            _new_round(world)
            rounds += 1
        victim = pool.pop(rng.randrange(len(pool)))
        if rng.random() < 0.15:
            _sleep(rng.uniform(0.0, 1.0), beat)  # any moment, booting included
        else:
            deadline = time.monotonic() + 8
            while not (_ready(victim) and _busy(victim)) and time.monotonic() < deadline:
                _sleep(0.05, beat)
            _sleep(rng.uniform(0.0, 2.0), beat)  # a moment while it works
        holding = _busy(victim)
        victim.kill()
        kills_holding_a_job += int(holding)
        pool.append(workers.start(env, label="killed"))
    for worker in pool:
        worker.kill()

    # The last kill is done: one worker that lives, maintenance every period. Stop once
    # everything finished, or after two maintenance periods in which nothing moved.
    survivor_started = time.monotonic()
    workers.start(env, label="survivor")
    idle_periods, last, hard_deadline = 0, _progress(), time.monotonic() + 300
    while IngestionJob.objects.filter(status__in=ACTIVE_JOB_STATUSES).exists():
        _sleep(PERIOD, beat)
        now_progress = _progress()
        idle_periods = idle_periods + 1 if now_progress == last else 0
        last = now_progress
        if idle_periods > 2 or time.monotonic() > hard_deadline:
            break
    elapsed = time.monotonic() - started

    jobs = list(IngestionJob.objects.order_by("pk"))
    blocked = sum(
        log.read_text(errors="replace").count('"sync.job.blocked"')
        for log in (w.log_path for w in workers.started)
    )
    unfinished = [j.pk for j in jobs if j.status in ACTIVE_JOB_STATUSES]
    failed = [(j.pk, j.error) for j in jobs if j.status == JobStatus.FAILED]
    missing = invented = 0
    for github_id in world.installations:
        installation = world.installation(github_id)
        own = [j for j in jobs if j.installation_id == installation.pk]
        since = min(j.since for j in own)
        # A sync owes everything up to its start; activity added later may wait.
        until = max(j.started_at for j in own if j.started_at is not None)
        stored = stored_events(installation)
        missing += len(world.expected(github_id, since, until) - stored)
        invented += len(stored - world.true_events(github_id))
    duplicates = (
        Event.objects.values("repository", "kind", "github_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    figure(SCENARIO, "SIGKILLs (holding a job / total)", f"{kills_holding_a_job} / {KILLS}")
    figure(SCENARIO, "backfill jobs (rounds of full backfills)", f"{len(jobs)} ({rounds + 1})")
    figure(SCENARIO, "rate-limit pauses (jobs blocked, then resumed)", blocked)
    figure(SCENARIO, "missing events", missing, required="0")
    figure(SCENARIO, "duplicate events", duplicates, required="0")
    figure(SCENARIO, "invented events", invented, required="0")
    figure(SCENARIO, "jobs not finished after two idle maintenance periods",
           len(unfinished), required="0")  # fmt: skip
    figure(SCENARIO, "jobs failed", len(failed), required="0")
    figure(SCENARIO, "stuck jobs recovered by maintenance", beat.recovered)
    figure(SCENARIO, "survivor's time to finish everything (s)",
           round(time.monotonic() - survivor_started, 1))  # fmt: skip
    figure(SCENARIO, "wall time (s)", round(elapsed, 1))
    assert unfinished == [], unfinished
    assert failed == []
    assert (missing, invented, duplicates) == (0, 0, 0)
    assert kills_holding_a_job >= KILLS // 2, "most kills must hit a worker mid-job"
