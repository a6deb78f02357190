"""The read API (SPEC §6): exact shapes, members only (404 otherwise, superusers
included), Sync now's 202/200, events with filters and cursor pages, the schema."""

from __future__ import annotations

import base64
import io
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.authtoken.models import Token

from integrations.models import Event, Installation
from sync.models import IngestionJob, JobStatus
from sync.tokens import api_token_create, legacy_tokens_convert
from tests.factories import make_installation, make_job, make_user
from tests.spec import EVENT_KEYS, STATUS_KEYS

pytestmark = pytest.mark.django_db

DECISION_KEYS = {"action", "reason", "message", "job_id", "metadata"}


@pytest.fixture
def outsider_client(db: Any) -> Client:
    client = Client()
    client.force_login(make_user("mallory", is_superuser=True, is_staff=True))
    return client


def add_events(
    installation: Installation, count: int, *, start: datetime | None = None
) -> list[Event]:
    start = start or timezone.now() - timedelta(days=1)
    repositories = list(installation.repositories.order_by("full_name"))
    events = []
    for index in range(count):
        events.append(
            Event.objects.create(
                installation=installation,
                repository=repositories[index % len(repositories)],
                kind="commit" if index % 2 else "pr_opened",
                github_id=f"sha{index:04d}" if index % 2 else str(index),
                actor_login="octocat",
                actor_github_id=583231 if index % 3 else None,
                # Pairs share a timestamp, so the id breaks ties.
                occurred_at=start + timedelta(minutes=index // 2),
                title=f"event {index}",
                url=f"https://github.com/{repositories[0].full_name}/x/{index}",
                number=None if index % 2 else index,
                data={"sha": f"sha{index:04d}"} if index % 2 else {},
            )
        )
    return events


def test_status_list_is_the_users_installations_with_exact_keys(
    member_client: Client, installation: Installation
) -> None:
    make_installation(github_id=999, account_login="not-mine")
    response = member_client.get("/api/sync/status/")
    assert response.status_code == 200
    body = response.json()
    assert [item["installation_id"] for item in body] == [4242]
    assert list(body[0]) == STATUS_KEYS
    assert body[0]["state"] == "idle"
    assert body[0]["can_sync_now"] is True


def test_installation_status_by_github_id(
    member_client: Client, installation: Installation
) -> None:
    make_job(
        installation,
        JobStatus.RUNNING,
        progress_current=1,
        events_ingested=12,
        current_repository="acme/repo-1",
    )
    response = member_client.get("/api/installations/4242/status")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == STATUS_KEYS
    assert body["state"] == "syncing"
    assert body["active_job_progress"] == {
        "current": 1,
        "total": 3,
        "events_ingested": 12,
        "current_repository": "acme/repo-1",
    }
    assert body["unavailable_reason"] == "Sync already in progress"


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/installations/4242/status"),
        ("post", "/api/installations/4242/sync"),
        ("get", "/api/events/?installation=4242"),
        ("get", "/api/installations/5555/status"),
        ("post", "/api/installations/5555/sync"),
        ("get", "/api/installations/99999999999999999999999/status"),
        ("get", "/api/events/?installation=99999999999999999999999"),
    ],
)
def test_non_members_get_404_superusers_included(
    outsider_client: Client, installation: Installation, method: str, url: str
) -> None:
    response = getattr(outsider_client, method)(url)
    assert response.status_code == 404
    assert not IngestionJob.objects.exists()


def test_anonymous_requests_are_refused(client: Client, installation: Installation) -> None:
    assert client.get("/api/sync/status/").status_code in (401, 403)
    assert client.post("/api/installations/4242/sync").status_code in (401, 403)
    assert not IngestionJob.objects.exists()


def test_token_authentication_works(installation: Installation, member: Any) -> None:
    token = api_token_create(username=member.username).key
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/installations/4242/status").status_code == 200
    response = client.post("/api/installations/4242/sync")
    assert response.status_code == 202


