"""Pages (SPEC §8) through the Django test client: sign-in, dashboard with health
cards, installation page, the status banner's texts, the "Sync now" button (login,
CSRF, membership) and the live fragment the pages poll."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from integrations.models import (
    ErrorKind,
    Event,
    Installation,
    InstallationSyncStatus,
    Repository,
)
from sync.models import IngestionJob, JobStatus
from tests.factories import make_installation, make_job, make_user

pytestmark = pytest.mark.django_db


def text_of(html: bytes) -> str:
    """The visible text, whitespace collapsed."""
    inline_gone = re.sub(r"</?(time|span|strong|a|em|b)\b[^>]*>", "", html.decode())
    without_tags = re.sub(r"<[^>]+>", " ", inline_gone)
    return re.sub(r"\s+", " ", without_tags).strip()


def banner_of(html: bytes) -> str:
    match = re.search(rb'<div id="sync-banner".*?</div>\s*(?=<main|$)', html, re.S)
    assert match, "no banner on the page"
    return text_of(match.group(0))


def test_login_page_signs_in_and_lands_on_the_dashboard(
    client: Client, installation: Installation
) -> None:
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert b'name="username"' in page.content
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": "pw-for-tests-1"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/"
    assert b"acme" in response.content


def test_pages_need_a_login(client: Client, installation: Installation) -> None:
    for url in ("/", "/installations/4242/", "/status/live/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_dashboard_shows_a_health_card_per_installation(
    member_client: Client, installation: Installation, member: Any
) -> None:
    now = timezone.now()
    Installation.objects.filter(pk=installation.pk).update(
        rate_limit_limit=5000,
        rate_limit_remaining=4321,
        rate_limit_reset_at=now + timedelta(minutes=30),
    )
    Repository.objects.filter(full_name="acme/repo-2").update(
        last_error="GET /repos/acme/repo-2 -> 451: blocked",
        last_error_kind=ErrorKind.UNAVAILABLE,
        last_error_status=451,
    )
    make_installation(github_id=8080, account_login="beta", owner=member, last_synced_at=now)
    make_installation(github_id=9090, account_login="not-mine")
    response = member_client.get("/")
    assert response.status_code == 200
    page = text_of(response.content)
    assert "acme" in page and "beta" in page and "not-mine" not in page
    assert "Last sync 2 h ago" in page
    assert "Budget left REST 4,321 of 5,000 requests" in page
    assert "acme/repo-2 — Unavailable for legal reasons" in page
    assert "Next automatic sync" in page
    assert response.content.count(b'class="card ') == 2
    assert b"style=" not in response.content


def test_the_health_card_shows_the_rest_and_the_graphql_budget(
    member_client: Client, installation: Installation, settings: Any
) -> None:
    reset = timezone.now() + timedelta(minutes=30)
    Installation.objects.filter(pk=installation.pk).update(
        rate_limit_limit=5000,
        rate_limit_remaining=4212,
        rate_limit_reset_at=reset,
        graphql_limit=5000,
        graphql_remaining=4980,
        graphql_reset_at=reset,
    )
    html = member_client.get("/").content
    page = text_of(html)
    assert "Budget left REST 4,212 of 5,000 requests 84% GraphQL 4,980 of 5,000 points 100%" in (
        page
    )
    assert b'aria-label="GitHub GraphQL budget left"' in html
    settings.SYNC_GRAPHQL = "off"  # REST only: the GraphQL bucket is not the sync's
    assert "GraphQL" not in text_of(member_client.get("/").content)


def test_a_graphql_budget_not_reported_yet_says_so(
    member_client: Client, installation: Installation
) -> None:
    page = text_of(member_client.get(f"/installations/{installation.github_id}/").content)
    assert "Budget left REST not known yet GraphQL not known yet" in page


def test_sync_now_is_disabled_with_the_reason_during_cooldown(
    member_client: Client, installation: Installation
) -> None:
    Installation.objects.filter(pk=installation.pk).update(
        last_manual_sync_at=timezone.now() - timedelta(minutes=48)
    )
    html = member_client.get("/").content
    button = re.search(rb"<button[^>]*>\s*Sync now", html)
    assert button and b"disabled" in button.group(0)
    assert "Available in 12 min" in text_of(html)


def test_sync_now_is_enabled_when_the_policy_would_start(
    member_client: Client, installation: Installation
) -> None:
    html = member_client.get("/").content
    button = re.search(rb"<button[^>]*>\s*Sync now", html)
    assert button and b"disabled" not in button.group(0)


def test_idle_and_healthy_shows_no_banner(
    member_client: Client, installation: Installation
) -> None:
    assert banner_of(member_client.get("/").content) == ""


def test_banner_while_syncing_shows_repository_progress_events_and_elapsed(
    member_client: Client, installation: Installation
) -> None:
    make_job(
        installation,
        JobStatus.RUNNING,
        progress_current=2,
        progress_total=12,
        events_ingested=340,
        current_repository="acme/repo-2",
        started_at=timezone.now() - timedelta(minutes=3, seconds=5),
    )
    html = member_client.get("/").content
    banner = banner_of(html)
    assert "Syncing repository 3 of 12 — acme/repo-2" in banner
    assert "340 events so far" in banner
    assert "elapsed 3 min" in banner
    bar = re.search(rb'<progress[^>]*role="progressbar"[^>]*>', html)
    assert bar
    assert b'aria-valuenow="2"' in bar.group(0)
    assert b'aria-valuemin="0"' in bar.group(0)
    assert b'aria-valuemax="12"' in bar.group(0)
    assert b"data-sync-active" in html


def test_banner_while_blocked_shows_resume_time_and_countdown(
    member_client: Client, installation: Installation
) -> None:
    until = timezone.now() + timedelta(minutes=12)
    make_job(installation, JobStatus.BLOCKED, blocked_until=until)
    html = member_client.get("/").content
    assert f"Paused by GitHub's rate limit — resumes at {until:%H:%M} (in 12 min)" in banner_of(
        html
    )
    assert f'data-countdown="{until.isoformat()}"'.encode() in html


def test_banner_on_error_shows_the_normalised_error_and_sync_now(
    member_client: Client, installation: Installation
) -> None:
    Installation.objects.filter(pk=installation.pk).update(
        sync_status=InstallationSyncStatus.ERROR,
        last_sync_error="GET /repos/acme/repo-0/commits -> 401: Bad credentials (token ghs_secret)",
        last_sync_error_kind=ErrorKind.AUTHENTICATION,
    )
    html = member_client.get("/").content
    banner = banner_of(html)
    assert "GitHub authentication failed. Reinstall or reconnect the app." in banner
    assert "Sync now" in banner
    assert b"ghs_secret" not in html and b"Bad credentials" not in html


def test_banner_on_error_without_sync_now_when_the_policy_would_not_start(
    member_client: Client, installation: Installation
) -> None:
    Installation.objects.filter(pk=installation.pk).update(
        sync_status=InstallationSyncStatus.ERROR,
        last_sync_error="boom",
        last_manual_sync_at=timezone.now() - timedelta(minutes=1),
    )
    banner = banner_of(member_client.get("/").content)
    assert "Sync failed. It will be retried." in banner
    assert "Sync now" not in banner
    assert "Please wait 59 minutes before syncing again" in banner


def test_banner_after_completion_summarises_the_sync(
    member_client: Client, installation: Installation
) -> None:
    make_job(
        installation,
        JobStatus.COMPLETED,
        progress_current=12,
        progress_total=12,
        events_ingested=340,
        finished_at=timezone.now() - timedelta(seconds=20),
    )
    assert "Synced 12 repositories, 340 new events" in banner_of(member_client.get("/").content)


def test_banner_shows_a_partial_failure(member_client: Client, installation: Installation) -> None:
    Installation.objects.filter(pk=installation.pk).update(
        last_sync_error="2 repositories could not be synced",
        last_sync_error_kind=ErrorKind.PARTIAL,
        last_sync_failed_repositories=2,
    )
    assert "2 repositories could not be synced" in banner_of(member_client.get("/").content)


def test_installation_page_lists_repositories_jobs_and_events(
    member_client: Client, installation: Installation
) -> None:
    repository = Repository.objects.get(full_name="acme/repo-0")
    Repository.objects.filter(full_name="acme/repo-1").update(
        last_error="GET /repos/acme/repo-1 -> 403: Forbidden",
        last_error_kind=ErrorKind.UNAVAILABLE,
        last_error_status=403,
    )
    make_job(
        installation,
        JobStatus.FAILED,
        error="Traceback: KeyError 'x'",
        error_kind=ErrorKind.INTERNAL,
        finished_at=timezone.now(),
    )
    Event.objects.create(
        installation=installation,
        repository=repository,
        kind="pr_merged",
        github_id="17",
        number=17,
        actor_login="octocat",
        occurred_at=timezone.now() - timedelta(hours=1),
        title="Make the widgets faster",
        url="https://github.com/acme/repo-0/pull/17",
    )
    response = member_client.get("/installations/4242/")
    assert response.status_code == 200
    page = text_of(response.content)
    assert "acme/repo-0" in page and "acme/repo-2" in page
    assert "The app has no access to this repository" in page
    assert "Failed" in page and "Sync failed. It will be retried." in page
    assert "Traceback" not in page
    assert "Make the widgets faster" in page and "PR merged" in page


def test_installation_page_shows_what_each_recent_job_spent_per_1000_events(
    member_client: Client, installation: Installation
) -> None:
    done = timezone.now() - timedelta(hours=2)
    make_job(
        installation,
        JobStatus.COMPLETED,
        progress_current=2,
        progress_total=2,
        events_ingested=840,
        rest_requests=30,
        graphql_points=12,
        finished_at=done,
    )
    IngestionJob.objects.update(created_at=done)
    make_job(  # nothing new: a figure per nothing is "—", not 0 or a division by zero
        installation,
        JobStatus.COMPLETED,
        progress_current=2,
        progress_total=2,
        events_ingested=0,
        rest_requests=2,
        graphql_points=1,
        finished_at=timezone.now(),
    )
    page = text_of(member_client.get("/installations/4242/").content)
    assert "REST requests GraphQL points Budget per 1,000 events" in page
    assert "2 / 2 840 30 12 50.0" in page  # (30 + 12) * 1,000 / 840
    assert "2 / 2 0 2 1 —" in page


def test_installation_page_is_404_for_non_members_superusers_included(
    client: Client, installation: Installation
) -> None:
    client.force_login(make_user(is_superuser=True, is_staff=True))
    assert client.get("/installations/4242/").status_code == 404
    assert client.get("/installations/1/").status_code == 404
    assert client.get("/status/live/?installation=4242").status_code == 404


def test_sync_now_button_starts_a_sync_and_redirects_back_with_the_message(
    member_client: Client, installation: Installation, member: Any
) -> None:
    response = member_client.post("/installations/4242/sync", {"next": "/"}, follow=True)
    assert response.redirect_chain[0] == ("/", 302)
    assert "Sync started" in text_of(response.content)
    job = IngestionJob.objects.get(installation=installation)
    assert (job.trigger, job.actor_id) == ("manual", member.pk)
    again = member_client.post("/installations/4242/sync", follow=True)
    assert again.redirect_chain[0] == ("/installations/4242/", 302)
    assert "Sync already in progress" in text_of(again.content)
    assert IngestionJob.objects.count() == 1


def test_sync_now_ignores_an_offsite_next(
    member_client: Client, installation: Installation
) -> None:
    response = member_client.post("/installations/4242/sync", {"next": "https://evil.example/"})
    assert response["Location"] == "/installations/4242/"


def test_sync_now_button_needs_csrf_login_membership_and_post(
    installation: Installation, member: Any
) -> None:
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(member)
    assert csrf_client.post("/installations/4242/sync").status_code == 403

    anonymous = Client()
    assert anonymous.post("/installations/4242/sync").status_code == 302

    outsider = Client()
    outsider.force_login(make_user(is_superuser=True))
    assert outsider.post("/installations/4242/sync").status_code == 404

    member_client = Client()
    member_client.force_login(member)
    assert member_client.get("/installations/4242/sync").status_code == 405
    assert not IngestionJob.objects.exists()


def test_live_fragment_carries_the_banner_and_the_cards(
    member_client: Client, installation: Installation
) -> None:
    make_job(installation, JobStatus.RUNNING, progress_current=1, current_repository="acme/repo-1")
    response = member_client.get("/status/live/?installation=4242")
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    html = response.content
    assert b'id="sync-banner"' in html and b'id="health-cards"' in html
    assert b'id="card-4242"' in html
    assert "Syncing repository 2 of 3 — acme/repo-1" in text_of(html)


def test_any_signed_in_page_built_on_base_shows_the_banner(
    installation: Installation, member: Any, rf: Any
) -> None:
    from django.template.loader import render_to_string

    make_job(installation, JobStatus.RUNNING, progress_current=0, current_repository="acme/repo-0")
    request = rf.get("/somewhere/")
    request.user = member
    html = render_to_string("base.html", {}, request=request).encode()
    assert "Syncing repository 1 of 3 — acme/repo-0" in banner_of(html)


@pytest.mark.parametrize(
    "wanted",
    # superscript two, Arabic-Indic 4242, double-struck 4242: str.isdigit() says yes to all
    [
        "\u00b2",
        "\u0664\u0662\u0664\u0662",
        "\U0001d7dc\U0001d7da\U0001d7dc\U0001d7da",
        "4" * 4301,
        "9" * 20,
        "0",
        "-4242",
        "4242 ",
    ],
)
def test_live_fragment_with_a_unicode_digit_or_huge_installation_is_404_not_500(
    member_client: Client, installation: Installation, wanted: str
) -> None:
    assert member_client.get("/status/live/", {"installation": wanted}).status_code == 404


def test_installation_pages_with_a_huge_id_are_404_not_500(
    member_client: Client, installation: Installation
) -> None:
    huge = "4" * 4301
    assert member_client.get(f"/installations/{huge}/").status_code == 404
    assert member_client.post(f"/installations/{huge}/sync").status_code == 404
    assert not IngestionJob.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example/x",
        "https:alert(1)",
    ],
)
def test_event_links_are_rendered_only_for_http_and_https_urls(
    member_client: Client, installation: Installation, url: str
) -> None:
    repository = Repository.objects.get(full_name="acme/repo-0")
    for number, target in ((1, url), (2, "https://github.com/acme/repo-0/pull/2")):
        Event.objects.create(
            installation=installation, repository=repository, kind="pr_opened",
            github_id=str(number), number=number, occurred_at=timezone.now(),
            title=f"Change {number}", url=target,
        )  # fmt: skip
    html = member_client.get("/installations/4242/").content.decode()
    hrefs = re.findall(r'<a href="([^"]*)"[^>]*>Change \d', html)
    assert hrefs == ["https://github.com/acme/repo-0/pull/2"]
    assert "Change 1" in html  # still listed, as text


def test_sync_now_from_a_live_refreshed_card_returns_to_the_page_not_the_fragment(
    member_client: Client, installation: Installation
) -> None:
    for polled, page in (("/status/live/?installation=4242", "/installations/4242/"),
                         ("/status/live/", "/")):  # fmt: skip
        IngestionJob.objects.all().delete()
        Installation.objects.filter(pk=installation.pk).update(last_manual_sync_at=None)
        fragment = member_client.get(polled).content.decode()
        nexts = set(re.findall(r'name="next" value="([^"]*)"', fragment))
        assert nexts == {page}, nexts
        response = member_client.post("/installations/4242/sync", {"next": page})
        assert response["Location"] == page
