"""The typed exceptions of the GitHub client: every failure is one of these, and the
caller decides what it means for its work. Messages carry method, path and status,
never a token, JWT or key."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from integrations.github.transport import RateLimit

__all__ = [
    "AuthenticationFailed",
    "GitHubError",
    "GitHubNotConfigured",
    "GraphQLUnavailable",
    "RateLimitKind",
    "RateLimited",
    "RepositoryUnavailable",
    "TransientError",
]

RateLimitKind = Literal["primary", "secondary"]


class GitHubError(Exception):
    """Base of every error the client raises. `status` is the HTTP status when known."""

    def __init__(
        self, message: str, *, method: str = "", path: str = "", status: int | None = None
    ) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.status = status


class GitHubNotConfigured(GitHubError):
    """The Django settings lack the App id or private key."""


class RateLimited(GitHubError):
    """A primary or secondary rate limit; retry no earlier than `reset_at` (UTC)."""

    def __init__(
        self,
        reset_at: datetime,
        kind: RateLimitKind,
        rate_limit: RateLimit | None = None,
        *,
        method: str = "",
        path: str = "",
        status: int | None = None,
    ) -> None:
        super().__init__(
            f"{method} {path} -> {status}: {kind} rate limit until {reset_at.isoformat()}",
            method=method,
            path=path,
            status=status,
        )
        self.reset_at = reset_at
        self.kind = kind
        self.rate_limit = rate_limit


class TransientError(GitHubError):
    """5xx, timeout or connection failure that outlived the client's bounded retries."""


class RepositoryUnavailable(GitHubError):
    """The resource cannot be read: 404 gone, 403 no access, 409 empty repository, 451."""

    def __init__(self, status: int, reason: str, *, method: str = "", path: str = "") -> None:
        super().__init__(
            f"{method} {path} -> {status}: {reason}", method=method, path=path, status=status
        )
        self.reason = reason


class AuthenticationFailed(GitHubError):
    """A 401 that survived a token refresh, or GitHub refused to create a token."""


class GraphQLUnavailable(GitHubError):
    """The GraphQL endpoint is not there (404): an API that serves REST only."""
