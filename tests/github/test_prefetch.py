"""Prefetching pages: the next request runs while the caller works on the current page,
with the same pages, the same request count, the same ETag semantics and the same
typed errors as reading one page after another."""

from __future__ import annotations

import time
from collections.abc import Generator

import pytest

from integrations.github.client import GitHubClient, RateLimited, RepositoryUnavailable
from simulator.testing import RunningSimulator

COMMITS = "/repos/org-1/repo-1/commits"


def _requests(sim: RunningSimulator) -> int:
    return int(sim.server.stats()["requests_total"])


def test_prefetching_paginate_yields_the_same_pages_with_the_same_requests(
    sim: RunningSimulator, client: GitHubClient
) -> None:
    plain = [[i["sha"] for i in p.items] for p in client.paginate(COMMITS, {"per_page": 4})]
    sim.server.reset_stats()

    pages = list(client.paginate(COMMITS, {"per_page": 4}, prefetch=True))

    assert [[i["sha"] for i in p.items] for p in pages] == plain
    assert _requests(sim) == len(pages) > 5


@pytest.mark.parametrize("prefetch", [True, False])
def test_the_next_page_is_fetched_while_the_caller_works_on_the_current_one(
    sim: RunningSimulator, client: GitHubClient, prefetch: bool
) -> None:
    """Overlap seen from GitHub's side, not from a stopwatch: by the time the caller has
    finished with a page, the simulator has already answered the request for the next
    one. Read one after another, it has not (the control)."""
    client.get_page(COMMITS)  # the token
    sim.server.set_faults(latency_ms=20)
    sim.server.reset_stats()
    served_after_work: list[int] = []
    pages = 0
    for _ in client.paginate(COMMITS, {"per_page": 4}, prefetch=prefetch):
        pages += 1
        time.sleep(0.3)  # the caller writing the page
        served_after_work.append(_requests(sim))

    assert pages >= 5
    ahead = [served - seen for seen, served in enumerate(served_after_work[:-1], start=1)]
    assert ahead == ([1] * (pages - 1) if prefetch else [0] * (pages - 1))


def test_a_304_first_page_ends_a_prefetching_pagination_without_another_request(
    sim: RunningSimulator, client: GitHubClient
) -> None:
    first = next(iter(client.paginate(COMMITS, {"per_page": 4})))
    sim.server.reset_stats()

    pages = list(client.paginate(COMMITS, {"per_page": 4}, etag=first.etag, prefetch=True))

    assert [p.status for p in pages] == [304]
    assert _requests(sim) == 1
    assert sim.server.stats()["budget_spent"].get(1001, 0) == 0


def test_an_error_of_a_prefetched_page_is_raised_when_the_caller_reaches_it(
    sim: RunningSimulator, client: GitHubClient
) -> None:
    sim.server.set_budget(1001, remaining=2, reset_in=600)
    seen = []

    with pytest.raises(RateLimited) as raised:
        for page in client.paginate(COMMITS, {"per_page": 4}, prefetch=True):
            seen.append(page)

    assert len(seen) == 2  # the two pages the budget paid for, then the limit
    assert raised.value.kind == "primary"


def test_a_prefetched_request_keeps_its_typed_error(
    sim: RunningSimulator, client: GitHubClient
) -> None:
    pending = client.get_page_later("/repos/org-1/repo-2/commits")  # the empty repository

    with pytest.raises(RepositoryUnavailable) as raised:
        pending.result()

    assert raised.value.status == 409


def test_stopping_early_waits_for_the_prefetched_request(
    sim: RunningSimulator, client: GitHubClient
) -> None:
    client.get_page("/repos/org-1/repo-1")  # the token, outside the clock
    sim.server.reset_stats()
    sim.server.set_faults(latency_ms=100)
    pages = client.paginate(COMMITS, {"per_page": 4}, prefetch=True)
    assert isinstance(pages, Generator)
    next(pages)
    started = time.perf_counter()
    pages.close()

    assert time.perf_counter() - started >= 0.08
    # The prefetched second page was requested and finished before close() returned.
    assert sim.server.stats()["requests_by_endpoint"]["GET /repos/{owner}/{repo}/commits"] == 2
