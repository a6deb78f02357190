"""Scenario 9: a fleet. GHSYNC_FLEET_INSTALLATIONS installations (200 by default: a few
large, most small) backfilling at once on 4 worker processes (3 on the sync queue, 1 on
the webhooks queue) on two "machines": process groups whose clocks are
MACHINE_B_AHEAD seconds apart (libfaketime, which `make faults` installs). Short leases
and time slices, so jobs wait in a queue backlog far longer than a lease; beat runs at
the production proportion (its interval = the lease, 5 slices) and is started twice by
mistake, once per machine (real `celery beat`: they start every sync, as cron and
maintenance); a webhook storm during the backfill; one installation with a poison item
and one whose rate limit is below the requirement. Nothing may fail falsely, time out,
go missing or duplicate.

The ideal wall time is the sum over installations of the simulator's minimum REST
requests for its window (`min_requests`: a perfect cold client) times the mean request
time measured in this run (the workers' `github.request` durations), divided by 4
workers. It leaves out everything but the requests (database writes, claims), so the
ratio is an upper bound of the overhead. Because the ideal counts REST requests, the
fleet syncs over REST (SYNC_GRAPHQL=off); the GraphQL path has its own scenarios."""

from __future__ import annotations

import json
import os
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
from tests.faults.infra import clock_ahead_env
from tests.faults.support import (
    ISSUED,
    WebServer,
    WorkerProcess,
    Workers,
    app_env,
    log_dir,
    process_cpu_seconds,
)
from tests.worker.support import World, stored_events

