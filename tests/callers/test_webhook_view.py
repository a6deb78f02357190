"""POST /webhooks/github/: every outcome of SPEC §6, and never a 500 for bad input."""

from __future__ import annotations

import json
import time
from collections.abc import MutableMapping, Sequence
from typing import Any

import pytest
from django.test import RequestFactory
from structlog.testing import capture_logs

from integrations.models import DeliveryStatus, WebhookDelivery
from sync.webhooks.signature import signature_for
from sync.webhooks.views import github_webhook
from tests.callers.conftest import PREVIOUS_SECRET, SECRET, WEBHOOK_URL

pytestmark = pytest.mark.django_db(transaction=True)

PING = {"zen": "Keep it logically awesome.", "hook_id": 1, "installation": {"id": 1001}}


def _received(logs: Sequence[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == "webhook.received"]


def test_valid_delivery_is_stored_and_acknowledged_with_202(post_webhook: Any) -> None:
    payload = {"action": "opened", "installation": {"id": 1001}, "pull_request": {}}
    with capture_logs() as logs:
        response = post_webhook("pull_request", payload, delivery_id="d-valid")
    assert response.status_code == 202
    assert response.json() == {"delivery_id": "d-valid", "status": "queued"}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.delivery_id, delivery.event, delivery.action) == (
        "d-valid",
        "pull_request",
        "opened",
    )
    assert delivery.installation_github_id == 1001
    assert delivery.payload == payload
    assert delivery.status == DeliveryStatus.RECEIVED
    [entry] = _received(logs)
    assert entry["delivery_id"] == "d-valid"
    assert entry["github_event"] == "pull_request"
    assert entry["action"] == "opened"
    assert entry["installation_id"] == 1001
    assert entry["outcome"] == "queued"


def test_acknowledgement_takes_milliseconds(post_webhook: Any) -> None:
    post_webhook("ping", PING)  # warm up imports and the connection
    started = time.perf_counter()
    for _ in range(10):
        assert post_webhook("pull_request", {"action": "opened"}).status_code == 202
    assert (time.perf_counter() - started) / 10 < 0.25


def test_delivery_signed_with_the_previous_secret_is_accepted(post_webhook: Any) -> None:
    response = post_webhook("ping", PING, secret=PREVIOUS_SECRET)
    assert response.status_code == 202
    assert WebhookDelivery.objects.count() == 1


def test_unsigned_delivery_is_rejected_with_400(post_webhook: Any) -> None:
    response = post_webhook("ping", PING, secret=None)
    assert response.status_code == 400
    assert "X-Hub-Signature-256" in response.json()["error"]
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize(
    "signature",
    [
        signature_for(b"another body", SECRET),
        signature_for(json.dumps(PING).encode(), "not-the-secret"),
        "sha1=" + "0" * 40,
        "sha256=zz",
        "sha256=\u00e9\u00e9",
    ],
)
def test_wrong_signature_is_rejected_with_401(post_webhook: Any, signature: str) -> None:
    with capture_logs() as logs:
        response = post_webhook("ping", PING, headers={"X-Hub-Signature-256": signature})
    assert response.status_code == 401
    assert not WebhookDelivery.objects.exists()
    assert _received(logs)[0]["outcome"] == "bad_signature"


@pytest.mark.parametrize("missing", ["X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256"])
def test_missing_header_is_rejected_with_400(post_webhook: Any, missing: str) -> None:
    response = post_webhook("ping", PING, headers={missing: None})
    assert response.status_code == 400
    assert missing in response.json()["error"]
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"\xff\xfe\xfa not utf-8",
        b"[1, 2, 3]",
        b"42",
        b'"a string"',
        b"null",
        b'{"n": NaN}',
        b'{"s": "\\ud800"}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=[
        "broken",
        "empty",
        "not-utf8",
        "list",
        "number",
        "string",
        "null",
        "nan",
        "lone-surrogate",
        "deep",
    ],
)
def test_signed_body_that_is_not_a_json_object_is_rejected_with_400(
    post_webhook: Any, body: bytes
) -> None:
    response = post_webhook("ping", body=body)
    assert response.status_code == 400
    assert not WebhookDelivery.objects.exists()


def test_oversized_body_is_rejected_with_413_before_reading_it(
    post_webhook: Any, settings: Any
) -> None:
    settings.GITHUB_WEBHOOK_MAX_BYTES = 1000
    response = post_webhook("ping", {"zen": "x" * 2000})
    assert response.status_code == 413
    assert not WebhookDelivery.objects.exists()
    assert post_webhook("ping", {"zen": "x" * 900}).status_code == 202


def test_body_longer_than_the_cap_without_content_length_is_rejected_with_413(
    settings: Any, webhook_secret: str
) -> None:
    settings.GITHUB_WEBHOOK_MAX_BYTES = 1000
    body = json.dumps({"zen": "x" * 2000}).encode()
    request = RequestFactory().generic(
        "POST",
        WEBHOOK_URL,
        data=body,
        content_type="application/json",
        headers={
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": "d-chunked",
            "X-Hub-Signature-256": signature_for(body, SECRET),
        },
    )
    request.META["CONTENT_LENGTH"] = ""  # the cap must hold on the bytes actually read
    assert github_webhook(request).status_code == 413
    assert not WebhookDelivery.objects.exists()


