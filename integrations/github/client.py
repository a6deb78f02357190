"""HTTP client for the GitHub REST API as a GitHub App.

Knows HTTP, App/installation authentication, pagination and rate-limit headers, and
nothing about jobs: every failure is a typed exception the caller decides about.
Tokens, JWTs and keys never reach a log line or an exception message.
"""

from __future__ import annotations

import contextvars
import random
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import jwt as pyjwt
import requests
import structlog

__all__ = [
    "AuthenticationFailed",
    "GitHubApp",
    "GitHubClient",
    "GitHubError",
    "GitHubNotConfigured",
    "Page",
    "PendingPage",
    "RateLimit",
    "RateLimited",
    "RepositoryUnavailable",
    "TransientError",
    "app_from_settings",
    "client_from_settings",
]

log = structlog.get_logger("integrations.github")

API_VERSION = "2022-11-28"
USER_AGENT = "ghsync/0.1"
DEFAULT_API_URL = "https://api.github.com"
RESET_CAP = timedelta(minutes=65)
SECONDARY_DEFAULT_WAIT = timedelta(seconds=60)
TOKEN_REFRESH_MARGIN = timedelta(seconds=60)
MAX_BACKOFF_SECONDS = 30.0

Timeout = float | tuple[float, float]
RateLimitKind = Literal["primary", "secondary"]


# --------------------------------------------------------------------------- errors


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


# --------------------------------------------------------------------------- values


def _now() -> datetime:
    return datetime.now(UTC)


def _cap(reset_at: datetime, now: datetime) -> datetime:
    """A reset beyond now+65 min is a clock or seconds-vs-milliseconds bug: cap it."""
    return min(max(reset_at, now), now + RESET_CAP)


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
            now = _now()
            try:
                reset_at = _cap(datetime.fromtimestamp(reset, UTC), now)
            except (OverflowError, OSError, ValueError):
                reset_at = now + RESET_CAP
        return cls(limit, remaining, used, reset_at, resource)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    url: str
    etag: str | None
    next_url: str | None
    not_modified: bool
    rate_limit: RateLimit | None
    status: int


class PendingPage:
    """One GET running in a background thread, started by `GitHubClient.get_page_later`.

    `result()` waits for it and returns its Page or raises its error (the same typed
    exceptions `get_page` raises), so the caller handles a prefetched page exactly as
    one it asked for itself. The thread runs in a copy of the caller's context, so its
    log lines carry the caller's bound fields."""

    def __init__(self, client: GitHubClient, url: str, etag: str | None) -> None:
        self.url = url
        self.etag = etag
        self._client = client
        self._page: Page | None = None
        self._error: BaseException | None = None
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._fetch,), name="github-prefetch", daemon=True
        )
        self._thread.start()

    def _fetch(self) -> None:
        try:
            self._page = self._client.get_page(self.url, etag=self.etag)
        except BaseException as exc:  # handed to the consumer by result()
            self._error = exc

    def wait(self) -> None:
        """Wait for the request to end, whatever its outcome (the result is dropped)."""
        self._thread.join()

    def result(self) -> Page:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._page is not None
        return self._page


# --------------------------------------------------------------------------- transport


def _path_of(url: str) -> str:
    return urlsplit(url).path or "/"


