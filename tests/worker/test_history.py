"""History on demand (issue 17): a full sync from a `since` further back than
SYNC_BACKFILL_DAYS, and a per-installation backfill depth, against the simulator (its
data spans 60 days): the same worker, nothing missing, nothing invented."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from integrations.models import Installation
from sync.models import IngestionJob
from sync.policy import Trigger
from sync.services import request_sync
from sync.worker import Outcome
from tests.worker.support import World, drive, stored_events, sync_once

pytestmark = pytest.mark.django_db

StartWorld = Callable[..., World]


def test_since_reads_further_back_than_the_backfill_window(
    start_world: StartWorld, fast_settings: Any
) -> None:
    world = start_world(size="1x2x12")
    installation = world.installation()
    first = sync_once(installation)
    assert timezone.now() - first.since < timedelta(days=31)
    older = world.expected(installation.github_id, timezone.now() - timedelta(days=55))
    assert older - stored_events(installation), "the dataset has history before 30 days"

    since = timezone.now() - timedelta(days=55)
    decision = request_sync(installation_id=installation.pk, trigger=Trigger.ADMIN, since=since)
    assert decision.job_id is not None
    job = IngestionJob.objects.get(pk=decision.job_id)
    assert (job.since, job.full) == (since, True)
    assert drive(job.pk)[-1] == Outcome.COMPLETED
    stored = stored_events(installation)
    assert world.expected(installation.github_id, since) - stored == set()
    assert stored - world.true_events(installation.github_id) == set()


def test_an_installations_backfill_depth_sets_its_first_window(
    start_world: StartWorld, fast_settings: Any
) -> None:
    world = start_world(size="1x2x12")
    Installation.objects.filter(pk=world.installation().pk).update(backfill_days=50)
    installation = world.installation()
    job = sync_once(installation)
    assert timedelta(days=49) < timezone.now() - job.since < timedelta(days=51)
    stored = stored_events(installation)
    assert world.expected(installation.github_id, job.since) - stored == set()
    assert stored - world.true_events(installation.github_id) == set()
