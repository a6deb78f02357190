"""Regression tests for what the fault suite found, one per fix, in `make test`."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from types import SimpleNamespace
from typing import Any, cast

import pytest
from django.test import Client

from integrations.models import DeliveryStatus, WebhookDelivery
from simulator.dataset import generate
from simulator.testing import RunningSimulator
from simulator.webhooks import activity_payload
from sync.tasks import process_webhook_delivery
from sync.webhooks.processing import DeliveryFailed, delivery_process
from sync.webhooks.signature import signature_for
from tests.worker.support import mirror_dataset

SECRET = "regressions-secret"


@pytest.fixture
def github_payloads(settings: Any) -> dict[str, dict[str, Any]]:
    """Rows for a simulator dataset, and a signed-webhook secret; GitHub-shaped
    payloads of each activity event about them."""
    settings.GITHUB_WEBHOOK_SECRET = SECRET
    dataset = generate(17, "1x2x4", empty_repos=False, deleted_repo=False)
    mirror_dataset(cast(RunningSimulator, SimpleNamespace(dataset=dataset)))
    events = ("push", "pull_request", "pull_request_review", "issues", "issue_comment")
    return {event: activity_payload(dataset, event, installation_id=1001) for event in events}


def _deliver(event: str, payload: dict[str, Any]) -> WebhookDelivery:
    body = json.dumps(payload).encode()
    response = Client().post(
        "/webhooks/github/",
        data=body,
        content_type="application/json",
        headers={
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": signature_for(body, SECRET),
        },
    )
    assert response.status_code == 202, response.content
    return WebhookDelivery.objects.get(delivery_id=response.json()["delivery_id"])


def _with(payload: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(payload)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


# Found by test_webhook_fuzz: a value of the wrong JSON type where ghsync expects an
# object or a string (AttributeError), or a date whose offset takes it past year 9999
# in UTC (OverflowError), was a *retryable* failure: the task retried a delivery that
# can only fail again, six times, logging an error each time.
WRONG_TYPES = [
    ("pull_request", ("pull_request", "user"), ["not", "an", "object"]),
    ("issue_comment", ("comment",), 2147483648),
    ("issues", ("issue", "title"), 12),
    ("push", ("commits", 0, "author"), "someone"),
    ("pull_request", ("pull_request", "created_at"), "9999-12-31T23:59:59-05:00"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("event", "path", "value"), WRONG_TYPES)
def test_a_payload_with_wrongly_typed_fields_fails_once_as_a_permanent_payload_error(
    github_payloads: dict[str, dict[str, Any]], event: str, path: tuple[Any, ...], value: Any
) -> None:
    delivery = _deliver(event, _with(github_payloads[event], path, value))

    with pytest.raises(DeliveryFailed) as failed:
        delivery_process(delivery_pk=delivery.pk)

    assert not failed.value.retryable, str(failed.value)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert "malformed" in delivery.error
    process_webhook_delivery(delivery.pk)  # the task: no retry is scheduled (no Retry raised)


# Found by test_webhook_fuzz on PostgreSQL: a number or an id that does not fit its
# column (a pull request number beyond 2**31, a comment id longer than 64 characters,
# a user id beyond 2**63) raised DataError (OverflowError on SQLite), also treated as
# retryable although the same payload can never be stored. EventData now refuses them.
TOO_BIG = [
    ("pull_request", ("pull_request", "number"), 2**40),
    ("issue_comment", ("comment", "id"), "9" * 100),
    ("issue_comment", ("comment", "user", "id"), 2**64),
    ("push", ("commits", 0, "id"), "a" * 100),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("event", "path", "value"), TOO_BIG)
def test_a_value_that_does_not_fit_its_column_fails_once_as_a_permanent_payload_error(
    github_payloads: dict[str, dict[str, Any]], event: str, path: tuple[Any, ...], value: Any
) -> None:
    delivery = _deliver(event, _with(github_payloads[event], path, value))

    with pytest.raises(DeliveryFailed) as failed:
        delivery_process(delivery_pk=delivery.pk)

    assert not failed.value.retryable, str(failed.value)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert "out of range" in delivery.error or "longer than" in delivery.error


# Found by test_query_fuzz: DRF's cursor pagination checks a cursor's offset and
# direction but uses its position as it is, in the events' occurred_at filter; a
# crafted cursor (base64 of "p=2024", or of a NUL) made Django raise ValidationError
# (or psycopg refuse the NUL) and the API answered 500.
@pytest.mark.django_db
@pytest.mark.parametrize("position", ["2024", "\x00", "2024-13-45 99:00:00+00:00", ""])
def test_a_crafted_events_cursor_is_a_404_not_a_500(position: str) -> None:
    from urllib.parse import urlencode

    from tests.factories import make_installation, make_user

    user = make_user()
    make_installation(owner=user)
    client = Client(raise_request_exception=False)
    client.force_login(user)
    cursor = base64.b64encode(urlencode({"p": position}).encode()).decode()

    response = client.get("/api/events/", {"cursor": cursor})

    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "Invalid cursor"}


@pytest.mark.django_db
def test_the_cursor_the_events_api_hands_out_still_pages(settings: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from integrations.models import Event
    from tests.factories import make_installation, make_user

    user = make_user()
    installation = make_installation(owner=user)
    repository = installation.repositories.get(full_name__endswith="repo-0")
    now = timezone.now()
    Event.objects.bulk_create(
        Event(installation=installation, repository=repository, kind="commit",
              github_id=f"{n:040x}", occurred_at=now - timedelta(minutes=n))
        for n in range(5)
    )  # fmt: skip
    client = Client()
    client.force_login(user)

    first = client.get("/api/events/", {"page_size": 2}).json()
    second = client.get(first["next"]).json()

    assert [e["github_id"] for e in first["results"] + second["results"]] == [
        f"{n:040x}" for n in range(4)
    ]


# Found by test_webhook_fuzz on PostgreSQL: JSON may be UTF-16 or UTF-32 (json.loads
# detects it), but the view looked for the escapes PostgreSQL's jsonb refuses (\u0000,
# lone surrogates) in the raw bytes, where a UTF-16 body spells them differently: a
# correctly signed UTF-16 body with "\u0000" in it was stored as it was and the
# INSERT failed with a 500.
@pytest.mark.django_db
@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-8-sig"])
def test_a_signed_body_in_another_json_encoding_is_cleaned_like_utf8(
    settings: Any, encoding: str
) -> None:
    settings.GITHUB_WEBHOOK_SECRET = SECRET
    body = json.dumps({"action": ["a\u0000b"], "zen": "\u0000"}).encode(encoding)

    response = Client(raise_request_exception=False).post(
        "/webhooks/github/",
        data=body,
        content_type="application/json",
        headers={
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": signature_for(body, SECRET),
        },
    )

    assert response.status_code == 202, response.content
    delivery = WebhookDelivery.objects.get(delivery_id=response.json()["delivery_id"])
    assert delivery.payload == {"action": ["ab"], "zen": ""}
