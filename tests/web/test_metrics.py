"""`GET /metrics` (Prometheus): jobs by state, webhook outcomes, queue age, GitHub
budget left and time since the last sync per installation, read from the rows at
scrape time; answered only with the bearer token, or on loopback without one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from integrations.models import Installation, WebhookDelivery
from sync.models import IngestionJob, JobStatus
from tests.factories import make_installation, make_job

pytestmark = pytest.mark.django_db


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_report_jobs_webhooks_budgets_and_sync_age(client: Client) -> None:
    now = timezone.now()
    acme = make_installation(
        github_id=4242, account_login="acme", rate_limit_remaining=4321,
        rate_limit_limit=5000, graphql_remaining=4980, graphql_limit=5000,
        last_synced_at=now - timedelta(minutes=10),
    )  # fmt: skip
    beta = make_installation(github_id=4343, account_login="beta")
    make_job(acme, JobStatus.COMPLETED, finished_at=now)
    pending = make_job(beta, JobStatus.PENDING)
    IngestionJob.objects.filter(pk=pending.pk).update(created_at=now - timedelta(seconds=90))
    for status, n in (("processed", 3), ("failed", 1), ("received", 2)):
        for i in range(n):
            WebhookDelivery.objects.create(delivery_id=f"{status}-{i}", event="push", status=status)
    WebhookDelivery.objects.filter(status="received").update(received_at=now - timedelta(hours=1))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    got = samples(response.content.decode())
    assert got[("ghsync_jobs", (("state", "pending"),))] == 1
    assert got[("ghsync_jobs", (("state", "completed"),))] == 1
    assert got[("ghsync_jobs", (("state", "failed"),))] == 0
    assert 85 <= got[("ghsync_jobs_pending_oldest_age_seconds", ())] < 200
    assert got[("ghsync_webhook_deliveries", (("outcome", "processed"),))] == 3
    assert got[("ghsync_webhook_deliveries", (("outcome", "failed"),))] == 1
    assert 3590 <= got[("ghsync_webhook_backlog_oldest_age_seconds", ())] < 3700
    acme_rest = (("account", "acme"), ("installation", "4242"), ("resource", "rest"))
    assert got[("ghsync_github_budget_remaining", acme_rest)] == 4321
    assert got[("ghsync_github_budget_limit", acme_rest)] == 5000
    # GitHub's GraphQL points are a bucket of their own, beside REST's requests.
    acme_graphql = (("account", "acme"), ("installation", "4242"), ("resource", "graphql"))
    assert got[("ghsync_github_budget_remaining", acme_graphql)] == 4980
    assert got[("ghsync_github_budget_limit", acme_graphql)] == 5000
    beta_graphql = (("account", "beta"), ("installation", "4343"), ("resource", "graphql"))
    assert ("ghsync_github_budget_remaining", beta_graphql) not in got  # never reported
    acme_key = (("account", "acme"), ("installation", "4242"))
    assert 590 <= got[("ghsync_seconds_since_last_sync", acme_key)] < 700
    assert ("ghsync_seconds_since_last_sync", (("account", "beta"), ("installation", "4343"))) \
        not in got  # never synced: absent, not 0  # fmt: skip
    assert got[("ghsync_broker_up", ())] == 1
    assert Installation.objects.count() == 2


def test_metrics_without_a_token_answer_loopback_only_and_never_through_a_proxy(
    client: Client,
) -> None:
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 403
    assert client.post("/metrics").status_code == 405


def test_metrics_with_a_token_need_the_bearer_token(client: Client, settings: Any) -> None:
    settings.METRICS_TOKEN = "metrics-token-for-tests"
    assert client.get("/metrics").status_code == 403  # loopback is not enough any more
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    right = client.get(
        "/metrics",
        REMOTE_ADDR="10.1.2.3",
        headers={"Authorization": "Bearer metrics-token-for-tests", "X-Forwarded-For": "x"},
    )
    assert right.status_code == 200
    assert b"ghsync_jobs" in right.content
    assert "no-cache" in right["Cache-Control"]