def _message_of(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return (response.text or "")[:200]
    if isinstance(body, dict):
        return str(body.get("message") or "")[:200]
    return ""


def _backoff(attempt: int, base: float) -> float:
    """Exponential backoff with jitter: base * 2**attempt scaled by a factor in [0.5, 1.5)."""
    return min(MAX_BACKOFF_SECONDS, base * (2**attempt) * (0.5 + random.random()))


def _rate_limited(
    response: requests.Response, rate_limit: RateLimit | None, method: str, path: str
) -> RateLimited | None:
    """The RateLimited error a 403/429 means, or None when it is not a rate limit."""
    status = response.status_code
    if status not in (403, 429):
        return None
    now = _now()
    message = _message_of(response).lower()
    retry_after = _int_header(response.headers, "retry-after")
    if "secondary rate limit" in message or (
        retry_after is not None and (rate_limit is None or rate_limit.remaining != 0)
    ):
        wait = timedelta(seconds=retry_after) if retry_after is not None else SECONDARY_DEFAULT_WAIT
        return RateLimited(
            _cap(now + wait, now), "secondary", rate_limit, method=method, path=path, status=status
        )
    if (rate_limit is not None and rate_limit.remaining == 0) or "rate limit" in message:
        reset_at = rate_limit.reset_at if rate_limit and rate_limit.reset_at else None
        if reset_at is None:
            reset_at = now + SECONDARY_DEFAULT_WAIT
        return RateLimited(
            _cap(reset_at, now), "primary", rate_limit, method=method, path=path, status=status
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


class _Transport:
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
        max_retries: int | None = None,
        backoff_base: float | None = None,
    ) -> requests.Response:
        """Send one logical request; retry 5xx/timeouts/connection errors, then raise."""
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
        path = _path_of(url)
        for attempt in range(retries + 1):
            started = time.monotonic()
            try:
                response = self.session.request(
                    method, url, params=params, headers=headers, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
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
                time.sleep(_backoff(attempt, base))
                continue
            log.debug(
                "github.request",
                method=method,
                path=path,
                status=response.status_code,
                remaining=response.headers.get("x-ratelimit-remaining"),
                duration_ms=round((time.monotonic() - started) * 1000, 1),
            )
            if response.status_code >= 500:
                if attempt >= retries:
                    raise TransientError(
                        f"{method} {path} -> {response.status_code} after {attempt + 1} attempts",
                        method=method,
                        path=path,
                        status=response.status_code,
                    )
                time.sleep(_backoff(attempt, base))
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover


def _raise_for_error(response: requests.Response, method: str, path: str) -> None:
    """Turn a 4xx into the typed error it means (401 is handled by the caller)."""
    status = response.status_code
    if status < 400:
        return
    rate_limit = RateLimit.from_headers(response.headers)
    limited = _rate_limited(response, rate_limit, method, path)
    if limited is not None:
        raise limited
    message = _message_of(response)
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


def _page_from(response: requests.Response) -> Page:
    rate_limit = RateLimit.from_headers(response.headers)
    next_link = response.links.get("next")
    next_url = next_link.get("url") if next_link else None
    url = response.request.url if response.request is not None else response.url
    etag = response.headers.get("ETag")
    if response.status_code == 304:
        return Page([], str(url), etag, None, True, rate_limit, 304)
    body = response.json() if response.content else []
    items = body if isinstance(body, list) else [body]
    return Page(items, str(url), etag, next_url, False, rate_limit, response.status_code)


# --------------------------------------------------------------------------- app


_token_cache: dict[tuple[str, str, int], tuple[str, datetime]] = {}
_token_cache_lock = threading.Lock()
_token_fetch_locks: dict[tuple[str, str, int], threading.Lock] = {}


def _parse_github_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


class GitHubApp:
    """The App identity: signs JWTs and mints (cached) installation tokens."""

    def __init__(
        self,
        *,
        base_url: str,
        app_id: str | int,
        private_key: str,
        timeout: Timeout = (3.05, 20),
        session: requests.Session | None = None,
        max_retries: int = 3,
        backoff_base: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_id = str(app_id)
        self._private_key = private_key
        self.timeout = timeout
        self._transport = _Transport(
            session=session, timeout=timeout, max_retries=max_retries, backoff_base=backoff_base
        )

    def __repr__(self) -> str:
        return f"GitHubApp(base_url={self.base_url!r}, app_id={self.app_id!r})"

    @property
    def transport(self) -> _Transport:
        return self._transport

    def url(self, url_or_path: str) -> str:
        if url_or_path.startswith(("http://", "https://")):
            return url_or_path
        return urljoin(self.base_url + "/", url_or_path.lstrip("/"))

    def jwt(self) -> str:
        """An RS256 App JWT: iat 60 s in the past (clock drift), exp 9 min ahead."""
        now = int(time.time())
        payload = {"iat": now - 60, "exp": now + 540, "iss": self.app_id}
        return pyjwt.encode(payload, self._private_key, algorithm="RS256")

    def _app_get(self, url_or_path: str, params: Mapping[str, Any] | None = None) -> Page:
        url = self.url(url_or_path)
        response = self._transport.send(
            "GET", url, authorization=f"Bearer {self.jwt()}", params=params
        )
        _raise_for_error(response, "GET", _path_of(url))
        return _page_from(response)

    def list_installations(self) -> Iterator[dict[str, Any]]:
        """Every installation of the App, following Link rel="next"."""
        page = self._app_get("/app/installations", {"per_page": 100})
        yield from page.items
        while page.next_url:
            page = self._app_get(page.next_url)
            yield from page.items

    def installation_token(self, installation_id: int, *, force_refresh: bool = False) -> str:
        """A token for one installation, cached process-wide until 60 s before it expires."""
        key = (self.base_url, self.app_id, int(installation_id))
        with _token_cache_lock:
            cached = _token_cache.get(key)
            fetch_lock = _token_fetch_locks.setdefault(key, threading.Lock())
        if cached and not force_refresh and cached[1] - TOKEN_REFRESH_MARGIN > _now():
            return cached[0]
        with fetch_lock:
            with _token_cache_lock:
                current = _token_cache.get(key)
            # Another thread refreshed while we waited: use its token.
            if current and current is not cached and current[1] - TOKEN_REFRESH_MARGIN > _now():
                return current[0]
            token, expires_at = self._create_token(int(installation_id))
            with _token_cache_lock:
                _token_cache[key] = (token, expires_at)
            return token

    def _create_token(self, installation_id: int) -> tuple[str, datetime]:
        path = f"/app/installations/{installation_id}/access_tokens"
        url = self.url(path)
        response = self._transport.send("POST", url, authorization=f"Bearer {self.jwt()}")
        rate_limit = RateLimit.from_headers(response.headers)
        limited = _rate_limited(response, rate_limit, "POST", path)
        if limited is not None:
            raise limited
        if response.status_code != 201 and response.status_code != 200:
            raise AuthenticationFailed(
                f"POST {path} -> {response.status_code}: token creation refused"
                f" ({_message_of(response) or response.reason})",
                method="POST",
                path=path,
                status=response.status_code,
            )
        body = response.json()
        try:
            return str(body["token"]), _parse_github_time(str(body["expires_at"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise AuthenticationFailed(
                f"POST {path} -> {response.status_code}: malformed token response",
                method="POST",
                path=path,
                status=response.status_code,
            ) from exc

    def forget_token(self, installation_id: int) -> None:
        """Drop a cached token (e.g. after the installation was deleted)."""
        with _token_cache_lock:
            _token_cache.pop((self.base_url, self.app_id, int(installation_id)), None)


# --------------------------------------------------------------------------- client


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
        self.last_rate_limit: RateLimit | None = None
        self.last_elapsed: float | None = None  # seconds the last get_page took
        self._transport = _Transport(
            session=app.transport.session,
            timeout=timeout,
            max_retries=max_retries,
            backoff_base=backoff_base,
        )

    def __repr__(self) -> str:
        return f"GitHubClient(app={self.app!r}, installation_id={self.installation_id})"

    def get_page(
        self, url_or_path: str, params: dict[str, Any] | None = None, *, etag: str | None = None
    ) -> Page:
        """One logical GET: transient retries, one token refresh on 401, typed errors."""
        url = self.app.url(url_or_path)
        path = _path_of(url)
        refreshed = False
        started = time.monotonic()
        while True:
            token = self.app.installation_token(self.installation_id, force_refresh=refreshed)
            response = self._transport.send(
                "GET", url, authorization=f"token {token}", params=params, etag=etag
            )
            rate_limit = RateLimit.from_headers(response.headers)
            if rate_limit is not None:
                self.last_rate_limit = rate_limit
            if response.status_code == 401:
                if refreshed:
                    raise AuthenticationFailed(
                        f"GET {path} -> 401: {_message_of(response) or 'unauthorized'}"
                        " after a token refresh",
                        method="GET",
                        path=path,
                        status=401,
                    )
                refreshed = True
                continue
            self.last_elapsed = time.monotonic() - started
            _raise_for_error(response, "GET", path)
            return _page_from(response)

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
        one (one background request at a time; an error is raised here when the page
        is due). Only for lists read to the end: a caller that stops early has spent
        one request on a page it never sees."""
        page = self.get_page(path, params, etag=etag)
        while True:
            following = None if page.not_modified else page.next_url
            pending = self.get_page_later(following) if prefetch and following else None
            try:
                yield page
            except GeneratorExit:
                if pending is not None:
                    pending.wait()
                raise
            if not following:
                return
            page = pending.result() if pending is not None else self.get_page(following)

    def installation_repositories(self) -> Iterator[dict[str, Any]]:
        """Every repository the installation can read."""
        for page in self.paginate("/installation/repositories", {"per_page": 100}):
            for body in page.items:
                yield from body.get("repositories", [])


# --------------------------------------------------------------------------- settings


_apps: dict[tuple[str, str, str], GitHubApp] = {}
_apps_lock = threading.Lock()


def app_from_settings() -> GitHubApp:
    """The App configured in Django settings (one shared instance per configuration)."""
    from django.conf import settings

    base_url = getattr(settings, "GITHUB_API_URL", None) or DEFAULT_API_URL
    app_id = getattr(settings, "GITHUB_APP_ID", None)
    key = getattr(settings, "GITHUB_APP_PRIVATE_KEY", None)
    key_path = getattr(settings, "GITHUB_APP_PRIVATE_KEY_PATH", None)
    if not app_id:
        raise GitHubNotConfigured("GITHUB_APP_ID is not set")
    if key:
        private_key = str(key).replace("\\n", "\n")
    elif key_path:
        try:
            with open(key_path, encoding="utf-8") as fh:
                private_key = fh.read()
        except OSError as exc:
            raise GitHubNotConfigured(
                f"GITHUB_APP_PRIVATE_KEY_PATH cannot be read ({type(exc).__name__})"
            ) from exc
    else:
        raise GitHubNotConfigured(
            "neither GITHUB_APP_PRIVATE_KEY nor GITHUB_APP_PRIVATE_KEY_PATH is set"
        )
    if "PRIVATE KEY" not in private_key:
        raise GitHubNotConfigured("the GitHub App private key is not a PEM private key")
    cache_key = (str(base_url), str(app_id), private_key)
    with _apps_lock:
        app = _apps.get(cache_key)
        if app is None:
            app = _apps[cache_key] = GitHubApp(
                base_url=str(base_url), app_id=app_id, private_key=private_key
            )
    return app


def client_from_settings(installation_id: int) -> GitHubClient:
    """A client for one installation of the App configured in Django settings."""
    return GitHubClient(app=app_from_settings(), installation_id=installation_id)
