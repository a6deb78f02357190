"""`GET /api/activity/` (SPEC §6): counts by day and kind (optionally by repository or
actor), with the events filters; the counts add up to the events the same filters
return; one aggregate query whatever the number of events."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.models import Event, Installation
from tests.factories import make_installation
from tests.web.activity_data import add_bulk_events, streamed

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded(installation: Installation) -> int:
    hidden = make_installation(github_id=6161, account_login="hidden", repos=1)
    add_bulk_events(hidden, 40, end=timezone.now())
    return add_bulk_events(installation, 300, end=timezone.now())


def activity(client: Client, query: str = "") -> dict[str, Any]:
    response = client.get(f"/api/activity/?{query}")
    assert response.status_code == 200, response.content
    return response.json()


def expected_counts(query: dict[str, Any], key: str | None = None) -> Counter[tuple[str, ...]]:
    counts: Counter[tuple[str, ...]] = Counter()
    events = Event.objects.filter(installation__github_id=4242, **query)
    for event in events.select_related("repository"):
        extra: tuple[str, ...] = ()
        if key == "repository":
            extra = (event.repository.full_name,)
        elif key == "actor":
            extra = (event.actor_login,)
        counts[(event.occurred_at.date().isoformat(), event.kind, *extra)] += 1
    return counts


def test_counts_by_day_and_kind_have_the_exact_shape_and_add_up(
    member_client: Client, loaded: int
) -> None:
    body = activity(member_client)
    assert list(body) == ["total", "results"]
    assert body["total"] == loaded
    assert all(list(row) == ["day", "kind", "count"] for row in body["results"])
    assert sum(row["count"] for row in body["results"]) == loaded
    got = Counter({(row["day"], row["kind"]): row["count"] for row in body["results"]})
    assert got == expected_counts({})
    keys = [(row["day"], row["kind"]) for row in body["results"]]
    assert keys == sorted(keys)


@pytest.mark.parametrize("group_by", ["repository", "actor"])
def test_group_by_adds_the_key(member_client: Client, loaded: int, group_by: str) -> None:
    body = activity(member_client, f"group_by={group_by}")
    assert body["total"] == loaded
    assert all(list(row) == ["day", "kind", group_by, "count"] for row in body["results"])
    got = Counter(
        {(row["day"], row["kind"], row[group_by]): row["count"] for row in body["results"]}
    )
    assert got == expected_counts({}, group_by)
    assert "hidden/repo-0" not in {row.get("repository") for row in body["results"]}


@pytest.mark.parametrize(
    ("query", "orm"),
    [
        ("kind=commit&kind=pr_merged", {"kind__in": ["commit", "pr_merged"]}),
        ("repository=acme/repo-2", {"repository__full_name": "acme/repo-2"}),
        ("actor=HUBOT", {"actor_login": "hubot"}),
        ("number=5", {"number": 5}),
        ("installation=4242", {}),
    ],
)
def test_filters_narrow_the_counts_like_the_events(
    member_client: Client, loaded: int, query: str, orm: dict[str, Any]
) -> None:
    body = activity(member_client, query)
    got = Counter({(row["day"], row["kind"]): row["count"] for row in body["results"]})
    assert got == expected_counts(orm)
    assert body["total"] == sum(got.values()) > 0
    events = member_client.get(f"/api/events/?format=ndjson&{query}")
    assert body["total"] == len(streamed(events).splitlines())


def test_a_window_counts_only_its_days(member_client: Client, loaded: int) -> None:
    day = (timezone.now() - timedelta(days=2)).date()
    body = activity(member_client, f"since={day}&until={day}")
    assert {row["day"] for row in body["results"]} == {day.isoformat()}
    assert body["total"] == sum(
        c for (d, _), c in expected_counts({}).items() if d == day.isoformat()
    )


def test_no_events_is_zero(member_client: Client, installation: Installation) -> None:
    assert activity(member_client) == {"total": 0, "results": []}


def test_anonymous_is_refused(client: Client, loaded: int) -> None:
    assert client.get("/api/activity/").status_code == 403


def queries_for(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        assert response.status_code == 200
    return len(captured)


QUERIES = ["", "group_by=repository", "group_by=actor&installation=4242&kind=commit"]


def test_the_query_count_is_the_same_for_1k_and_50k_events(
    member_client: Client, installation: Installation, django_assert_num_queries: Any
) -> None:
    end = timezone.now()
    add_bulk_events(installation, 1_000, end=end, days=60)
    small = {query: queries_for(member_client, f"/api/activity/?{query}") for query in QUERIES}
    add_bulk_events(installation, 49_000, end=end, days=60, offset=1_000)
    for query in QUERIES:
        with django_assert_num_queries(small[query]):
            body = member_client.get(f"/api/activity/?{query}").json()
        assert body["total"] == sum(row["count"] for row in body["results"])
    assert member_client.get("/api/activity/").json()["total"] == 50_000
    # The session, the user, the one aggregate (+ the membership check with ?installation).
    assert small == {QUERIES[0]: 3, QUERIES[1]: 3, QUERIES[2]: 4}
