"""Commits: the default branch's history, parents, authors (the REST commit's fields)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from graphql import GraphQLError

from .. import render
from ..dataset import Commit, Repository, User
from .connection import Connection
from .scope import Scope, page, timestamp, user_view


class GitActorView:
    typename = "GitActor"

    def __init__(self, person: dict[str, Any], user: User | None) -> None:
        self.name = person["name"]
        self.email = person["email"]
        self.date = person["date"]
        self.user = user_view(user)


class CommitView:
    typename = "Commit"

    def __init__(self, scope: Scope, repo: Repository, commit: Commit) -> None:
        self.scope, self.repo, self.commit = scope, repo, commit
        self.oid = commit.sha
        self.abbreviated_oid = commit.sha[:7]

    @cached_property
    def rest(self) -> dict[str, Any]:
        return render.commit(self.commit, self.repo, self.scope.api)

    def id(self) -> str:
        return str(self.rest["node_id"])

    def url(self) -> str:
        return str(self.rest["html_url"])

    commit_url = url

    def message(self) -> str:
        return str(self.rest["commit"]["message"])

    def message_headline(self) -> str:
        return self.message().split("\n", 1)[0]

    def message_body(self) -> str:
        return self.message().partition("\n")[2].lstrip("\n")

    def committed_date(self) -> str:
        return str(self.rest["commit"]["committer"]["date"])

    def authored_date(self) -> str:
        return str(self.rest["commit"]["author"]["date"])

    def author(self) -> GitActorView:
        return GitActorView(self.rest["commit"]["author"], self.commit.author)

    def committer(self) -> GitActorView:
        return GitActorView(self.rest["commit"]["committer"], self.commit.author)

    def parents(self, **args: Any) -> Connection:
        shas = [p["sha"] for p in self.rest.get("parents") or []]
        return page(shas, self._commit_or_stub, args)

    def _commit_or_stub(self, sha: str) -> Any:
        found = self.scope.commit(self.repo, sha)
        return CommitView(self.scope, self.repo, found) if found else CommitStub(sha)

    def history(
        self, since: str | None = None, until: str | None = None, **args: Any
    ) -> Connection:
        if args.get("path") or args.get("author"):
            raise GraphQLError("The GitHub simulator does not filter history by path or author.")
        lo, hi = timestamp(since), timestamp(until)
        line = self.repo.default_branch_commits()
        mine = (self.commit.committer_date, self.commit.sha)
        if self.commit.on_default_branch:
            line = [c for c in line if (c.committer_date, c.sha) <= mine]
        else:
            line = [self.commit]
        items = [
            c
            for c in line
            if (lo is None or c.committer_date >= lo) and (hi is None or c.committer_date <= hi)
        ]
        return page(items, lambda c: CommitView(self.scope, self.repo, c), args)


class CommitStub:
    """A commit the dataset names (a parent, a merge commit) but does not hold."""

    typename = "Commit"

    def __init__(self, sha: str) -> None:
        self.oid = sha
        self.abbreviated_oid = sha[:7]
