"""Reading one repository's six streams, one page at a time, from a resumable cursor.

`RepositoryReader.step(cursor)` makes at most one request and returns that page's
events and the cursor after it. The runner commits both in one transaction, so a crash
loses at most one page and the cursor (the job's checkpoint) says exactly where to go
on. Nothing here writes to the database.

Streams, in order (SPEC §5): commits, pulls (sorted by update, stop below the
window), reviews of each pull request updated in the window, commits of each pull
request merged in the window, issues (pull requests skipped), issue comments.

Conditional requests: each listing stream's first page is requested with the ETag
stored for the same URL; a 304 means the stream has not changed since it was last read
to the end, so it is skipped (for pulls: with its reviews and commits, because any new
review or merge updates the pull request and so the first page sorted by update). The
lists are sorted newest-update first so that anything new changes the first page.
A stream's new ETag and high-water mark are kept in the cursor until the repository is
finished, and only then stored: a half-read stream never looks read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from integrations.events import (
    EventData,
    commit_event,
    issue_comment_event,
    issue_events,
    parse_github_time,
    pull_request_events,
    review_event,
)
from integrations.github.client import GitHubClient, Page, RateLimit, RepositoryUnavailable
from integrations.models import Repository, Stream, StreamState

PER_PAGE = 100
STREAMS: tuple[str, ...] = (
    Stream.COMMITS,
    Stream.PULLS,
    Stream.REVIEWS,
    Stream.PULL_COMMITS,
    Stream.ISSUES,
    Stream.COMMENTS,
)
LISTING_STREAMS = frozenset({Stream.COMMITS, Stream.PULLS, Stream.ISSUES, Stream.COMMENTS})


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Cursor:
    """Where a job is: which repository, which stream, which page. JSON in the job's
    `checkpoint`."""

    repo_index: int = 0
    stream: str = STREAMS[0]
    url: str | None = None  # the next page to read in this stream; None = its start
    since: str | None = None  # the current stream's lower bound
    hwm: str | None = None  # newest timestamp seen so far in the current stream
    first_etag: str | None = None
    first_url: str | None = None
    pr_index: int = 0
    review_prs: list[int] = field(default_factory=list)
    merged_prs: list[int] = field(default_factory=list)
    # Finished streams of this repository: {"etag", "etag_url", "hwm"}, stored at its end.
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    finished: bool = False  # every stream of the repository has been read

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Cursor:
        if not data:
            return cls()
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def for_repository(cls, repo_index: int) -> Cursor:
        return cls(repo_index=repo_index)

    def next_stream(self) -> None:
        """Move to the start of the following stream (or mark the repository done)."""
        position = STREAMS.index(self.stream)
        self.url = None
        self.since = None
        self.hwm = None
        self.first_etag = None
        self.first_url = None
        self.pr_index = 0
        if position + 1 >= len(STREAMS):
            self.finished = True
        else:
            self.stream = STREAMS[position + 1]

    def see(self, value: str | None) -> None:
        """Raise the current stream's high-water mark to `value` (a GitHub time)."""
        seen = parse_github_time(value)
        if seen is None:
            return
        current = parse_github_time(self.hwm)
        if current is None or seen > current:
            self.hwm = _iso(seen)


@dataclass(frozen=True)
class Step:
    events: list[EventData]
    cursor: Cursor
    rate_limit: RateLimit | None
    requested: bool


