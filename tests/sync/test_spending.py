"""The stewardship figure: REST requests plus GraphQL points per 1,000 events stored.
Pure: no database, no mocks."""

from __future__ import annotations

import pytest

from sync.spending import budget_per_1000_events, budget_per_1000_events_text


@pytest.mark.parametrize(
    ("rest", "points", "events", "figure"),
    [
        (30, 12, 840, 50.0),
        (1, 0, 1, 1000.0),
        (0, 1, 3, 1000 / 3),
        (5000, 0, 2, 2_500_000.0),
    ],
)
def test_budget_per_1000_events_counts_requests_and_points_alike(
    rest: int, points: int, events: int, figure: float
) -> None:
    assert budget_per_1000_events(
        rest_requests=rest, graphql_points=points, events_ingested=events
    ) == pytest.approx(figure)


@pytest.mark.parametrize("events", [0, -1])
def test_no_events_stored_has_no_figure(events: int) -> None:
    assert (
        budget_per_1000_events(rest_requests=12, graphql_points=3, events_ingested=events) is None
    )
    assert (
        budget_per_1000_events_text(rest_requests=12, graphql_points=3, events_ingested=events)
        == "—"
    )


@pytest.mark.parametrize(
    ("rest", "points", "events", "text"),
    [
        (30, 12, 840, "50.0"),
        (0, 1, 3, "333.3"),
        (5000, 0, 2, "2,500,000.0"),
    ],
)
def test_the_figure_as_the_page_shows_it(rest: int, points: int, events: int, text: str) -> None:
    assert (
        budget_per_1000_events_text(
            rest_requests=rest, graphql_points=points, events_ingested=events
        )
        == text
    )


def test_a_job_that_counted_no_spend_has_no_figure_rather_than_a_free_one() -> None:
    # Jobs finished before the counters existed read 0 and 0; no stored event is free.
    assert budget_per_1000_events(rest_requests=0, graphql_points=0, events_ingested=500) is None
    assert (
        budget_per_1000_events_text(rest_requests=0, graphql_points=0, events_ingested=500) == "—"
    )