def test_api_tokens_are_stored_hashed_and_expire(installation: Installation, member: Any) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command("api_token", member.username, "--days", "7", stdout=out, stderr=err)
    key = out.getvalue().strip()
    stored = AuthToken.objects.get(user=member)
    assert key not in (stored.digest, stored.token_key) and len(stored.digest) == 128
    assert timedelta(days=6, hours=23) < stored.expiry - timezone.now() <= timedelta(days=7)
    assert "expires:" in err.getvalue()
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/sync/status/").status_code == 200
    AuthToken.objects.filter(pk=stored.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    assert client.get("/api/sync/status/").status_code in (401, 403)
    garbage = Client(HTTP_AUTHORIZATION=b"Token \xff\xfe".decode("latin-1"))
    assert garbage.get("/api/sync/status/").status_code in (401, 403)


def test_old_drf_tokens_keep_working_hashed_and_expiring_after_the_migration(
    installation: Installation, member: Any, settings: Any
) -> None:
    settings.API_TOKEN_TTL_DAYS = 30
    old = Token.objects.create(user=member)
    client = Client(HTTP_AUTHORIZATION=f"Token {old.key}")
    assert client.get("/api/sync/status/").status_code in (401, 403)  # no longer read as-is
    now = timezone.now()
    assert legacy_tokens_convert(legacy_model=Token, knox_model=AuthToken, now=now) == 1
    assert not Token.objects.exists()  # no plain-text key left
    stored = AuthToken.objects.get(user=member)
    assert stored.digest != old.key and stored.expiry == now + timedelta(days=30)
    assert client.get("/api/sync/status/").status_code == 200


def test_api_token_command_refuses_an_unknown_user(db: Any) -> None:
    with pytest.raises(CommandError, match="no active user named 'nobody'"):
        call_command("api_token", "nobody", stdout=io.StringIO(), stderr=io.StringIO())


def test_sync_now_starts_with_202_and_then_answers_200_with_the_decision(
    member_client: Client, installation: Installation, member: Any
) -> None:
    started = member_client.post("/api/installations/4242/sync")
    assert started.status_code == 202
    body = started.json()
    assert set(body) == DECISION_KEYS
    assert (body["action"], body["reason"], body["message"]) == ("start", "ready", "Sync started")
    job = IngestionJob.objects.get(pk=body["job_id"])
    assert (job.trigger, job.actor_id) == ("manual", member.pk)

    again = member_client.post("/api/installations/4242/sync")
    assert again.status_code == 200
    assert again.json() == {
        "action": "skip",
        "reason": "already_syncing",
        "message": "Sync already in progress",
        "job_id": None,
        "metadata": {},
    }


def test_sync_now_during_cooldown_reports_the_wait(
    member_client: Client, installation: Installation
) -> None:
    Installation.objects.filter(pk=installation.pk).update(
        last_manual_sync_at=timezone.now() - timedelta(minutes=50)
    )
    response = member_client.post("/api/installations/4242/sync/")
    assert response.status_code == 200
    body = response.json()
    assert (body["action"], body["reason"]) == ("skip", "cooldown_active")
    assert 9 * 60_000 < body["metadata"]["cooldown_ms"] <= 10 * 60_000
    assert body["message"] == "Please wait 10 minutes before syncing again"


def test_session_posts_need_a_csrf_token(installation: Installation, member: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    assert client.post("/api/installations/4242/sync").status_code == 403
    assert not IngestionJob.objects.exists()


def test_events_have_the_exact_shape(member_client: Client, installation: Installation) -> None:
    add_events(installation, 2)
    response = member_client.get("/api/events/")
    assert response.status_code == 200
    page = response.json()
    assert set(page) == {"next", "previous", "results"}
    commit, pull = page["results"][0], page["results"][1]
    assert list(commit) == EVENT_KEYS
    assert commit["kind"] == "commit"
    assert commit["github_id"] == "sha0001"
    assert commit["repository"] == "acme/repo-1"
    assert commit["installation_id"] == 4242
    assert commit["actor_github_id"] == 583231
    assert commit["number"] is None
    assert commit["data"] == {"sha": "sha0001"}
    assert datetime.fromisoformat(commit["occurred_at"].replace("Z", "+00:00"))
    assert pull["github_id"] == "0"
    assert pull["number"] == 0
    assert pull["actor_github_id"] is None


def test_events_are_newest_first_by_occurred_at_then_id_across_cursor_pages(
    member_client: Client, installation: Installation
) -> None:
    events = add_events(installation, 25)
    expected = [
        e.github_id for e in sorted(events, key=lambda e: (e.occurred_at, e.pk), reverse=True)
    ]
    seen: list[str] = []
    url: str | None = "/api/events/?page_size=4"
    pages = 0
    while url:
        body = member_client.get(url).json()
        seen += [item["github_id"] for item in body["results"]]
        url = body["next"]
        pages += 1
    assert seen == expected
    assert pages == 7


def test_events_filters(member_client: Client, installation: Installation, member: Any) -> None:
    start = timezone.now() - timedelta(hours=5)
    add_events(installation, 10, start=start)
    other = make_installation(github_id=5151, account_login="beta", owner=member, repos=1)
    add_events(other, 3)

    def ids(query: str) -> list[tuple[int, str]]:
        response = member_client.get(f"/api/events/?{query}")
        assert response.status_code == 200, response.content
        return [
            (item["installation_id"], item["repository"]) for item in response.json()["results"]
        ]

    assert len(ids("")) == 13
    assert {i for i, _ in ids("installation=5151")} == {5151}
    assert {r for _, r in ids("repository=acme/repo-2")} == {"acme/repo-2"}
    assert len(ids("kind=commit&installation=4242")) == 5
    since = (start + timedelta(minutes=3)).isoformat()
    response = member_client.get("/api/events/", {"since": since, "installation": "4242"})
    assert len(response.json()["results"]) == 4


def test_events_of_other_installations_are_invisible(
    member_client: Client, installation: Installation
) -> None:
    add_events(make_installation(github_id=6161, account_login="hidden"), 3)
    assert member_client.get("/api/events/").json()["results"] == []
    assert member_client.get("/api/events/?repository=hidden/repo-0").json()["results"] == []


@pytest.mark.parametrize("query", ["since=yesterday", "kind=push", "installation=abc"])
def test_bad_event_filters_are_400_not_500(
    member_client: Client, installation: Installation, query: str
) -> None:
    assert member_client.get(f"/api/events/?{query}").status_code == 400


# Found by the fault suite's query fuzzing: DRF's cursor pagination checks a cursor's
# offset and direction but uses its position as it is, in the events' occurred_at
# filter; a crafted cursor (base64 of "p=2024", or of a NUL) made Django raise
# ValidationError (or psycopg refuse the NUL) and the API answered 500. That a cursor
# the API hands out still pages is test_events_are_newest_first_..._across_cursor_pages.
@pytest.mark.parametrize("position", ["2024", "\x00", "2024-13-45 99:00:00+00:00", ""])
def test_a_crafted_events_cursor_is_a_404_not_a_500(
    member: Any, installation: Installation, position: str
) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(member)
    cursor = base64.b64encode(urlencode({"p": position}).encode()).decode()

    response = client.get("/api/events/", {"cursor": cursor})

    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "Invalid cursor"}


def test_schema_documents_every_endpoint(member_client: Client) -> None:
    response = member_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/sync/status/",
        "/api/installations/{github_id}/status",
        "/api/installations/{github_id}/sync",
        "/api/events/",
        "/api/health",
    ):
        assert any(p.rstrip("/") == path.rstrip("/") for p in paths), (path, list(paths))


