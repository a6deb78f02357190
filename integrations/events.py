"""GitHub REST objects -> ghsync Event rows, and the one bulk upsert that stores them.

The REST backfill and the webhooks both map GitHub's objects through these functions,
so both write the same natural key (repository, kind, github_id) and nothing is ever
stored twice. Mapping is pure (dicts in, `EventData` out); `events_upsert` and
`events_annotate` are the only functions here that touch the database. Both merge an
event's `data` into the stored row's (new keys win, other keys stay): a commit's
`pull_number` (from a pull request's commit list) and `merge_of` (from the pull
requests list) survive the commits list reading the same commit again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from integrations.models import Event, EventKind, Installation, Repository, fits_bigint

__all__ = [
    "EventData",
    "commit_event",
    "events_annotate",
    "events_upsert",
    "issue_comment_event",
    "issue_events",
    "parse_github_time",
    "pull_request_events",
    "review_comment_event",
    "review_event",
]

TITLE_MAX = 512
URL_MAX = 1024
GITHUB_ID_MAX = 64  # Event.github_id's width
INTEGER_MAX = 2**31 - 1  # Event.number
_ISSUE_NUMBER = re.compile(r"/(?:issues|pulls?)/(\d+)(?:[/#?].*)?$")

# Rewritten when a row already exists; first_seen_at is never among them.
_UPDATE_FIELDS = [
    "installation",
    "actor_login",
    "actor_github_id",
    "occurred_at",
    "title",
    "url",
    "number",
    "data",
    "updated_at",
]


@dataclass(frozen=True)
class EventData:
    """The fields of one Event, without its installation and repository."""

    kind: str
    github_id: str
    actor_login: str
    actor_github_id: int | None
    occurred_at: datetime
    title: str = ""
    url: str = ""
    number: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse what the Event columns cannot hold: the database would refuse the
        same values on every try (and SQLite overflows on integers past 2**63)."""
        if len(self.github_id) > GITHUB_ID_MAX:
            raise ValueError(f"{self.kind} id longer than {GITHUB_ID_MAX} characters")
        if self.number is not None and not -INTEGER_MAX - 1 <= self.number <= INTEGER_MAX:
            raise ValueError(f"{self.kind} number {self.number} is out of range")
        actor = self.actor_github_id
        if actor is not None and not fits_bigint(actor):
            raise ValueError(f"{self.kind} actor id {actor} is out of range")

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.github_id)


# --------------------------------------------------------------------------- helpers


def parse_github_time(value: str | None) -> datetime | None:
    """GitHub's ISO 8601 ("2024-05-01T12:00:00Z", or an offset in push payloads) as UTC."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:  # e.g. 9999-12-31T23:59:59-05:00 is past year 9999 in UTC
        raise ValueError(f"{value!r} is not a time GitHub can mean") from exc


def _required_time(value: str | None, what: str) -> datetime:
    parsed = parse_github_time(value)
    if parsed is None:
        raise ValueError(f"{what} has no timestamp")
    return parsed


def _one_line(text: str | None) -> str:
    """The first non-blank line, trimmed to the title's 512 characters."""
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= TITLE_MAX else line[: TITLE_MAX - 1] + "…"
    return ""


def _url(value: Any) -> str:
    text = str(value or "")
    return text if len(text) <= URL_MAX else ""


def _actor(user: Mapping[str, Any] | None) -> tuple[str, int | None]:
    if not user:
        return "", None
    github_id = user.get("id")
    return str(user.get("login") or ""), int(github_id) if github_id is not None else None


def _number_from_url(*urls: Any) -> int | None:
    for url in urls:
        found = _ISSUE_NUMBER.search(str(url or ""))
        if found:
            return int(found.group(1))
    return None


# --------------------------------------------------------------------------- mapping


def commit_event(item: Mapping[str, Any]) -> EventData:
    """A commit from the commits lists (`/commits`, `/pulls/{n}/commits`) or a push
    payload. `occurred_at` is the author date. A commit whose author has no GitHub
    account (`author: null`) keeps the git author's name and a NULL actor id."""
    if "commit" in item:  # REST shape
        sha = str(item["sha"])
        git = item.get("commit") or {}
        git_author = git.get("author") or {}
        git_committer = git.get("committer") or {}
        message = git.get("message") or ""
        authored = parse_github_time(git_author.get("date"))
        committed = parse_github_time(git_committer.get("date"))
        login, github_id = _actor(item.get("author"))
        url = item.get("html_url")
    else:  # push payload shape: {"id", "message", "timestamp", "author": {name, username}}
        sha = str(item["id"])
        git_author = item.get("author") or {}
        message = item.get("message") or ""
        authored = committed = parse_github_time(item.get("timestamp"))
        login, github_id = str(git_author.get("username") or ""), None
        url = item.get("url")
    occurred_at = authored or committed
    if occurred_at is None:
        raise ValueError(f"commit {sha} has no date")
    data: dict[str, Any] = {"sha": sha, "author_name": str(git_author.get("name") or "")}
    if committed is not None:
        data["committed_at"] = committed.isoformat()
    parents = item.get("parents")
    if isinstance(parents, list):  # REST commits carry parents; push payloads do not
        data["parents"] = len(parents)
    return EventData(
        kind=EventKind.COMMIT,
        github_id=sha,
        actor_login=login or str(git_author.get("name") or ""),
        actor_github_id=github_id,
        occurred_at=occurred_at,
        title=_one_line(message),
        url=_url(url),
        number=None,
        data=data,
    )


