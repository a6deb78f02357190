"""HTTP client for the GitHub REST API as one installation of a GitHub App.

Knows HTTP, App/installation authentication, pagination and rate-limit headers, and
nothing about jobs: every failure is a typed exception the caller decides about.
Tokens, JWTs and keys never reach a log line or an exception message.

The package's parts: `auth` (App JWT, installation tokens), `transport` (session,
retries, rate-limit headers), `errors`, `pagination` (Link following), `limits` (the
65-minute cap, shared with the sync policy). Everything a caller needs is importable
from here."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import requests

from integrations.github.auth import DEFAULT_API_URL, GitHubApp, app_from_settings
from integrations.github.errors import (
    AuthenticationFailed,
    GitHubError,
    GitHubNotConfigured,
    GraphQLUnavailable,
    RateLimited,
    RateLimitKind,
    RepositoryUnavailable,
    TransientError,
)
from integrations.github.graphql import GraphQLResult, rate_limit_error, result_of
from integrations.github.pagination import Page, PendingPage, follow_links, page_from
from integrations.github.transport import (
    SECONDARY_DEFAULT_WAIT,
    RateLimit,
    Timeout,
    Transport,
    json_body,
    message_of,
    now_utc,
    path_of,
    raise_for_error,
)

__all__ = [
    "DEFAULT_API_URL",
    "AuthenticationFailed",
    "GitHubApp",
    "GitHubClient",
    "GitHubError",
    "GitHubNotConfigured",
    "GraphQLResult",
    "GraphQLUnavailable",
    "Page",
    "PendingPage",
    "RateLimit",
    "RateLimitKind",
    "RateLimited",
    "RepositoryUnavailable",
    "TransientError",
    "app_from_settings",
    "client_from_settings",
]


def token_scope(token: str) -> str:
    """A short one-way fingerprint of a token: safe to store and log, never reversible."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class GitHubClient:
    """Reads the REST API as one installation."""

    def __init__(
        self,
        *,
        app: GitHubApp,
        installation_id: int,
        timeout: Timeout = (3.05, 20),
        max_retries: int = 3,
        backoff_base: float = 0.5,
    ) -> None:
        self.app = app
        self.installation_id = int(installation_id)
        self.last_rate_limit: RateLimit | None = None  # the REST (`core`) budget
        self.last_graphql_rate_limit: RateLimit | None = None  # the GraphQL points
        self.last_elapsed: float | None = None  # seconds the last get_page took
        self._transport = Transport(
            session=app.transport.session,
            timeout=timeout,
            max_retries=max_retries,
            backoff_base=backoff_base,
        )

    def __repr__(self) -> str:
        return f"GitHubClient(app={self.app!r}, installation_id={self.installation_id})"

    def token_scope(self) -> str:
        """A fingerprint of the installation token requests go out with now (never the
        token): an ETag is only worth sending back with the token that got it, since
        GitHub's ETags are specific to the token that asked (SPEC §12)."""
        return token_scope(self.app.installation_token(self.installation_id))

    def get_page(
        self,
        url_or_path: str,
        params: dict[str, Any] | None = None,
        *,
        etag: str | None = None,
        if_modified_since: str | None = None,
    ) -> Page:
        """One logical GET: transient retries, one token refresh on 401, typed errors.
        `etag` goes out as If-None-Match, `if_modified_since` as If-Modified-Since."""
        url = self.app.url(url_or_path)
        response, token, _ = self._send(
            "GET", url, params=params, etag=etag, if_modified_since=if_modified_since
        )
        raise_for_error(response, "GET", path_of(url))
        return page_from(response, token_scope(token))

    def graphql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        max_retries: int | None = None,
    ) -> GraphQLResult:
        """One GraphQL query as the installation (SPEC §5a): one token refresh on 401;
        `RateLimited` for a spent points budget (HTTP 200, `RATE_LIMITED`) or a secondary
        limit; `GraphQLUnavailable` when the endpoint answers 404; `TransientError`
        after `max_retries` retries of a 5xx or a timeout (0: the caller halves its page
        and asks again). Errors beside the data (a repository not found) are the
        caller's to read in the result."""
        url = self.app.graphql_url
        path = path_of(url)
        body = {"query": query, "variables": variables or {}}
        response, _, rate_limit = self._send("POST", url, json=body, max_retries=max_retries)
        if response.status_code == 404:
            raise GraphQLUnavailable(
                f"POST {path} -> 404: {message_of(response) or 'not found'}",
                method="POST",
                path=path,
                status=404,
            )
        raise_for_error(response, "POST", path)
        answer = json_body(response)
        if rate_limit_error(answer):
            now = now_utc()
            reset_at = rate_limit.reset_at if rate_limit and rate_limit.reset_at else None
            raise RateLimited(
                reset_at if reset_at and reset_at > now else now + SECONDARY_DEFAULT_WAIT,
                "primary",
                rate_limit,
                method="POST",
                path=path,
                status=200,
            )
        try:
            return result_of(answer)
        except ValueError as exc:
            raise GitHubError(
                f"POST {path} -> {response.status_code}: {exc}", method="POST", path=path
            ) from exc

    def _send(
        self, method: str, url: str, **options: Any
    ) -> tuple[requests.Response, str, RateLimit | None]:
        """One request as the installation, with the token it went out with and the
        budget its headers report (kept as the last of its bucket: REST's or GraphQL's).
        A 401 refreshes the token once (and drops an ETag: GitHub's are specific to the
        token); a second 401 is an AuthenticationFailed."""
        path = path_of(url)
        refreshed = False
        started = time.monotonic()
        while True:
            token = self.app.installation_token(self.installation_id, force_refresh=refreshed)
            response = self._transport.send(method, url, authorization=f"token {token}", **options)
            rate_limit = RateLimit.from_headers(response.headers)
            if rate_limit is not None and rate_limit.resource == "graphql":
                self.last_graphql_rate_limit = rate_limit
            elif rate_limit is not None:
                self.last_rate_limit = rate_limit
            if response.status_code == 401:
                if refreshed:
                    raise AuthenticationFailed(
                        f"{method} {path} -> 401: {message_of(response) or 'unauthorized'}"
                        " after a token refresh",
                        method=method,
                        path=path,
                        status=401,
                    )
                refreshed = True
                options.pop("etag", None)
                continue
            self.last_elapsed = time.monotonic() - started
            return response, token, rate_limit

    def get_page_later(self, url_or_path: str, *, etag: str | None = None) -> PendingPage:
        """Start `get_page(url_or_path, etag=etag)` in a background thread and return at
        once. The caller must not send another request before taking its `result()` (or
        `wait()`ing for it): requests of one installation stay serial."""
        return PendingPage(self, url_or_path, etag)

    def paginate(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        etag: str | None = None,
        prefetch: bool = False,
    ) -> Iterator[Page]:
        """Pages of a list: the first conditional on `etag`, then Link rel="next" only.

        `prefetch=True` requests the next page while the caller works on the current
        one (see `pagination.follow_links`). Only for lists read to the end."""
        first = self.get_page(path, params, etag=etag)
        yield from follow_links(first, self.get_page, self.get_page_later if prefetch else None)

    def installation_repositories(self) -> Iterator[dict[str, Any]]:
        """Every repository the installation can read."""
        for page in self.paginate("/installation/repositories", {"per_page": 100}):
            for body in page.items:
                yield from body.get("repositories", [])


def client_from_settings(installation_id: int) -> GitHubClient:
    """A client for one installation of the App configured in Django settings."""
    return GitHubClient(app=app_from_settings(), installation_id=installation_id)
