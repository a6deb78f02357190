"""Scenario 6: load while a backfill runs. A closed-loop load generator
(tests/faults/loadgen.py, aiohttp, 8 connections) against a real web server process
(`manage.py runserver --noreload`, threaded, DEBUG off) for 30 s on the webhook
endpoint (signed replays of real deliveries: GitHub's redelivery keeps the id) and 30 s
on the status API (token auth), while a real worker process runs a backfill slowed
by the simulator's latency. Every request answers 2xx, the backfill completes
exactly, and every delivery is stored once and processed."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from integrations.models import DeliveryStatus, InstallationMember, MemberRole, WebhookDelivery
from simulator.webhooks import activity_payload
from sync.models import ACTIVE_JOB_STATUSES, IngestionJob, JobStatus
from sync.tokens import api_token_create
from sync.webhooks.signature import signature_for
from tests.factories import make_user
from tests.faults.figures import figure
from tests.faults.loadgen import Request
from tests.faults.support import (
    BASE_DIR,
    ISSUED,
    WebServer,
    Workers,
    app_env,
    faults_dir,
    log_dir,
    wait_until,
)
from tests.worker.support import World, start_job, stored_events

SCENARIO = "6. Load (8 connections, 30 s each) during a backfill"
SECRET = "faults-load-webhook-secret"
SECONDS = 30
CONNECTIONS = 8
EVENTS = ("push", "pull_request", "pull_request_review", "issues", "issue_comment")

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _webhook_requests(deliveries: list[tuple[str, str, bytes]]) -> list[Request]:
    return [
        Request(
            "POST",
            "/webhooks/github/",
            {
                "Content-Type": "application/json",
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": delivery_id,
                "X-Hub-Signature-256": signature_for(body, SECRET),
            },
            body,
        )
        for event, delivery_id, body in deliveries
    ]


def _status_requests(token: str) -> list[Request]:
    return [Request("GET", "/api/sync/status/", {"Authorization": f"Token {token}"})]


def _load(url: str, requests_: list[Request], name: str) -> dict[str, Any]:
    """The load generator as its own process (as wrk was): 8 connections, 30 s."""
    spec = faults_dir() / f"{name}.json"
    spec.write_text(json.dumps({
        "url": url, "requests": [r.as_json() for r in requests_],
        "connections": CONNECTIONS, "seconds": SECONDS, "timeout": 10,
    }))  # fmt: skip
    result = subprocess.run(
        [str(BASE_DIR / ".venv/bin/python"), "-m", "tests.faults.loadgen", str(spec)],
        cwd=BASE_DIR, capture_output=True, text=True, timeout=SECONDS + 60, check=False,
    )  # fmt: skip
    (log_dir() / f"{name}.txt").write_text(result.stdout + result.stderr)
    found = re.search(r"LOADJSON (\{.*\})", result.stdout)
    assert found, result.stdout + result.stderr
    stats: dict[str, Any] = json.loads(found.group(1))
    return stats


@pytest.mark.timeout(600)
def test_load_on_the_webhook_and_the_status_api_during_a_backfill(
    sim_world: Callable[..., World], settings: Any, workers: Workers
) -> None:
    ISSUED.webhook_secrets.add(SECRET)
    settings.SYNC_LEASE_SECONDS = 10
    # ~310 GitHub requests at 250 ms each: the backfill outlasts both 30 s runs. Over
    # REST: GraphQL reads the same data in a tenth of the requests, over before the load
    # (what is measured here is the web under load, whichever path the worker reads by).
    settings.SYNC_GRAPHQL = "off"
    world = sim_world(size="3x4x30", seed=21, latency_ms=250)
    user = make_user("load")
    for installation in world.installations.values():
        InstallationMember.objects.get_or_create(
            user=user, installation=installation, defaults={"role": MemberRole.VIEWER}
        )
    token = api_token_create(username=user.username).key
    ISSUED.tokens.add(token)  # an API token is a secret too
    deliveries = [
        (event, f"load-{github_id}-{event}",
         json.dumps(activity_payload(world.sim.dataset, event, installation_id=github_id)).encode())
        for github_id in world.installations for event in EVENTS
    ]  # fmt: skip
    env = app_env(world.sim, SYNC_LEASE_SECONDS="10", SYNC_SLICE_SECONDS="2",
                  SYNC_GRAPHQL="off", GITHUB_WEBHOOK_SECRET=SECRET, DJANGO_DEBUG="false",
                  DJANGO_SECRET_KEY="faults-load-" + "k" * 40,
                  DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost")  # fmt: skip
    workers.start(env, label="load")
    server = WebServer(env)
    try:
        server.wait_ready()
        job_ids = {gid: start_job(world.installation(gid)) for gid in world.installations}
        wait_until(lambda: IngestionJob.objects.filter(events_ingested__gt=0).exists(), timeout=60)
        webhook = _load(server.url, _webhook_requests(deliveries), "load-webhook")
        during = IngestionJob.objects.filter(status__in=ACTIVE_JOB_STATUSES).count()
        status = _load(server.url, _status_requests(token), "load-status")
        still_running = IngestionJob.objects.filter(status__in=ACTIVE_JOB_STATUSES).count()
        server_alive = server.process.poll() is None
    finally:
        server.stop()

    def settled() -> bool:
        jobs_done = not IngestionJob.objects.filter(status__in=ACTIVE_JOB_STATUSES).exists()
        pending = WebhookDelivery.objects.exclude(
            status__in=[DeliveryStatus.PROCESSED, DeliveryStatus.IGNORED]
        ).exists()
        return jobs_done and not pending

    wait_until(settled, timeout=300, every=1.0)
    missing = invented = 0
    jobs = {gid: IngestionJob.objects.get(pk=pk) for gid, pk in job_ids.items()}
    for github_id, job in jobs.items():
        stored = stored_events(world.installation(github_id))
        missing += len(world.expected(github_id, job.since) - stored)
        invented += len(stored - world.true_events(github_id))
    stored_deliveries = WebhookDelivery.objects.count()
    for name, stats in (("webhook (signed replays)", webhook), ("status API (token)", status)):
        figure(SCENARIO, f"{name}: requests/s", round(stats["rps"], 1))
        figure(SCENARIO, f"{name}: p50 latency (ms)", round(stats["p50_ms"], 1))
        figure(SCENARIO, f"{name}: p99 latency (ms)", round(stats["p99_ms"], 1))
        figure(SCENARIO, f"{name}: errors (socket + non-2xx)", stats["errors"], required="0")
    figure(SCENARIO, "jobs still running after each 30 s run", f"{during}, {still_running}")
    not_completed = sum(1 for j in jobs.values() if j.status != JobStatus.COMPLETED)
    figure(SCENARIO, "backfill jobs not completed", not_completed, required="0")
    figure(SCENARIO, "backfill: missing events", missing, required="0")
    figure(SCENARIO, "backfill: invented events", invented, required="0")
    figure(SCENARIO, "distinct deliveries replayed / rows stored",
           f"{len(deliveries)} / {stored_deliveries}")  # fmt: skip
    assert server_alive
    assert webhook["errors"] == 0, webhook
    assert status["errors"] == 0, status
    assert all(j.status == JobStatus.COMPLETED for j in jobs.values())
    assert (missing, invented) == (0, 0)
    assert stored_deliveries == len(deliveries)
    assert during > 0, "the backfill must still run during the load"
