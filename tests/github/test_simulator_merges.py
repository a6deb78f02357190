"""The simulator merges pull requests as GitHub does, with GitHub's 250-commit cap on a
pull request's commits and `?sha=` on the commits list to walk past it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from integrations.github.client import GitHubApp, GitHubClient, RepositoryUnavailable
from simulator import expected_events, generate, min_requests
from simulator.activity import add_activity
from simulator.dataset import Dataset, Issue, Repository
from simulator.testing import RunningSimulator, running_simulator

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _merged(data: Dataset) -> list[tuple[Repository, Issue]]:
    return [(r, p) for r in data.repositories() for p in r.pulls if p.merged_at is not None]


@pytest.fixture
def long_sim() -> Iterator[RunningSimulator]:
    with running_simulator(seed=3, size="1x2x6", dataset_options={"long_pr": True}) as sim:
        yield sim


@pytest.fixture
def long_client(long_sim: RunningSimulator) -> GitHubClient:
    app = GitHubApp(
        base_url=long_sim.url,
        app_id=long_sim.app_id,
        private_key=long_sim.private_key_pem,
        timeout=(1, 5),
    )
    return GitHubClient(app=app, installation_id=1001, timeout=(1, 5))


def _all(client: GitHubClient, path: str) -> list[dict[str, Any]]:
    return [item for page in client.paginate(path) for item in page.items]


def test_merged_prs_use_each_of_githubs_three_merge_methods_deterministically() -> None:
    """GitHub, "About merge methods on GitHub": a merge commit keeps the PR's commits on
    the base branch and adds a commit with two parents; a squash adds one new commit
    and the PR's commits stay only on the PR; a rebase adds every commit again with a
    new SHA. `merge_commit_sha` is the merge commit, the squash commit or the last
    rebased commit."""
    data, again = generate(1, "2x3x12", now=NOW), generate(1, "2x3x12", now=NOW)
    merged = _merged(data)

    assert [p.merge_method for _, p in merged] == [p.merge_method for _, p in _merged(again)]
    assert {p.merge_method for _, p in merged} == {"merge", "squash", "rebase"}
    for repo, pr in merged:
        assert pr.merged_at is not None
        own = [repo.commit(sha) for sha in pr.commit_shas]
        made = [c for c in repo.commits if c.made_by == pr.number]
        assert pr.merge_commit_sha == made[-1].sha
        assert {c.sha for c in made}.isdisjoint(pr.commit_shas)
        assert all(c.on_default_branch and c.committer_date == pr.merged_at for c in made)
        if pr.merge_method == "merge":
            assert len(made) == 1 and made[0].parents[1] == pr.commit_shas[-1]
            assert len(made[0].parents) == 2 and all(c.on_default_branch for c in own)
        elif pr.merge_method == "squash":
            assert len(made) == 1 and len(made[0].parents) == 1
            assert not any(c.on_default_branch for c in own)
        else:
            assert [c.author_date for c in made] == [c.author_date for c in own]
            assert all(len(c.parents) == 1 for c in made)
            assert [c.parents[0] for c in made[1:]] == [c.sha for c in made[:-1]]
            assert not any(c.on_default_branch for c in own)
        # Expected: every commit of the PR and every SHA its merge wrote.
        window = expected_events(data, 1001, pr.merged_at, pr.merged_at) | expected_events(
            data, 1002, pr.merged_at, pr.merged_at
        )
        for sha in [*pr.commit_shas, *(c.sha for c in made)]:
            assert (repo.full_name, "commit", sha) in window


def test_commits_carry_parents_in_rest_shape_and_the_pr_chain_reaches_its_base(
    client: GitHubClient, sim: RunningSimulator
) -> None:
    """REST commits list `parents` as {sha, url, html_url}; a pull request's first
    commit's parent is its base."""
    repo = sim.dataset.repository("org-1/repo-1")
    assert repo is not None
    listed = _all(client, "/repos/org-1/repo-1/commits")
    assert all(set(p) == {"sha", "url", "html_url"} for c in listed for p in c["parents"])
    assert max(len(c["parents"]) for c in listed) <= 2
    pr = next(p for r, p in _merged(sim.dataset) if r is repo)
    pull = client.get_page(f"/repos/org-1/repo-1/pulls/{pr.number}").items
    body = pull if isinstance(pull, dict) else pull[0]
    commits = _all(client, f"/repos/org-1/repo-1/pulls/{pr.number}/commits")
    assert commits[0]["parents"][0]["sha"] == body["base"]["sha"]
    assert body["merge_commit_sha"] == pr.merge_commit_sha


def test_a_pr_lists_250_commits_and_the_sha_walk_from_its_head_reaches_the_rest(
    long_client: GitHubClient, long_sim: RunningSimulator
) -> None:
    """GitHub's "List commits on a pull request": "Lists a maximum of 250 commits for a
    pull request. To receive a complete commit list for pull requests with more than
    250 commits, use the List commits endpoint" (`sha=` the PR's head)."""
    repo, pr = next((r, p) for r, p in _merged(long_sim.dataset) if len(p.commit_shas) == 260)
    base = f"/repos/{repo.full_name}"

    listed = _all(long_client, f"{base}/pulls/{pr.number}/commits?per_page=100")
    assert [c["sha"] for c in listed] == pr.commit_shas[:250]
    walked = _all(long_client, f"{base}/commits?sha={pr.commit_shas[-1]}&per_page=100")
    shas = [c["sha"] for c in walked]
    dates = [c["commit"]["committer"]["date"] for c in walked]
    assert dates == sorted(dates, reverse=True)  # newest first
    until_base = shas[: shas.index(pr.base_sha)] if pr.base_sha in shas else shas
    assert set(until_base) == set(pr.commit_shas) and len(until_base) == 260
    # An unknown SHA is GitHub's 404.
    with pytest.raises(RepositoryUnavailable) as raised:
        long_client.get_page(f"{base}/commits?sha={'0' * 40}")
    assert raised.value.status == 404


def test_min_requests_counts_the_walk_past_the_cap() -> None:
    plain = generate(3, "1x2x6", now=NOW)
    long = generate(3, "1x2x6", now=NOW, long_pr=True)
    since = NOW - timedelta(days=60)
    # The long PR: 3 pages of its capped list, then 3 pages of the walk (260 + base).
    repo = long.repositories()[0]
    pr = next(p for p in repo.pulls if len(p.commit_shas) == 260)
    assert pr.merged_at is not None and pr.merged_at >= since
    assert min_requests(long, 1001, since, NOW) > min_requests(plain, 1001, since, NOW)


def test_merging_at_runtime_uses_a_merge_method_and_reports_every_sha() -> None:
    data = generate(1, "1x3x6", now=NOW)
    result = add_activity(data, "pr_merged", installation_id=1001)
    repo = data.repository(result["repo"])
    assert repo is not None
    pr = max((p for p in repo.pulls if p.merged_at), key=lambda p: p.merged_at or NOW)
    made = {c.sha for c in repo.commits if c.made_by == pr.number}
    commits = {gid for _, kind, gid in result["events"] if kind == "commit"}
    assert commits == set(pr.commit_shas) | made and pr.merge_commit_sha in made
