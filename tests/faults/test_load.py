"""Scenario 6: load while a backfill runs. `wrk` against a real web server process
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
from rest_framework.authtoken.models import Token

from integrations.models import DeliveryStatus, InstallationMember, MemberRole, WebhookDelivery
from simulator.webhooks import activity_payload
from sync.models import ACTIVE_JOB_STATUSES, IngestionJob, JobStatus
from sync.webhooks.signature import signature_for
from tests.factories import make_user
from tests.faults.figures import figure
from tests.faults.support import (
    ISSUED,
    WebServer,
    Workers,
    app_env,
    faults_dir,
    log_dir,
    wait_until,
)
from tests.worker.support import World, start_job, stored_events

SCENARIO = "6. Load (wrk, 30 s each) during a backfill"
SECRET = "faults-load-webhook-secret"
SECONDS = 30
EVENTS = ("push", "pull_request", "pull_request_review", "issues", "issue_comment")

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,'
    .. '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def _lua_string(text: str) -> str:
    level = "=" * 4
    assert f"]{level}]" not in text
    return f"[{level}[{text}]{level}]"


def _webhook_script(deliveries: list[tuple[str, str, bytes]]) -> str:
    entries = ",\n".join(
        f"{{event={_lua_string(event)}, delivery={_lua_string(delivery_id)}, "
        f"sig={_lua_string(signature_for(body, SECRET))}, body={_lua_string(body.decode())}}}"
        for event, delivery_id, body in deliveries
    )
    return f"""
local deliveries = {{
{entries}
}}
local i = 0
request = function()
  i = i + 1
  local d = deliveries[(i % #deliveries) + 1]
  return wrk.format("POST", "/webhooks/github/", {{
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = d.event,
    ["X-GitHub-Delivery"] = d.delivery,
    ["X-Hub-Signature-256"] = d.sig,
  }}, d.body)
end
{WRK_DONE}"""


def _status_script(token: str) -> str:
    return f"""
wrk.method = "GET"
wrk.headers["Authorization"] = "Token {token}"
{WRK_DONE}"""


def _wrk(url: str, script: str, name: str) -> dict[str, Any]:
    path = faults_dir() / f"{name}.lua"
    path.write_text(script)
    result = subprocess.run(
        ["wrk", "-t2", "-c8", f"-d{SECONDS}s", "--timeout", "10s", "-s", str(path), url],
        capture_output=True, text=True, timeout=SECONDS + 60, check=False,
    )  # fmt: skip
    (log_dir() / f"{name}.wrk.txt").write_text(result.stdout + result.stderr)
    found = re.search(r"WRKJSON (\{.*\})", result.stdout)
    assert found, result.stdout + result.stderr
    stats: dict[str, Any] = json.loads(found.group(1))
    stats["errors"] = sum(stats[k] for k in ("connect", "read", "write", "status", "timeout"))
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    return stats


@pytest.mark.timeout(600)
def test_wrk_on_the_webhook_and_the_status_api_during_a_backfill(
    sim_world: Callable[..., World], settings: Any, workers: Workers
) -> None:
    ISSUED.webhook_secrets.add(SECRET)
    settings.SYNC_LEASE_SECONDS = 10
    # ~310 GitHub requests at 250 ms each: the backfill outlasts both 30 s runs.
    world = sim_world(size="3x4x30", seed=21, latency_ms=250)
    user = make_user("load")
    for installation in world.installations.values():
        InstallationMember.objects.get_or_create(
            user=user, installation=installation, defaults={"role": MemberRole.VIEWER}
        )
    token = Token.objects.create(user=user).key
    ISSUED.tokens.add(token)  # an API token is a secret too
    deliveries = [
        (event, f"load-{github_id}-{event}",
         json.dumps(activity_payload(world.sim.dataset, event, installation_id=github_id)).encode())
        for github_id in world.installations for event in EVENTS
    ]  # fmt: skip
    env = app_env(world.sim, SYNC_LEASE_SECONDS="10", SYNC_SLICE_SECONDS="2",
                  GITHUB_WEBHOOK_SECRET=SECRET, DJANGO_DEBUG="false",
                  DJANGO_SECRET_KEY="faults-load-" + "k" * 40,
                  DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost")  # fmt: skip
    workers.start(env, label="load")
    server = WebServer(env)
    try:
        server.wait_ready()
        job_ids = {gid: start_job(world.installation(gid)) for gid in world.installations}
        wait_until(lambda: IngestionJob.objects.filter(events_ingested__gt=0).exists(), timeout=60)
        webhook = _wrk(f"{server.url}/webhooks/github/", _webhook_script(deliveries), "wrk-webhook")
        during = IngestionJob.objects.filter(status__in=ACTIVE_JOB_STATUSES).count()
        status = _wrk(f"{server.url}/api/sync/status/", _status_script(token), "wrk-status")
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
        figure(SCENARIO, f"{name}: p99 latency (ms)", round(stats["p99_us"] / 1000, 1))
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