def _lifecycle_event(
    item: Mapping[str, Any],
    kind: EventKind,
    occurred_at: datetime,
    *,
    data: dict[str, Any],
    actor_key: str | None = None,
) -> EventData:
    """One event in the life of a pull request or an issue (keyed by its number). Its
    actor is the author, or the user under `actor_key` (merged_by, closed_by) when set."""
    number = int(item["number"])
    login, github_id = _actor(item.get("user"))
    if actor_key and item.get(actor_key):
        by_login, by_id = _actor(item.get(actor_key))
        if by_login:
            login, github_id = by_login, by_id
    return EventData(
        kind=kind,
        github_id=str(number),
        actor_login=login,
        actor_github_id=github_id,
        occurred_at=occurred_at,
        title=_one_line(item.get("title")),
        url=_url(item.get("html_url")),
        number=number,
        data=data,
    )


def pull_request_events(item: Mapping[str, Any]) -> list[EventData]:
    """`pr_opened` always; `pr_merged` when merged; `pr_closed` only when closed without
    merging (a merged pull request is `pr_merged`, never also `pr_closed`)."""
    opened_at = _required_time(item.get("created_at"), f"pull request {item['number']}")
    events = [_lifecycle_event(item, EventKind.PR_OPENED, opened_at, data={"state": "open"})]
    merged_at = parse_github_time(item.get("merged_at"))
    closed_at = parse_github_time(item.get("closed_at"))
    if merged_at is not None:
        merge = {"merge_commit_sha": item.get("merge_commit_sha")}
        events.append(
            _lifecycle_event(
                item, EventKind.PR_MERGED, merged_at, data=merge, actor_key="merged_by"
            )
        )
    elif closed_at is not None:
        events.append(_lifecycle_event(item, EventKind.PR_CLOSED, closed_at, data={}))
    return events


def review_event(item: Mapping[str, Any], pull_number: int) -> EventData | None:
    """A submitted review; a pending (unsubmitted) review is not an event yet: None."""
    submitted_at = parse_github_time(item.get("submitted_at"))
    if submitted_at is None:
        return None
    login, github_id = _actor(item.get("user"))
    state = str(item.get("state") or "").upper()
    return EventData(
        kind=EventKind.REVIEW_SUBMITTED,
        github_id=str(item["id"]),
        actor_login=login,
        actor_github_id=github_id,
        occurred_at=submitted_at,
        title=_one_line(f"{state.replace('_', ' ').capitalize()} review on #{pull_number}"),
        url=_url(item.get("html_url")),
        number=int(pull_number),
        data={"state": state},
    )


def issue_events(item: Mapping[str, Any]) -> list[EventData]:
    """`issue_opened`, and `issue_closed` when closed. Pull requests appear in the
    issues list (items with a `pull_request` key): they are not issues, so []."""
    if "pull_request" in item:
        return []
    opened_at = _required_time(item.get("created_at"), f"issue {item['number']}")
    events = [_lifecycle_event(item, EventKind.ISSUE_OPENED, opened_at, data={})]
    closed_at = parse_github_time(item.get("closed_at"))
    if closed_at is not None:
        reason = {"state_reason": item.get("state_reason")}
        events.append(
            _lifecycle_event(
                item, EventKind.ISSUE_CLOSED, closed_at, data=reason, actor_key="closed_by"
            )
        )
    return events


def issue_comment_event(item: Mapping[str, Any]) -> EventData:
    """A comment on an issue or pull request; `number` is the issue's. An edited
    comment maps to the same key, so its row is updated, not duplicated."""
    return _comment_event(item, EventKind.ISSUE_COMMENT, "comment", "issue_url", {})


def review_comment_event(item: Mapping[str, Any]) -> EventData:
    """A comment on a pull request's diff (REST `pulls/comments`, or the
    `pull_request_review_comment` webhook); `number` is the pull request's. Its key is
    the comment id, so an edited comment updates its row."""
    extra = {"path": item.get("path"), "review_id": item.get("pull_request_review_id")}
    return _comment_event(
        item, EventKind.REVIEW_COMMENT, "review comment", "pull_request_url", extra
    )