def test_replayed_delivery_id_is_acknowledged_and_changes_nothing(post_webhook: Any) -> None:
    first = post_webhook("ping", PING, delivery_id="d-replay")
    stored = WebhookDelivery.objects.get()
    snapshot = (stored.pk, stored.event, stored.payload, stored.status, stored.received_at)
    with capture_logs() as logs:
        again = post_webhook("issues", {"action": "opened", "x": 1}, delivery_id="d-replay")
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["status"] == "duplicate"
    assert _received(logs)[0]["outcome"] == "duplicate"
    [row] = WebhookDelivery.objects.all()
    assert (row.pk, row.event, row.payload, row.status, row.received_at) == snapshot


def test_unknown_event_is_ignored_with_a_warning(post_webhook: Any) -> None:
    with capture_logs() as logs:
        response = post_webhook("brand_new_event", {"action": "happened"})
    assert response.status_code == 202
    assert response.json()["status"] == "ignored"
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.IGNORED
    assert "unknown event" in delivery.error
    assert delivery.processed_at is not None
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert any(e["event"] == "webhook.unknown_event" for e in warnings)


@pytest.mark.parametrize("event", ["ping", "star", "workflow_run"])
def test_ping_and_unused_events_are_ignored_without_a_task(post_webhook: Any, event: str) -> None:
    response = post_webhook(event, PING)
    assert response.status_code == 202
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.IGNORED
    assert delivery.error == f"{event} events are not used"


def test_no_secret_configured_answers_503_and_logs_it(post_webhook: Any, settings: Any) -> None:
    settings.GITHUB_WEBHOOK_SECRET = None
    settings.GITHUB_WEBHOOK_SECRET_PREVIOUS = None
    with capture_logs() as logs:
        response = post_webhook("ping", PING)
    assert response.status_code == 503
    assert not WebhookDelivery.objects.exists()
    [entry] = _received(logs)
    assert entry["log_level"] == "error"
    assert entry["outcome"] == "not_configured"


def test_only_post_is_allowed(client: Any, webhook_secret: str) -> None:
    assert client.get(WEBHOOK_URL).status_code == 405
    assert client.put(WEBHOOK_URL, data=b"{}").status_code == 405


@pytest.mark.parametrize(
    "headers",
    [
        {"X-GitHub-Delivery": "d" * 10_000},
        {"X-GitHub-Event": "e" * 10_000},
        {"X-GitHub-Delivery": "id with spaces"},
        {"X-GitHub-Event": "caf\u00e9"},
        {"X-Hub-Signature-256": "sha256=" + "a" * 100_000},
    ],
    ids=["huge-delivery-id", "huge-event", "spaces", "non-ascii-event", "huge-signature"],
)
def test_malformed_headers_are_a_4xx_not_a_500(post_webhook: Any, headers: dict[str, str]) -> None:
    response = post_webhook("ping", PING, headers=headers)
    assert response.status_code in (400, 401)
    assert not WebhookDelivery.objects.exists()


def test_weird_field_types_are_stored_without_trusting_them(post_webhook: Any) -> None:
    payload = {"action": ["not", "a", "string"], "installation": {"id": "1001"}}
    assert post_webhook("pull_request", payload).status_code == 202
    delivery = WebhookDelivery.objects.get()
    assert (delivery.action, delivery.installation_github_id) == ("", None)
    too_big = {"action": "a" * 500, "installation": {"id": 2**70}}
    assert post_webhook("pull_request", too_big).status_code == 202
    latest = WebhookDelivery.objects.order_by("-pk").first()
    assert latest is not None
    assert (len(latest.action), latest.installation_github_id) == (64, None)


def test_nul_characters_are_dropped_so_postgres_can_store_the_payload(post_webhook: Any) -> None:
    response = post_webhook("issues", {"action": "opened", "title": "a\u0000b"})
    assert response.status_code == 202
    assert WebhookDelivery.objects.get().payload["title"] == "ab"


# Found by the fault suite's webhook fuzzing on PostgreSQL: JSON may be UTF-16 or UTF-32
# (json.loads detects it), but the view looked for the escapes PostgreSQL's jsonb
# refuses (\u0000, lone surrogates) in the raw bytes, where a UTF-16 body spells them
# differently: a correctly signed UTF-16 body with "\u0000" in it was stored as it was
# and the INSERT failed with a 500.
@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-8-sig"])
def test_a_signed_body_in_another_json_encoding_is_cleaned_like_utf8(
    post_webhook: Any, encoding: str
) -> None:
    body = json.dumps({"action": ["a\u0000b"], "zen": "\u0000"}).encode(encoding)
    response = post_webhook("ping", body=body)
    assert response.status_code == 202, response.content
    delivery = WebhookDelivery.objects.get(delivery_id=response.json()["delivery_id"])
    assert delivery.payload == {"action": ["ab"], "zen": ""}


def test_form_encoded_delivery_is_read_from_its_payload_field(post_webhook: Any) -> None:
    from urllib.parse import urlencode

    body = urlencode({"payload": json.dumps(PING)}).encode()
    response = post_webhook("ping", body=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 202
    assert WebhookDelivery.objects.get().payload == PING


def test_the_25_mib_cap_is_the_webhooks_alone_forms_keep_djangos_default(
    post_webhook: Any, client: Any, settings: Any
) -> None:
    """A 5 MiB signed delivery is accepted (GitHub's cap is 25 MiB) while a 5 MiB login
    form is refused: the webhook reads its raw stream with its own cap."""
    from django.conf import global_settings

    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == global_settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert settings.GITHUB_WEBHOOK_MAX_BYTES == 25 * 1024 * 1024
    big = "x" * (5 * 1024 * 1024)
    assert post_webhook("ping", {"zen": big, "installation": {"id": 1}}).status_code == 202
    form = client.post("/accounts/login/", {"username": "alice", "password": big})
    assert form.status_code == 400
