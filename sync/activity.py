"""Activity reads (SPEC §6 `/api/activity/`, §8 the Activity page): counts of events by
day and kind, the most active people, and how long pull requests wait to be merged.

Each function takes an already filtered (and membership-checked) events queryset and
answers with one query whatever the number of events: the counting happens in the
database, not in a loop."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import TruncDate

from integrations.models import Event, EventKind

GROUP_KEYS = {"repository": "repository__full_name", "actor": "actor_login"}


def counts_by_day(events: QuerySet[Event], *, group_by: str | None = None) -> list[dict[str, Any]]:
    """`[{"day": "YYYY-MM-DD", "kind": …, "count": n}, …]` (plus `repository` or `actor`
    with `group_by`), oldest day first; one GROUP BY query."""
    keys = ["day", "kind"]
    if group_by is not None:
        keys.append(GROUP_KEYS[group_by])
    rows = (
        events.order_by()
        .annotate(day=TruncDate("occurred_at"))
        .values(*keys)
        .annotate(count=Count("id"))
        .order_by(*keys)
    )
    results = []
    for row in rows:
        item: dict[str, Any] = {"day": _day(row["day"]), "kind": row["kind"]}
        if group_by is not None:
            item[group_by] = row[GROUP_KEYS[group_by]]
        item["count"] = row["count"]
        results.append(item)
    return results


def _day(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


@dataclass(frozen=True)
class Person:
    login: str
    events: int


def most_active(events: QuerySet[Event], *, limit: int = 10) -> list[Person]:
    """The logins with the most events, most first (ties by login); one query."""
    rows = (
        events.order_by()
        .exclude(actor_login="")
        .values("actor_login")
        .annotate(count=Count("id"))
        .order_by("-count", "actor_login")[:limit]
    )
    return [Person(login=row["actor_login"], events=row["count"]) for row in rows]


@dataclass(frozen=True)
class MergeTimes:
    """Time from a pull request's opening to its merge, over the merges in the window."""

    merged: int
    median: timedelta | None
    p90: timedelta | None


def merge_times(events: QuerySet[Event]) -> MergeTimes:
    """Median and 90th percentile of open → merge for every `pr_merged` in `events`
    whose `pr_opened` is stored (one query: the opening comes from a subquery)."""
    # A pull request's events share its natural key (its number as github_id), so the
    # opening is found through the unique (repository, kind, github_id) index.
    opened = Event.objects.filter(
        repository=OuterRef("repository"),
        kind=EventKind.PR_OPENED,
        github_id=OuterRef("github_id"),
    ).values("occurred_at")[:1]
    rows = (
        events.order_by()
        .filter(kind=EventKind.PR_MERGED)
        .annotate(opened_at=Subquery(opened))
        .values_list("occurred_at", "opened_at")
    )
    waits = sorted(
        (merged - opened_at).total_seconds()
        for merged, opened_at in rows
        if opened_at is not None and merged >= opened_at
    )
    if not waits:
        return MergeTimes(merged=0, median=None, p90=None)
    return MergeTimes(
        merged=len(waits),
        median=timedelta(seconds=_percentile(waits, 50)),
        p90=timedelta(seconds=_percentile(waits, 90)),
    )


def _percentile(ordered: list[float], percent: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on sorted data."""
    rank = (len(ordered) - 1) * percent / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
