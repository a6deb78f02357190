"""Reading one repository's seven streams, one page at a time, from a resumable cursor.

`RepositoryReader.step(cursor)` makes at most one request and returns that page's
events and the cursor after it. The runner commits both in one transaction, so a crash
loses at most one page and the cursor (the job's checkpoint) says exactly where to go
on. Nothing here writes to the database.

Streams, in order (SPEC §5): commits, pulls (sorted by update, stop below the
window), reviews of each pull request updated in the window, commits of each pull
request merged in the window, issues (pull requests skipped), issue comments, review
comments (comments on pull requests' diffs, `/pulls/comments`).

Conditional requests: each listing stream's first page is requested with the ETag
stored for the same URL; a 304 means the stream has not changed since it was last read
to the end, so it is skipped (for pulls: with its reviews and commits, because any new
review or merge updates the pull request and so the first page sorted by update). The
lists are sorted newest-update first so that anything new changes the first page.
A stream's new ETag and high-water mark are kept in the cursor until the repository is
finished, and only then stored: a half-read stream never looks read.
A `--full` sync sends no stored validator and so never trusts a 304: it re-reads the
whole window (SPEC §5).

A stream whose stored URL asks for an older `since` than this run needs (the backfill's
window, before the first incremental run) is asked that stored URL, conditionally: its
list is a superset of the one this run needs, newest first, so a 304 proves nothing
changed (no budget spent); a 200 is read only until its items fall below this run's
`since`, and the stored URL keeps its new ETag for the next run.

GitHub's ETags are specific to the token that asked, and installation tokens live an
hour, so a stored ETag is sent only while the token that got it is in use (its
fingerprint is stored with it); otherwise the commits list is asked with
If-Modified-Since (its Last-Modified is the newest commit's date and holds across
tokens), and the other lists at full price.

An empty repository's commits answer 409, which cannot be conditional: one request a
run. (Its `pushed_at` equals its `created_at`, so it says nothing about a push.)

Prefetching: `upcoming(cursor)` names the request the next step will certainly make
(the next page of a list that is always read to its end, the next pull request's
reviews or commits); the runner may start it (`prefetch`) before writing the current
page, and `step` then takes the prefetched page instead of asking again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from integrations.events import (
    EventData,
    commit_event,
    issue_comment_event,
    issue_events,
    parse_github_time,
    pull_request_events,
    review_comment_event,
    review_event,
)
from integrations.github.client import (
    GitHubClient,
    Page,
    PendingPage,
    RateLimit,
    RepositoryUnavailable,
)
from integrations.models import Repository, Stream, StreamState

PER_PAGE = 100
PULL_COMMITS_CAP = 250  # GitHub lists at most 250 commits of a pull request
STREAMS: tuple[str, ...] = (
    Stream.COMMITS,
    Stream.PULLS,
    Stream.REVIEWS,
    Stream.PULL_COMMITS,
    Stream.ISSUES,
    Stream.COMMENTS,
    Stream.REVIEW_COMMENTS,
)
LISTING_STREAMS = frozenset(
    {Stream.COMMITS, Stream.PULLS, Stream.ISSUES, Stream.COMMENTS, Stream.REVIEW_COMMENTS}
)
# Lists read to their last page whatever they hold (pulls stop below the window).
READ_TO_END = frozenset({Stream.COMMITS, Stream.ISSUES, Stream.COMMENTS, Stream.REVIEW_COMMENTS})
PER_PULL_STREAMS = frozenset({Stream.REVIEWS, Stream.PULL_COMMITS})


def iso_time(t: datetime) -> str:
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
    first_scope: str | None = None  # the token fingerprint the first page's ETag is for
    first_last_modified: str | None = None
    superset: bool = False  # reading a stored URL with an older since: stop below `since`
    pr_index: int = 0
    review_prs: list[int] = field(default_factory=list)
    merged_prs: list[int] = field(default_factory=list)
    # Merged pull requests' [head SHA, base SHA] by number: where the `?sha=` walk past
    # GitHub's 250-commit list starts and stops.
    pull_shas: dict[str, list[str]] = field(default_factory=dict)
    pr_commits: int = 0  # commits read so far from the current pull request's list
    walking: bool = False  # reading the commits list from the current PR's head
    # GraphQL (SPEC §5a): the current stream's end cursor, and its page size (halved
    # after a timeout or a 502, back to full at the next stream).
    after: str | None = None
    page_size: int = PER_PAGE
    # Comments past the first 100 of an issue or pull request: the REST comments list
    # is read for the repository too.
    comments_overflow: bool = False
    reviewed: bool = False  # a pull request read through GraphQL has a review
    # Job-wide, carried from repository to repository (`following`): the change check's
    # answer (repository pk -> the streams with news), how far it reaches in the
    # snapshot, and REST only for the rest of the run (GraphQL answered 404).
    plan: dict[str, list[str]] = field(default_factory=dict)
    pushed: dict[str, str] = field(default_factory=dict)  # pk -> GitHub's `pushedAt`
    planned_to: int = 0
    rest_only: bool = False
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
        # Every field is JSON already (asdict's deep copy is slow on the per-page path).
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["review_prs"] = list(self.review_prs)
        data["merged_prs"] = list(self.merged_prs)
        data["pull_shas"] = {k: list(v) for k, v in self.pull_shas.items()}
        data["done"] = {stream: dict(state) for stream, state in self.done.items()}
        data["plan"] = {pk: list(streams) for pk, streams in self.plan.items()}
        data["pushed"] = dict(self.pushed)
        return data

    @classmethod
    def for_repository(cls, repo_index: int) -> Cursor:
        return cls(repo_index=repo_index)

    def following(self) -> Cursor:
        """The start of the next repository, keeping what holds for the whole job."""
        return Cursor(
            repo_index=self.repo_index + 1,
            plan=self.plan,
            pushed=self.pushed,
            planned_to=self.planned_to,
            rest_only=self.rest_only,
        )

    def restart(self) -> Cursor:
        """The start of this repository again, keeping what holds for the whole job."""
        return Cursor(
            repo_index=self.repo_index,
            plan=self.plan,
            pushed=self.pushed,
            planned_to=self.planned_to,
            rest_only=self.rest_only,
        )

    def next_stream(self) -> None:
        """Move to the start of the following stream (or mark the repository done)."""
        position = STREAMS.index(self.stream)
        self.url = None
        self.since = None
        self.hwm = None
        self.first_etag = None
        self.first_url = None
        self.first_scope = None
        self.first_last_modified = None
        self.superset = False
        self.pr_index = 0
        self.pr_commits = 0
        self.walking = False
        self.after = None
        self.page_size = PER_PAGE
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
            self.hwm = iso_time(seen)


@dataclass(frozen=True)
class Step:
    events: list[EventData]
    cursor: Cursor
    rate_limit: RateLimit | None
    requested: bool
    # Commit SHA -> keys to merge into that commit event's stored `data` (a merged pull
    # request's `merge_of` on its merge_commit_sha).
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    points: int = 0  # GraphQL points the step's query cost (0: a REST request or none)


class RepositoryReader:
    """The seven streams of one repository, read through the real GitHub client."""

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
        # History on demand: a window older than any regular sync reads. A stored ETag
        # only says nothing changed at the top of a list read down to a newer floor,
        # so these lists are read again, unconditionally, down to the window.
        self.reads_history = full and window_since < backfill_since
        self.overlap = overlap
        self.base = f"/repos/{repository.full_name}"
        self._pending: PendingPage | None = None

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

    def upcoming(self, cursor: Cursor) -> str | None:
        """The URL the next `step(cursor)` will certainly request (unconditionally), when
        reading it early cannot waste a request: the next page of a list always read to
        its end, or the next page of the per-pull-request streams. None otherwise."""
        if cursor.finished:
            return None
        if cursor.stream in READ_TO_END:
            # None at a stream's first page (conditional, or a 409), and while reading a
            # superset list, which stops below this run's since.
            return None if cursor.superset else cursor.url
        if cursor.stream in PER_PULL_STREAMS:
            return self._per_pull_url(cursor)
        return None

    def prefetch(self, url: str) -> None:
        """Start the request `upcoming` named; the next `step` takes its page."""
        assert self._pending is None
        self._pending = self.client.get_page_later(url)

    @property
    def prefetching(self) -> bool:
        return self._pending is not None

    def close(self) -> None:
        """Wait for a prefetched request nobody will take (the run is ending), so that no
        request of this installation outlives it."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.wait()

    # ----------------------------------------------------------------- requests

    def _fetch(self, url: str, etag: str | None = None, modified_since: str | None = None) -> Page:
        pending, self._pending = self._pending, None
        if pending is not None:
            if pending.url == url and etag is None and modified_since is None:
                return pending.result()
            pending.wait()  # not the page this step needs: never two requests at once
        return self.client.get_page(url, etag=etag, if_modified_since=modified_since)

    def _get(self, url: str, etag: str | None, modified_since: str | None = None) -> Page | None:
        """One page; None for the 409 GitHub answers for an empty repository's commits."""
        try:
            return self._fetch(url, etag, modified_since)
        except RepositoryUnavailable as exc:
            if exc.status == 409:
                return None
            raise

    # ----------------------------------------------------------------- listings

    def _first_url(self, stream: str, since: datetime) -> str:
        params: dict[str, Any]
        if stream == Stream.COMMITS:
            path, params = "/commits", {"since": iso_time(since)}
        elif stream == Stream.PULLS:
            path, params = "/pulls", {"state": "all", "sort": "updated", "direction": "desc"}
        elif stream == Stream.ISSUES:
            path = "/issues"
            params = {
                "state": "all",
                "sort": "updated",
                "direction": "desc",
                "since": iso_time(since),
            }
        elif stream == Stream.COMMENTS:
            path = "/issues/comments"
            params = {"sort": "updated", "direction": "desc", "since": iso_time(since)}
        else:
            # Newest update first, like the other lists, so that any new or edited comment
            # changes the first page (and a stored ETag can be answered 304).
            path = "/pulls/comments"
            params = {"sort": "updated", "direction": "desc", "since": iso_time(since)}
        params["per_page"] = PER_PAGE
        return f"{self.base}{path}?{urlencode(params)}"

    def _listing_step(self, cursor: Cursor) -> Step:
        if cursor.url is not None:
            page = self._get(cursor.url, None)
            if page is None:
                cursor.next_stream()
                return Step([], cursor, self.client.last_rate_limit, True)
            return self._listing_page(cursor, page)
        stream = cursor.stream
        since = self.stream_since(stream)
        state = self.states.get(stream)
        if self.full:
            state = None  # a full sync re-reads the whole window: no 304 is trusted
        url = self._first_url(stream, since)
        asked, etag, modified_since, superset = url, None, None, False
        if self.reads_history:
            state = None  # a window older than regular syncs: the lists are read again
        if state is not None and state.etag and state.etag_scope == self.client.token_scope():
            # An ETag only within the life of the token that got it (SPEC §12).
            if state.etag_url == url:
                etag = state.etag
            elif _asks_older_since(state.etag_url, url):
                asked, etag, superset = state.etag_url, state.etag, True
        if state is not None and state.last_modified:
            # Last-Modified is the newest commit's date, whichever token asks and whatever
            # the `since`: a 304 proves no commit is newer than the last read. Sent with
            # an ETag too (which wins while it matches): when the token turns out to be
            # gone (a 401), the client drops the ETag and the date still holds.
            modified_since = state.last_modified
        page = self._get(asked, etag, modified_since)
        if page is None:
            # An empty repository's commits: zero commits, one request a run (it stays
            # unconditional, so the first push is seen by the next run).
            cursor.done[Stream.COMMITS] = {"etag": "", "etag_url": "", "hwm": None}
            cursor.next_stream()
            return Step([], cursor, self.client.last_rate_limit, True)
        if page.not_modified:
            if stream == Stream.PULLS:
                cursor.review_prs, cursor.merged_prs = [], []
            # Unchanged (pulls: with their reviews and merged commits, hence the empty
            # lists); the stored state stays as it is.
            cursor.next_stream()
            return Step([], cursor, page.rate_limit, True)
        cursor.since = iso_time(since)
        cursor.first_etag, cursor.first_url = page.etag, asked
        cursor.first_scope, cursor.first_last_modified = page.scope, page.last_modified
        cursor.superset = superset
        if stream == Stream.PULLS:
            cursor.review_prs, cursor.merged_prs = [], []
        return self._listing_page(cursor, page)

    def _listing_page(self, cursor: Cursor, page: Page) -> Step:
        notes: dict[str, dict[str, Any]] = {}
        if cursor.stream == Stream.PULLS:
            notes = merge_notes(_updated_since(page.items, cursor.since))
        events, stop = self._map_listing(cursor, page)
        if cursor.superset and not stop:
            stop = self._below_since(cursor, page)
        if page.next_url and not stop:
            cursor.url = page.next_url
        else:
            self._finish_listing(cursor)
        return Step(events, cursor, page.rate_limit, True, notes)

    def _below_since(self, cursor: Cursor, page: Page) -> bool:
        """Reading a superset list (newest first): has it gone below this run's since?
        Issues and comments are sorted by update, so the page's last item says it. The
        commits list is only roughly chronological (GitHub lists it in reverse
        topological order), so it takes a whole page older than since - overlap."""
        since = parse_github_time(cursor.since)
        assert since is not None
        if not page.items:
            return True
        if cursor.stream == Stream.COMMITS:
            floor = since - self.overlap
            dates = [parse_github_time(_committer_date(item)) for item in page.items]
            return all(d is not None and d < floor for d in dates)
        oldest = parse_github_time(page.items[-1].get("updated_at"))
        return oldest is not None and oldest < since

    def _map_listing(self, cursor: Cursor, page: Page) -> tuple[list[EventData], bool]:
        stream = cursor.stream
        since = parse_github_time(cursor.since)
        assert since is not None
        events: list[EventData] = []
        stop = False
        for item in page.items:
            if stream == Stream.COMMITS:
                events.append(commit_event(item))
                cursor.see(_committer_date(item))
            elif stream == Stream.PULLS:
                updated = parse_github_time(item.get("updated_at"))
                if updated is None or updated < since:
                    # Sorted by update: this one and the rest have no event in the window.
                    stop = True
                    break
                events.extend(pull_request_events(item))
                cursor.see(item.get("updated_at"))
                self._collect_pull(cursor, item, since)
            elif stream == Stream.ISSUES:
                events.extend(issue_events(item))
                cursor.see(item.get("updated_at"))
            elif stream == Stream.COMMENTS:
                events.append(issue_comment_event(item))
                cursor.see(item.get("updated_at"))
            else:
                events.append(review_comment_event(item))
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
            head = str((item.get("head") or {}).get("sha") or "")
            base = str((item.get("base") or {}).get("sha") or "")
            cursor.pull_shas[str(number)] = [head, base]

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
            "etag_scope": cursor.first_scope or "",
            "last_modified": cursor.first_last_modified or "",
            "hwm": iso_time(mark),
        }
        cursor.next_stream()

    # ----------------------------------------------------------------- per pull request

    def _per_pull_url(self, cursor: Cursor) -> str | None:
        numbers = cursor.review_prs if cursor.stream == Stream.REVIEWS else cursor.merged_prs
        if cursor.pr_index < len(numbers):
            suffix = "reviews" if cursor.stream == Stream.REVIEWS else "commits"
            number = numbers[cursor.pr_index]
            return cursor.url or f"{self.base}/pulls/{number}/{suffix}?per_page={PER_PAGE}"
        if cursor.stream == Stream.REVIEWS and cursor.merged_prs:
            return f"{self.base}/pulls/{cursor.merged_prs[0]}/commits?per_page={PER_PAGE}"
        return None

    def _per_pull_step(self, cursor: Cursor) -> Step:
        numbers = cursor.review_prs if cursor.stream == Stream.REVIEWS else cursor.merged_prs
        if cursor.pr_index >= len(numbers):
            cursor.next_stream()
            return Step([], cursor, None, False)
        number = numbers[cursor.pr_index]
        url = self._per_pull_url(cursor)
        assert url is not None
        page = self._fetch(url)
        events: list[EventData] = []
        reached_base = False
        head, base = (cursor.pull_shas.get(str(number)) or ["", ""])[:2]
        for item in page.items:
            if cursor.stream == Stream.REVIEWS:
                review = review_event(item, number)
                if review is not None:
                    events.append(review)
                continue
            if cursor.walking and item.get("sha") == base:
                reached_base = True
                break
            event = commit_event(item)
            events.append(replace(event, data={**event.data, "pull_number": number}))
        if cursor.stream == Stream.PULL_COMMITS and not cursor.walking:
            cursor.pr_commits += len(page.items)
        if page.next_url and not reached_base:
            cursor.url = page.next_url
        elif (
            cursor.stream == Stream.PULL_COMMITS
            and not cursor.walking
            and cursor.pr_commits >= PULL_COMMITS_CAP
            and head
        ):
            # GitHub lists at most 250 commits of a pull request; the rest are read from
            # the commits list walked from the PR's head down to its base (GitHub's
            # documented way past the cap).
            cursor.walking = True
            cursor.url = f"{self.base}/commits?{urlencode({'sha': head, 'per_page': PER_PAGE})}"
        else:
            cursor.url = None
            cursor.walking = False
            cursor.pr_commits = 0
            cursor.pr_index += 1
            if cursor.pr_index >= len(numbers):
                cursor.next_stream()
        return Step(events, cursor, page.rate_limit, True)


