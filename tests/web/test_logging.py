"""Observability (SPEC §9): the real logging pipeline renders JSON lines with the
bound context (request id, installation id, job id), and secrets — installation
tokens, JWTs, the App's private key — never reach the output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from django.conf import settings as django_settings
from django.test import Client

from config.logging import configure_logging, scrub
from integrations.github.client import GitHubApp, GitHubClient
from integrations.models import Installation
from simulator.testing import running_simulator
from sync.policy import Trigger

MIDDLEWARE_PATH = "sync.middleware.RequestIdMiddleware"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The production pipeline (JSON, DEBUG) writing into a buffer; restored after."""
    stream = io.StringIO()
    configure_logging(log_format="json", level="DEBUG", stream=stream)
    try:
        yield stream
    finally:
        configure_logging(log_format=django_settings.LOG_FORMAT, level=django_settings.LOG_LEVEL)


def lines_of(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.fixture
def with_request_ids(settings: Any) -> None:
    # The project's own settings install the middleware first; the tests use them as is.
    assert settings.MIDDLEWARE[0] == MIDDLEWARE_PATH


@pytest.mark.django_db
def test_request_id_is_returned_and_bound_to_the_lines_of_the_request(
    json_log: io.StringIO, with_request_ids: None, member_client: Client, installation: Installation
) -> None:
    response = member_client.post("/api/installations/4242/sync")
    assert response.status_code == 202
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32
    lines = lines_of(json_log)
    sync_request = next(line for line in lines if line["event"] == "sync.request")
    assert sync_request["request_id"] == request_id
    assert sync_request["installation_id"] == 4242
    assert sync_request["job_id"] == response.json()["job_id"]
    assert (sync_request["trigger"], sync_request["action"], sync_request["reason"]) == (
        "manual",
        "start",
        "ready",
    )
    assert sync_request["level"] == "info" and "timestamp" in sync_request
    access = next(line for line in lines if line["event"] == "http.request")
    assert (access["request_id"], access["status"], access["method"]) == (request_id, 202, "POST")
    # Context does not leak into lines written after the request.
    structlog.get_logger("test").info("after.request")
    assert "request_id" not in lines_of(json_log)[-1]


def test_a_sane_incoming_request_id_is_kept_and_a_bogus_one_replaced(
    with_request_ids: None, client: Client
) -> None:
    kept = client.get("/api/health", HTTP_X_REQUEST_ID="edge-1234abcd")
    assert kept["X-Request-ID"] == "edge-1234abcd"
    replaced = client.get("/api/health", HTTP_X_REQUEST_ID="<script>alert(1)</script>")
    assert replaced["X-Request-ID"] != "<script>alert(1)</script>"
    assert len(replaced["X-Request-ID"]) == 32


def test_standard_library_lines_are_json_too(json_log: io.StringIO) -> None:
    with structlog.contextvars.bound_contextvars(job_id=7, installation_id=1001):
        logging.getLogger("django.request").warning("Not Found: %s", "/x")
    line = lines_of(json_log)[-1]
    assert line["event"] == "Not Found: /x"
    assert (line["job_id"], line["installation_id"], line["level"]) == (7, 1001, "warning")


@pytest.mark.django_db
def test_tokens_jwts_and_the_private_key_never_reach_the_logs(json_log: io.StringIO) -> None:
    with running_simulator(seed=3, size="1x2x3") as sim:
        app = GitHubApp(
            base_url=sim.url, app_id=sim.app_id, private_key=sim.private_key_pem, timeout=(1, 5)
        )
        installation_id = next(iter(sim.dataset.installations))
        client = GitHubClient(app=app, installation_id=installation_id)
        repositories = list(client.installation_repositories())
        token = app.installation_token(installation_id)
        jwt = app.jwt()
    assert repositories and token and jwt

    log = structlog.get_logger("test.secrets")
    log.info("github.token.created", token=token, installation_id=installation_id)
    log.info("github.request", headers={"Authorization": f"token {token}", "Accept": "json"})
    log.info("app.configured", private_key=sim.private_key_pem, jwt=jwt)
    log.warning("free.text", detail=f"sent Bearer {jwt} and token {token}")
    log.warning("bare.text", detail=f"cached {token}; expires soon")
    try:
        raise RuntimeError(f"could not sign with {sim.private_key_pem} for {token}")
    except RuntimeError:
        log.exception("sync.job.failed", job_id=1)
    logging.getLogger("requests.debug").warning("Authorization: token %s", token)

    output = json_log.getvalue()
    key_body = sim.private_key_pem.strip().splitlines()[1]
    assert output.count("github.request") >= 2  # the client's own debug lines are there
    assert token not in output
    assert jwt not in output
    assert jwt.split(".")[2] not in output
    assert key_body not in output
    assert "BEGIN PRIVATE KEY" not in output
    assert "[redacted]" in output
    failed = next(line for line in lines_of(json_log) if line["event"] == "sync.job.failed")
    assert "RuntimeError" in failed["exception"] and failed["job_id"] == 1


def test_scrub_keeps_ordinary_text() -> None:
    text = "GET /repos/acme/api/commits -> 404: Not Found (tokenizer v2)"
    assert scrub(text) == text
    assert scrub("ghs_" + "a" * 36) == "[redacted]"
    assert scrub("cached ghs_abc-DEF_ghi1234567890-xyz now") == "cached [redacted] now"


@pytest.mark.django_db
def test_a_real_sync_logs_json_lines_with_job_and_installation_ids_and_no_secrets(
    json_log: io.StringIO, settings: Any
) -> None:
    from integrations.github.client import app_from_settings
    from integrations.models import Repository
    from sync.models import IngestionJob
    from sync.services import request_sync
    from sync.worker import job_run
    from tests.factories import make_installation

    with running_simulator(seed=5, size="1x2x4") as sim:
        settings.GITHUB_API_URL = sim.url
        settings.GITHUB_APP_ID = str(sim.app_id)
        settings.GITHUB_APP_PRIVATE_KEY = sim.private_key_pem
        simulated = next(iter(sim.dataset.installations.values()))
        installation = make_installation(
            github_id=simulated.id, account_login=simulated.account_login, repos=0
        )
        for repo in simulated.repositories:
            Repository.objects.create(
                github_id=repo.id, installation=installation, full_name=repo.full_name
            )
        decision = request_sync(installation_id=installation.pk, trigger=Trigger.ADMIN)
        assert decision.job_id is not None
        for _ in range(10):
            job_run(job_id=decision.job_id)
            job = IngestionJob.objects.get(pk=decision.job_id)
            if not job.is_active:
                break
        assert job.status == "completed"
        token = app_from_settings().installation_token(simulated.id)

    lines = lines_of(json_log)
    job_lines = [line for line in lines if str(line["event"]).startswith(("sync.job.", "github."))]
    assert {"sync.job.started", "sync.job.completed"} <= {line["event"] for line in job_lines}
    for line in job_lines:
        assert line.get("job_id") == decision.job_id, line
        assert line.get("installation_id") == simulated.id, line
    output = json_log.getvalue()
    assert token not in output
    assert sim.private_key_pem.strip().splitlines()[1] not in output
