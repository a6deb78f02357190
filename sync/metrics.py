"""`GET /metrics`: Prometheus metrics (SPEC §1, §9), read from the database and the
broker at scrape time, so every web process answers the same whatever process did the
work (no per-process counters to aggregate across gunicorn workers).

Access: with `METRICS_TOKEN` set, only `Authorization: Bearer <token>`; unset, only a
request made on this machine's loopback directly (not through a proxy, which adds
X-Forwarded-For)."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import redis
import structlog
from django.conf import settings
from django.db.models import Count, Min
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from integrations.models import DeliveryStatus, Installation, WebhookDelivery
from sync.models import IngestionJob, JobStatus

log = structlog.get_logger(__name__)

LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})


def _age(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


def broker_queue_names() -> list[str]:
    """The queues workers consume: the configured ones, else Celery's default."""
    queues = getattr(settings, "CELERY_TASK_QUEUES", None)
    if queues:
        return [getattr(queue, "name", str(queue)) for queue in queues]
    return [str(getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery"))]


def broker_queue_lengths() -> dict[str, int]:
    """Messages waiting per queue: LLEN on Redis, files for the embedded broker."""
    url = str(settings.CELERY_BROKER_URL)
    if settings.CELERY_BROKER_IS_EMBEDDED:
        folder = Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]))
        return {"embedded": sum(1 for _ in folder.glob("*.msg"))}
    if not url.startswith(("redis://", "rediss://")):
        return {}
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return {name: int(client.llen(name)) for name in broker_queue_names()}  # type: ignore[arg-type]
    finally:
        client.close()


class GhsyncCollector(Collector):
    """Every metric, computed from rows at scrape time in a handful of queries."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        yield from self._jobs(now)
        yield from self._webhooks(now)
        yield from self._installations(now)
        yield from self._broker()

    def _jobs(self, now: datetime) -> Iterator[Metric]:
        by_state = dict(
            IngestionJob.objects.values_list("status").annotate(n=Count("id")).order_by()
        )
        jobs = GaugeMetricFamily("ghsync_jobs", "Sync jobs by state", labels=["state"])
        for state in JobStatus.values:
            jobs.add_metric([state], by_state.get(state, 0))
        yield jobs
        oldest = IngestionJob.objects.filter(status=JobStatus.PENDING).aggregate(
            at=Min("created_at")
        )["at"]
        yield GaugeMetricFamily(
            "ghsync_jobs_pending_oldest_age_seconds",
            "Age of the oldest job waiting for a worker (0: none waiting)",
            value=_age(now, oldest),
        )

    def _webhooks(self, now: datetime) -> Iterator[Metric]:
        by_outcome = dict(
            WebhookDelivery.objects.values_list("status").annotate(n=Count("id")).order_by()
        )
        outcomes = GaugeMetricFamily(
            "ghsync_webhook_deliveries",
            "Stored webhook deliveries by outcome",
            labels=["outcome"],
        )
        for outcome in DeliveryStatus.values:
            outcomes.add_metric([outcome], by_outcome.get(outcome, 0))
        yield outcomes
        oldest = WebhookDelivery.objects.filter(status=DeliveryStatus.RECEIVED).aggregate(
            at=Min("received_at")
        )["at"]
        yield GaugeMetricFamily(
            "ghsync_webhook_backlog_oldest_age_seconds",
            "Age of the oldest delivery not processed yet (0: none waiting)",
            value=_age(now, oldest),
        )

    def _installations(self, now: datetime) -> Iterator[Metric]:
        labels = ["installation", "account"]
        remaining = GaugeMetricFamily(
            "ghsync_github_budget_remaining",
            "GitHub rate-limit budget left (resource: rest requests, graphql points),"
            " as GitHub last reported it",
            labels=[*labels, "resource"],
        )
        limit = GaugeMetricFamily(
            "ghsync_github_budget_limit",
            "GitHub rate-limit budget per window (resource: rest requests, graphql points),"
            " as GitHub last reported it",
            labels=[*labels, "resource"],
        )
        since = GaugeMetricFamily(
            "ghsync_seconds_since_last_sync",
            "Seconds since the last completed sync (absent: never synced)",
            labels=labels,
        )
        state = GaugeMetricFamily(
            "ghsync_installation_state",
            "1 for the installation's current sync state",
            labels=[*labels, "state"],
        )
        rows = Installation.objects.exclude(status="deleted").values_list(
            "github_id",
            "account_login",
            "rate_limit_remaining",
            "rate_limit_limit",
            "graphql_remaining",
            "graphql_limit",
            "last_synced_at",
            "sync_status",
        )
        for github_id, account, left, budget, points_left, points, synced_at, sync_status in rows:
            key = [str(github_id), account]
            for resource, value, family in (
                ("rest", left, remaining),
                ("rest", budget, limit),
                ("graphql", points_left, remaining),
                ("graphql", points, limit),
            ):
                if value is not None:
                    family.add_metric([*key, resource], value)
            if synced_at is not None:
                since.add_metric(key, _age(now, synced_at))
            state.add_metric([*key, str(sync_status)], 1)
        yield from (remaining, limit, since, state)

    def _broker(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "ghsync_broker_queue_length", "Messages waiting in the broker", labels=["queue"]
        )
        up = 1
        try:
            for queue, length in broker_queue_lengths().items():
                depth.add_metric([queue], length)
        except (redis.RedisError, OSError) as exc:
            log.warning("metrics.broker_unreachable", error=str(exc))
            up = 0
        yield depth
        yield GaugeMetricFamily(
            "ghsync_broker_up", "1 when the broker answered this scrape", value=up
        )


def _allowed(request: HttpRequest) -> bool:
    token = str(getattr(settings, "METRICS_TOKEN", "") or "")
    if token:
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {token}"
        return hmac.compare_digest(given.encode(), expected.encode())
    direct = "X-Forwarded-For" not in request.headers
    return direct and request.META.get("REMOTE_ADDR", "") in LOOPBACK


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GhsyncCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
