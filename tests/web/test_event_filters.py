"""The events API's filters (SPEC §6): every filter, combinations, bad values (a 400 that
names the parameter, never a 500), and the same rules for every reader."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from integrations.models import Event, Installation
from tests.factories import make_installation

pytestmark = pytest.mark.django_db


def at(day: int, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, second, tzinfo=UTC)


# (name, repository index, kind, actor, occurred_at, number)
ROWS = [
    ("c1", 0, "commit", "octocat", at(1, 9), None),
    ("p1", 0, "pr_opened", "octocat", at(1, 10), 7),
    ("r1", 1, "review_submitted", "hubot", at(2, 0, 0, 0), 7),
    ("m1", 0, "pr_merged", "Monalisa", at(2, 23, 59, 59), 7),
    ("i1", 1, "issue_opened", "hubot", at(3, 8), 9),
    ("k1", 2, "issue_comment", "monalisa", at(3, 9), 9),
    ("c2", 2, "commit", "", at(4, 1), None),
]


ALL = ["c2", "k1", "i1", "m1", "r1", "p1", "c1"]


@pytest.fixture
def events(installation: Installation) -> dict[str, Event]:
    repositories = list(installation.repositories.order_by("full_name"))
    made = {}
    for name, repo, kind, actor, when, number in ROWS:
        made[name] = Event.objects.create(
            installation=installation,
            repository=repositories[repo],
            kind=kind,
            github_id=name,
            actor_login=actor,
            occurred_at=when,
            title=f"title {name}",
            url=f"https://github.com/{repositories[repo].full_name}/x/{name}",
            number=number,
        )
    return made


def names(client: Client, query: str | dict[str, Any]) -> list[str]:
    response = (
        client.get("/api/events/", query)
        if isinstance(query, dict)
        else client.get(f"/api/events/?{query}")
    )
    assert response.status_code == 200, response.content
    return [item["github_id"] for item in response.json()["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ALL),
        ("installation=4242", ALL),
        ("repository=acme/repo-0", ["m1", "p1", "c1"]),
        ("repository=acme/repo-0&repository=acme/repo-2", ["c2", "k1", "m1", "p1", "c1"]),
        ("repository=acme/nope", []),
        ("kind=commit", ["c2", "c1"]),
        ("kind=commit&kind=pr_merged", ["c2", "m1", "c1"]),
        ("actor=hubot", ["i1", "r1"]),
        ("actor=MONALISA", ["k1", "m1"]),
        ("actor=nobody", []),
        ("number=7", ["m1", "r1", "p1"]),
        ("since=2024-03-03", ["c2", "k1", "i1"]),
        ("since=2024-03-02T00:00:00Z", ["c2", "k1", "i1", "m1", "r1"]),
        ("since=2024-03-02T00:00:01Z", ["c2", "k1", "i1", "m1"]),
        ("since=2024-03-02T01:00:00%2B01:00", ["c2", "k1", "i1", "m1", "r1"]),
        ("since=2024-03-02T00:00:00", ["c2", "k1", "i1", "m1", "r1"]),
        ("until=2024-03-02", ["m1", "r1", "p1", "c1"]),
        ("until=2024-03-02T23:59:59Z", ["m1", "r1", "p1", "c1"]),
        ("until=2024-03-02T23:59:58Z", ["r1", "p1", "c1"]),
        ("since=2024-03-02&until=2024-03-02", ["m1", "r1"]),
        ("since=2024-03-02T00:00:00Z&until=2024-03-02T00:00:00Z", ["r1"]),
        ("repository=acme/repo-0&kind=pr_opened&kind=pr_merged&actor=octocat", ["p1"]),
        ("repository=acme/repo-1&since=2024-03-02&until=2024-03-03&number=9", ["i1"]),
        ("kind=issue_comment&actor=hubot", []),
        ("kind=&repository=&actor=&since=&until=&number=", ALL),
    ],
)
def test_each_filter_and_their_combinations(
    member_client: Client, events: dict[str, Event], query: str, expected: list[str]
) -> None:
    assert names(member_client, query) == expected


def test_installation_filter_keeps_to_that_installation(
    member_client: Client, events: dict[str, Event], member: Any
) -> None:
    other = make_installation(github_id=5151, account_login="beta", owner=member, repos=1)
    Event.objects.create(
        installation=other,
        repository=other.repositories.get(),
        kind="commit",
        github_id="b1",
        occurred_at=at(5),
    )
    assert names(member_client, "installation=5151") == ["b1"]
    assert "b1" not in names(member_client, "installation=4242")
    assert names(member_client, "")[0] == "b1"


def test_filters_never_reach_other_installations(
    member_client: Client, events: dict[str, Event]
) -> None:
    hidden = make_installation(github_id=6161, account_login="hidden", repos=1)
    Event.objects.create(
        installation=hidden,
        repository=hidden.repositories.get(),
        kind="commit",
        github_id="h1",
        actor_login="octocat",
        occurred_at=at(5),
        number=7,
    )
    assert "h1" not in names(member_client, "repository=hidden/repo-0&actor=octocat&number=7")
    assert names(member_client, "repository=hidden/repo-0") == []
    for path in ("/api/events/", "/api/activity/"):
        assert member_client.get(path, {"installation": 6161}).status_code == 404


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("since=yesterday", "since"),
        ("since=2024-02-30", "since"),
        ("until=2024-13-01T00:00:00Z", "until"),
        ("until=10", "until"),
        ("kind=push", "kind"),
        ("kind=commit&kind=push", "kind"),
        ("installation=abc", "installation"),
        ("installation=1.5", "installation"),
        ("number=abc", "number"),
        ("number=0", "number"),
        ("number=-3", "number"),
        ("number=99999999999", "number"),
        ("repository=acme", "repository"),
        ("repository=acme/repo-0/extra", "repository"),
        ("repository=acme/repo-0&repository=..%2F..", "repository"),
        ("repository=" + "%20a/b%3Cscript%3E", "repository"),
        ("actor=" + "x" * 256, "actor"),
        ("since=2024-03-03&until=2024-03-02", "until"),
        ("since=2024-03-02T00:00:01Z&until=2024-03-02T00:00:00Z", "until"),
        ("format=xml", "format"),
        ("until=9999-12-31", "until"),
        ("since=0001-01-01T00:00:00Z", "since"),
        ("since=1969-12-31", "since"),
        ("since=0001-01-01T00:00:00%2B05:00", "since"),
        ("until=9999-12-31T23:00:00-05:00", "until"),
    ],
)
@pytest.mark.parametrize("path", ["/api/events/", "/api/activity/"])
def test_bad_values_are_a_400_that_names_the_parameter(
    member_client: Client, events: dict[str, Event], path: str, query: str, parameter: str
) -> None:
    if parameter == "format" and path == "/api/activity/":
        query = "group_by=team"
        parameter = "group_by"
    response = member_client.get(f"{path}?{query}")
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert list(body) == [parameter]
    assert body[parameter][0].strip()


def test_a_bad_value_with_an_export_format_is_a_json_400(
    member_client: Client, events: dict[str, Event]
) -> None:
    for export in ("csv", "ndjson"):
        response = member_client.get(f"/api/events/?format={export}&kind=push")
        assert response.status_code == 400
        assert response["Content-Type"].startswith("application/json")
        assert "kind" in response.json()


def test_too_many_repeated_values_are_refused(
    member_client: Client, events: dict[str, Event]
) -> None:
    query = "&".join(f"repository=acme/r{i}" for i in range(101))
    response = member_client.get(f"/api/events/?{query}")
    assert response.status_code == 400
    assert "repository" in response.json()


def test_filters_apply_across_cursor_pages(member_client: Client, events: dict[str, Event]) -> None:
    seen: list[str] = []
    url: str | None = "/api/events/?kind=commit&kind=pr_opened&kind=issue_comment&page_size=1"
    while url:
        body = member_client.get(url).json()
        seen += [item["github_id"] for item in body["results"]]
        url = body["next"]
    assert seen == ["c2", "k1", "p1", "c1"]
