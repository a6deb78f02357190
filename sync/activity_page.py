"""The Activity page (SPEC §8): `/installations/{github_id}/activity/`, or one
repository with `?repository=owner/name`. Charts over a window of days (events per day
by kind, the most active people, pull requests opened vs merged, open → merge time),
each with a table, and an event browser with the API's filters, paged.

Membership decides, as on every page (404 otherwise, superusers included). The number
of queries is the same whatever the number of events: every figure is an aggregate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from integrations.models import Event, EventKind, Installation, Repository
from sync.activity import counts_by_day, merge_times, most_active
from sync.api.filters import EventFilter
from sync.charts import grouped_columns, horizontal_bars, stacked_columns
from sync.selectors import installation_for_member, repositories_of
from sync.status import get_status_for_user

MAX_GITHUB_ID = 2**63 - 1
DEFAULT_DAYS = 30
MAX_DAYS = 366
PAGE_SIZE = 50
KIND_NAMES = {
    "commit": "commits",
    "pr_opened": "pull requests opened",
    "pr_merged": "pull requests merged",
    "pr_closed": "pull requests closed",
    "review_submitted": "reviews",
    "issue_opened": "issues opened",
    "issue_closed": "issues closed",
    "issue_comment": "comments",
    "review_comment": "review comments",
}


@dataclass(frozen=True)
class Window:
    """The charts' days, both ends included."""

    first: date
    last: date

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def _window(cleaned: dict[str, Any], today: date) -> Window:
    since, until = cleaned.get("since"), cleaned.get("until")
    last = until[0].date() if until else today
    first = since[0].date() if since else last - timedelta(days=DEFAULT_DAYS - 1)
    return Window(first=first, last=max(first, last))


def _member_installation(request: HttpRequest, github_id: int) -> Installation:
    installation = None
    if 0 < github_id <= MAX_GITHUB_ID:
        installation = installation_for_member(user=request.user, github_id=github_id)
    if installation is None:
        raise Http404("No such installation")
    return installation


def _filters(query: QueryDict, repository: Repository | None) -> QueryDict:
    """The page's query as the events filters: its installation and repository are the
    page's own; the window defaults to the last DEFAULT_DAYS days."""
    data = query.copy()
    for key in ("installation", "page", "repository"):
        data.pop(key, None)
    if repository is not None:
        data["repository"] = repository.full_name
    if not data.get("since") and not data.get("until"):
        today = timezone.now().date()
        data["since"] = (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
    return data


def _kind_chart(window: Window, counts: list[dict[str, Any]]) -> dict[str, Any]:
    by_day: dict[tuple[str, str], int] = {(c["day"], c["kind"]): c["count"] for c in counts}
    present = {c["kind"] for c in counts}
    kinds = [kind for kind in EventKind.values if kind in present]
    days = [day.isoformat() for day in window.days]
    matrix = [[by_day.get((day, kind), 0) for kind in kinds] for day in days]
    chart = stacked_columns(
        days,
        kinds,
        matrix,
        series_names=KIND_NAMES,
        tick_labels=[f"{day:%b} {day.day}" for day in window.days],
    )
    rows = [
        {"day": day, "counts": counts_row, "total": sum(counts_row)}
        for day, counts_row in zip(days, matrix, strict=True)
        if sum(counts_row)
    ]
    return {"chart": chart, "kinds": kinds, "rows": rows}


def _pull_chart(window: Window, counts: list[dict[str, Any]]) -> dict[str, Any]:
    series = [EventKind.PR_OPENED.value, EventKind.PR_MERGED.value]
    by_day: dict[tuple[str, str], int] = {(c["day"], c["kind"]): c["count"] for c in counts}
    days = [day.isoformat() for day in window.days]
    matrix = [[by_day.get((day, kind), 0) for kind in series] for day in days]
    chart = grouped_columns(
        days,
        series,
        matrix,
        series_names=KIND_NAMES,
        tick_labels=[f"{day:%b} {day.day}" for day in window.days],
    )
    rows = [
        {"day": day, "opened": opened, "merged": merged}
        for day, (opened, merged) in zip(days, matrix, strict=True)
        if opened or merged
    ]
    return {
        "chart": chart,
        "rows": rows,
        "opened": sum(r["opened"] for r in rows),
        "merged": sum(r["merged"] for r in rows),
    }


def _page_query(query: QueryDict) -> str:
    keep = query.copy()
    keep.pop("page", None)
    return keep.urlencode()


@require_GET
@login_required
def installation_activity(request: HttpRequest, github_id: int) -> HttpResponse:
    installation = _member_installation(request, github_id)
    repositories = list(repositories_of(installation))
    wanted = request.GET.get("repository", "")
    repository = next((r for r in repositories if r.full_name == wanted), None)
    if wanted and repository is None:
        raise Http404("No such repository")
    events: QuerySet[Event] = Event.objects.filter(installation=installation)
    filters = EventFilter(_filters(request.GET, repository), queryset=events)
    # Filters that do not validate are explained on the page (a form re-rendered with
    # its errors answers 200, as Django's forms do); the page falls back to its defaults.
    valid = filters.is_valid()
    cleaned = filters.form.cleaned_data if valid else {}
    now = timezone.now()
    window = _window(cleaned, now.date())
    if (window.last - window.first).days >= MAX_DAYS:
        filters.form.add_error("since", f"Choose a window of at most {MAX_DAYS} days.")
        valid = False
        window = _window({}, now.date())
    form = filters.form  # shown as it was sent, with its errors
    if not valid:
        filters = EventFilter(_filters(QueryDict(), repository), queryset=events)
        filters.is_valid()
    window_only = QueryDict(mutable=True)
    for key in ("since", "until", "repository"):
        window_only.setlist(key, filters.data.getlist(key))
    window_events = EventFilter(window_only, queryset=events).qs
    counts = counts_by_day(window_events)
    paginator = Paginator(
        filters.qs.select_related("repository").order_by("-occurred_at", "-id"), PAGE_SIZE
    )
    context = {
        "installation": installation,
        "repository": repository,
        "repositories": repositories,
        "statuses": get_status_for_user(request.user, now),
        "live_installation": installation.github_id,
        "window": window,
        "total": sum(c["count"] for c in counts),
        "kinds_chart": _kind_chart(window, counts),
        "pulls_chart": _pull_chart(window, counts),
        "people": horizontal_bars(
            [(p.login, p.events) for p in most_active(window_events, limit=10)]
        ),
        "merge": merge_times(window_events),
        "form": form,
        "kinds": [(kind, KIND_NAMES.get(kind, kind)) for kind in EventKind.values],
        "chosen_kinds": request.GET.getlist("kind"),
        "page": paginator.get_page(request.GET.get("page")),
        "page_query": _page_query(request.GET),
        "now": now,
    }
    return render(request, "sync/activity.html", context)
