"""What a correct sync client stores, and what a perfect one spends, for a window.

Events are `(repo_full_name, kind, github_id)` with ghsync's kinds and ids. A window
is inclusive at both ends: `since <= t <= until`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

from .dataset import Dataset, Repository

Event = tuple[str, str, str]


def _in(t: datetime | None, since: datetime, until: datetime) -> bool:
    return t is not None and since <= t <= until


def _repo_events(repo: Repository, since: datetime, until: datetime) -> set[Event]:
    name = repo.full_name
    out: set[Event] = set()
    if repo.deleted or repo.empty:
        return out
    for commit in repo.commits:
        if commit.on_default_branch and _in(commit.committer_date, since, until):
            out.add((name, "commit", commit.sha))
    for item in repo.issues.values():
        if item.is_pull_request:
            if _in(item.created_at, since, until):
                out.add((name, "pr_opened", str(item.number)))
            if _in(item.merged_at, since, until):
                out.add((name, "pr_merged", str(item.number)))
                for sha in item.commit_shas:
                    out.add((name, "commit", sha))
            if item.merged_at is None and _in(item.closed_at, since, until):
                out.add((name, "pr_closed", str(item.number)))
            for review in item.reviews:
                if _in(review.submitted_at, since, until):
                    out.add((name, "review_submitted", str(review.id)))
        else:
            if _in(item.created_at, since, until):
                out.add((name, "issue_opened", str(item.number)))
            if _in(item.closed_at, since, until):
                out.add((name, "issue_closed", str(item.number)))
    for comment in repo.comments:
        if _in(comment.created_at, since, until):
            out.add((name, "issue_comment", str(comment.id)))
    for review_comment in repo.review_comments:
        if _in(review_comment.created_at, since, until):
            out.add((name, "review_comment", str(review_comment.id)))
    return out


def expected_events(
    dataset: Dataset, installation_id: int, since: datetime, until: datetime
) -> set[Event]:
    """Every event a correct client must store for the installation and window.

    Pull request and issue events carry the `number`; commits their sha (in the window
    by committer date, or belonging to a pull request merged in the window); reviews
    and comments their id.
    """
    with dataset.lock:
        out: set[Event] = set()
        for repo in dataset.repositories(installation_id):
            out |= _repo_events(repo, since, until)
        return out


def all_true_events(dataset: Dataset, installation_id: int | None = None) -> set[Event]:
    """Every event that exists (any date): a client may store these, never others."""
    with dataset.lock:
        lo = datetime.min.replace(tzinfo=dataset.now.tzinfo)
        hi = datetime.max.replace(tzinfo=dataset.now.tzinfo)
        out: set[Event] = set()
        for repo in dataset.repositories(installation_id):
            out |= _repo_events(repo, lo, hi)
        return out


def _pages(count: int, per_page: int) -> int:
    """Reading a list of `count` items takes at least one request, even when empty."""
    return max(1, math.ceil(count / per_page))


PULL_COMMITS_CAP = 250


def _pull_commit_pages(count: int, per_page: int) -> int:
    """A pull request's commits: its list, which GitHub caps at 250; a full list says
    there may be more (the pulls list does not tell the count), so then the commits
    list walked from the head SHA (`?sha=`) down to the base, which lists the PR's
    commits and then the base."""
    listed = _pages(min(count, PULL_COMMITS_CAP), per_page)
    if count < PULL_COMMITS_CAP:
        return listed
    return listed + _pages(count + 1, per_page)


def _count(items: Iterable[object]) -> int:
    return sum(1 for _ in items)


def min_requests(
    dataset: Dataset, installation_id: int, since: datetime, until: datetime, per_page: int = 100
) -> int:
    """The fewest requests a perfect client needs to sync one installation's window.

    Counted: 1 installation token; pages of /installation/repositories; per deleted
    repository 1 (its first 404 ends it); per other repository the pages of the
    commits list (`since`/`until`; an empty repository answers one 409), of the pulls
    list sorted by update until one item older than the window or the end, of the
    reviews of each pull request updated since `since`, of the commits of each pull
    request merged in the window (past 250 commits: the `?sha=` walk from its head
    to its base), of the issues list, the comments list and the review comments list
    since `since`. Each list costs at least one page. Conditional requests are not
    assumed: this is the cost of a first (cold) sync.
    """
    with dataset.lock:
        repos = dataset.repositories(installation_id)
        total = 1 + _pages(len(repos), per_page)
        for repo in repos:
            if repo.deleted:
                total += 1
                continue
            commits = _count(
                c
                for c in repo.commits
                if c.on_default_branch and _in(c.committer_date, since, until)
            )
            total += _pages(commits, per_page)
            pulls = repo.pulls
            updated = [p for p in pulls if p.updated_at >= since]
            total += _pages(min(len(updated) + 1, len(pulls)), per_page)
            for pr in updated:
                total += _pages(len(pr.reviews), per_page)
            for pr in pulls:
                if _in(pr.merged_at, since, until):
                    total += _pull_commit_pages(len(pr.commit_shas), per_page)
            total += _pages(
                _count(i for i in repo.issues.values() if i.updated_at >= since), per_page
            )
            total += _pages(_count(c for c in repo.comments if c.updated_at >= since), per_page)
            total += _pages(
                _count(c for c in repo.review_comments if c.updated_at >= since), per_page
            )
        return total