def merge_notes(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`merge_of` for the commit each merged pull request's merge produced (its
    `merge_commit_sha`: a merge commit, the squash commit or the last rebased one; on
    an unmerged pull request that SHA is GitHub's test merge, not a commit of ours)."""
    notes: dict[str, dict[str, Any]] = {}
    for item in items:
        sha = item.get("merge_commit_sha")
        if item.get("merged_at") and sha:
            notes[str(sha)] = {"merge_of": int(item["number"])}
    return notes


def _updated_since(items: list[dict[str, Any]], since: str | None) -> list[dict[str, Any]]:
    """The items updated at or after `since` (a list sorted by update, newest first, is
    cut there: what lies below has no event in the window)."""
    floor = parse_github_time(since)
    kept = []
    for item in items:
        updated = parse_github_time(item.get("updated_at"))
        if floor is not None and (updated is None or updated < floor):
            break
        kept.append(item)
    return kept


def _committer_date(item: dict[str, Any]) -> str | None:
    return ((item.get("commit") or {}).get("committer") or {}).get("date")


def _asks_older_since(stored_url: str, url: str) -> bool:
    """`stored_url` is `url` with an older (or equal) `since`: the same list, a superset."""
    stored, wanted = urlsplit(stored_url), urlsplit(url)
    if stored.path != wanted.path:
        return False
    stored_params, wanted_params = dict(parse_qsl(stored.query)), dict(parse_qsl(wanted.query))
    stored_since = parse_github_time(stored_params.pop("since", None))
    wanted_since = parse_github_time(wanted_params.pop("since", None))
    if stored_since is None or wanted_since is None or stored_params != wanted_params:
        return False
    return stored_since <= wanted_since