def test_schema_documents_every_events_filter_and_format(member_client: Client) -> None:
    schema = member_client.get(
        "/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    ).json()
    filters = {"installation", "repository", "kind", "actor", "since", "until", "number"}
    events = schema["paths"]["/api/events/"]["get"]
    parameters = {p["name"]: p for p in events["parameters"]}
    assert filters | {"format", "cursor", "page_size"} <= set(parameters)
    assert parameters["format"]["schema"]["enum"] == ["csv", "json", "ndjson"]
    assert parameters["repository"]["schema"]["type"] == "array"
    assert parameters["kind"]["schema"]["type"] == "array"
    assert all(parameters[name].get("description") for name in filters | {"format"})
    assert set(events["responses"]["200"]["content"]) == {
        "application/json",
        "text/csv",
        "application/x-ndjson",
    }
    activity = schema["paths"]["/api/activity/"]["get"]
    assert filters | {"group_by"} <= {p["name"] for p in activity["parameters"]}
    counts = activity["responses"]["200"]["content"]["application/json"]["schema"]
    assert counts["$ref"].endswith("/Activity")


def test_api_docs_page_serves_its_assets_from_the_app(member_client: Client) -> None:
    response = member_client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/api/schema/" in page
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', page)
    assert assets, page
    for asset in assets:
        assert asset.startswith("/static/"), asset
        assert "://" not in asset
    assert "cdn" not in page.lower()


@pytest.mark.parametrize("github_id", ["4" * 4301, "9" * 20, "0"])
def test_installation_routes_with_a_huge_id_are_404_not_500(
    member_client: Client, installation: Installation, github_id: str
) -> None:
    assert member_client.get(f"/api/installations/{github_id}/status").status_code == 404
    assert member_client.post(f"/api/installations/{github_id}/sync").status_code == 404
    assert not IngestionJob.objects.exists()
