"""Merged pull requests as GitHub merges them, synced against the running simulator:
every distinct SHA a merge leaves is its own commit event, with `pull_number` and
`merge_of` telling which is which (SPEC §2, §5 stream 4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from integrations.models import Event, Installation
from simulator.dataset import Issue, Repository
from tests.worker.support import World, stored_events, sync_once

pytestmark = pytest.mark.django_db

StartWorld = Callable[..., World]


def _commits(installation: Installation, repo: Repository) -> dict[str, dict[str, Any]]:
    rows = Event.objects.filter(
        installation=installation, repository__full_name=repo.full_name, kind="commit"
    )
    return {row.github_id: row.data for row in rows}


def _merged(world: World, since: Any) -> list[tuple[Repository, Issue]]:
    return [
        (repo, pr)
        for repo in world.sim.dataset.repositories(1001)
        for pr in repo.pulls
        if pr.merged_at is not None and pr.merged_at >= since
    ]


def test_squash_rebase_and_merge_commit_prs_store_exactly_their_distinct_shas(
    start_world: StartWorld, fast_settings: Any
) -> None:
    """GitHub's merge methods ("About merge methods on GitHub"): a merge commit adds the
    PR's commits to the base branch plus a merge commit (two parents); "squash and
    merge" writes one commit on the base branch and the PR's commits stay only on the
    PR; "rebase and merge" adds each commit again with a new SHA. A pull request's
    `merge_commit_sha` is that merge commit, the squash commit or the last rebased one.
    Every distinct SHA is one event; `pull_number` marks the PR's own commits and
    `merge_of` the one commit its merge produced."""
    world = start_world(size="1x3x12")
    installation = world.installation()
    job = sync_once(installation)

    stored = stored_events(installation)
    assert world.expected(1001, job.since) - stored == set()
    assert stored - world.true_events(1001) == set()
    merged = _merged(world, job.since)
    assert {pr.merge_method for _, pr in merged} == {"merge", "squash", "rebase"}
    for repo, pr in merged:
        commits = _commits(installation, repo)
        own = {sha for sha, data in commits.items() if data.get("pull_number") == pr.number}
        assert own == set(pr.commit_shas), (pr.number, pr.merge_method)
        results = {sha for sha, data in commits.items() if data.get("merge_of") == pr.number}
        assert results == {pr.merge_commit_sha}, (pr.number, pr.merge_method)
        made = {c.sha for c in repo.commits if c.made_by == pr.number}
        assert made <= set(commits)  # every SHA the merge wrote is stored
        assert made.isdisjoint(pr.commit_shas)  # and they are new SHAs
        assert pr.merge_commit_sha is not None
        head = commits[pr.merge_commit_sha]
        if pr.merge_method == "merge":
            assert len(made) == 1 and head["parents"] == 2
        elif pr.merge_method == "squash":
            assert len(made) == 1 and head["parents"] == 1
            assert not any(repo.commit(sha).on_default_branch for sha in pr.commit_shas)
        else:
            assert len(made) == len(pr.commit_shas) and head["parents"] == 1
            assert not any(repo.commit(sha).on_default_branch for sha in pr.commit_shas)
    assert world.spent(1001) <= world.sim.server.min_requests(1001, job.since, timezone.now())


def test_a_260_commit_pull_request_stores_all_260_through_the_sha_walk(
    start_world: StartWorld, fast_settings: Any
) -> None:
    """GitHub's "List commits on a pull request" lists a maximum of 250 commits; for
    more, its docs point to the List commits endpoint, which with `sha=` lists the
    commits reachable from the PR's head: read down to the base, it gives all 260."""
    world = start_world(size="1x3x6", dataset_options={"long_pr": True})
    installation = world.installation()
    job = sync_once(installation)

    long = [(repo, pr) for repo, pr in _merged(world, job.since) if len(pr.commit_shas) == 260]
    assert len(long) == 1
    repo, pr = long[0]
    commits = _commits(installation, repo)
    own = {sha for sha, data in commits.items() if data.get("pull_number") == pr.number}
    assert own == set(pr.commit_shas) and len(own) == 260
    stored = stored_events(installation)
    assert world.expected(1001, job.since) - stored == set()
    assert stored - world.true_events(1001) == set()
    assert world.spent(1001) <= world.sim.server.min_requests(1001, job.since, timezone.now())


def test_pull_number_and_merge_of_survive_a_full_resync(
    start_world: StartWorld, fast_settings: Any
) -> None:
    """A merge commit's PR commits are on the default branch too (GitHub's merge
    commit method keeps them there), so the commits list reads them again on every
    resync; what the PR's commit list and the pulls list said about them stays."""
    world = start_world(size="1x3x12")
    installation = world.installation()
    job = sync_once(installation)
    before = {
        (row.repository_id, row.github_id): row.data
        for row in Event.objects.filter(installation=installation, kind="commit")
    }
    sync_once(installation, full=True)

    after = {
        (row.repository_id, row.github_id): row.data
        for row in Event.objects.filter(installation=installation, kind="commit")
    }
    assert after == before
    on_branch = [
        sha
        for repo, pr in _merged(world, job.since)
        if pr.merge_method == "merge"
        for sha in pr.commit_shas
    ]
    assert on_branch
    assert all(data.get("pull_number") for (_, sha), data in after.items() if sha in set(on_branch))
