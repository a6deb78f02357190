"""`/api/events/?format=csv|ndjson` (SPEC §6): every matching event, streamed as a
download, each row in the API's event shape, with the same filters and membership."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from integrations.models import Event, Installation
from tests.factories import make_installation
from tests.spec import EVENT_KEYS
from tests.web.activity_data import add_bulk_events, streamed

pytestmark = pytest.mark.django_db


def download(client: Client, query: str) -> tuple[Any, str]:
    response = client.get(f"/api/events/?{query}")
    assert response.status_code == 200, response.content
    assert response.streaming
    return response, streamed(response).decode()


def api_events(client: Client, query: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    url: str | None = f"/api/events/?page_size=500&{query}"
    while url:
        body = client.get(url).json()
        items += body["results"]
        url = body["next"]
    return items


@pytest.fixture
def many(installation: Installation) -> int:
    """More events than one API page, and some of an installation nobody here sees."""
    hidden = make_installation(github_id=6161, account_login="hidden", repos=1)
    add_bulk_events(hidden, 30, end=timezone.now())
    return add_bulk_events(installation, 260, end=timezone.now())


def test_ndjson_is_every_matching_event_in_the_api_shape_and_order(
    member_client: Client, many: int
) -> None:
    response, text = download(member_client, "format=ndjson")
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="ghsync-events.ndjson"'
    rows = [json.loads(line) for line in text.splitlines()]
    assert len(rows) == many
    assert all(list(row) == EVENT_KEYS for row in rows)
    assert rows == api_events(member_client, "")


def test_csv_has_a_header_and_every_matching_event(member_client: Client, many: int) -> None:
    response, text = download(member_client, "format=csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="ghsync-events.csv"'
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == EVENT_KEYS
    expected = api_events(member_client, "")
    assert len(rows) == len(expected) == many
    for row, item in zip(rows, expected, strict=True):
        assert row["github_id"] == item["github_id"]
        assert row["occurred_at"] == item["occurred_at"]
        assert row["repository"] == item["repository"]
        assert int(row["installation_id"]) == item["installation_id"]
        assert json.loads(row["data"]) == item["data"]
        assert row["number"] == ("" if item["number"] is None else str(item["number"]))


@pytest.mark.parametrize(
    "query",
    [
        "kind=commit&kind=pr_merged",
        "repository=acme/repo-1&actor=hubot",
        "number=3",
        "since={since}&until={until}",
        "installation=4242&kind=review_submitted",
    ],
)
@pytest.mark.parametrize("export", ["csv", "ndjson"])
def test_exports_apply_the_same_filters_as_the_api(
    member_client: Client, many: int, query: str, export: str
) -> None:
    now = timezone.now()
    query = query.format(
        since=(now - timedelta(days=3)).date().isoformat(),
        until=(now - timedelta(days=1)).date().isoformat(),
    )
    expected = [item["github_id"] for item in api_events(member_client, query)]
    assert expected
    _, text = download(member_client, f"format={export}&{query}")
    if export == "csv":
        got = [row["github_id"] for row in csv.DictReader(io.StringIO(text))]
    else:
        got = [json.loads(line)["github_id"] for line in text.splitlines()]
    assert got == expected


def test_exports_keep_to_the_users_installations(member_client: Client, many: int) -> None:
    for export in ("csv", "ndjson"):
        _, text = download(member_client, f"format={export}")
        assert "hidden/" not in text
        hidden = member_client.get(f"/api/events/?format={export}&installation=6161")
        assert hidden.status_code == 404


def test_anonymous_exports_are_refused(client: Client, many: int) -> None:
    assert client.get("/api/events/?format=csv").status_code == 403


def test_the_accept_header_picks_the_export_too(member_client: Client, many: int) -> None:
    response = member_client.get("/api/events/", HTTP_ACCEPT="application/x-ndjson")
    assert response.streaming
    assert len(streamed(response).splitlines()) == many


def test_csv_cells_that_a_spreadsheet_would_run_are_defused(
    member_client: Client, installation: Installation
) -> None:
    Event.objects.create(
        installation=installation,
        repository=installation.repositories.order_by("id")[0],
        kind="commit",
        github_id="f00d",
        actor_login='=HYPERLINK("http://evil")',
        occurred_at=timezone.now(),
        title="+1 from @everyone",
    )
    _, text = download(member_client, "format=csv")
    (row,) = csv.DictReader(io.StringIO(text))
    assert row["actor_login"] == '\'=HYPERLINK("http://evil")'
    assert row["title"] == "'+1 from @everyone"
    _, text = download(member_client, "format=ndjson")
    assert json.loads(text)["title"] == "+1 from @everyone"


def test_an_empty_export_is_a_header_or_nothing(
    member_client: Client, installation: Installation
) -> None:
    _, text = download(member_client, "format=csv")
    assert text.strip() == ",".join(EVENT_KEYS)
    _, text = download(member_client, "format=ndjson")
    assert text == ""
