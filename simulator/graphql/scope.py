"""What one GraphQL request sees, and the helpers every view shares.

An installation sees only its own repositories, and a deleted one is not found.
Connections page the dataset's lists; `orderBy` sorts them as GitHub does (ties by id).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError

from .. import render
from ..dataset import Commit, Dataset, Installation, Repository, User
from ..routes import BadRequest, parse_time
from .connection import Connection


def not_found(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"type": "NOT_FOUND"})


@dataclass
class Scope:
    """What one request may see: its installation's repositories in the dataset."""

    dataset: Dataset
    installation: Installation
    api: str
    _commits: dict[int, dict[str, Commit]] = field(default_factory=dict)

    def repositories(self) -> list[Repository]:
        return [r for r in self.installation.repositories if not r.deleted]

    def repository(self, owner: str, name: str) -> Repository | None:
        wanted = f"{owner}/{name}".lower()
        return next((r for r in self.repositories() if r.full_name.lower() == wanted), None)

    def commit(self, repo: Repository, sha: str) -> Commit | None:
        index = self._commits.get(repo.id)
        if index is None:
            index = self._commits[repo.id] = {c.sha: c for c in repo.commits}
        return index.get(sha)


def page(items: list[Any], wrap: Any, args: dict[str, Any], **kw: Any) -> Connection:
    paging = {k: args.get(k) for k in ("first", "last", "after", "before")}
    return Connection(items, wrap, **paging, **kw)


def timestamp(value: Any) -> Any:
    try:
        return parse_time(value)
    except BadRequest as exc:
        raise GraphQLError(f"{value!r} is not a valid timestamp.") from exc


def ordered(items: list[Any], order_by: dict[str, str] | None, default: str) -> list[Any]:
    order = order_by or {"field": default, "direction": "ASC"}
    attr = {"CREATED_AT": "created_at", "UPDATED_AT": "updated_at"}.get(order["field"])
    if attr is None:
        raise GraphQLError(f"The GitHub simulator does not order by {order['field']}.")
    return sorted(
        items, key=lambda it: (getattr(it, attr), it.id), reverse=order["direction"] == "DESC"
    )


class UserView:
    typename = "User"

    def __init__(self, user: User) -> None:
        self.login = user.login
        self.database_id = user.id
        self.id = f"U_{user.id}"
        self.url = f"{render.WEB}/{user.login}"
        self.avatar_url = f"https://avatars.githubusercontent.com/u/{user.id}?v=4"

    def resource_path(self) -> str:
        return f"/{self.login}"


def user_view(user: User | None) -> UserView | None:
    return UserView(user) if user else None


class OwnerView:
    def __init__(self, installation: Installation) -> None:
        self.typename = installation.account_type
        self.login = installation.account_login
        self.database_id = installation.account_id
        self.id = f"O_{installation.account_id}"
        self.url = f"{render.WEB}/{installation.account_login}"
