"""The pages in a real browser (Playwright driving Debian's Chromium) against
pytest-django's live server: sign in, the health card, "Sync now", the banner's live
progress and completion, a blocked installation's countdown, an error, and no
JavaScript errors. The job's progress is driven from the test by updating the
IngestionJob row, as a worker would (the worker itself is tested elsewhere).
Screenshots of each state land in var/screenshots/."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from integrations.models import (
    ErrorKind,
    Event,
    Installation,
    InstallationSyncStatus,
    Repository,
)
from sync.models import IngestionJob, JobStatus
from tests.factories import make_installation, make_user
from tests.web.browsing import PASSWORD, shoot, sign_in

playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in_first_time(page: Any, base_url: str) -> None:
    """The dashboard sends a signed-out visitor to the login page (screenshot), then home."""
    page.goto(f"{base_url}/")
    assert "/accounts/login/" in page.url
    shoot(page, "01-sign-in")
    sign_in(page, base_url, "alice")


def add_activity(installation: Installation) -> None:
    now = timezone.now()
    kinds = [
        ("pr_merged", "Speed up the importer by batching upserts", 42),
        ("review_submitted", "Approved: Speed up the importer", 42),
        ("commit", "Fix flaky retry test", None),
        ("issue_opened", "Dashboard shows wrong budget after reset", 57),
        ("issue_comment", "Reproduced on main, looking into it", 57),
        ("pr_opened", "Add cursor pagination to the events API", 61),
    ]
    repositories = list(installation.repositories.order_by("full_name"))
    for index, (kind, title, number) in enumerate(kinds):
        repository = repositories[index % len(repositories)]
        Event.objects.create(
            installation=installation,
            repository=repository,
            kind=kind,
            github_id=f"{kind}-{index}",
            actor_login=["octocat", "hubot", "monalisa"][index % 3],
            occurred_at=now - timedelta(minutes=7 * index + 3),
            title=title,
            url=f"https://github.com/{repository.full_name}/pull/{number or index}",
            number=number,
        )


def test_sign_in_sync_now_progress_completion_blocked_countdown_and_error(
    page: Any, live_server: Any
) -> None:
    started = time.monotonic()
    base = live_server.url
    now = timezone.now()
    alice = make_user("alice", password=PASSWORD)
    acme = make_installation(
        github_id=4242,
        account_login="acme",
        repos=3,
        owner=alice,
        last_synced_at=now - timedelta(hours=2),
        rate_limit_limit=5000,
        rate_limit_remaining=4321,
        rate_limit_reset_at=now + timedelta(minutes=40),
    )
    Repository.objects.filter(full_name="acme/repo-2").update(
        last_error="GET /repos/acme/repo-2/commits -> 403: Resource not accessible by integration",
        last_error_kind=ErrorKind.UNAVAILABLE,
        last_error_status=403,
    )

    # Signed in: the health card, with Sync now available.
    sign_in_first_time(page, base)
    card = page.locator("#card-4242")
    assert card.is_visible()
    assert "Budget left" in card.text_content() and "4,321" in card.text_content()
    assert "acme/repo-2" in card.text_content()
    assert page.locator("#sync-banner").inner_text().strip() == ""
    shoot(page, "02-dashboard-healthy")

    # Sync now: the decision comes back as a message, and the banner follows the job.
    card.get_by_role("button", name="Sync now").click()
    page.wait_for_load_state()
    assert "Sync started" in page.locator(".messages").inner_text()
    job = IngestionJob.objects.get(installation=acme)
    assert (job.trigger, job.actor_id) == ("manual", alice.pk)
    assert card.get_by_role("button", name="Sync now").is_disabled()

    job.refresh_from_db()
    if job.status == JobStatus.PENDING:
        job.transition(JobStatus.RUNNING)
    job.started_at = timezone.now() - timedelta(seconds=75)
    job.progress_current = 1
    job.current_repository = "acme/repo-1"
    job.events_ingested = 148
    job.save()
    banner = page.locator("#sync-banner")
    banner.get_by_text("Syncing repository 2 of 3 — acme/repo-1").wait_for()
    bar = banner.get_by_role("progressbar")
    assert (bar.get_attribute("aria-valuenow"), bar.get_attribute("aria-valuemax")) == ("1", "3")
    assert "148 events so far" in banner.inner_text()
    assert re.search(r"elapsed 1 min \d+ s", banner.inner_text())
    shoot(page, "03-syncing")

    job.progress_current = 3
    job.current_repository = ""
    job.events_ingested = 340
    job.transition(JobStatus.COMPLETED)
    job.finished_at = timezone.now()
    job.save()
    Installation.objects.filter(pk=acme.pk).update(
        sync_status=InstallationSyncStatus.IDLE, last_synced_at=job.started_at
    )
    add_activity(acme)
    banner.get_by_text("Synced 3 repositories, 340 new events").wait_for()
    assert "Available in" in card.text_content()  # the manual cooldown has begun
    shoot(page, "04-completed")

    page.goto(f"{base}/installations/4242/")
    assert "Speed up the importer by batching upserts" in page.inner_text("main")
    assert "The app has no access to this repository" in page.inner_text("main")
    shoot(page, "05-installation")

    # A blocked installation: the resume time and a live countdown.
    until = timezone.now() + timedelta(minutes=12, seconds=30)
    make_installation(
        github_id=5151,
        account_login="beta",
        repos=2,
        owner=alice,
        last_synced_at=now - timedelta(hours=3),
        sync_status=InstallationSyncStatus.BLOCKED,
        blocked_until=until,
    )
    page.goto(f"{base}/")
    paused = page.locator("#sync-banner").get_by_text("Paused by GitHub's rate limit")
    paused.wait_for()
    assert f"resumes at {until:%H:%M} (in 12 min" in paused.inner_text()
    countdown = page.locator("#sync-banner [data-countdown]")
    first = countdown.inner_text()
    page.wait_for_timeout(1100)
    second = countdown.inner_text()
    assert re.fullmatch(r"in 12 min \d+ s", second), second
    assert first != second
    shoot(page, "06-blocked")

    # An error: the normalised message and Sync now, never the raw error.
    make_installation(
        github_id=6161,
        account_login="gamma",
        repos=2,
        owner=alice,
        last_synced_at=now - timedelta(hours=5),
        sync_status=InstallationSyncStatus.ERROR,
        last_sync_error="POST /app/installations/6161/access_tokens -> 401: Bad credentials",
        last_sync_error_kind=ErrorKind.AUTHENTICATION,
    )
    page.goto(f"{base}/installations/6161/")
    error = page.locator("#sync-banner [role=alert]")
    error.wait_for()
    assert "GitHub authentication failed. Reinstall or reconnect the app." in error.inner_text()
    assert error.get_by_role("button", name="Sync now").is_enabled()
    assert "Bad credentials" not in page.content()
    shoot(page, "07-error")

    assert page.console_errors == []
    assert time.monotonic() - started < 60
