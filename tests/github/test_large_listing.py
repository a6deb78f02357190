"""A repository with 2,500 commits: the client lists it in exactly ceil(2500/100)
requests, and the same first page asked again with its ETag is a free 304."""

from __future__ import annotations

import math

from integrations.github.client import GitHubApp, GitHubClient
from simulator.dataset import generate
from simulator.testing import running_simulator

COMMITS = 2500


def test_2500_commits_are_listed_in_25_requests_and_a_second_first_page_is_a_free_304() -> None:
    dataset = generate(3, "1x1x1900", empty_repos=False)
    repo = dataset.repositories()[0]
    on_branch = [c for c in repo.commits if c.on_default_branch]
    assert len(on_branch) >= COMMITS
    keep = {c.sha for c in sorted(on_branch, key=lambda c: c.sha)[:COMMITS]}
    repo.commits = [c for c in repo.commits if not c.on_default_branch or c.sha in keep]
    expected = [c.sha for c in repo.default_branch_commits()]
    assert len(expected) == COMMITS

    with running_simulator(dataset=dataset) as sim:
        app = GitHubApp(base_url=sim.url, app_id=sim.app_id, private_key=sim.private_key_pem)
        client = GitHubClient(app=app, installation_id=repo.installation_id)
        path = f"/repos/{repo.full_name}/commits"

        pages = list(client.paginate(path, {"per_page": 100}))

        listed = sim.server.stats()["requests_by_endpoint"]["GET /repos/{owner}/{repo}/commits"]
        assert listed == len(pages) == math.ceil(COMMITS / 100) == 25
        assert [item["sha"] for page in pages for item in page.items] == expected
        spent = sim.server.stats()["budget_spent"][repo.installation_id]

        again = list(client.paginate(path, {"per_page": 100}, etag=pages[0].etag))

        assert [page.status for page in again] == [304]
        assert sim.server.stats()["budget_spent"][repo.installation_id] == spent
