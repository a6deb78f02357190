"""Fixtures for the callers' tests: a configured webhook secret, a helper that POSTs
a signed delivery through the Django test client, and the App settings pointed at a
running simulator."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from integrations.models import WebhookDelivery
from simulator.testing import RunningSimulator, running_simulator
from sync.tasks import process_webhook_delivery
from sync.webhooks.signature import signature_for

SECRET = "callers-test-secret"
PREVIOUS_SECRET = "callers-previous-secret"
WEBHOOK_URL = "/webhooks/github/"


@pytest.fixture
def webhook_secret(settings: Any) -> str:
    settings.GITHUB_WEBHOOK_SECRET = SECRET
    settings.GITHUB_WEBHOOK_SECRET_PREVIOUS = PREVIOUS_SECRET
    return SECRET


PostWebhook = Callable[..., Any]


@pytest.fixture
def post_webhook(client: Client, webhook_secret: str) -> PostWebhook:
    """post_webhook(event, payload, *, delivery_id=None, secret=SECRET, body=None,
    headers=None) -> response. `body` (bytes) overrides the JSON of `payload`; a header
    given as None is left out."""

    def post(
        event: str | None,
        payload: Any = None,
        *,
        delivery_id: str | None = None,
        secret: str | None = SECRET,
        body: bytes | None = None,
        headers: dict[str, str | None] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        raw = body if body is not None else json.dumps(payload).encode()
        sent: dict[str, str | None] = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
            "X-Hub-Signature-256": signature_for(raw, secret) if secret else None,
        }
        sent.update(headers or {})
        return client.post(
            WEBHOOK_URL,
            data=raw,
            content_type=content_type,
            headers={key: value for key, value in sent.items() if value is not None},
        )

    return post


Deliver = Callable[..., WebhookDelivery]


@pytest.fixture
def deliver(post_webhook: PostWebhook) -> Deliver:
    """deliver(event, payload, *, delivery_id=None) -> the WebhookDelivery row: POST a
    signed delivery through the view, then run the processing task on it."""

    def run(event: str, payload: Any, *, delivery_id: str | None = None) -> WebhookDelivery:
        response = post_webhook(event, payload, delivery_id=delivery_id)
        assert response.status_code == 202, response.content
        delivery = WebhookDelivery.objects.get(delivery_id=response.json()["delivery_id"])
        process_webhook_delivery(delivery.pk)
        delivery.refresh_from_db()
        return delivery

    return run


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(seed=3, size="2x3x5") as running:
        yield running


@pytest.fixture
def github_settings(settings: Any, sim: RunningSimulator) -> RunningSimulator:
    settings.GITHUB_API_URL = sim.url
    settings.GITHUB_APP_ID = str(sim.app_id)
    settings.GITHUB_APP_PRIVATE_KEY = sim.private_key_pem
    settings.GITHUB_APP_PRIVATE_KEY_PATH = None
    return sim
