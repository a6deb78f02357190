"""What incremental syncs spend: nothing when nothing changed (from the first run after
the backfill on) but one request per empty repository, a page per changed list
otherwise; and what they spend once the token changed, as an hourly resync sees it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from integrations.github.client import app_from_settings
from integrations.models import StreamState
from tests.worker.support import World, stored_events, sync_once

# REST mechanics (requests, ETags, the REST budget): the GraphQL path is switched off.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rest_only")]

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

    assert world.spent(1001) == 1  # org-1/repo-2 is empty: its commits' 409


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


def test_an_empty_repository_costs_one_request_a_run_and_its_first_push_is_picked_up(
    start_world: StartWorld, fast_settings: Any
) -> None:
    """GitHub: an empty repository has `size: 0` and a `pushed_at` equal to its
    `created_at` (never null), and its commits list answers 409 "Git Repository is
    empty." (SPEC §12; @octokit/openapi's `repos/list-commits` lists the 409). So
    "pushed_at is set" proves nothing: the worker asks the commits list once a run."""
    world = start_world(size="1x3x8")  # org-1/repo-2 is empty
    installation = world.installation()
    sync_once(installation, full=True)
    world.sim.server.reset_stats()

    sync_once(installation)

    stats = world.sim.server.stats()
    assert world.spent(1001) == 1 and stats["requests_by_status"].get(409) == 1
    assert _requests(world, "GET /repos/{owner}/{repo}") == 0
    pushed = world.sim.server.add_activity("commit", repo="org-1/repo-2")
    world.sim.server.reset_stats()

    sync_once(installation)

    assert {tuple(e) for e in pushed["events"]} <= stored_events(installation)
    assert world.spent(1001) == 1  # its commits, now a list
    world.sim.server.reset_stats()

    sync_once(installation)

    assert world.spent(1001) == 0


@pytest.mark.parametrize("token_change", ["expired", "revoked"])
def test_a_resync_with_a_new_token_pays_for_every_list_but_the_commits_lists(
    start_world: StartWorld, fast_settings: Any, token_change: str
) -> None:
    """GitHub's ETags are specific to the token that asked (GitHub Support, 2024) and
    installation tokens live an hour, so an hourly resync's stored ETags are a 200 each;
    Last-Modified / If-Modified-Since on the commits list holds across tokens (SPEC
    §12). The worker sends an ETag only with the token that got it, and the commits
    lists' dates otherwise: a no-change resync with a new token costs the pulls, issues
    and comments lists (and the empty repository's 409), and nothing for commits."""
    world = start_world(size="1x3x16")  # repo-2 empty
    installation = world.installation()
    sync_once(installation, full=True)
    sync_once(installation)
    before = stored_events(installation)
    if token_change == "expired":
        app_from_settings().forget_token(1001)  # the cached token expired: a new one
    else:
        world.sim.server.revoke_tokens()  # the cached token is refused: a 401, a new one
    world.sim.server.reset_stats()

    sync_once(installation)

    stats = world.sim.server.stats()
    assert stored_events(installation) == before
    assert stats["tokens_issued"] == 1
    by_endpoint = stats["requests_by_endpoint"]
    refused = 1 if token_change == "revoked" else 0  # the old token's 401 (never budget)
    assert by_endpoint["GET /repos/{owner}/{repo}/commits"] == 3 + refused
    assert stats["not_modified_total"] == 2  # the two commits lists with commits
    for listing in ("pulls", "issues", "issues/comments"):
        assert by_endpoint[f"GET /repos/{{owner}}/{{repo}}/{listing}"] == 3
    # Every request but the two 304s spent budget: the 409, the nine lists, and the
    # reviews and commits of pull requests updated within the overlap.
    assert world.spent(1001) == stats["requests_by_installation"][1001] - 1 - 2  # token, 304s
    assert world.spent(1001) >= 1 + 3 * 3
    world.sim.server.reset_stats()

    sync_once(installation)  # the same token: ETags again

    assert world.spent(1001) == 1
