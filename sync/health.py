"""The deep health check (SPEC §10): database, broker, worker, beat, GitHub credentials.

Each check reports `ok`, `error` (with a message) or `skipped` (not configured, or
embedded in development). Only the critical checks decide the HTTP status: the
database always, the broker when a real one is configured. A worker or beat that has
not been heard from is an error worth showing, not a reason for a load balancer to
take the web process out of rotation.

Worker and beat are judged from `sync.models.Heartbeat` rows: stale (older than three
beat intervals) is an error. Never seen: `skipped` with the embedded broker (a
development setup may run the web process alone), `error` with a real broker
(production runs a worker and a beat)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt
import redis
from django.conf import settings
from django.db import DatabaseError, connections
from django.utils import timezone
from kombu import Connection
from kombu.exceptions import KombuError

from integrations.github.client import GitHubError, GitHubNotConfigured, app_from_settings
from sync.models import Heartbeat

OK = "ok"
ERROR = "error"
SKIPPED = "skipped"
DEGRADED = "degraded"  # the report's own: a non-critical check failed
CHECK_STATUSES = (OK, ERROR, SKIPPED)
REPORT_STATUSES = (OK, DEGRADED, ERROR)


@dataclass(frozen=True)
class CheckResult:
    status: str
    message: str | None = None
    critical: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status}
        if self.message:
            body["message"] = self.message
        body.update(self.details)
        return body


@dataclass(frozen=True)
class HealthReport:
    checks: dict[str, CheckResult]

    @property
    def healthy(self) -> bool:
        """False only when a critical check failed: the answer is then a 503."""
        return not any(c.critical and c.status == ERROR for c in self.checks.values())

    @property
    def status(self) -> str:
        if not self.healthy:
            return ERROR
        if any(c.status == ERROR for c in self.checks.values()):
            return DEGRADED
        return OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checks": {name: check.as_dict() for name, check in self.checks.items()},
        }


def health_report(*, now: datetime | None = None) -> HealthReport:
    now = now or timezone.now()
    database = check_database()
    checks = {
        "database": database,
        "broker": check_broker(),
        "worker": check_heartbeat("worker", now=now, database_ok=database.status == OK),
        "beat": check_heartbeat("beat", now=now, database_ok=database.status == OK),
        "github": check_github_credentials(),
    }
    return HealthReport(checks=checks)


def check_database(alias: str = "default") -> CheckResult:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return CheckResult(ERROR, f"database unreachable ({type(exc).__name__})", critical=True)
    return CheckResult(OK, critical=True)


def check_broker() -> CheckResult:
    url = str(settings.CELERY_BROKER_URL)
    if url.startswith("filesystem://") or url.startswith("memory://"):
        return CheckResult(SKIPPED, "embedded broker (development)")
    if url.startswith(("redis://", "rediss://", "unix://")):
        return _check_redis(url)
    return _check_kombu(url)


def _check_redis(url: str) -> CheckResult:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError) as exc:
        return CheckResult(ERROR, f"broker unreachable ({type(exc).__name__})", critical=True)
    return CheckResult(OK, critical=True)


def _check_kombu(url: str) -> CheckResult:
    try:
        with Connection(url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
    except (KombuError, OSError) as exc:
        return CheckResult(ERROR, f"broker unreachable ({type(exc).__name__})", critical=True)
    return CheckResult(OK, critical=True)


def heartbeat_max_age() -> timedelta:
    return timedelta(seconds=3 * int(settings.SYNC_BEAT_INTERVAL_SECONDS))


def check_heartbeat(name: str, *, now: datetime, database_ok: bool = True) -> CheckResult:
    if not database_ok:
        return CheckResult(ERROR, "unknown: the database is unreachable")
    try:
        seen_at = Heartbeat.objects.filter(name=name).values_list("seen_at", flat=True).first()
    except DatabaseError as exc:
        return CheckResult(ERROR, f"unknown: heartbeat unreadable ({type(exc).__name__})")
    if seen_at is None:
        if settings.CELERY_BROKER_IS_EMBEDDED:
            return CheckResult(SKIPPED, f"no {name} has run yet (development)")
        return CheckResult(ERROR, f"no {name} has ever reported")
    age = now - seen_at
    details = {"last_seen_at": seen_at.isoformat(), "age_seconds": max(0, int(age.total_seconds()))}
    if age > heartbeat_max_age():
        return CheckResult(
            ERROR, f"{name} last seen {int(age.total_seconds())} s ago", details=details
        )
    return CheckResult(OK, details=details)


def check_github_credentials() -> CheckResult:
    """Configured (an App id and a usable private key), partly configured (an error),
    or not configured at all (skipped). The key itself never leaves this function."""
    configured = any(
        getattr(settings, name, None)
        for name in ("GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY", "GITHUB_APP_PRIVATE_KEY_PATH")
    )
    if not configured:
        return CheckResult(SKIPPED, "GitHub App credentials are not configured")
    try:
        app_from_settings().jwt()
    except GitHubNotConfigured as exc:
        return CheckResult(ERROR, str(exc))
    except (GitHubError, jwt.PyJWTError, ValueError, TypeError) as exc:
        return CheckResult(ERROR, f"the GitHub App private key is unusable ({type(exc).__name__})")
    return CheckResult(OK)
