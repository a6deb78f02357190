"""The events filters (SPEC §6), shared by `/api/events/`, its CSV and NDJSON exports,
`/api/activity/` and the activity page's event browser.

Every value is validated before it reaches the database: a bad one is a 400 that names
the parameter and says what is wrong, never a 500 (an out-of-range integer would be one
on PostgreSQL). `repository` and `kind` repeat (`?kind=commit&kind=pr_merged`);
`installation` is a GitHub id; `since` and `until` take an ISO 8601 datetime or a date
(`until=2024-01-31` covers that whole day); both ends are inclusive."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import django_filters
import django_filters.fields
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema_field

from integrations.models import Event, EventKind

MAX_NUMBER = 2**31 - 1
# GitHub: an owner is letters, digits and hyphens (at most 39); a repository name is
# letters, digits, "-", "_" and "." (at most 100), never "." or "..".
REPOSITORY_NAME = re.compile(r"^[A-Za-z0-9-]{1,39}/(?!\.\.?$)[A-Za-z0-9_.-]{1,100}$")
MIN_YEAR, MAX_YEAR = 1970, 2999
DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_REPEATS = 100


class WhenField(forms.Field):
    """An ISO 8601 datetime (a naive one is UTC) or a bare date, as (moment, is_date)."""

    default_error_messages = {
        "invalid": (
            "Enter an ISO 8601 date or datetime between 1970 and 2999, "
            "e.g. 2024-01-31 or 2024-01-31T12:00:00Z."
        )
    }

    def to_python(self, value: Any) -> tuple[datetime, bool] | None:
        text = str(value or "").strip()
        if not text:
            return None
        try:
            return parse_when(text)
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


def parse_when(text: str) -> tuple[datetime, bool]:
    """An ISO 8601 datetime (naive: UTC) or a bare date (its first moment, UTC), with
    whether it was a date. ValueError when it is neither, or names no real day."""
    day = parse_date(text) if DATE_ONLY.match(text) else None
    moment = None if day else parse_datetime(text)
    if moment is not None:
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, UTC)
        result = moment, False
    elif day is not None:
        result = _start_of(day), True
    else:
        raise ValueError(f"not an ISO 8601 date or datetime: {text!r}")
    # Years far from now only overflow date arithmetic (9999-12-31 plus a day), even
    # a conversion to UTC (0001-01-01T00:00:00+05:00).
    if not MIN_YEAR <= result[0].year <= MAX_YEAR:
        raise ValueError(f"not between {MIN_YEAR} and {MAX_YEAR}: {text!r}")
    return result


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


class RepeatedValuesField(forms.Field):
    """A query parameter that may repeat; each value must match `pattern`."""

    widget = forms.SelectMultiple

    def __init__(self, *args: Any, pattern: re.Pattern[str], hint: str, **kwargs: Any) -> None:
        self.pattern = pattern
        self.hint = hint
        super().__init__(*args, **kwargs)

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, str):
            value = [value]
        values = [str(v).strip() for v in (value or []) if str(v).strip()]
        if len(values) > MAX_REPEATS:
            raise ValidationError(f"At most {MAX_REPEATS} values.", code="too_many")
        bad = [v for v in values if not self.pattern.match(v)]
        if bad:
            raise ValidationError(f"{bad[0][:120]!r} is not {self.hint}.", code="invalid")
        return values


class KindsField(django_filters.fields.MultipleChoiceField):
    """Repeated `kind`; a blank value means no filter, like every other parameter."""

    def to_python(self, value: Any) -> list[str]:
        return [v for v in super().to_python(value) if v.strip()]


class KindFilter(django_filters.MultipleChoiceFilter):
    field_class = KindsField


class RepositoryFilter(django_filters.Filter):
    field_class = RepeatedValuesField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("pattern", REPOSITORY_NAME)
        kwargs.setdefault("hint", 'a repository full name, "owner/name"')
        super().__init__(*args, **kwargs)

    def filter(self, qs: QuerySet[Event], value: list[str]) -> QuerySet[Event]:
        return qs.filter(repository__full_name__in=value) if value else qs


_WHEN = {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]}


@extend_schema_field(_WHEN)
class SinceFilter(django_filters.Filter):
    field_class = WhenField

    def filter(self, qs: QuerySet[Event], value: tuple[datetime, bool] | None) -> QuerySet[Event]:
        return qs if value is None else qs.filter(occurred_at__gte=value[0])


@extend_schema_field(_WHEN)
class UntilFilter(django_filters.Filter):
    field_class = WhenField

    def filter(self, qs: QuerySet[Event], value: tuple[datetime, bool] | None) -> QuerySet[Event]:
        if value is None:
            return qs
        moment, is_date = value
        if is_date:
            return qs.filter(occurred_at__lt=moment + timedelta(days=1))
        return qs.filter(occurred_at__lte=moment)


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class EventFilterForm(forms.Form):
    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until:
            moment, is_date = until
            empty = since[0] >= moment + timedelta(days=1) if is_date else since[0] > moment
            if empty:
                self.add_error("until", "until is before since.")
        return cleaned


class EventFilter(django_filters.FilterSet):
    """The query parameters every events reader accepts."""

    # Any integer: one out of range names no installation, which the view answers
    # with a 404 like an installation the user is not a member of.
    installation = IntegerFilter(
        field_name="installation__github_id",
        help_text="The installation's GitHub id.",
    )
    repository = RepositoryFilter(
        help_text='Repository full name, "owner/name"; repeat for several.'
    )
    kind = KindFilter(choices=EventKind.choices, help_text="Event kind; repeat for several.")
    actor = django_filters.CharFilter(
        field_name="actor_login",
        lookup_expr="iexact",
        max_length=255,
        help_text="The actor's GitHub login (case-insensitive).",
    )
    since = SinceFilter(
        help_text="Occurred at or after: ISO 8601 datetime (UTC when no offset) or date."
    )
    until = UntilFilter(
        help_text="Occurred at or before: ISO 8601 datetime, or a date for that whole day."
    )
    number = IntegerFilter(
        min_value=1,
        max_value=MAX_NUMBER,
        help_text="Pull request or issue number.",
    )

    class Meta:
        model = Event
        fields: list[str] = []
        form = EventFilterForm


# The schema of the filters whose types django-filter cannot tell drf-spectacular
# (the rest it reads from the FilterSet, help texts included).
SCHEMA_PARAMETERS = [
    OpenApiParameter(
        "repository",
        {"type": "array", "items": {"type": "string", "pattern": REPOSITORY_NAME.pattern}},
        description=str(EventFilter.base_filters["repository"].extra["help_text"]),
        explode=True,
    ),
    OpenApiParameter(
        "since", _WHEN, description=str(EventFilter.base_filters["since"].extra["help_text"])
    ),
    OpenApiParameter(
        "until", _WHEN, description=str(EventFilter.base_filters["until"].extra["help_text"])
    ),
]