SCENARIO = "9. Fleet: 4 workers, two beats, a backlog, a webhook storm"
INSTALLATIONS = int(os.environ.get("GHSYNC_FLEET_INSTALLATIONS", "200"))
SIZE = f"{INSTALLATIONS}x2x6"
FIRST = 1001  # the simulator's first installation id
LARGE = tuple(range(FIRST, FIRST + max(3, INSTALLATIONS // 50)))  # + activity: large backfills
POISONED = FIRST + len(LARGE)
SMALL_LIMIT = POISONED + 1
SMALL_LIMIT_BUDGET = 60  # below SYNC_MIN_BUDGET (100): the requirement is capped
WORKERS = 4  # machine a: 1 sync + 1 webhooks (as the README runs them); machine b: 2 sync
MACHINE_B_AHEAD = 3  # seconds machine b's clock is ahead of machine a's
SLICE_SECONDS = 1
LEASE_SECONDS = 5
BEAT_EVERY = LEASE_SECONDS  # production: beat 300 s = the lease, 5 slices of 60 s
STORM = 120  # signed deliveries posted while the fleet backfills
SECRET = "faults-fleet-webhook-secret"
DEADLINE_SECONDS = int(os.environ.get("GHSYNC_FLEET_DEADLINE", "600"))

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


def _sync_queue_length() -> int | None:
    """Messages waiting in the broker's `sync` queue (Redis only), or None."""
    from django.conf import settings as django_settings

    if not django_settings.CELERY_BROKER_URL.startswith("redis://"):
        return None
    import redis

    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL, socket_timeout=2)
    try:
        return int(client.llen("sync"))  # type: ignore[arg-type]  # sync client: an int
    finally:
        client.close()


def _mean_request_ms(workers: list[WorkerProcess]) -> float:
    """The mean duration of the sync workers' GitHub requests, from their JSON logs."""
    durations = []
    for worker in workers:
        for line in worker.log_path.read_text(errors="replace").splitlines():
            if '"github.request"' in line and "duration_ms" in line:
                try:
                    durations.append(float(json.loads(line)["duration_ms"]))
                except (ValueError, KeyError):
                    continue
    return statistics.fmean(durations) if durations else 0.0


@pytest.mark.timeout(DEADLINE_SECONDS + 300)
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
    machine_a = app_env(
        world.sim,
        SYNC_LEASE_SECONDS=str(LEASE_SECONDS),
        SYNC_SLICE_SECONDS=str(SLICE_SECONDS),
        SYNC_BEAT_INTERVAL_SECONDS=str(BEAT_EVERY),
        SYNC_GRAPHQL="off",  # the ideal is counted in REST requests
        GITHUB_WEBHOOK_SECRET=SECRET,
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="faults-fleet-" + "k" * 40,
    )
    ahead = clock_ahead_env(MACHINE_B_AHEAD)
    machine_b = {**machine_a, **ahead}
    web = WebServer(machine_a)
    beats = []
    queue_lengths: list[int] = []
    started = time.monotonic()
    try:
        web.wait_ready()
        sync_workers = [
            workers.start(machine_a, label="fleet-a-sync", queues="sync"),
            workers.start(machine_b, label="fleet-b-sync", queues="sync"),
            workers.start(machine_b, label="fleet-b-sync", queues="sync"),
        ]
        webhooks_worker = workers.start(machine_a, label="fleet-a-webhooks", queues="webhooks")
        for n, env in enumerate((machine_a, machine_b)):  # two beats: the mistake to survive
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
            length = _sync_queue_length()
            if length is not None:
                queue_lengths.append(length)
            time.sleep(1)
        elapsed = time.monotonic() - started
        cpu = {
            "sync workers": sum(w.cpu_seconds() for w in sync_workers),
            "webhooks worker": webhooks_worker.cpu_seconds(),
            "beats": sum(b.cpu_seconds() for b in beats),
            "web": process_cpu_seconds(web.process.pid),
        }
    finally:
        for beat in beats:
            beat.stop(timeout=10)
        web.stop()

    jobs = list(IngestionJob.objects.select_related("installation").order_by("pk"))
    now = time.time()
    waiting = [  # what the unfinished jobs were doing at the deadline: waiting, or stuck?
        f"{j.installation.github_id}:{j.status} attempts={j.attempts}"
        f" requeued={now - j.requeued_at.timestamp():.0f}s ago"
        if j.requeued_at
        else f"{j.installation.github_id}:{j.status} attempts={j.attempts} never requeued"
        for j in jobs
        if j.status in ACTIVE_JOB_STATUSES
    ]
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
    first_jobs: dict[int, IngestionJob] = {}
    for j in jobs:
        first_jobs.setdefault(j.installation.github_id, j)
    mean_ms = _mean_request_ms(sync_workers)
    min_requests = sum(
        world.sim.server.min_requests(gid, j.since, j.finished_at or j.since)
        for gid, j in first_jobs.items()
    )
    ideal = min_requests * mean_ms / 1000 / WORKERS
    poisoned_failures = [
        f["repository"] for j in jobs if j.installation.github_id == POISONED for f in j.failures
    ]

    figure(SCENARIO, "installations (large / poisoned / limit below the minimum)",
           f"{len(world.installations)} ({len(LARGE)} / 1 / 1)")  # fmt: skip
    figure(SCENARIO, "machine b's clock ahead of machine a's (s)",
           MACHINE_B_AHEAD if ahead else "0 (no libfaketime)")  # fmt: skip
    figure(SCENARIO, "jobs completed / failed / timed out",
           f"{sum(j.status == JobStatus.COMPLETED for j in jobs)} / {len(failed)}"
           f" / {len(timed_out)}")  # fmt: skip
    figure(SCENARIO, "false failures (jobs failed)", len(failed), required="0")
    figure(SCENARIO, "jobs timed out", len(timed_out), required="0")
    figure(SCENARIO, "jobs unfinished at the end", len(unfinished), required="0")
    if waiting:
        figure(SCENARIO, "unfinished jobs at the deadline", "; ".join(waiting[:12]))
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
    figure(SCENARIO, "duplicate messages (task runs that found nothing to claim)", not_claimed)
    figure(
        SCENARIO,
        "sync queue length max / mean",
        f"{max(queue_lengths)} / {statistics.fmean(queue_lengths):.0f}" if queue_lengths else "-",
    )
    figure(SCENARIO, "CPU seconds (sync workers / webhooks worker / beats / web)",
           " / ".join(f"{v:.0f}" for v in cpu.values()))  # fmt: skip
    figure(SCENARIO, "minimum REST requests (sum) x mean request time (ms)",
           f"{min_requests} x {mean_ms:.1f}")  # fmt: skip
    created = [j.created_at for j in jobs]
    done = [j.finished_at for j in jobs if j.finished_at is not None]
    figure(SCENARIO, "backfill: first request to last job finished (s; clocks up to 3 s apart)",
           round((max(done) - min(created)).total_seconds(), 1) if done else "-")  # fmt: skip
    versus = f" vs {ideal:.0f} ({elapsed / ideal:.1f}x)" if ideal else ""
    figure(SCENARIO, "wall time vs ideal (s)", f"{elapsed:.0f}{versus}")
    assert unfinished == [] and failed == [] and timed_out == []
    assert (missing, invented, duplicates) == (0, 0, 0)
    assert poisoned_failures and set(poisoned_failures) == {poisoned_repo}
    assert all(200 <= s < 300 for s in statuses)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
