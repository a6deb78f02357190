"""HTTP transport: one session, fixed headers, timeouts, bounded retries of transient
failures, and reading a response's rate-limit headers and error status into values
(`RateLimit`) and typed errors (`errors`)."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import structlog

from integrations.github.errors import (
    AuthenticationFailed,
    GitHubError,
    RateLimited,
    RepositoryUnavailable,
    TransientError,
)
from integrations.github.limits import RESET_CAP, cap_wait

__all__ = [
    "API_VERSION",
    "BROKEN_BODY",
    "USER_AGENT",
    "RateLimit",
    "Timeout",
    "Transport",
    "message_of",
    "path_of",
    "raise_for_error",
    "rate_limited",
]

log = structlog.get_logger("integrations.github")

API_VERSION = "2022-11-28"
USER_AGENT = "ghsync/0.1"
SECONDARY_DEFAULT_WAIT = timedelta(seconds=60)
MAX_BACKOFF_SECONDS = 30.0

Timeout = float | tuple[float, float]

# A connection reset or cut while the body is read: requests raises ChunkedEncodingError
# (urllib3's ProtocolError / IncompleteRead underneath) or ContentDecodingError, neither
# of them a ConnectionError. Transient like any other connection failure.
BROKEN_BODY = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
_PARSED = "_ghsync_json"


def json_body(response: requests.Response) -> Any:
    """The response's JSON (parsed once, by `Transport.send`, for a 2xx with a body)."""
    if hasattr(response, _PARSED):
        return getattr(response, _PARSED)
    return response.json() if response.content else None


def _truncated(response: requests.Response) -> bool:
    """A 2xx whose JSON body does not parse: cut short on the way (the server sends
    nothing else), so the request is repeated like a reset. The parsed body is kept."""
    if not (200 <= response.status_code < 300) or not response.content:
        return False
    try:
        setattr(response, _PARSED, response.json())
    except ValueError:
        return True
    return False


def now_utc() -> datetime:
    return datetime.now(UTC)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class RateLimit:
    limit: int | None
    remaining: int | None
    used: int | None
    reset_at: datetime | None
    resource: str | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimit | None:
        """Read the `x-ratelimit-*` headers; None when the response carries none."""
        limit = _int_header(headers, "x-ratelimit-limit")
        remaining = _int_header(headers, "x-ratelimit-remaining")
        used = _int_header(headers, "x-ratelimit-used")
        reset = _int_header(headers, "x-ratelimit-reset")
        resource = headers.get("x-ratelimit-resource")
        if limit is None and remaining is None and reset is None:
            return None
        reset_at = None
        if reset is not None:
            now = now_utc()
            try:
                reset_at = cap_wait(datetime.fromtimestamp(reset, UTC), now)
            except (OverflowError, OSError, ValueError):
                reset_at = now + RESET_CAP
        return cls(limit, remaining, used, reset_at, resource)


def path_of(url: str) -> str:
    return urlsplit(url).path or "/"


