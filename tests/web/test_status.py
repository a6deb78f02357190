"""The status view-model (SPEC §7): every state, the normalised errors, the policy's
answer to "Sync now", and a constant number of queries whatever the count."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.models import (
    ErrorKind,
    Installation,
    InstallationStatus,
    InstallationSyncStatus,
    Repository,
)
from sync.models import JobStatus
from sync.policy import Trigger
from sync.services import request_sync
from sync.status import (
    AUTHENTICATION_MESSAGE,
    GENERIC_MESSAGE,
    NETWORK_MESSAGE,
    RATE_LIMIT_MESSAGE,
    State,
    error_message,
    get_status,
    get_status_for_all,
    get_status_for_user,
)
from tests.factories import make_installation, make_job, make_user
from tests.spec import STATUS_KEYS
from tests.web.conftest import add_member

pytestmark = pytest.mark.django_db


def test_idle_and_healthy_installation_can_sync_now(
    installation: Installation, now: datetime
) -> None:
    status = get_status(installation, now)
    assert status.state == State.IDLE
    assert status.can_sync_now is True
    assert status.unavailable_reason is None
    assert status.cooldown_ms is None
    assert status.blocked_until is None
    assert status.active_job_progress is None
    assert status.last_sync_error is None
    assert status.installation_id == 4242
    assert status.account_login == "acme"
    assert status.last_synced_at == installation.last_synced_at


def test_as_dict_has_exactly_the_spec_keys_and_is_json_ready(
    installation: Installation, now: datetime
) -> None:
    Installation.objects.filter(pk=installation.pk).update(blocked_until=now + timedelta(minutes=5))
    body = get_status(installation, now).as_dict()
    assert list(body) == STATUS_KEYS
    assert json.loads(json.dumps(body)) == body
    assert body["state"] == "blocked"
    assert datetime.fromisoformat(body["blocked_until"]) == now + timedelta(minutes=5)
    assert datetime.fromisoformat(body["last_synced_at"]) == installation.last_synced_at


@pytest.mark.parametrize("job_status", [JobStatus.PENDING, JobStatus.RUNNING])
def test_syncing_while_the_active_job_is_pending_or_running_with_progress(
    installation: Installation, now: datetime, job_status: str
) -> None:
    make_job(
        installation,
        job_status,
        progress_current=1,
        progress_total=3,
        events_ingested=57,
        current_repository="acme/repo-1",
    )
    status = get_status(installation, now)
    assert status.state == State.SYNCING
    assert status.active_job_progress == {
        "current": 1,
        "total": 3,
        "events_ingested": 57,
        "current_repository": "acme/repo-1",
    }
    assert status.can_sync_now is False
    assert status.unavailable_reason == "Sync already in progress"
    assert status.as_dict()["active_job_progress"]["current_repository"] == "acme/repo-1"


def test_blocked_while_the_active_job_is_blocked_with_its_blocked_until(
    installation: Installation, now: datetime
) -> None:
    until = now + timedelta(minutes=12)
    make_job(installation, JobStatus.BLOCKED, blocked_until=until, progress_current=2)
    status = get_status(installation, now)
    assert status.state == State.BLOCKED
    assert status.blocked_until == until
    assert status.active_job_progress is not None
    assert status.active_job_progress["current"] == 2
    assert status.can_sync_now is False


def test_blocked_after_a_request_was_refused_for_the_rate_limit(
    installation: Installation, now: datetime
) -> None:
    installation.rate_limit_limit = 5000
    installation.rate_limit_remaining = 20
    installation.rate_limit_reset_at = now + timedelta(minutes=30)
    installation.save()
    decision = request_sync(installation_id=installation.pk, trigger=Trigger.WEBHOOK, now=now)
    assert decision.reason == "rate_limited"
    status = get_status(installation, now)
    assert status.state == State.BLOCKED
    assert status.blocked_until == now + timedelta(minutes=30)
    assert status.can_sync_now is False
    assert status.unavailable_reason == (
        f"GitHub rate limit reached. Sync resumes at {(now + timedelta(minutes=30)):%H:%M} UTC."
    )


def test_an_expired_block_is_not_blocked(installation: Installation, now: datetime) -> None:
    Installation.objects.filter(pk=installation.pk).update(
        blocked_until=now - timedelta(seconds=1), sync_status=InstallationSyncStatus.BLOCKED
    )
    status = get_status(installation, now)
    assert status.state == State.IDLE
    assert status.blocked_until is None
    assert status.can_sync_now is True


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        (
            ErrorKind.RATE_LIMIT,
            "GET /repos/a/b/commits -> 403: primary rate limit until 2026-11-29T15:00:00+00:00",
            RATE_LIMIT_MESSAGE,
        ),
        (
            ErrorKind.AUTHENTICATION,
            "GET /repos/a/b/pulls -> 401: Bad credentials",
            AUTHENTICATION_MESSAGE,
        ),
        (ErrorKind.NETWORK, "GET /repos/a/b/issues -> 502 after 4 attempts", NETWORK_MESSAGE),
        (ErrorKind.INTERNAL, "Job timed out", GENERIC_MESSAGE),
        (
            ErrorKind.INTERNAL,
            "Traceback (most recent call last):\nKeyError: 'sha'",
            GENERIC_MESSAGE,
        ),
        (ErrorKind.SUSPENDED, "This installation is suspended", "This installation is suspended"),
        # A row stored before kinds existed has none: it reads as internal.
        (None, "GET /repos/a/b/issues -> ConnectionError after 4 attempts", GENERIC_MESSAGE),
    ],
)
def test_error_state_shows_the_sentence_of_the_kind_never_the_raw_text(
    installation: Installation, now: datetime, kind: ErrorKind | None, raw: str, message: str
) -> None:
    Installation.objects.filter(pk=installation.pk).update(
        sync_status=InstallationSyncStatus.ERROR,
        last_sync_error=raw,
        last_sync_error_kind=kind,
        last_sync_error_at=now,
    )
    status = get_status(installation, now)
    assert status.state == State.ERROR
    assert status.last_sync_error == message
    if raw != message:
        assert raw not in json.dumps(status.as_dict())


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        # Text that once fooled the patterns: the kind decides, whatever the words say.
        ("GET /repos/acme/token-service/commits -> 502 after 4 attempts", ErrorKind.NETWORK),
        ("GET /repos/acme/rate-limit-dashboard/issues -> 404: Not Found", ErrorKind.AUTHENTICATION),
        ("POST /app/installations/1/access_tokens -> 502 after 4 attempts", ErrorKind.NETWORK),
    ],
)
def test_the_stored_words_never_choose_the_message(
    installation: Installation, now: datetime, raw: str, kind: ErrorKind
) -> None:
    Installation.objects.filter(pk=installation.pk).update(
        sync_status=InstallationSyncStatus.ERROR, last_sync_error=raw, last_sync_error_kind=kind
    )
    assert get_status(installation, now).last_sync_error == error_message(kind)


def test_a_removed_installation_with_the_suspended_kind_says_it_was_removed(
    installation: Installation, now: datetime
) -> None:
    Installation.objects.filter(pk=installation.pk).update(
        status=InstallationStatus.DELETED,
        sync_status=InstallationSyncStatus.ERROR,
        last_sync_error="removed while syncing",
        last_sync_error_kind=ErrorKind.SUSPENDED,
    )
    assert (
        get_status(installation, now).last_sync_error == "This installation was removed from GitHub"
    )


def test_error_state_without_a_recorded_error_still_says_something(
    installation: Installation, now: datetime
) -> None:
    Installation.objects.filter(pk=installation.pk).update(sync_status=InstallationSyncStatus.ERROR)
    assert get_status(installation, now).last_sync_error == GENERIC_MESSAGE


@pytest.mark.parametrize(
    ("count", "message"),
    [
        (1, "1 repository could not be synced"),
        (3, "3 repositories could not be synced"),
        (1200, "1,200 repositories could not be synced"),
    ],
)
def test_partial_failure_is_idle_with_its_message_built_from_the_count(
    installation: Installation, now: datetime, count: int, message: str
) -> None:
    Installation.objects.filter(pk=installation.pk).update(
        sync_status=InstallationSyncStatus.IDLE,
        # The raw text is for logs; the message comes from the kind and the count.
        last_sync_error="something else entirely",
        last_sync_error_kind=ErrorKind.PARTIAL,
        last_sync_failed_repositories=count,
    )
    status = get_status(installation, now)
    assert status.state == State.IDLE
    assert status.last_sync_error == message
    assert status.can_sync_now is True


def test_no_recorded_error_reads_as_none(installation: Installation, now: datetime) -> None:
    Installation.objects.filter(pk=installation.pk).update(last_sync_error="")
    assert get_status(installation, now).last_sync_error is None


def test_an_error_then_a_rate_limit_refusal_shows_blocked_then_the_error_again(
    installation: Installation, now: datetime
) -> None:
    """SPEC §7: error when the last finished job failed, whatever refusals came after."""
    Installation.objects.filter(pk=installation.pk).update(
        sync_status=InstallationSyncStatus.ERROR,
        last_sync_error="GET /x -> 401",
        last_sync_error_kind=ErrorKind.AUTHENTICATION,
        last_sync_error_at=now - timedelta(hours=2),
        rate_limit_limit=5000,
        rate_limit_remaining=20,
        rate_limit_reset_at=now + timedelta(minutes=30),
    )
    decision = request_sync(installation_id=installation.pk, trigger=Trigger.WEBHOOK, now=now)
    assert decision.reason == "rate_limited"
    assert get_status(installation, now).state == State.BLOCKED
    later = now + timedelta(minutes=31)
    status = get_status(installation, later)
    assert status.state == State.ERROR
    assert status.last_sync_error == AUTHENTICATION_MESSAGE


@pytest.mark.parametrize(
    ("status_code", "message"),
    [
        (404, "Repository not found on GitHub"),
        (410, "Repository not found on GitHub"),
        (451, "Unavailable for legal reasons"),
        (403, "The app has no access to this repository"),
    ],
)
def test_an_unavailable_repository_reads_by_its_http_status(
    installation: Installation, now: datetime, status_code: int, message: str
) -> None:
    Repository.objects.filter(full_name="acme/repo-1").update(
        last_error="GET /repos/acme/repo-1 -> whatever",
        last_error_kind=ErrorKind.UNAVAILABLE,
        last_error_status=status_code,
    )
    status = get_status(installation, now)
    assert [(f.full_name, f.error) for f in status.failed_repositories] == [
        ("acme/repo-1", message)
    ]


def test_cooldown_reports_the_remaining_milliseconds_and_the_policy_message(
    installation: Installation, now: datetime
) -> None:
    Installation.objects.filter(pk=installation.pk).update(
        last_manual_sync_at=now - timedelta(minutes=45)
    )
    status = get_status(installation, now)
    assert status.state == State.IDLE
    assert status.can_sync_now is False
    assert status.cooldown_ms == 15 * 60 * 1000
    assert status.unavailable_reason == "Please wait 15 minutes before syncing again"


def test_cooldown_follows_the_setting_at_call_time(
    installation: Installation, now: datetime, settings: Any
) -> None:
    Installation.objects.filter(pk=installation.pk).update(
        last_manual_sync_at=now - timedelta(minutes=45)
    )
    settings.SYNC_MANUAL_COOLDOWN_SECONDS = 30 * 60
    status = get_status(installation, now)
    assert status.can_sync_now is True
    assert status.cooldown_ms is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"status": InstallationStatus.SUSPENDED}, "This installation is suspended"),
    ],
)
def test_inactive_installation_cannot_sync_and_says_why(
    installation: Installation, now: datetime, change: dict[str, Any], reason: str
) -> None:
    Installation.objects.filter(pk=installation.pk).update(**change)
    status = get_status(installation, now)
    assert status.can_sync_now is False
    assert status.unavailable_reason == reason
    assert status.next_sync_at is None


def test_installation_without_repositories_cannot_sync(
    installation: Installation, now: datetime
) -> None:
    Repository.objects.filter(installation=installation).update(is_active=False)
    status = get_status(installation, now)
    assert status.can_sync_now is False
    assert status.unavailable_reason == "No repositories selected for sync"


def test_health_card_fields_budget_next_sync_and_failed_repositories(
    installation: Installation, now: datetime, settings: Any
) -> None:
    settings.SYNC_CRON_DUE_AFTER_SECONDS = 3 * 3600
    Installation.objects.filter(pk=installation.pk).update(
        rate_limit_limit=5000,
        rate_limit_remaining=4321,
        rate_limit_reset_at=now + timedelta(minutes=20),
        last_sync_error="1 repository could not be synced",
        last_sync_error_kind=ErrorKind.PARTIAL,
        last_sync_failed_repositories=1,
    )
    Repository.objects.filter(full_name="acme/repo-1").update(
        last_error="GET /repos/acme/repo-1 -> 404: Not Found",
        last_error_kind=ErrorKind.UNAVAILABLE,
        last_error_status=404,
    )
    status = get_status(installation, now)
    assert status.rate_limit_remaining == 4321
    assert status.rate_limit_limit == 5000
    assert status.next_sync_at == now - timedelta(hours=2) + timedelta(hours=3)
    assert [(f.full_name, f.error) for f in status.failed_repositories] == [
        ("acme/repo-1", "Repository not found on GitHub")
    ]


def test_a_budget_whose_window_has_reset_is_shown_full(
    installation: Installation, now: datetime
) -> None:
    Installation.objects.filter(pk=installation.pk).update(
        rate_limit_limit=5000,
        rate_limit_remaining=3,
        rate_limit_reset_at=now - timedelta(seconds=1),
    )
    assert get_status(installation, now).rate_limit_remaining == 5000


def test_the_view_model_carries_the_graphql_budget_beside_the_rest_one(
    installation: Installation, now: datetime, settings: Any
) -> None:
    Installation.objects.filter(pk=installation.pk).update(
        rate_limit_limit=5000,
        rate_limit_remaining=4212,
        rate_limit_reset_at=now + timedelta(minutes=20),
        graphql_limit=5000,
        graphql_remaining=1250,
        graphql_reset_at=now + timedelta(minutes=40),
    )
    status = get_status(installation, now)
    assert (status.rate_limit_remaining, status.rate_limit_limit) == (4212, 5000)
    assert (status.graphql_remaining, status.graphql_limit) == (1250, 5000)
    assert (status.budget_percent, status.graphql_budget_percent) == (84, 25)
    assert status.spends_graphql is True
    # The window has reset: read as full, as the policy reads it.
    assert get_status(installation, now + timedelta(minutes=40)).graphql_remaining == 5000
    settings.SYNC_GRAPHQL = "off"
    assert get_status(installation, now).spends_graphql is False


def test_an_unknown_graphql_budget_stays_unknown(installation: Installation, now: datetime) -> None:
    status = get_status(installation, now)
    assert (status.graphql_remaining, status.graphql_limit, status.graphql_budget_percent) == (
        None,
        None,
        None,
    )


def test_a_short_graphql_budget_disables_sync_now_with_its_reset(
    installation: Installation, now: datetime, settings: Any
) -> None:
    reset = now + timedelta(minutes=15)
    Installation.objects.filter(pk=installation.pk).update(
        graphql_limit=5000, graphql_remaining=12, graphql_reset_at=reset
    )
    status = get_status(installation, now)
    assert status.can_sync_now is False
    assert status.unavailable_reason == (
        f"GitHub rate limit reached. Sync resumes at {reset.astimezone(UTC):%H:%M} UTC."
    )
    assert list(status.as_dict()) == STATUS_KEYS  # the §7 object keeps its keys
    settings.SYNC_GRAPHQL = "off"
    assert get_status(installation, now).can_sync_now is True


def test_recent_completion_is_offered_to_the_banner(
    installation: Installation, now: datetime
) -> None:
    make_job(
        installation,
        JobStatus.COMPLETED,
        progress_current=3,
        progress_total=3,
        events_ingested=340,
        finished_at=now - timedelta(minutes=1),
    )
    status = get_status(installation, now)
    assert status.recently_completed is not None
    assert (status.recently_completed.repositories, status.recently_completed.events_ingested) == (
        3,
        340,
    )
    assert get_status(installation, now + timedelta(minutes=10)).recently_completed is None


def test_status_for_user_lists_only_memberships_superusers_included(
    installation: Installation, now: datetime
) -> None:
    outsider = make_user(is_superuser=True, is_staff=True)
    make_installation(github_id=777, account_login="other")
    assert get_status_for_user(outsider, now) == []
    add_member(outsider, installation)
    assert [s.installation_id for s in get_status_for_user(outsider, now)] == [4242]
    assert {s.installation_id for s in get_status_for_all(now)} == {4242, 777}


def _queries_for(user: Any, now: datetime) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as ctx:
        statuses = get_status_for_user(user, now)
    return len(ctx.captured_queries), len(statuses)


def _populate(user: Any, count: int, now: datetime) -> None:
    for index in range(count):
        installation = make_installation(
            repos=2, owner=user, last_synced_at=now - timedelta(hours=3)
        )
        if index % 4 == 1:
            make_job(installation, JobStatus.RUNNING, progress_current=1)
        elif index % 4 == 2:
            make_job(installation, JobStatus.COMPLETED, finished_at=now)
            installation.repositories.filter(full_name__endswith="repo-0").update(
                last_error="403", last_error_kind=ErrorKind.UNAVAILABLE, last_error_status=403
            )
        elif index % 4 == 3:
            make_job(installation, JobStatus.BLOCKED, blocked_until=now + timedelta(minutes=5))


def test_status_for_user_uses_the_same_number_of_queries_for_1_and_200_installations(
    now: datetime, django_assert_num_queries: Any
) -> None:
    one, many = make_user(), make_user()
    _populate(one, 1, now)
    _populate(many, 200, now)
    expected, count = _queries_for(one, now)
    assert count == 1
    with django_assert_num_queries(expected):
        statuses = get_status_for_user(many, now)
    assert len(statuses) == 200
    assert {s.state for s in statuses} == {State.IDLE, State.SYNCING, State.BLOCKED}
    assert expected <= 3