def _comment_event(
    item: Mapping[str, Any], kind: EventKind, what: str, parent_url: str, extra: dict[str, Any]
) -> EventData:
    """A comment keyed on its id, dated by its creation, numbered by its parent."""
    login, github_id = _actor(item.get("user"))
    comment_id = str(item["id"])
    return EventData(
        kind=kind,
        github_id=comment_id,
        actor_login=login,
        actor_github_id=github_id,
        occurred_at=_required_time(item.get("created_at"), f"{what} {comment_id}"),
        title=_one_line(item.get("body")),
        url=_url(item.get("html_url")),
        number=_number_from_url(item.get(parent_url), item.get("html_url")),
        data={"updated_at": item.get("updated_at"), **extra},
    )


# --------------------------------------------------------------------------- storage


def events_upsert(
    *, installation: Installation, repository: Repository, events: Iterable[EventData]
) -> int:
    """Store `events` of one repository in one INSERT ... ON CONFLICT DO UPDATE on the
    natural key; returns the number of rows written (inserted or updated).

    A row that exists is updated in place (an edited comment, a PR that got merged)
    and keeps its `first_seen_at`. Duplicates within `events` are collapsed (last
    wins), because PostgreSQL refuses to update one row twice in a statement. `data` is
    merged into the stored row's, not replaced."""
    by_key: dict[tuple[str, str], EventData] = {}
    for event in events:
        by_key[event.key] = event
    if not by_key:
        return 0
    now = timezone.now()
    rows = [
        Event(
            installation=installation,
            repository=repository,
            kind=event.kind,
            github_id=event.github_id,
            actor_login=event.actor_login[:255],
            actor_github_id=event.actor_github_id,
            occurred_at=event.occurred_at,
            title=event.title[:TITLE_MAX],
            url=event.url,
            number=event.number,
            data=event.data,
            first_seen_at=now,
            updated_at=now,
        )
        for event in by_key.values()
    ]
    for start in range(0, len(rows), _BATCH):
        _merge_insert(rows[start : start + _BATCH])
    return len(rows)


_BATCH = 100
_INSERT_FIELDS = [
    "installation",
    "repository",
    "kind",
    "github_id",
    "actor_login",
    "actor_github_id",
    "occurred_at",
    "title",
    "url",
    "number",
    "data",
    "first_seen_at",
    "updated_at",
]


def _merged_data(table: str, column: str) -> str:
    """SQL for the stored `data` with the new row's keys laid over it."""
    if connection.vendor == "postgresql":
        return f"{table}.{column} || EXCLUDED.{column}"
    return f"json_patch({table}.{column}, EXCLUDED.{column})"


def _merge_insert(rows: list[Event]) -> None:
    """INSERT ... ON CONFLICT (repository, kind, github_id) DO UPDATE, every column of
    _UPDATE_FIELDS rewritten except `data`, which is merged (Django's bulk_create can
    only replace it). Values are prepared by the model's own fields."""
    by_name = {f.name: f for f in Event._meta.concrete_fields}
    quote = connection.ops.quote_name
    table = quote(Event._meta.db_table)

    def column(name: str) -> str:
        return quote(str(by_name[name].column))

    fields = [by_name[name] for name in _INSERT_FIELDS]
    columns = [column(name) for name in _INSERT_FIELDS]
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params: list[Any] = []
    for row in rows:
        for f in fields:
            params.append(f.get_db_prep_save(getattr(row, f.attname), connection))
    updates = []
    for name in _UPDATE_FIELDS:
        col = column(name)
        merged = _merged_data(table, col) if name == "data" else f"EXCLUDED.{col}"
        updates.append(f"{col} = {merged}")
    key = ", ".join(column(n) for n in ("repository", "kind", "github_id"))
    # Only quoted model metadata is formatted in; every value is a parameter.
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608
        f"VALUES {', '.join([placeholders] * len(rows))} "
        f"ON CONFLICT ({key}) DO UPDATE SET {', '.join(updates)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def events_annotate(
    *, repository: Repository, kind: str, notes: Mapping[str, Mapping[str, Any]]
) -> int:
    """Merge `notes[github_id]` into the `data` of the stored events of `kind` with those
    ids (a merged pull request's `merge_of` on its merge commit); ids not stored yet
    are left alone. Returns the number of rows changed."""
    if not notes:
        return 0
    rows = list(Event.objects.filter(repository=repository, kind=kind, github_id__in=list(notes)))
    changed = []
    for row in rows:
        merged = {**(row.data or {}), **notes[row.github_id]}
        if merged != row.data:
            row.data = merged
            changed.append(row)
    if changed:
        Event.objects.bulk_update(changed, ["data"])
    return len(changed)
