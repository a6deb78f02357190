"""Presentation of the status view-model: relative times, clock times, counts. No
policy here; every decision was made by `sync.status` before a template sees it."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from django import template
from django.utils import timezone

from integrations.models import EventKind, Repository
from sync.models import IngestionJob
from sync.spending import NO_FIGURE, budget_per_1000_events_text
from sync.status import SyncStatus, get_status_for_user, job_error, repository_error
from sync.wording import plural

register = template.Library()


@register.inclusion_tag("sync/_status_banner.html", takes_context=True)
def status_banner(
    context: template.Context, statuses: list[SyncStatus] | str | None = None
) -> dict[str, Any]:
    """The banner for every installation of the signed-in user. Pages that already
    built the statuses pass them in, so the banner costs no extra query."""
    request = context.get("request")
    if not isinstance(statuses, list):  # a page that built none: "" from the template
        user = getattr(request, "user", None)
        statuses = get_status_for_user(user, timezone.now()) if user is not None else []
    return {
        "statuses": statuses,
        "request": request,
        "many": len(statuses) > 1,
        "return_to": return_to(context),
    }


@register.simple_tag(takes_context=True)
def return_to(context: template.Context) -> str:
    """Where a form's `next` sends the user back: the page, also when the form was
    rendered in the live fragment the page polls (its view sets `return_to`)."""
    explicit = context.get("return_to")
    if explicit:
        return str(explicit)
    request = context.get("request")
    return request.get_full_path() if request is not None else ""


def _span(seconds: float, *, ceil: bool) -> str:
    seconds = max(0.0, seconds)
    minutes = math.ceil(seconds / 60) if ceil else int(seconds // 60)
    if seconds < 60 and not ceil:
        return f"{int(seconds)} s"
    if minutes < 60:
        return f"{max(1, minutes)} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{hours // 24} days"


@register.filter
def relative_to(value: datetime | None, now: datetime | None) -> str:
    """'in 12 min', '12 min ago' or 'just now', measured from `now`."""
    if value is None or now is None:
        return ""
    delta = (value - now).total_seconds()
    if abs(delta) < 30:
        return "just now"
    if delta > 0:
        return f"in {_span(delta, ceil=True)}"
    return f"{_span(-delta, ceil=False)} ago"


@register.filter
def elapsed_since(value: datetime | None, now: datetime | None) -> str:
    """'3 min 12 s' from `value` to `now`."""
    if value is None or now is None:
        return ""
    seconds = max(0, int((now - value).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@register.filter
def clock(value: datetime | None) -> str:
    """'14:05' in UTC (the service's time zone)."""
    if value is None:
        return ""
    return f"{value.astimezone(UTC):%H:%M}"


@register.filter
def stamp(value: datetime | None) -> str:
    """'2026-11-29 14:05 UTC'."""
    if value is None:
        return ""
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


@register.filter
def iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


@register.filter
def minutes_from_ms(value: int | None) -> int:
    return max(1, math.ceil((value or 0) / 60000))


@register.filter
def thousands(value: int | None) -> str:
    return f"{value:,}" if value is not None else ""


@register.filter
def repository_step(progress: dict[str, Any] | None) -> int:
    """The 1-based number of the repository being synced: 2 done of 12 → 3."""
    if not progress:
        return 0
    total = int(progress.get("total") or 0)
    current = int(progress.get("current") or 0)
    return min(current + 1, total) if total else current + 1


@register.filter
def plural_count(count: int | None, words: str) -> str:
    """`{{ 12|plural_count:"repository,repositories" }}` → '12 repositories'."""
    singular, _, plural_form = words.partition(",")
    return plural(count or 0, singular, plural_form or None)


STATE_LABELS = {"idle": "Healthy", "syncing": "Syncing", "blocked": "Paused", "error": "Error"}


@register.filter
def state_label(status: SyncStatus) -> str:
    if status.installation_status != "active":
        return str(status.installation_status).capitalize()
    if status.state == "idle" and (status.last_sync_error or status.failed_repositories):
        return "Needs attention"
    return STATE_LABELS.get(str(status.state), str(status.state))


@register.filter
def state_tone(status: SyncStatus) -> str:
    """A CSS modifier: ok, busy, paused, bad, warn, off."""
    if status.installation_status != "active":
        return "off"
    if status.state == "idle":
        return "warn" if status.last_sync_error or status.failed_repositories else "ok"
    return {"syncing": "busy", "blocked": "paused", "error": "bad"}.get(str(status.state), "ok")


@register.filter
def repository_error_text(repository: Repository) -> str:
    """The repository's failure as a person reads it (by its error kind)."""
    return repository_error(repository) or ""


@register.filter
def job_error_text(job: IngestionJob) -> str:
    """A job's failure as a person reads it (by its error kind)."""
    return job_error(job) or ""


@register.filter
def budget_per_1000(job: IngestionJob) -> str:
    """A finished job's REST requests plus GraphQL points per 1,000 events stored; "—"
    while it runs, when it stored nothing, or when it counted no spend (a job finished
    before the counters existed)."""
    if job.is_active:
        return NO_FIGURE
    return budget_per_1000_events_text(
        rest_requests=job.rest_requests,
        graphql_points=job.graphql_points,
        events_ingested=job.events_ingested,
    )


@register.filter
def fraction(value: int | None, percent: int) -> int:
    """`percent` per cent of `value`, for <meter low/high> thresholds."""
    return int((value or 0) * int(percent) / 100)


@register.filter
def kind_label(kind: str) -> str:
    """The event kind's label, as the model names it."""
    if kind in EventKind.values:
        return str(EventKind(kind).label)
    return kind.replace("_", " ").capitalize()
