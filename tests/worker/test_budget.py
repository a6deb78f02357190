"""What incremental syncs spend: nothing when nothing changed (from the first run after
the backfill on), a page per changed list otherwise, and an empty repository costs
nothing until its first push, which is then picked up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from integrations.models import StreamState
from tests.worker.support import World, stored_events, sync_once

pytestmark = pytest.mark.django_db

StartWorld = Callable[..., World]
ALL_KINDS = (
    "commit",
    "pr_opened",
    "pr_merged",
    "pr_closed",
    "review_submitted",
    "issue_opened",
    "issue_closed",
    "issue_comment",
)


def _requests(world: World, template: str) -> int:
    return int(world.sim.server.stats()["requests_by_endpoint"].get(template, 0))


def test_the_first_run_after_new_activity_picks_up_exactly_the_new_events_then_nothing_is_spent(
    start_world: StartWorld, fast_settings: Any
) -> None:
    world = start_world(size="1x3x16")
    installation = world.installation()
    sync_once(installation, full=True)
    before = stored_events(installation)
    new: set[tuple[str, str, str]] = set()
    for kind in ALL_KINDS:
        created = world.sim.server.add_activity(kind, installation_id=1001, repo="org-1/repo-1")
        new |= {tuple(e) for e in created["events"]}
    world.sim.server.reset_stats()

    job = sync_once(installation)

    assert stored_events(installation) - before == new
    assert stored_events(installation) <= world.true_events(1001)
    # One page for each list of repo-1 (all changed), its reviews and merged commits;
    # the other repositories' lists are 304s.
    spent = world.spent(1001)
    assert 0 < spent <= world.sim.server.min_requests(1001, job.since, timezone.now())
    stats = world.sim.server.stats()
    assert stats["not_modified_total"] == stats["requests_total"] - spent
    world.sim.server.reset_stats()

    sync_once(installation)

    assert world.spent(1001) == 0


def test_a_stored_list_with_an_older_since_is_read_only_down_to_this_runs_since(
    start_world: StartWorld, fast_settings: Any
) -> None:
    world = start_world(size="1x1x250")  # 250 comments: 3 pages of 100
    installation = world.installation()
    sync_once(installation, full=True)
    comments = "GET /repos/{owner}/{repo}/issues/comments"
    assert _requests(world, comments) == 3
    state = StreamState.objects.get(stream="comments")
    created = world.sim.server.add_activity("issue_comment", installation_id=1001)
    world.sim.server.reset_stats()

    sync_once(installation)

    # The backfill's URL (since 30 days ago) asked again: changed, so read, but only
    # its first page: the newest comments, down past this run's since.
    assert _requests(world, comments) == 1
    after = StreamState.objects.get(stream="comments")
    assert after.etag_url == state.etag_url and after.etag != state.etag
    assert state.high_water_mark is not None and after.high_water_mark is not None
    assert after.high_water_mark >= state.high_water_mark
    assert {tuple(e) for e in created["events"]} <= stored_events(installation)


def test_an_empty_repository_costs_nothing_until_its_first_push_which_is_picked_up(
    start_world: StartWorld, fast_settings: Any
) -> None:
    world = start_world(size="1x3x8")  # org-1/repo-2 is empty
    installation = world.installation()
    sync_once(installation, full=True)
    repo_detail = "GET /repos/{owner}/{repo}"
    assert _requests(world, repo_detail) == 1  # after its 409: the repository's ETag
    world.sim.server.reset_stats()

    sync_once(installation)

    assert world.spent(1001) == 0
    assert _requests(world, repo_detail) == 1  # a 304
    assert _requests(world, "GET /repos/{owner}/{repo}/commits") == 2  # the others: 304s
    pushed = world.sim.server.add_activity("commit", repo="org-1/repo-2")
    world.sim.server.reset_stats()

    sync_once(installation)

    assert {tuple(e) for e in pushed["events"]} <= stored_events(installation)
    assert world.spent(1001) == 2  # the repository (changed), then its commits
    world.sim.server.reset_stats()

    sync_once(installation)

    assert world.spent(1001) == 0
    assert _requests(world, repo_detail) == 0  # a repository with commits again