class RepositoryReader:
    """The six streams of one repository, read through the real GitHub client."""

    def __init__(
        self,
        *,
        client: GitHubClient,
        repository: Repository,
        states: dict[str, StreamState],
        window_since: datetime,
        backfill_since: datetime,
        full: bool,
        overlap: timedelta,
    ) -> None:
        self.client = client
        self.repository = repository
        self.states = states
        self.window_since = window_since
        self.backfill_since = backfill_since
        self.full = full
        self.overlap = overlap
        self.base = f"/repos/{repository.full_name}"

    # ----------------------------------------------------------------- public

    def step(self, cursor: Cursor) -> Step:
        """Read the next page of the cursor's stream; return its events and the cursor
        after it (`cursor.finished` once the repository is read)."""
        if cursor.stream in LISTING_STREAMS:
            return self._listing_step(cursor)
        return self._per_pull_step(cursor)

    def stream_since(self, stream: str) -> datetime:
        """Where a listing stream starts: its high-water mark minus the overlap; the
        job's window for a full sync; a backfill for a stream never read."""
        state = self.states.get(stream)
        if state is None or state.high_water_mark is None:
            return min(self.window_since, self.backfill_since)
        if self.full:
            return self.window_since
        return state.high_water_mark - self.overlap

    # ----------------------------------------------------------------- listings

    def _first_url(self, stream: str, since: datetime) -> str:
        params: dict[str, Any]
        if stream == Stream.COMMITS:
            path, params = "/commits", {"since": _iso(since)}
        elif stream == Stream.PULLS:
            path, params = "/pulls", {"state": "all", "sort": "updated", "direction": "desc"}
        elif stream == Stream.ISSUES:
            path = "/issues"
            params = {"state": "all", "sort": "updated", "direction": "desc", "since": _iso(since)}
        else:
            path = "/issues/comments"
            params = {"sort": "updated", "direction": "desc", "since": _iso(since)}
        params["per_page"] = PER_PAGE
        return f"{self.base}{path}?{urlencode(params)}"

    def _listing_step(self, cursor: Cursor) -> Step:
        stream = cursor.stream
        if cursor.url is None:
            since = self.stream_since(stream)
            url = self._first_url(stream, since)
            state = self.states.get(stream)
            etag = state.etag if state and state.etag and state.etag_url == url else None
            page = self._get(cursor, url, etag)
            if page is None:  # an empty repository's commits
                cursor.next_stream()
                return Step([], cursor, self.client.last_rate_limit, True)
            if page.not_modified:
                if stream == Stream.PULLS:
                    cursor.review_prs, cursor.merged_prs = [], []
                # Pulls unchanged: the empty lists skip reviews and merged commits.
                cursor.next_stream()
                return Step([], cursor, page.rate_limit, True)
            cursor.since = _iso(since)
            cursor.first_etag, cursor.first_url = page.etag, url
            if stream == Stream.PULLS:
                cursor.review_prs, cursor.merged_prs = [], []
        else:
            page = self._get(cursor, cursor.url, None)
            if page is None:
                cursor.next_stream()
                return Step([], cursor, self.client.last_rate_limit, True)
        events, stop = self._map_listing(cursor, page)
        if page.next_url and not stop:
            cursor.url = page.next_url
        else:
            self._finish_listing(cursor)
        return Step(events, cursor, page.rate_limit, True)

    def _get(self, cursor: Cursor, url: str, etag: str | None) -> Page | None:
        """One page; None for the 409 GitHub answers for an empty repository's commits."""
        try:
            return self.client.get_page(url, etag=etag)
        except RepositoryUnavailable as exc:
            if exc.status == 409:
                return None
            raise

    def _map_listing(self, cursor: Cursor, page: Page) -> tuple[list[EventData], bool]:
        stream = cursor.stream
        since = parse_github_time(cursor.since)
        assert since is not None
        events: list[EventData] = []
        stop = False
        for item in page.items:
            if stream == Stream.COMMITS:
                events.append(commit_event(item))
                cursor.see(((item.get("commit") or {}).get("committer") or {}).get("date"))
            elif stream == Stream.PULLS:
                events.extend(pull_request_events(item))
                cursor.see(item.get("updated_at"))
                self._collect_pull(cursor, item, since)
                updated = parse_github_time(item.get("updated_at"))
                if updated is not None and updated < since:
                    stop = True
            elif stream == Stream.ISSUES:
                events.extend(issue_events(item))
                cursor.see(item.get("updated_at"))
            else:
                events.append(issue_comment_event(item))
                cursor.see(item.get("updated_at"))
        return events, stop

    @staticmethod
    def _collect_pull(cursor: Cursor, item: dict[str, Any], since: datetime) -> None:
        number = int(item["number"])
        updated = parse_github_time(item.get("updated_at"))
        merged = parse_github_time(item.get("merged_at"))
        if updated is not None and updated >= since and number not in cursor.review_prs:
            cursor.review_prs.append(number)
        if merged is not None and merged >= since and number not in cursor.merged_prs:
            cursor.merged_prs.append(number)

    def _finish_listing(self, cursor: Cursor) -> None:
        since = parse_github_time(cursor.since)
        assert since is not None
        # A stream that returned nothing new keeps asking from the same place, so its
        # next first page has the same URL and can be answered 304.
        hwm = parse_github_time(cursor.hwm)
        floor = since + self.overlap
        mark = floor if hwm is None or hwm < floor else hwm
        cursor.done[cursor.stream] = {
            "etag": cursor.first_etag or "",
            "etag_url": cursor.first_url or "",
            "hwm": _iso(mark),
        }
        cursor.next_stream()

    # ----------------------------------------------------------------- per pull request

    def _per_pull_step(self, cursor: Cursor) -> Step:
        numbers = cursor.review_prs if cursor.stream == Stream.REVIEWS else cursor.merged_prs
        if cursor.pr_index >= len(numbers):
            cursor.next_stream()
            return Step([], cursor, None, False)
        number = numbers[cursor.pr_index]
        suffix = "reviews" if cursor.stream == Stream.REVIEWS else "commits"
        url = cursor.url or f"{self.base}/pulls/{number}/{suffix}?per_page={PER_PAGE}"
        page = self.client.get_page(url)
        events: list[EventData] = []
        for item in page.items:
            if cursor.stream == Stream.REVIEWS:
                review = review_event(item, number)
                if review is not None:
                    events.append(review)
            else:
                events.append(commit_event(item))
        if page.next_url:
            cursor.url = page.next_url
        else:
            cursor.url = None
            cursor.pr_index += 1
            if cursor.pr_index >= len(numbers):
                cursor.next_stream()
        return Step(events, cursor, page.rate_limit, True)
