"""End to end: the simulator POSTs its signed `installation` webhook to the running
app over HTTP; a real Celery worker processes the delivery and the sync it asks for."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from integrations.models import (
    DeliveryStatus,
    GitHubProfile,
    Installation,
    InstallationMember,
    MemberRole,
    WebhookDelivery,
)
from simulator.testing import RunningSimulator
from sync.models import IngestionJob, JobStatus
from tests.callers.conftest import SECRET, WEBHOOK_URL
from tests.celery_worker import running_worker
from tests.factories import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


@pytest.fixture
def worker(github_settings: RunningSimulator) -> Iterator[None]:
    with running_worker():
        yield


def _eventually(check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_simulator_installation_webhook_ends_with_an_owned_synced_installation(
    live_server: Any, webhook_secret: str, github_settings: RunningSimulator, worker: None
) -> None:
    user = make_user("installer")
    GitHubProfile.objects.create(user=user, github_id=5002, github_login="user-2")
    # The simulator's control API builds, signs and POSTs the delivery itself.
    request = urllib.request.Request(
        f"{github_settings.url}/_sim/webhooks",
        data=json.dumps(
            {
                "url": f"{live_server.url}{WEBHOOK_URL}",
                "secret": SECRET,
                "event": "installation",
                "installation_id": 1001,
                "sender_id": 5002,
                "sender_login": "user-2",
            }
        ).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        answer = json.loads(response.read())
    assert answer["status"] == 202
    delivery = _eventually(
        lambda: WebhookDelivery.objects.filter(
            delivery_id=answer["delivery_id"], status=DeliveryStatus.PROCESSED
        ).first()
    )
    assert delivery is not None, WebhookDelivery.objects.values("status", "error")
    installation = Installation.objects.get(github_id=1001)
    member = InstallationMember.objects.get(installation=installation)
    assert (member.user, member.role) == (user, MemberRole.OWNER)
    job = _eventually(
        lambda: IngestionJob.objects.filter(
            installation=installation, status__in=[JobStatus.COMPLETED, JobStatus.FAILED]
        ).first(),
        timeout=60,
    )
    assert job is not None, IngestionJob.objects.values("status", "error")
    assert job.trigger == "webhook"
    assert job.status == JobStatus.COMPLETED, job.error
    installation.refresh_from_db()
    assert installation.last_synced_at is not None
    assert installation.events.exists()


def test_webhooks_are_processed_on_their_own_queue_whatever_the_sync_backlog(
    live_server: Any, webhook_secret: str, github_settings: RunningSimulator
) -> None:
    """A worker consuming only `webhooks` processes the delivery; the sync it asked for
    waits on the `sync` queue (a backlog there never delays webhooks) until a worker
    for that queue takes it."""
    from config.celery import app as celery_app
    from sync.queue import SYNC_JOB_TASK, WEBHOOK_DELIVERY_TASK, enqueue_job

    user = make_user("installer")
    GitHubProfile.objects.create(user=user, github_id=5002, github_login="user-2")
    router = celery_app.amqp.router
    assert router.route({}, WEBHOOK_DELIVERY_TASK)["queue"].name == "webhooks"
    assert router.route({}, SYNC_JOB_TASK)["queue"].name == "sync"
    celery_app.control.purge()
    for missing_job in range(10_000_000, 10_000_200):  # a backlog of sync messages
        enqueue_job(job_id=missing_job)
    with running_worker(purge=False, queues=("webhooks",)):
        request = urllib.request.Request(
            f"{github_settings.url}/_sim/webhooks",
            data=json.dumps(
                {
                    "url": f"{live_server.url}{WEBHOOK_URL}",
                    "secret": SECRET,
                    "event": "installation",
                    "installation_id": 1001,
                    "sender_id": 5002,
                    "sender_login": "user-2",
                }
            ).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=15) as response:
            answer = json.loads(response.read())
        delivery = _eventually(
            lambda: WebhookDelivery.objects.filter(
                delivery_id=answer["delivery_id"], status=DeliveryStatus.PROCESSED
            ).first()
        )
        assert delivery is not None, WebhookDelivery.objects.values("status", "error")
        time.sleep(1)
        job = IngestionJob.objects.get(installation__github_id=1001)
        assert job.status == JobStatus.PENDING  # its message waits on the sync queue
    with running_worker(purge=False, queues=("sync",)):
        job = _eventually(
            lambda: IngestionJob.objects.filter(pk=job.pk, status=JobStatus.COMPLETED).first(),
            timeout=90,
        )
    assert job is not None, IngestionJob.objects.values("status", "error")