def message_of(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return (response.text or "")[:200]
    if isinstance(body, dict):
        return str(body.get("message") or "")[:200]
    return ""


def backoff(attempt: int, base: float) -> float:
    """Exponential backoff with jitter: base * 2**attempt scaled by a factor in [0.5, 1.5)."""
    return min(MAX_BACKOFF_SECONDS, base * (2**attempt) * (0.5 + random.random()))


def rate_limited(
    response: requests.Response, rate_limit: RateLimit | None, method: str, path: str
) -> RateLimited | None:
    """The RateLimited error a 403/429 means, or None when it is not a rate limit."""
    status = response.status_code
    if status not in (403, 429):
        return None
    now = now_utc()
    message = message_of(response).lower()
    retry_after = _int_header(response.headers, "retry-after")
    if "secondary rate limit" in message or (
        retry_after is not None and (rate_limit is None or rate_limit.remaining != 0)
    ):
        wait = timedelta(seconds=retry_after) if retry_after is not None else SECONDARY_DEFAULT_WAIT
        return RateLimited(
            cap_wait(now + wait, now),
            "secondary",
            rate_limit,
            method=method,
            path=path,
            status=status,
        )
    if (rate_limit is not None and rate_limit.remaining == 0) or "rate limit" in message:
        reset_at = rate_limit.reset_at if rate_limit and rate_limit.reset_at else None
        if reset_at is None:
            reset_at = now + SECONDARY_DEFAULT_WAIT
        return RateLimited(
            cap_wait(reset_at, now), "primary", rate_limit, method=method, path=path, status=status
        )
    if status == 429:
        return RateLimited(
            now + SECONDARY_DEFAULT_WAIT,
            "secondary",
            rate_limit,
            method=method,
            path=path,
            status=status,
        )
    return None


def raise_for_error(response: requests.Response, method: str, path: str) -> None:
    """Turn a 4xx into the typed error it means (401 is handled by the caller)."""
    status = response.status_code
    if status < 400:
        return
    rate_limit = RateLimit.from_headers(response.headers)
    limited = rate_limited(response, rate_limit, method, path)
    if limited is not None:
        raise limited
    message = message_of(response)
    if status == 409:
        raise RepositoryUnavailable(409, "empty repository", method=method, path=path)
    if status in (403, 404, 410, 451):
        raise RepositoryUnavailable(
            status, message or response.reason or "unavailable", method=method, path=path
        )
    if status == 401:
        raise AuthenticationFailed(
            f"{method} {path} -> 401: {message or 'unauthorized'}",
            method=method,
            path=path,
            status=401,
        )
    raise GitHubError(
        f"{method} {path} -> {status}: {message or response.reason}",
        method=method,
        path=path,
        status=status,
    )


class Transport:
    """One session, fixed headers, timeouts and bounded retries of transient failures."""

    def __init__(
        self,
        *,
        session: requests.Session | None,
        timeout: Timeout,
        max_retries: int,
        backoff_base: float,
    ) -> None:
        self.session = session or requests.Session()
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base

    def send(
        self,
        method: str,
        url: str,
        *,
        authorization: str,
        params: Mapping[str, Any] | None = None,
        etag: str | None = None,
        if_modified_since: str | None = None,
        json: Any = None,
        max_retries: int | None = None,
        backoff_base: float | None = None,
    ) -> requests.Response:
        """Send one logical request; retry 5xx, timeouts, connection errors (a reset
        mid-body included) and truncated JSON bodies, then raise TransientError.
        `json` is a body to POST (GraphQL)."""
        retries = self.max_retries if max_retries is None else max_retries
        base = self.backoff_base if backoff_base is None else backoff_base
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
            "Authorization": authorization,
        }
        if etag:
            headers["If-None-Match"] = etag
        if if_modified_since:
            headers["If-Modified-Since"] = if_modified_since
        path = path_of(url)
        for attempt in range(retries + 1):
            started = time.monotonic()
            try:
                response = self.session.request(
                    method, url, params=params, json=json, headers=headers, timeout=self.timeout
                )
            except BROKEN_BODY as exc:
                log.debug(
                    "github.request.failed",
                    method=method,
                    path=path,
                    error=type(exc).__name__,
                    attempt=attempt,
                )
                if attempt >= retries:
                    raise TransientError(
                        f"{method} {path} -> {type(exc).__name__} after {attempt + 1} attempts",
                        method=method,
                        path=path,
                    ) from exc
                time.sleep(backoff(attempt, base))
                continue
            log.debug(
                "github.request",
                method=method,
                path=path,
                status=response.status_code,
                remaining=response.headers.get("x-ratelimit-remaining"),
                duration_ms=round((time.monotonic() - started) * 1000, 1),
            )
            if response.status_code >= 500 or _truncated(response):
                what = response.status_code if response.status_code >= 500 else "truncated body"
                if attempt >= retries:
                    raise TransientError(
                        f"{method} {path} -> {what} after {attempt + 1} attempts",
                        method=method,
                        path=path,
                        status=response.status_code,
                    )
                time.sleep(backoff(attempt, base))
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover
