"""Helpers for the worker tests: mirror the simulator's data as rows, start a job the
way every caller does (request_sync), drive a job to its end, read what was stored."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from integrations.models import Event, Installation, Repository
from simulator.expectations import all_true_events, expected_events
from simulator.testing import RunningSimulator
from sync.models import IngestionJob, JobStatus
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


def drive(
    job_id: int, *, sim: RunningSimulator | None = None, timeout: float = 60.0
) -> list[Outcome]:
    """Run the job as its re-enqueued messages would (the task function, called
    directly), until it completes or fails: again at once after a slice or a transient
    failure and, when blocked, after `time_passes_until_unblocked` (pass the job's `sim`
    when it may run into GitHub's rate limit, so that its window resets too)."""
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + timeout
    while True:
        outcome = Outcome(process_sync_job(job_id))
        outcomes.append(outcome)
        if outcome in (Outcome.COMPLETED, Outcome.FAILED):
            return outcomes
        assert outcome not in (Outcome.NOT_CLAIMED, Outcome.LEASE_LOST), outcomes
        if outcome == Outcome.BLOCKED:
            time_passes_until_unblocked(job_id, sim=sim)
        assert time.monotonic() < deadline, outcomes


def time_passes_until_unblocked(job_id: int, *, sim: RunningSimulator | None = None) -> None:
    """What waiting until the blocked job's `blocked_until` would do, without the wait.
    In ghsync's rows, every time the worker compares with the clock moves back by the
    wait (the job's and installation's `blocked_until`, the installation's recorded
    rate-limit reset), so the job is due now. At GitHub (the simulator), every
    rate-limit window that resets by then has reset, as it would have."""
    job = IngestionJob.objects.select_related("installation").get(pk=job_id)
    assert job.status == JobStatus.BLOCKED and job.blocked_until is not None, job.status
    remaining = job.installation.rate_limit_remaining
    exhausted = remaining is not None and remaining <= max(settings.SYNC_MIN_BUDGET, 0)
    assert sim is not None or not exhausted, (
        "blocked on GitHub's budget: pass sim= so that its window resets as time passes"
    )
    until = job.blocked_until
    wait = until - timezone.now()
    if wait > timedelta(0):
        shifted = {
            field: getattr(job.installation, field) - wait
            for field in ("blocked_until", "rate_limit_reset_at", "graphql_reset_at")
            if getattr(job.installation, field) is not None
        }
        Installation.objects.filter(pk=job.installation_id).update(**shifted)
        IngestionJob.objects.filter(pk=job_id).update(blocked_until=until - wait)
    if sim is not None:
        server = sim.server
        for github_id, budget in server.stats()["budgets"].items():
            if budget["reset"] <= until.timestamp():
                server.set_budget(
                    github_id, remaining=budget["limit"], reset_in=server.budgets.window_seconds
                )
        points = server.graphql
        for github_id, budget in points.budgets.summary().items():
            if budget["reset"] <= until.timestamp():
                points.set_budget(
                    github_id, remaining=budget["limit"], reset_in=points.budgets.window_seconds
                )


def stored_events(installation: Installation) -> set[Key]:
    rows = Event.objects.filter(installation=installation).values_list(
        "repository__full_name", "kind", "github_id"
    )
    return {(name, kind, github_id) for name, kind, github_id in rows}


def sync_once(
    installation: Installation, *, sim: RunningSimulator | None = None, **kwargs: object
) -> IngestionJob:
    job_id = start_job(installation, **kwargs)  # type: ignore[arg-type]
    outcomes = drive(job_id, sim=sim)
    assert outcomes[-1] == Outcome.COMPLETED, outcomes
    return IngestionJob.objects.get(pk=job_id)
