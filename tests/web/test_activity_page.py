"""The Activity page (SPEC §8): members only, charts with their tables, the merge-time
figures, the event browser's filters and pages, links only to the web, linked from
the dashboard card and the installation page, constant queries."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.models import Event, Installation
from sync.activity import merge_times
from sync.templatetags.activity_charts import duration, web_link
from tests.factories import make_installation, make_user
from tests.web.activity_data import add_bulk_events
from tests.web.conftest import add_member

pytestmark = pytest.mark.django_db

URL = "/installations/4242/activity/"


def make_event(installation: Installation, name: str, **fields: Any) -> Event:
    defaults: dict[str, Any] = {
        "installation": installation,
        "repository": installation.repositories.order_by("full_name")[0],
        "kind": "commit",
        "github_id": name,
        "occurred_at": timezone.now() - timedelta(hours=1),
        "title": f"title {name}",
    }
    defaults.update(fields)
    return Event.objects.create(**defaults)


def test_members_only_superusers_included(client: Client, installation: Installation) -> None:
    assert client.get(URL).status_code == 302
    outsider = make_user("mallory", is_superuser=True, is_staff=True)
    client.force_login(outsider)
    assert client.get(URL).status_code == 404
    assert client.get("/installations/99999999999999999999/activity/").status_code == 404
    add_member(outsider, installation)
    assert client.get(URL).status_code == 200


def test_an_unknown_repository_is_a_404(member_client: Client, installation: Installation) -> None:
    assert member_client.get(URL, {"repository": "acme/nope"}).status_code == 404
    hidden = make_installation(github_id=6161, account_login="hidden", repos=1)
    assert member_client.get(URL, {"repository": "hidden/repo-0"}).status_code == 404
    assert hidden.pk


def test_linked_from_the_dashboard_card_and_the_installation_page(
    member_client: Client, installation: Installation
) -> None:
    for page in ("/", "/installations/4242/"):
        assert f'href="{URL}"' in member_client.get(page).content.decode()


def test_charts_tables_and_figures_say_the_same_as_the_data(
    member_client: Client, installation: Installation
) -> None:
    now = timezone.now()
    opened = now - timedelta(days=2)
    for number, hours in ((1, 2), (2, 4), (3, 10), (4, 30)):
        make_event(installation, str(number), kind="pr_opened", number=number, occurred_at=opened)
        make_event(
            installation,
            str(number),
            kind="pr_merged",
            number=number,
            occurred_at=opened + timedelta(hours=hours),
            actor_login="hubot",
        )
    make_event(installation, "c1", actor_login="octocat")
    response = member_client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('role="img"') == 3
    assert html.count("<table") == 3
    assert "9 events" in html
    # Median of 2, 4, 10, 30 hours is 7 h; p90 (linear) is 24 h = 1 d.
    assert "<dd>7 h</dd>" in html
    assert "<dd>1 d</dd>" in html
    day = opened.date().isoformat()
    assert f"{day}: 4 pull requests opened" in html
    row = re.search(rf"<th scope=\"row\">{day}</th>\s*<td class=\"num\">4</td>", html)
    assert row, "the opened vs merged table has the day's 4 openings"
    assert "<title>hubot: 4 events</title>" in html


def test_merge_times_are_median_and_p90_over_merges_with_a_stored_opening(
    installation: Installation,
) -> None:
    start = timezone.now() - timedelta(days=3)
    for number in range(1, 11):
        make_event(installation, str(number), kind="pr_opened", number=number, occurred_at=start)
        make_event(
            installation,
            str(number),
            kind="pr_merged",
            number=number,
            occurred_at=start + timedelta(hours=number),
        )
    make_event(installation, "99", kind="pr_merged", number=99, occurred_at=start)
    times = merge_times(Event.objects.filter(installation=installation))
    assert times.merged == 10
    assert times.median == timedelta(hours=5.5)
    assert times.p90 == timedelta(hours=9.1)


def test_the_browser_filters_and_pages(member_client: Client, installation: Installation) -> None:
    add_bulk_events(installation, 130, end=timezone.now(), days=10)
    html = member_client.get(URL, {"kind": "commit"}).content.decode()
    commits = Event.objects.filter(kind="commit").count()
    assert f"{commits} events, newest first" in html
    html = member_client.get(URL).content.decode()
    assert "130 events, newest first" in html
    assert "Page 1 of 3" in html
    assert 'href="?page=2"' in html
    html = member_client.get(URL, {"actor": "hubot", "page": "2"}).content.decode()
    assert "Page 2 of" not in html or "actor=hubot&amp;page=1" in html
    one_repo = member_client.get(URL, {"repository": "acme/repo-1"}).content.decode()
    expected = Event.objects.filter(repository__full_name="acme/repo-1").count()
    assert f"{expected} events, newest first" in one_repo
    assert '<option value="acme/repo-1"\n' in one_repo or "selected" in one_repo


def test_the_window_bounds_charts_and_list(
    member_client: Client, installation: Installation
) -> None:
    make_event(installation, "old", occurred_at=timezone.now() - timedelta(days=45))
    make_event(installation, "new")
    html = member_client.get(URL).content.decode()
    assert "1 events, newest first" in html
    since = (timezone.now() - timedelta(days=60)).date().isoformat()
    html = member_client.get(URL, {"since": since}).content.decode()
    assert "2 events, newest first" in html


@pytest.mark.parametrize(
    "query",
    [
        {"since": "yesterday"},
        {"kind": "push"},
        {"number": "abc"},
        {"since": "2000-01-01"},
        {"since": "1970-01-01", "until": "2999-12-31"},
        {"until": "9999-12-31"},
        {"since": "2024-03-05", "until": "2024-03-01"},
    ],
)
def test_bad_filters_are_explained_on_the_page(
    member_client: Client, installation: Installation, query: dict[str, str]
) -> None:
    response = member_client.get(URL, query)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert"' in html
    assert "the page shows the last 30 days instead" in html


def test_only_web_links_become_links(member_client: Client, installation: Installation) -> None:
    make_event(installation, "bad", url="javascript:alert(1)", title="evil")
    make_event(installation, "good", url="https://github.com/acme/repo-0/commit/1", title="ok")
    html = member_client.get(URL).content.decode()
    assert "javascript:" not in html
    assert 'href="https://github.com/acme/repo-0/commit/1"' in html
    assert web_link("HTTPS://github.com/x") == "HTTPS://github.com/x"
    assert web_link("data:text/html,x") == ""
    assert web_link("//evil.example/x") == ""
    assert web_link(" javascript:x") == ""


def test_duration_words() -> None:
    assert duration(None) == "—"
    assert duration(timedelta(seconds=30)) == "under a minute"
    assert duration(timedelta(minutes=12)) == "12 min"
    assert duration(timedelta(hours=5, minutes=20)) == "5 h 20 min"
    assert duration(timedelta(days=3, hours=4)) == "3 d 4 h"
    assert duration(timedelta(days=2)) == "2 d"


def queries_for(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_page_makes_the_same_queries_for_1k_and_50k_events(
    member_client: Client, installation: Installation
) -> None:
    end = timezone.now()
    urls = [URL, f"{URL}?repository=acme/repo-1&kind=commit&page=3"]
    add_bulk_events(installation, 1_000, end=end, days=28)
    small = [queries_for(member_client, url) for url in urls]
    add_bulk_events(installation, 49_000, end=end, days=28, offset=1_000)
    large = [queries_for(member_client, url) for url in urls]
    assert small == large
    assert max(large) <= 15


def test_one_repositorys_page_counts_only_its_events(
    member_client: Client, installation: Installation
) -> None:
    add_bulk_events(installation, 120, end=timezone.now(), days=10)
    expected = Event.objects.filter(repository__full_name="acme/repo-1")
    html = member_client.get(URL, {"repository": "acme/repo-1"}).content.decode()
    assert f"· {expected.count()} events" in html
    people = {e.actor_login for e in expected}
    for bar in re.findall(r"<title>([^<:]+): (\d+) events</title>", html):
        assert bar[0] in people
        assert int(bar[1]) == expected.filter(actor_login=bar[0]).count()
