"""Reading a repository through GitHub's GraphQL API where it spends less budget (SPEC
§5a), and the change check that tells which repositories and streams have news.

The same cursor, steps and events as the REST reader (`streams.py`), so the runner's
checkpoints, slices and pauses are those of REST, and both paths store the same rows:
GraphQL nodes are turned into the REST items of the same objects and go through the
one event mapping.

What each stream reads here:
- commits: the default branch's `history(since:)`, 100 a point;
- pulls: pull requests, newest update first, each with its reviews, comments and
  commits nested (a page of 49 costs 1 point where REST spends a request per pull
  request per stream). A pull request with more than 100 reviews, or merged with more
  than 100 commits, is listed for the REST per-pull streams that follow, which read
  its whole list (and walk `?sha=` past GitHub's 250); comments past the first 100 of a
  parent send the repository's REST comments list after the issues;
- issues: issues updated since the stream's mark (no pull requests), comments nested;
- review comments: REST, read only when the pull requests had news (a new or edited
  diff comment updates its pull request).

Comments and reviews are the ones REST would store: comments updated since the
stream's mark, every review of a pull request updated since it, the commits of a pull
request merged since it. A pull request or issue not updated since the mark has no
event in the window and is not mapped (REST's lists are cut at the same mark).

A GraphQL query that times out or answers 502 is asked again with half the page, down
to `MIN_PAGE`, where the client's own retries and backoff take over.

The change check (`changes`): one query for up to 100 repositories asks each one's last
push, newest pull request update and newest issue update. A repository is read only in
the streams with news since its last sync (minus the overlap); one with none costs
nothing more. A `--full` sync never asks: it re-reads the whole window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import structlog

from integrations.events import (
    EventData,
    commit_event,
    issue_comment_event,
    issue_events,
    parse_github_time,
    pull_request_events,
    review_event,
)
from integrations.github.client import GitHubClient, GraphQLResult, RepositoryUnavailable
from integrations.github.errors import GitHubError, TransientError
from integrations.github.graphql import (
    CHANGES_PER_QUERY,
    HISTORY,
    ISSUES,
    PULL_REQUESTS,
    changes_query,
    rest_comment,
    rest_commit,
    rest_issue,
    rest_pull,
    rest_review,
)
from integrations.models import Repository, Stream, StreamState
from sync.worker.streams import (
    PER_PAGE,
    STREAMS,
    Cursor,
    RepositoryReader,
    Step,
    iso_time,
    merge_notes,
)

log = structlog.get_logger(__name__)

# GraphQL's error types for a repository that can't be read, as REST's statuses.
_STATUS_OF = {"NOT_FOUND": 404, "FORBIDDEN": 403}
MIN_PAGE = 5  # below this a timeout is not the page's size: retry with backoff instead
# GitHub prices a page as if full, one request per nested connection per parent, and
# rounds (requests ÷ 100) to the nearest point: 49 pull requests with three nested
# connections are 148 requests, 1 point; 100 are 301, 3 points. 49 a page is the
# cheapest per pull request (1/49 against 3/100), and the cheapest first page.
PULL_PAGE = 49
GRAPHQL_STREAMS = frozenset({Stream.COMMITS, Stream.PULLS, Stream.ISSUES})

# The streams each kind of news sends a repository to read.
_PUSH_STREAMS = (Stream.COMMITS,)
_PULL_STREAMS = (Stream.PULLS, Stream.REVIEWS, Stream.PULL_COMMITS, Stream.REVIEW_COMMENTS)
_ISSUE_STREAMS = (Stream.ISSUES,)


class GraphQLRepositoryReader(RepositoryReader):
    """One repository's streams: GraphQL for commits, pull requests and issues (with
    what nests in them), REST for what GraphQL does not serve; only the streams the
    change check found news in (`streams`, None: all)."""

    def __init__(self, *, streams: Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        owner, _, name = self.repository.full_name.partition("/")
        self.owner, self.name = owner, name
        self.streams = None if streams is None else frozenset(streams)

    def step(self, cursor: Cursor) -> Step:
        if not self._wanted(cursor):
            cursor.next_stream()
            return Step([], cursor, None, False)
        if cursor.stream == Stream.COMMITS:
            return self._history_step(cursor)
        if cursor.stream == Stream.PULLS:
            return self._pulls_step(cursor)
        if cursor.stream == Stream.ISSUES:
            return self._issues_step(cursor)
        return super().step(cursor)  # per-pull overflow, comments overflow, review comments

    def upcoming(self, cursor: Cursor) -> str | None:
        if cursor.stream in GRAPHQL_STREAMS or not self._wanted(cursor):
            return None
        return super().upcoming(cursor)

    def _wanted(self, cursor: Cursor) -> bool:
        if cursor.stream == Stream.COMMENTS:
            return cursor.comments_overflow  # else read nested in issues and pull requests
        if cursor.stream == Stream.REVIEW_COMMENTS and not cursor.reviewed:
            # Every diff comment belongs to a review (GitHub makes a COMMENTED one for a
            # lone comment), and a new or edited one updates its pull request: none of
            # the pull requests updated in the window has a review, so none has one.
            return False
        return self.streams is None or cursor.stream in self.streams

    # ----------------------------------------------------------------- queries

    def _query(
        self, cursor: Cursor, query: str, variables: dict[str, Any], page: int = PER_PAGE
    ) -> GraphQLResult:
        """One page of at most `page` items, halved after a timeout or a 5xx (down to
        MIN_PAGE, where the client's retries with backoff take over)."""
        while True:
            size = min(cursor.page_size, page)
            retries = None if size <= MIN_PAGE else 0
            try:
                return self.client.graphql(
                    query,
                    {"owner": self.owner, "name": self.name, "first": size, **variables},
                    max_retries=retries,
                )
            except TransientError:
                if retries is None:
                    raise
                cursor.page_size = max(MIN_PAGE, size // 2)
                log.info(
                    "sync.graphql.page_halved",
                    repository=self.repository.full_name,
                    stream=cursor.stream,
                    page_size=cursor.page_size,
                )

    def _repository(self, result: GraphQLResult) -> Mapping[str, Any]:
        """The answer's repository; the REST error a missing one means (404, 403); any
        other error beside the data (a field GitHub could not serve: an item the page
        cannot carry) fails the repository rather than store a half-read item."""
        repository = result.data.get("repository")
        error = result.error_at("repository") or (result.errors[0] if result.errors else None)
        if error is None and repository is not None:
            return repository
        error = error or {}
        message = str(error.get("message") or "not found")
        status = _STATUS_OF.get(str(error.get("type")))
        if repository is None and status is not None:
            raise RepositoryUnavailable(status, message, method="POST", path="/graphql")
        raise GitHubError(f"POST /graphql -> 200: {message}", method="POST", path="/graphql")

    def _start(self, cursor: Cursor) -> datetime:
        """The stream's lower bound, fixed at its first page (as REST's first URL is)."""
        if cursor.since is None:
            cursor.since = iso_time(self.stream_since(cursor.stream))
        since = parse_github_time(cursor.since)
        assert since is not None
        return since

    def _page_end(self, cursor: Cursor, info: Mapping[str, Any], stop: bool) -> None:
        if info.get("hasNextPage") and not stop:
            cursor.after = info.get("endCursor")
        else:
            self._finish_listing(cursor)

    # ----------------------------------------------------------------- commits

    def _history_step(self, cursor: Cursor) -> Step:
        since = self._start(cursor)
        result = self._query(cursor, HISTORY, {"since": iso_time(since), "after": cursor.after})
        repository = self._repository(result)
        if cursor.after is None and repository.get("pushedAt"):
            # The last push as of this read: a later change check reads the commits
            # again only after another one (a full sync asks no check, so it learns
            # it here).
            cursor.pushed[str(self.repository.pk)] = str(repository["pushedAt"])
        branch = repository.get("defaultBranchRef")
        history = ((branch or {}).get("target") or {}).get("history")
        events: list[EventData] = []
        if history is None:  # an empty repository: no branch, no commits
            self._finish_listing(cursor)
            return self._step(events, cursor, result)
        for node in history.get("nodes") or []:
            events.append(commit_event(rest_commit(node)))
            cursor.see(node.get("committedDate"))
        self._page_end(cursor, history.get("pageInfo") or {}, False)
        return self._step(events, cursor, result)

    # ----------------------------------------------------------------- pull requests

    def _pulls_step(self, cursor: Cursor) -> Step:
        since = self._start(cursor)
        if cursor.after is None:
            cursor.review_prs, cursor.merged_prs = [], []
        result = self._query(cursor, PULL_REQUESTS, {"after": cursor.after}, PULL_PAGE)
        pulls = self._repository(result).get("pullRequests") or {}
        events: list[EventData] = []
        items: list[dict[str, Any]] = []
        stop = False
        for node in pulls.get("nodes") or []:
            item = rest_pull(node)
            updated = parse_github_time(item["updated_at"])
            if updated is None or updated < since:
                stop = True  # newest update first: the rest are older still
                break
            items.append(item)
            cursor.see(item["updated_at"])
            events.extend(pull_request_events(item))
            events.extend(self._pull_children(cursor, node, item, since))
        self._page_end(cursor, pulls.get("pageInfo") or {}, stop)
        return self._step(events, cursor, result, merge_notes(items))

    def _pull_children(
        self, cursor: Cursor, node: Mapping[str, Any], item: dict[str, Any], since: datetime
    ) -> list[EventData]:
        """A pull request's reviews, comments since `since` and, when merged since, its
        commits; what does not fit the nested pages goes to REST."""
        number = item["number"]
        events: list[EventData] = []
        reviews = node.get("reviews") or {}
        cursor.reviewed = cursor.reviewed or bool(reviews.get("nodes"))
        if (reviews.get("pageInfo") or {}).get("hasNextPage"):
            cursor.review_prs.append(number)
        else:
            for review in reviews.get("nodes") or []:
                event = review_event(rest_review(review), number)
                if event is not None:
                    events.append(event)
        events.extend(self._comments(cursor, node, since))
        merged = parse_github_time(item["merged_at"])
        if merged is None or merged < since:
            return events
        commits = node.get("commits") or {}
        if (commits.get("pageInfo") or {}).get("hasNextPage"):
            cursor.merged_prs.append(number)  # the REST list, and `?sha=` past 250
            cursor.pull_shas[str(number)] = [item["head"]["sha"] or "", item["base"]["sha"] or ""]
            return events
        for entry in commits.get("nodes") or []:
            event = commit_event(rest_commit(entry.get("commit") or {}))
            events.append(_with(event, pull_number=number))
        return events

    def _comments(
        self, cursor: Cursor, node: Mapping[str, Any], since: datetime
    ) -> list[EventData]:
        comments = node.get("comments") or {}
        if (comments.get("pageInfo") or {}).get("hasNextPage"):
            cursor.comments_overflow = True
        events = []
        for comment in comments.get("nodes") or []:
            updated = parse_github_time(comment.get("updatedAt"))
            if updated is not None and updated >= since:
                events.append(issue_comment_event(rest_comment(comment)))
        return events

    # ----------------------------------------------------------------- issues

    def _issues_step(self, cursor: Cursor) -> Step:
        since = self._start(cursor)
        result = self._query(cursor, ISSUES, {"since": iso_time(since), "after": cursor.after})
        issues = self._repository(result).get("issues") or {}
        events: list[EventData] = []
        for node in issues.get("nodes") or []:
            item = rest_issue(node)
            cursor.see(item["updated_at"])
            events.extend(issue_events(item))
            events.extend(self._comments(cursor, node, since))
        self._page_end(cursor, issues.get("pageInfo") or {}, False)
        return self._step(events, cursor, result)

    def _step(
        self,
        events: list[EventData],
        cursor: Cursor,
        result: GraphQLResult,
        notes: dict[str, dict[str, Any]] | None = None,
    ) -> Step:
        return Step(
            events, cursor, self.client.last_rate_limit, True, notes or {}, points=result.cost
        )


def _with(event: EventData, **data: Any) -> EventData:
    return replace(event, data={**event.data, **data})


# --------------------------------------------------------------------------- the check


def changes(
    client: GitHubClient, repositories: Sequence[Repository]
) -> tuple[dict[str, list[str]], dict[str, str], int]:
    """For up to 100 repositories: {repository pk: the streams with news since they
    were last read}, {pk: the `pushedAt` GitHub reports now} and the points it cost.
    Every stream of a repository never read, or one GitHub does not find (so that the
    read says why)."""
    assert 0 < len(repositories) <= CHANGES_PER_QUERY
    result = client.graphql(changes_query([r.full_name for r in repositories]))
    marks: dict[int, dict[str, datetime | None]] = {r.pk: {} for r in repositories}
    for state in StreamState.objects.filter(repository__in=repositories):
        marks[state.repository_id][state.stream] = state.high_water_mark
    plan: dict[str, list[str]] = {}
    pushed: dict[str, str] = {}
    for index, repository in enumerate(repositories):
        node = result.data.get(f"r{index}")
        plan[str(repository.pk)] = _news(repository, node, marks[repository.pk])
        if node is not None and node.get("pushedAt"):
            pushed[str(repository.pk)] = str(node["pushedAt"])
    return plan, pushed, result.cost


def _news(
    repository: Repository, node: Mapping[str, Any] | None, marks: dict[str, datetime | None]
) -> list[str]:
    """The streams to read. A push: `pushedAt` differs from the one stored at the last
    read. Pull requests or issues: the newest update is later than the newest one the
    stream has seen (GitHub's own clock on both sides: no overlap is needed)."""
    if node is None or repository.last_synced_at is None:
        return list(STREAMS)
    streams: list[str] = []

    def newer(stream: str, connection: Mapping[str, Any] | None) -> bool:
        if stream not in marks or marks[stream] is None:
            return True  # never read to its end
        mark = marks[stream]
        assert mark is not None
        for item in (connection or {}).get("nodes") or []:
            when = parse_github_time(item.get("updatedAt"))
            if when is None or when > mark:
                return True
        return False

    pushed = parse_github_time(node.get("pushedAt"))
    if not node.get("isEmpty") and (repository.pushed_at is None or pushed != repository.pushed_at):
        streams.extend(_PUSH_STREAMS)
    if newer(Stream.PULLS, node.get("pullRequests")):
        streams.extend(_PULL_STREAMS)
    if newer(Stream.ISSUES, node.get("issues")):
        streams.extend(_ISSUE_STREAMS)
    return [s for s in STREAMS if s in streams]


__all__ = ["MIN_PAGE", "PULL_PAGE", "GraphQLRepositoryReader", "changes"]
