"""What a job spent of GitHub's two budgets for what it stored (issue 14's stewardship
figure): REST requests plus GraphQL points per 1,000 events. Pure: no Django."""

from __future__ import annotations

NO_FIGURE = "—"


def budget_per_1000_events(
    *, rest_requests: int, graphql_points: int, events_ingested: int
) -> float | None:
    """(REST requests + GraphQL points) * 1,000 / events stored; None when the job
    stored no event (a figure per nothing would be infinite, or a misleading 0), and
    when it spent nothing it counted: storing an event takes at least one answered
    request, so that is a job finished before the counters existed, not a free one."""
    spent = rest_requests + graphql_points
    if events_ingested <= 0 or spent <= 0:
        return None
    return spent * 1000 / events_ingested


def budget_per_1000_events_text(
    *, rest_requests: int, graphql_points: int, events_ingested: int
) -> str:
    """The figure as the installation page shows it: "1,234.5", or "—" without events."""
    figure = budget_per_1000_events(
        rest_requests=rest_requests, graphql_points=graphql_points, events_ingested=events_ingested
    )
    return NO_FIGURE if figure is None else f"{figure:,.1f}"
