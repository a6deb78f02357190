"""/api/health (SPEC §10): liveness touches nothing; ?deep=1 checks the database, the
broker, worker and beat heartbeats and the GitHub credentials; 503 only when a
critical check fails; never cached."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from simulator.testing import shared_app_keypair
from sync.models import Heartbeat
from tests.dbenv import child_env

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def assert_not_cached(response: Any) -> None:
    cache_control = response["Cache-Control"]
    assert "no-cache" in cache_control and "no-store" in cache_control


@pytest.mark.parametrize("method", ["get", "head", "post"])
def test_liveness_is_200_ok_touches_nothing_and_is_not_cached(
    client: Client, method: str, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(0):
        response = getattr(client, method)("/api/health")
    assert response.status_code == 200
    if method != "head":
        assert response.json() == {"status": "ok"}
    assert_not_cached(response)


def test_post_needs_no_csrf_token() -> None:
    assert Client(enforce_csrf_checks=True).post("/api/health?deep=1").status_code == 200


def test_deep_check_reports_every_check_and_is_200_on_a_fresh_setup(client: Client) -> None:
    response = client.get("/api/health?deep=1")
    assert response.status_code == 200
    assert_not_cached(response)
    body = response.json()
    assert set(body["checks"]) == {"database", "broker", "worker", "beat", "github"}
    assert body["checks"]["database"] == {"status": "ok"}
    for check in body["checks"].values():
        assert check["status"] in ("ok", "error", "skipped")
        if check["status"] != "ok":
            assert check["message"]
    if django_settings.CELERY_BROKER_IS_EMBEDDED:
        # A fresh development setup: nothing has run yet and nothing is wrong.
        assert body["status"] == "ok"
        assert body["checks"]["broker"]["status"] == "skipped"
        assert body["checks"]["worker"]["status"] == "skipped"
        assert body["checks"]["beat"]["status"] == "skipped"
    else:
        assert body["checks"]["broker"] == {"status": "ok"}
        # Production runs a worker and beat: never having heard of them is an error,
        # but not a reason to take the web process out of rotation.
        assert body["checks"]["worker"]["status"] == "error"
        assert body["status"] == "degraded"


def test_head_deep_is_answered_without_a_body(client: Client) -> None:
    response = client.head("/api/health?deep=1")
    assert response.status_code == 200
    assert response.content == b""


def test_heartbeats_fresh_are_ok_and_stale_are_non_critical_errors(
    client: Client, settings: Any
) -> None:
    settings.SYNC_BEAT_INTERVAL_SECONDS = 300
    now = timezone.now()
    Heartbeat.objects.create(name="worker", seen_at=now - timedelta(seconds=30))
    Heartbeat.objects.create(name="beat", seen_at=now - timedelta(minutes=16))
    response = client.get("/api/health?deep=1")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["worker"]["status"] == "ok"
    assert checks["beat"]["status"] == "error"
    assert "beat last seen" in checks["beat"]["message"]
    assert response.json()["status"] == "degraded"


def test_never_seen_worker_is_an_error_with_a_real_broker(client: Client, settings: Any) -> None:
    settings.CELERY_BROKER_IS_EMBEDDED = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/5"
    checks = client.get("/api/health?deep=1").json()["checks"]
    assert checks["worker"]["status"] == "error"
    assert checks["beat"]["status"] == "error"


def test_unreachable_broker_is_critical_503(client: Client, settings: Any) -> None:
    settings.CELERY_BROKER_IS_EMBEDDED = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/api/health?deep=1")
    assert response.status_code == 503
    assert_not_cached(response)
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["broker"]["status"] == "error"
    assert body["checks"]["database"]["status"] == "ok"


def test_github_credentials_configured_are_ok(client: Client, settings: Any) -> None:
    settings.GITHUB_APP_ID = "12345"
    settings.GITHUB_APP_PRIVATE_KEY = shared_app_keypair()[0]
    assert client.get("/api/health?deep=1").json()["checks"]["github"] == {"status": "ok"}


def test_github_credentials_half_configured_or_broken_are_errors_that_leak_nothing(
    client: Client, settings: Any
) -> None:
    settings.GITHUB_APP_ID = "12345"
    settings.GITHUB_APP_PRIVATE_KEY = None
    settings.GITHUB_APP_PRIVATE_KEY_PATH = None
    check = client.get("/api/health?deep=1").json()["checks"]["github"]
    assert check["status"] == "error"
    bad_key = "-----BEGIN PRIVATE KEY-----\nnot-a-key-AAAASECRET\n-----END PRIVATE KEY-----\n"
    settings.GITHUB_APP_PRIVATE_KEY = bad_key
    response = client.get("/api/health?deep=1")
    assert response.status_code == 200
    assert response.json()["checks"]["github"]["status"] == "error"
    assert b"AAAASECRET" not in response.content


def test_github_credentials_not_configured_are_skipped(client: Client, settings: Any) -> None:
    settings.GITHUB_APP_ID = None
    settings.GITHUB_APP_PRIVATE_KEY = None
    settings.GITHUB_APP_PRIVATE_KEY_PATH = None
    assert client.get("/api/health?deep=1").json()["checks"]["github"]["status"] == "skipped"


CHILD = """
import json, django
django.setup()
from django.test import Client
client = Client()
live = client.get("/api/health")
deep = client.get("/api/health?deep=1")
print(json.dumps({"live": live.status_code, "deep": deep.status_code, "body": deep.json()}))
"""


def test_a_stopped_database_makes_the_deep_check_503_while_liveness_stays_200(
    tmp_path: Path,
) -> None:
    env = child_env(
        DATABASE_URL="postgres://postgres@127.0.0.1:1/ghsync_gone",
        GHSYNC_VAR_DIR=str(tmp_path),
        CELERY_BROKER_URL="filesystem://",
    )
    result = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["live"] == 200
    assert outcome["deep"] == 503
    assert outcome["body"]["status"] == "error"
    assert outcome["body"]["checks"]["database"]["status"] == "error"
    assert outcome["body"]["checks"]["worker"]["status"] == "error"
