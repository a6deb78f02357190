"""Helpers for the worker tests: mirror the simulator's data as rows, start a job the
way every caller does (request_sync), drive a job to its end, read what was stored."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from integrations.models import Event, Installation, Repository
from simulator.expectations import all_true_events, expected_events
from simulator.testing import RunningSimulator
from sync.models import IngestionJob
from sync.policy import Trigger
from sync.services import request_sync
from sync.tasks import process_sync_job
from sync.worker import Outcome
from tests.factories import make_installation

Key = tuple[str, str, str]


@dataclass
class World:
    sim: RunningSimulator
    installations: dict[int, Installation]  # GitHub id -> row

    def installation(self, github_id: int | None = None) -> Installation:
        if github_id is None:
            github_id = next(iter(self.installations))
        return Installation.objects.get(pk=self.installations[github_id].pk)

    def expected(self, github_id: int, since: datetime, until: datetime | None = None) -> set[Key]:
        return expected_events(self.sim.dataset, github_id, since, until or timezone.now())

    def true_events(self, github_id: int) -> set[Key]:
        return all_true_events(self.sim.dataset, github_id)

    def spent(self, github_id: int) -> int:
        return int(self.sim.server.stats()["budget_spent"].get(github_id, 0))


def mirror_dataset(sim: RunningSimulator) -> dict[int, Installation]:
    rows: dict[int, Installation] = {}
    for inst in sim.dataset.installations.values():
        installation = make_installation(
            github_id=inst.id, account_login=inst.account_login, repos=0
        )
        for repo in inst.repositories:
            Repository.objects.create(
                github_id=repo.id,
                installation=installation,
                full_name=repo.full_name,
                default_branch=repo.default_branch,
                private=repo.private,
            )
        rows[inst.id] = installation
    return rows


def start_job(
    installation: Installation, *, trigger: Trigger = Trigger.ADMIN, full: bool = False
) -> int:
    decision = request_sync(installation_id=installation.pk, trigger=trigger, full=full)
    assert decision.job_id is not None, decision
    return decision.job_id


def drive(job_id: int, *, timeout: float = 60.0) -> list[Outcome]:
    """Run the job as its re-enqueued messages would (the task function, called
    directly), until it completes or fails: again at once after a slice or a transient
    failure, after blocked_until if blocked."""
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + timeout
    while True:
        outcome = Outcome(process_sync_job(job_id))
        outcomes.append(outcome)
        if outcome in (Outcome.COMPLETED, Outcome.FAILED):
            return outcomes
        assert outcome not in (Outcome.NOT_CLAIMED, Outcome.LEASE_LOST), outcomes
        if outcome == Outcome.BLOCKED:
            job = IngestionJob.objects.get(pk=job_id)
            assert job.blocked_until is not None
            time.sleep(max(0.0, (job.blocked_until - timezone.now()).total_seconds()) + 0.05)
        assert time.monotonic() < deadline, outcomes


def stored_events(installation: Installation) -> set[Key]:
    rows = Event.objects.filter(installation=installation).values_list(
        "repository__full_name", "kind", "github_id"
    )
    return {(name, kind, github_id) for name, kind, github_id in rows}


def sync_once(installation: Installation, **kwargs: object) -> IngestionJob:
    job_id = start_job(installation, **kwargs)  # type: ignore[arg-type]
    outcomes = drive(job_id)
    assert outcomes[-1] == Outcome.COMPLETED, outcomes
    return IngestionJob.objects.get(pk=job_id)
