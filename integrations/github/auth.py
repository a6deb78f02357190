"""GitHub App authentication: the App's JWT, installation tokens and their
process-wide cache, and the App configured in Django settings."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import jwt as pyjwt
import requests
from django.conf import settings

from integrations.github.errors import AuthenticationFailed, GitHubNotConfigured
from integrations.github.graphql import graphql_url as graphql_endpoint
from integrations.github.pagination import Page, follow_links, page_from
from integrations.github.transport import (
    RateLimit,
    Timeout,
    Transport,
    json_body,
    message_of,
    now_utc,
    path_of,
    raise_for_error,
    rate_limited,
)

__all__ = ["DEFAULT_API_URL", "GitHubApp", "app_from_settings"]

DEFAULT_API_URL = "https://api.github.com"
TOKEN_REFRESH_MARGIN = timedelta(seconds=60)

_token_cache: dict[tuple[str, str, str, int], tuple[str, datetime]] = {}
_token_cache_lock = threading.Lock()
_token_fetch_locks: dict[tuple[str, str, str, int], threading.Lock] = {}


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
        graphql_url: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # GitHub's GraphQL endpoint: set (GITHUB_GRAPHQL_URL), or derived from the REST base.
        self.graphql_url = (graphql_url or "").rstrip("/") or graphql_endpoint(self.base_url)
        self.app_id = str(app_id)
        self._private_key = private_key
        # Tokens are cached per signing key too: a token another key obtained (a rotated
        # key, another App on a reused address) must never answer for this one.
        self._key_fingerprint = hashlib.sha256(private_key.encode()).hexdigest()[:16]
        self.timeout = timeout
        self._transport = Transport(
            session=session, timeout=timeout, max_retries=max_retries, backoff_base=backoff_base
        )

    def __repr__(self) -> str:
        return f"GitHubApp(base_url={self.base_url!r}, app_id={self.app_id!r})"

    @property
    def transport(self) -> Transport:
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
        raise_for_error(response, "GET", path_of(url))
        return page_from(response)

    def list_installations(self) -> Iterator[dict[str, Any]]:
        """Every installation of the App, following Link rel="next"."""
        first = self._app_get("/app/installations", {"per_page": 100})
        for page in follow_links(first, self._app_get):
            yield from page.items

    def installation_token(self, installation_id: int, *, force_refresh: bool = False) -> str:
        """A token for one installation, cached process-wide until 60 s before it expires."""
        key = self._cache_key(installation_id)
        with _token_cache_lock:
            cached = _token_cache.get(key)
            fetch_lock = _token_fetch_locks.setdefault(key, threading.Lock())
        if cached and not force_refresh and cached[1] - TOKEN_REFRESH_MARGIN > now_utc():
            return cached[0]
        with fetch_lock:
            with _token_cache_lock:
                current = _token_cache.get(key)
            # Another thread refreshed while we waited: use its token.
            if current and current is not cached and current[1] - TOKEN_REFRESH_MARGIN > now_utc():
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
        limited = rate_limited(response, rate_limit, "POST", path)
        if limited is not None:
            raise limited
        if response.status_code != 201 and response.status_code != 200:
            raise AuthenticationFailed(
                f"POST {path} -> {response.status_code}: token creation refused"
                f" ({message_of(response) or response.reason})",
                method="POST",
                path=path,
                status=response.status_code,
            )
        try:
            body = json_body(response)
            return str(body["token"]), _parse_github_time(str(body["expires_at"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise AuthenticationFailed(
                f"POST {path} -> {response.status_code}: malformed token response",
                method="POST",
                path=path,
                status=response.status_code,
            ) from exc

    def _cache_key(self, installation_id: int) -> tuple[str, str, str, int]:
        return (self.base_url, self.app_id, self._key_fingerprint, int(installation_id))

    def forget_token(self, installation_id: int) -> None:
        """Drop a cached token (an uninstall or a suspension stopped the installation)."""
        with _token_cache_lock:
            _token_cache.pop(self._cache_key(installation_id), None)


_apps: dict[tuple[str, str, str, str], GitHubApp] = {}
_apps_lock = threading.Lock()


def app_from_settings() -> GitHubApp:
    """The App configured in Django settings (one shared instance per configuration)."""
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
    graphql_url = getattr(settings, "GITHUB_GRAPHQL_URL", None) or None
    cache_key = (str(base_url), str(app_id), private_key, str(graphql_url))
    with _apps_lock:
        app = _apps.get(cache_key)
        if app is None:
            app = _apps[cache_key] = GitHubApp(
                base_url=str(base_url),
                app_id=app_id,
                private_key=private_key,
                graphql_url=graphql_url,
            )
    return app
