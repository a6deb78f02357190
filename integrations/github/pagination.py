"""Pages of a list and following GitHub's Link rel="next" header."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from integrations.github.transport import RateLimit, json_body

__all__ = ["Page", "PendingPage", "follow_links", "page_from"]


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    url: str
    etag: str | None
    next_url: str | None
    not_modified: bool
    rate_limit: RateLimit | None
    status: int
    # GitHub's Last-Modified (an HTTP date), sent on the commits list, a pull request's
    # commits and a repository; it holds across tokens, where an ETag does not.
    last_modified: str | None = None
    # Which token the ETag belongs to (`GitHubClient.token_scope`): GitHub's ETags are
    # specific to the token that asked.
    scope: str | None = None


def page_from(response: requests.Response, scope: str | None = None) -> Page:
    """A successful (2xx or 304) response as a Page; its next link from the Link header."""
    rate_limit = RateLimit.from_headers(response.headers)
    next_link = response.links.get("next")
    next_url = next_link.get("url") if next_link else None
    url = str(response.request.url if response.request is not None else response.url)
    etag = response.headers.get("ETag")
    last_modified = response.headers.get("Last-Modified")
    if response.status_code == 304:
        return Page([], url, etag, None, True, rate_limit, 304, last_modified, scope)
    body = json_body(response)
    if body is None:
        body = []
    items = body if isinstance(body, list) else [body]
    return Page(
        items, url, etag, next_url, False, rate_limit, response.status_code, last_modified, scope
    )


class _PageGetter(Protocol):
    def get_page(self, url_or_path: str, *, etag: str | None = None) -> Page: ...


class PendingPage:
    """One GET running in a background thread, started by `GitHubClient.get_page_later`.

    `result()` waits for it and returns its Page or raises its error (the same typed
    exceptions `get_page` raises), so the caller handles a prefetched page exactly as
    one it asked for itself. The thread runs in a copy of the caller's context, so its
    log lines carry the caller's bound fields."""

    def __init__(self, client: _PageGetter, url: str, etag: str | None) -> None:
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


def follow_links(
    first: Page,
    get: Callable[[str], Page],
    get_later: Callable[[str], PendingPage] | None = None,
) -> Iterator[Page]:
    """`first` and the pages after it, following Link rel="next" (a 304 has none).

    With `get_later`, the next page is requested while the caller works on the current
    one (one background request at a time; its error is raised here when the page is
    due). A caller that stops early has spent one request on a page it never sees."""
    page = first
    while True:
        following = None if page.not_modified else page.next_url
        pending = get_later(following) if get_later is not None and following else None
        try:
            yield page
        except GeneratorExit:
            if pending is not None:
                pending.wait()
            raise
        if not following:
            return
        page = pending.result() if pending is not None else get(following)
