"""Repositories, pull requests, issues, comments and reviews: what each served field answers.

Scalars come from the same REST renderings the REST endpoints serve (`render.py`), so
ids, SHAs, dates and URLs agree between `/graphql` and REST by construction:
`databaseId` is the REST `id`, `id` the REST `node_id`, `oid` the REST `sha`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from .. import render
from ..dataset import Comment, Commit, Issue, Repository, Review
from .connection import Connection
from .git import CommitStub, CommitView
from .scope import OwnerView, Scope, not_found, ordered, page, timestamp, user_view

# GitHub lists at most 250 commits of a pull request (REST and GraphQL alike).
PULL_COMMITS_CAP = 250


class RepositoryView:
    typename = "Repository"

    def __init__(self, scope: Scope, repo: Repository) -> None:
        self.scope, self.repo = scope, repo
        self.database_id = repo.id
        self.name = repo.name
        self.name_with_owner = repo.full_name
        self.is_private = repo.private
        self.is_empty = repo.empty
        self.is_archived = self.is_fork = self.is_disabled = False
        self.owner = OwnerView(scope.installation)

    @cached_property
    def rest(self) -> dict[str, Any]:
        return render.repository(self.repo, self.scope.installation, self.scope.api)

    def id(self) -> str:
        return str(self.rest["node_id"])

    def url(self) -> str:
        return str(self.rest["html_url"])

    def pushed_at(self) -> str | None:
        return self.rest["pushed_at"]

    def created_at(self) -> str | None:
        return self.rest["created_at"]

    def updated_at(self) -> str | None:
        return self.rest["updated_at"]

    def default_branch_ref(self) -> RefView | None:
        commits = self.repo.default_branch_commits()
        return RefView(self.scope, self.repo, commits[0]) if commits else None

    def ref(self, qualified_name: str) -> RefView | None:
        branch = self.repo.default_branch
        if qualified_name not in (branch, f"refs/heads/{branch}"):
            return None
        return self.default_branch_ref()

    def pull_requests(self, states: list[str] | None = None, **args: Any) -> Connection:
        items = [
            p for p in self.repo.pulls if states is None or PullRequestView.state_of(p) in states
        ]
        if args.get("labels"):
            items = []  # the dataset has no labels
        items = ordered(items, args.get("order_by"), "CREATED_AT")
        return page(items, lambda p: PullRequestView(self.scope, self.repo, p), args)

    def pull_request(self, number: int) -> PullRequestView | None:
        item = self.repo.issues.get(number)
        if item is None or not item.is_pull_request:
            raise not_found(f"Could not resolve to a PullRequest with the number of {number}.")
        return PullRequestView(self.scope, self.repo, item)

    def issues(
        self, filter_by: dict[str, Any] | None = None, states: list[str] | None = None, **args: Any
    ) -> Connection:
        since = timestamp((filter_by or {}).get("since"))
        states = states or (filter_by or {}).get("states")
        items = [
            i
            for i in self.repo.plain_issues
            if (since is None or i.updated_at >= since)
            and (states is None or IssueView.state_of(i) in states)
        ]
        if args.get("labels") or (filter_by or {}).get("labels"):
            items = []  # the dataset has no labels
        items = ordered(items, args.get("order_by"), "CREATED_AT")
        return page(items, lambda i: IssueView(self.scope, self.repo, i), args)

    def issue(self, number: int) -> IssueView | None:
        item = self.repo.issues.get(number)
        if item is None or item.is_pull_request:
            raise not_found(f"Could not resolve to an Issue with the number of {number}.")
        return IssueView(self.scope, self.repo, item)


class RefView:
    typename = "Ref"

    def __init__(self, scope: Scope, repo: Repository, tip: Commit) -> None:
        self.name = repo.default_branch
        self.prefix = "refs/heads/"
        self.id = f"REF_{repo.id}_{repo.default_branch}"
        self.target = CommitView(scope, repo, tip)
        self.repository = RepositoryView(scope, repo)


class _IssueLike:
    def __init__(self, scope: Scope, repo: Repository, item: Issue) -> None:
        self.scope, self.repo, self.item = scope, repo, item
        self.database_id = item.id
        self.full_database_id = str(item.id)
        self.number = item.number
        self.title = item.title
        self.closed = item.closed_at is not None
        self.author = user_view(item.user)
        self.locked = False

    rest: dict[str, Any]

    def id(self) -> str:
        return str(self.rest["node_id"])

    def url(self) -> str:
        return str(self.rest["html_url"])

    def body(self) -> str:
        return str(self.rest["body"] or "")

    def created_at(self) -> str | None:
        return self.rest["created_at"]

    def updated_at(self) -> str | None:
        return self.rest["updated_at"]

    def closed_at(self) -> str | None:
        return self.rest["closed_at"]

    def repository(self) -> RepositoryView:
        return RepositoryView(self.scope, self.repo)

    def comments(self, order_by: dict[str, str] | None = None, **args: Any) -> Connection:
        items = [c for c in self.repo.comments if c.issue_number == self.item.number]
        items = ordered(items, order_by, "CREATED_AT")
        return page(items, lambda c: IssueCommentView(self.scope, self.repo, c), args)


class PullRequestView(_IssueLike):
    typename = "PullRequest"

    @staticmethod
    def state_of(item: Issue) -> str:
        return "MERGED" if item.merged_at else "CLOSED" if item.closed_at else "OPEN"

    @cached_property
    def rest(self) -> dict[str, Any]:  # type: ignore[override]
        return render.pull(self.item, self.repo, self.scope.api)

    def state(self) -> str:
        return self.state_of(self.item)

    def merged(self) -> bool:
        return self.rest["merged_at"] is not None

    def merged_at(self) -> str | None:
        return self.rest["merged_at"]

    def merge_commit(self) -> Any:
        sha = self.rest.get("merge_commit_sha")
        if not self.merged() or not sha:
            return None
        found = self.scope.commit(self.repo, sha)
        return CommitView(self.scope, self.repo, found) if found else CommitStub(sha)

    def is_draft(self) -> bool:
        return bool(self.rest["draft"])

    def head_ref_name(self) -> str:
        return str(self.rest["head"]["ref"])

    def head_ref_oid(self) -> str:
        return str(self.rest["head"]["sha"])

    def base_ref_name(self) -> str:
        return str(self.rest["base"]["ref"])

    def base_ref_oid(self) -> str:
        return str(self.rest["base"]["sha"])

    permalink = _IssueLike.url

    def reviews(self, states: list[str] | None = None, **args: Any) -> Connection:
        author = args.pop("author", None)
        items = [
            r
            for r in self.item.reviews
            if (states is None or r.state in states) and (author is None or r.user.login == author)
        ]
        return page(items, lambda r: ReviewView(self.scope, self.repo, r), args)

    def commits(self, **args: Any) -> Connection:
        shas = self.item.commit_shas
        return page(shas[:PULL_COMMITS_CAP], self._pull_commit, args, total_count=len(shas))

    def _pull_commit(self, sha: str) -> PullRequestCommitView:
        return PullRequestCommitView(self, sha)


class PullRequestCommitView:
    typename = "PullRequestCommit"

    def __init__(self, pull: PullRequestView, sha: str) -> None:
        self.pull_request = pull
        self.id = f"PURC_{pull.item.id}_{sha[:12]}"
        self.url = f"{pull.url()}/commits/{sha}"
        found = pull.scope.commit(pull.repo, sha)
        self.commit = CommitView(pull.scope, pull.repo, found) if found else CommitStub(sha)


class IssueView(_IssueLike):
    typename = "Issue"

    @staticmethod
    def state_of(item: Issue) -> str:
        return "CLOSED" if item.closed_at else "OPEN"

    @cached_property
    def rest(self) -> dict[str, Any]:  # type: ignore[override]
        return render.issue(self.item, self.repo, self.scope.api)

    def state(self) -> str:
        return self.state_of(self.item)

    def state_reason(self, enable_duplicate: bool = False) -> str | None:
        reason = self.rest.get("state_reason")
        return str(reason).upper() if reason else None


class IssueCommentView:
    typename = "IssueComment"

    def __init__(self, scope: Scope, repo: Repository, comment: Comment) -> None:
        self.scope, self.repo, self.comment = scope, repo, comment
        self.database_id = comment.id
        self.full_database_id = str(comment.id)
        self.author = user_view(comment.user)
        self.rest = render.comment(comment, repo, scope.api)
        self.id = self.rest["node_id"]
        self.url = self.rest["html_url"]
        self.body = self.rest["body"]
        self.created_at = self.rest["created_at"]
        self.updated_at = self.rest["updated_at"]

    def _target(self) -> Issue:
        return self.repo.issues[self.comment.issue_number]

    def issue(self) -> IssueView:
        return IssueView(self.scope, self.repo, self._target())

    def pull_request(self) -> PullRequestView | None:
        item = self._target()
        return PullRequestView(self.scope, self.repo, item) if item.is_pull_request else None

    def repository(self) -> RepositoryView:
        return RepositoryView(self.scope, self.repo)


class ReviewView:
    typename = "PullRequestReview"

    def __init__(self, scope: Scope, repo: Repository, review: Review) -> None:
        self.scope, self.repo, self.review = scope, repo, review
        self.database_id = review.id
        self.full_database_id = str(review.id)
        self.author = user_view(review.user)
        self.rest = render.review(review, repo, scope.api)
        self.id = self.rest["node_id"]
        self.url = self.rest["html_url"]
        self.body = self.rest["body"]
        self.state = self.rest["state"]
        self.submitted_at = self.created_at = self.updated_at = self.rest["submitted_at"]
        self.commit = None

    def pull_request(self) -> PullRequestView:
        return PullRequestView(self.scope, self.repo, self.repo.issues[self.review.pr_number])

    def repository(self) -> RepositoryView:
        return RepositoryView(self.scope, self.repo)
