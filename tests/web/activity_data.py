"""Events in bulk for the filters, exports and activity tests: rows written directly with
bulk_create, spread deterministically over repositories, kinds, people and days."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from integrations.models import Event, EventKind, Installation

PEOPLE = ["octocat", "hubot", "monalisa", "Spacecat"]
KINDS = [
    EventKind.COMMIT,
    EventKind.PR_OPENED,
    EventKind.PR_MERGED,
    EventKind.REVIEW_SUBMITTED,
    EventKind.ISSUE_OPENED,
    EventKind.ISSUE_COMMENT,
]


SUBJECTS = [
    "the importer's batch upserts",
    "cursor pagination in the events API",
    "the retry budget after a rate limit",
    "flaky webhook signature test",
    "dashboard budget after a reset",
    "ETag reuse across tokens",
    "the sync banner's progress bar",
    "timezone handling in exports",
]
VERBS = {
    EventKind.COMMIT: "Fix",
    EventKind.PR_OPENED: "Improve",
    EventKind.PR_MERGED: "Improve",
    EventKind.REVIEW_SUBMITTED: "Review: improve",
    EventKind.ISSUE_OPENED: "Bug in",
    EventKind.ISSUE_COMMENT: "Re: bug in",
}


def event_stream(
    installation: Installation, count: int, *, end: datetime, days: int = 14, offset: int = 0
) -> Iterator[Event]:
    """`count` unsaved events, the i-th of kind KINDS[i % 6], by PEOPLE[i % 4], in
    repository i % repos, i hours before `end` wrapped over `days` days. A pull request
    number n is opened at index 6k+1 and merged (same number) at 6k+2, an hour later."""
    repositories = list(installation.repositories.order_by("full_name"))
    for index in range(offset, offset + count):
        kind = KINDS[index % len(KINDS)]
        repository = repositories[(index // len(KINDS)) % len(repositories)]
        number = index // len(KINDS) + 1
        hours = (index * 7) % (days * 24)
        occurred_at = end - timedelta(hours=hours, minutes=index % 60)
        if kind == EventKind.PR_MERGED:
            # Merged index % 5 + 1 hours after its opening (the event before it).
            opened = end - timedelta(
                hours=((index - 1) * 7) % (days * 24), minutes=(index - 1) % 60
            )
            occurred_at = min(opened + timedelta(hours=index % 5 + 1), end)
        if kind == EventKind.COMMIT:
            github_id = f"{index:040x}"
        elif kind in (EventKind.PR_OPENED, EventKind.PR_MERGED):
            github_id = str(number)
        else:
            github_id = str(index)
        yield Event(
            installation=installation,
            repository=repository,
            kind=kind,
            github_id=github_id,
            actor_login=PEOPLE[index % len(PEOPLE)],
            actor_github_id=1000 + index % len(PEOPLE),
            occurred_at=occurred_at,
            title=f"{VERBS[kind]} {SUBJECTS[number % len(SUBJECTS)]}",
            url=f"https://github.com/{repository.full_name}/pull/{number}",
            number=None if kind == EventKind.COMMIT else number,
            data={"sha": github_id} if kind == EventKind.COMMIT else {},
        )


def add_bulk_events(
    installation: Installation, count: int, *, end: datetime, days: int = 14, offset: int = 0
) -> int:
    batch: list[Event] = []
    for event in event_stream(installation, count, end=end, days=days, offset=offset):
        batch.append(event)
        if len(batch) >= 5000:
            Event.objects.bulk_create(batch)
            batch = []
    Event.objects.bulk_create(batch)
    return count


def streamed(response: Any) -> bytes:
    """The whole body of a streaming response."""
    return b"".join(response.streaming_content)
