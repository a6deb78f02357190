"""The `Query` root: `repository`, `node`/`nodes` by global id, `rateLimit`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .git import CommitView
from .scope import Scope, UserView, not_found
from .views import IssueCommentView, IssueView, PullRequestView, RepositoryView, ReviewView


class QueryRoot:
    def __init__(
        self, scope: Scope, rate_limit: Callable[[], dict[str, Any]], *, dry_run: bool = False
    ) -> None:
        self.scope = scope
        self._rate_limit = rate_limit
        self._dry_run = dry_run  # rateLimit(dryRun: true): nothing else is evaluated

    def rate_limit(self, dry_run: bool = False) -> dict[str, Any]:
        return self._rate_limit()

    def repository(
        self, owner: str, name: str, follow_renames: bool = True
    ) -> RepositoryView | None:
        if self._dry_run:
            return None
        repo = self.scope.repository(owner, name)
        if repo is None:
            raise not_found(f"Could not resolve to a Repository with the name '{owner}/{name}'.")
        return RepositoryView(self.scope, repo)

    def node(self, id: str) -> Any:
        if self._dry_run:
            return None
        found = self._lookup(id)
        if found is None:
            raise not_found(f"Could not resolve to a node with the global id of '{id}'")
        return found

    def nodes(self, ids: list[str]) -> list[Any]:
        if self._dry_run:
            return [None for _ in ids]
        return [self._lookup(i) for i in ids]

    def _lookup(self, global_id: str) -> Any:
        """The object a global id names (the REST `node_id`), if this installation sees it."""
        prefix, _, key = global_id.partition("_")
        scope = self.scope
        for repo in scope.repositories():
            if prefix == "R" and key == str(repo.id):
                return RepositoryView(scope, repo)
            if prefix in ("PR", "I") and key.isdigit():
                item = next((i for i in repo.issues.values() if i.id == int(key)), None)
                if item is not None:
                    view = PullRequestView if item.is_pull_request else IssueView
                    return view(scope, repo, item)
            if prefix == "IC":
                comment = next((c for c in repo.comments if str(c.id) == key), None)
                if comment is not None:
                    return IssueCommentView(scope, repo, comment)
            if prefix == "PRR":
                for pull in repo.pulls:
                    review = next((r for r in pull.reviews if str(r.id) == key), None)
                    if review is not None:
                        return ReviewView(scope, repo, review)
            if prefix == "C" and key:
                commit = next((c for c in repo.commits if c.sha.startswith(key)), None)
                if commit is not None:
                    view_ = CommitView(scope, repo, commit)
                    if view_.id() == global_id:
                        return view_
        if prefix == "U":
            user = next((u for u in scope.dataset.users if str(u.id) == key), None)
            return UserView(user) if user else None
        return None
