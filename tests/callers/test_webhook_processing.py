"""Processing stored deliveries against real rows: the processing task called
directly, payloads from the simulator's webhook builders (GitHub's own examples go
through the same path in test_github_payloads.py)."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from structlog.testing import capture_logs

from integrations.events import commit_event, events_upsert, pull_request_events
from integrations.github.client import GitHubApp, GitHubClient
from integrations.models import (
    DeliveryStatus,
    Event,
    EventKind,
    GitHubProfile,
    Installation,
    InstallationMember,
    InstallationStatus,
    MemberRole,
    Repository,
    WebhookDelivery,
)
from simulator.dataset import Dataset, generate
from simulator.testing import RunningSimulator
from simulator.webhooks import activity_payload, installation_created_payload
from sync.models import IngestionJob
from sync.policy import Trigger
from sync.tasks import process_webhook_delivery
from sync.webhooks.deliveries import deliveries_redrive
from sync.webhooks.processing import DeliveryFailed, delivery_process
from tests.callers.conftest import Deliver
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)

INSTALLATION_ID = 1001
SENDER_ID = 5003
SENDER_LOGIN = "user-3"


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(7, "2x3x6")


def linked_user(github_id: int = SENDER_ID, login: str = SENDER_LOGIN) -> Any:
    user = make_user()
    GitHubProfile.objects.create(user=user, github_id=github_id, github_login=login)
    return user


@pytest.fixture
def installed(dataset: Dataset, deliver: Deliver) -> Installation:
    """Installation 1001 as an `installation.created` webhook leaves it."""
    linked_user()
    payload = installation_created_payload(dataset, INSTALLATION_ID, SENDER_ID, SENDER_LOGIN)
    assert deliver("installation", payload).status == DeliveryStatus.PROCESSED
    return Installation.objects.get(github_id=INSTALLATION_ID)


# --------------------------------------------------------------------------- installation


def test_installation_created_stores_installation_repositories_owner_and_requests_a_sync(
    dataset: Dataset, deliver: Deliver
) -> None:
    user = linked_user()
    payload = installation_created_payload(dataset, INSTALLATION_ID, SENDER_ID, SENDER_LOGIN)
    delivery = deliver("installation", payload)
    assert (delivery.status, delivery.attempts, delivery.error) == (DeliveryStatus.PROCESSED, 1, "")
    installation = Installation.objects.get(github_id=INSTALLATION_ID)
    assert installation.account_login == "org-1"
    assert installation.status == InstallationStatus.ACTIVE
    expected = {repo.id for repo in dataset.installations[INSTALLATION_ID].repositories}
    assert (
        set(installation.repositories.filter(is_active=True).values_list("github_id", flat=True))
        == expected
    )
    member = InstallationMember.objects.get(installation=installation)
    assert (member.user, member.role) == (user, MemberRole.OWNER)
    job = IngestionJob.objects.get(installation=installation)
    assert job.trigger == "webhook"
    assert job.progress_total == len(expected)


def test_installation_created_by_an_unknown_sender_has_no_owner_and_no_job(
    dataset: Dataset, deliver: Deliver
) -> None:
    payload = installation_created_payload(dataset, INSTALLATION_ID, 999_999, "stranger")
    assert deliver("installation", payload).status == DeliveryStatus.PROCESSED
    installation = Installation.objects.get(github_id=INSTALLATION_ID)
    assert installation.repositories.count() == 3
    assert not installation.members.exists()
    assert not IngestionJob.objects.exists()  # the policy blocks: no_owner


def test_new_permissions_accepted_updates_the_installation_and_requests_a_sync(
    dataset: Dataset, deliver: Deliver, installed: Installation
) -> None:
    IngestionJob.objects.all().delete()
    payload = installation_created_payload(dataset, INSTALLATION_ID, SENDER_ID, SENDER_LOGIN)
    payload["action"] = "new_permissions_accepted"
    assert deliver("installation", payload).status == DeliveryStatus.PROCESSED
    assert IngestionJob.objects.filter(installation=installed, trigger=Trigger.WEBHOOK).count() == 1


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ("suspend", InstallationStatus.SUSPENDED),
        ("deleted", InstallationStatus.DELETED),
    ],
)
def test_suspend_and_delete_set_the_installation_status(
    dataset: Dataset, deliver: Deliver, installed: Installation, action: str, status: str
) -> None:
    payload = installation_created_payload(dataset, INSTALLATION_ID, SENDER_ID, SENDER_LOGIN)
    payload["action"] = action
    assert deliver("installation", payload).status == DeliveryStatus.PROCESSED
    installed.refresh_from_db()
    assert installed.status == status
    assert installed.repositories.count() == 3


def test_unsuspend_reactivates_and_requests_a_sync(
    dataset: Dataset, deliver: Deliver, installed: Installation
) -> None:
    IngestionJob.objects.all().delete()
    Installation.objects.filter(pk=installed.pk).update(
        status=InstallationStatus.SUSPENDED, sync_status="idle"
    )
    payload = installation_created_payload(dataset, INSTALLATION_ID, SENDER_ID, SENDER_LOGIN)
    payload["action"] = "unsuspend"
    assert deliver("installation", payload).status == DeliveryStatus.PROCESSED
    installed.refresh_from_db()
    assert installed.status == InstallationStatus.ACTIVE
    assert IngestionJob.objects.filter(installation=installed).exists()


def test_deleting_an_unknown_installation_is_ignored_with_a_reason(
    dataset: Dataset, deliver: Deliver
) -> None:
    payload = installation_created_payload(dataset, INSTALLATION_ID, SENDER_ID, SENDER_LOGIN)
    payload["action"] = "deleted"
    delivery = deliver("installation", payload)
    assert delivery.status == DeliveryStatus.IGNORED
    assert delivery.error == f"unknown installation {INSTALLATION_ID}"
    assert not Installation.objects.exists()


# --------------------------------------------------------------------------- replays
# A captured signed body sent again under a new delivery id: state never moves
# backwards (SPEC §6), judged by the payload's own timestamps.


def _installation_body(dataset: Dataset, action: str, updated_at: str, **fields: Any) -> Any:
    payload = installation_created_payload(dataset, INSTALLATION_ID, SENDER_ID, SENDER_LOGIN)
    payload["action"] = action
    payload["installation"].update(updated_at=updated_at, **fields)
    return payload


# GitHub's own example pair (octokit/webhooks-examples 7.6.1) has the same updated_at on
# suspend and unsuspend; a real unsuspend may carry a newer one: both must hold.
@pytest.mark.parametrize("unsuspended_at", ["2025-03-01T10:00:00Z", "2025-03-01T12:00:00Z"])
def test_a_replayed_suspend_under_a_new_delivery_id_does_not_suspend_again(
    dataset: Dataset, deliver: Deliver, installed: Installation, unsuspended_at: str
) -> None:
    suspend = _installation_body(
        dataset, "suspend", "2025-03-01T10:00:00Z", suspended_at="2025-03-01T10:00:00Z"
    )
    assert deliver("installation", suspend).status == DeliveryStatus.PROCESSED
    unsuspend = _installation_body(dataset, "unsuspend", unsuspended_at)
    assert deliver("installation", unsuspend).status == DeliveryStatus.PROCESSED
    installed.refresh_from_db()
    assert installed.status == InstallationStatus.ACTIVE
    replay = deliver("installation", copy.deepcopy(suspend))
    assert replay.status == DeliveryStatus.IGNORED
    installed.refresh_from_db()
    assert installed.status == InstallationStatus.ACTIVE


def test_an_installation_body_older_than_the_stored_state_changes_nothing(
    dataset: Dataset, deliver: Deliver, installed: Installation
) -> None:
    newer = _installation_body(
        dataset, "suspend", "2025-03-01T10:00:00Z", suspended_at="2025-03-01T10:00:00Z"
    )
    deliver("installation", newer)
    # Epoch seconds, as some of GitHub's installation payloads write them: 2025-02-01.
    older = _installation_body(dataset, "unsuspend", 1738368000)  # type: ignore[arg-type]
    delivery = deliver("installation", older)
    assert delivery.status == DeliveryStatus.IGNORED
    assert "older than the stored state" in delivery.error
    installed.refresh_from_db()
    assert installed.status == InstallationStatus.SUSPENDED


def test_a_replayed_installation_created_body_neither_regrants_owner_nor_deactivates_repositories(
    dataset: Dataset, deliver: Deliver, installed: Installation
) -> None:
    created = installation_created_payload(dataset, INSTALLATION_ID, SENDER_ID, SENDER_LOGIN)
    InstallationMember.objects.filter(installation=installed).delete()  # access revoked
    new = {"id": 777_001, "full_name": "org-1/brand-new", "private": True, "name": "brand-new"}
    deliver("installation_repositories", _repositories_payload(dataset, "added", [new]))
    replay = deliver("installation", created)
    assert replay.status == DeliveryStatus.IGNORED
    assert not InstallationMember.objects.filter(installation=installed).exists()
    assert Repository.objects.get(github_id=777_001).is_active is True


def test_a_deleted_installation_stays_deleted_whatever_is_replayed(
    dataset: Dataset, deliver: Deliver, installed: Installation
) -> None:
    deliver("installation", _installation_body(dataset, "deleted", "2025-03-01T10:00:00Z"))
    for action in ("unsuspend", "new_permissions_accepted", "created"):
        body = _installation_body(dataset, action, "2025-04-01T10:00:00Z")
        assert deliver("installation", body).status == DeliveryStatus.IGNORED
    new = {"id": 777_001, "full_name": "org-1/brand-new", "private": True, "name": "brand-new"}
    added = deliver("installation_repositories", _repositories_payload(dataset, "added", [new]))
    assert added.status == DeliveryStatus.IGNORED
    installed.refresh_from_db()
    assert installed.status == InstallationStatus.DELETED
    assert not Repository.objects.filter(github_id=777_001).exists()


@pytest.mark.parametrize("action", ["suspend", "unsuspend", "new_permissions_accepted"])
def test_only_installation_created_creates_an_installation(
    dataset: Dataset, deliver: Deliver, action: str
) -> None:
    delivery = deliver("installation", _installation_body(dataset, action, "2025-03-01T10:00:00Z"))
    assert (delivery.status, delivery.error) == (
        DeliveryStatus.IGNORED,
        f"unknown installation {INSTALLATION_ID}",
    )
    assert not Installation.objects.exists()


@pytest.mark.parametrize("action", ["added", "removed"])
def test_installation_repositories_for_an_unknown_installation_do_not_create_it(
    dataset: Dataset, deliver: Deliver, action: str
) -> None:
    repo = {"id": 777_001, "full_name": "org-1/brand-new", "private": True, "name": "brand-new"}
    delivery = deliver("installation_repositories", _repositories_payload(dataset, action, [repo]))
    assert delivery.status == DeliveryStatus.IGNORED
    assert not Installation.objects.exists()
    assert not Repository.objects.exists()


# --------------------------------------------------------------------------- repositories


def _repositories_payload(dataset: Dataset, action: str, repos: list[dict[str, Any]]) -> Any:
    base = installation_created_payload(dataset, INSTALLATION_ID, SENDER_ID, SENDER_LOGIN)
    return {
        "action": action,
        "installation": base["installation"],
        "repository_selection": "selected",
        "repositories_added": repos if action == "added" else [],
        "repositories_removed": repos if action == "removed" else [],
        "sender": base["sender"],
    }


def test_repositories_added_become_active_and_a_sync_covers_them(
    dataset: Dataset, deliver: Deliver, installed: Installation
) -> None:
    IngestionJob.objects.all().delete()
    Installation.objects.filter(pk=installed.pk).update(sync_status="idle")
    new = {"id": 777_001, "full_name": "org-1/brand-new", "private": True, "name": "brand-new"}
    delivery = deliver("installation_repositories", _repositories_payload(dataset, "added", [new]))
    assert delivery.status == DeliveryStatus.PROCESSED
    repository = Repository.objects.get(github_id=777_001)
    assert (repository.installation, repository.is_active, repository.private) == (
        installed,
        True,
        True,
    )
    job = IngestionJob.objects.get(installation=installed)
    assert repository.pk in job.repository_ids


def test_repositories_removed_become_inactive_and_keep_their_events(
    dataset: Dataset, deliver: Deliver, installed: Installation
) -> None:
    repository = installed.repositories.order_by("github_id").first()
    assert repository is not None
    deliver("pull_request", activity_payload(dataset, "pull_request", repo=repository.full_name))
    kept = Event.objects.filter(repository=repository).count()
    assert kept > 0
    gone = {"id": repository.github_id, "full_name": repository.full_name, "name": "x"}
    delivery = deliver(
        "installation_repositories", _repositories_payload(dataset, "removed", [gone])
    )
    assert delivery.status == DeliveryStatus.PROCESSED
    repository.refresh_from_db()
    assert repository.is_active is False
    assert Event.objects.filter(repository=repository).count() == kept
    again = deliver(
        "pull_request", activity_payload(dataset, "pull_request", repo=repository.full_name)
    )
    assert again.status == DeliveryStatus.IGNORED
    assert "no longer part of the installation" in again.error


# --------------------------------------------------------------------------- activity


def test_push_to_the_default_branch_stores_its_commits(
    dataset: Dataset, deliver: Deliver, installed: Installation
) -> None:
    payload = activity_payload(dataset, "push", installation_id=INSTALLATION_ID)
    delivery = deliver("push", payload)
    assert delivery.status == DeliveryStatus.PROCESSED
    shas = {commit["id"] for commit in payload["commits"]}
    stored = Event.objects.filter(kind=EventKind.COMMIT)
    assert set(stored.values_list("github_id", flat=True)) == shas
    first = payload["commits"][0]
    row = stored.get(github_id=first["id"])
    assert row.title == first["message"].splitlines()[0]
    assert row.repository.github_id == payload["repository"]["id"]
    assert row.actor_login == (first["author"]["username"] or first["author"]["name"])


def test_push_never_overwrites_a_commit_the_backfill_stored(
    dataset: Dataset, deliver: Deliver, installed: Installation
) -> None:
    payload = activity_payload(dataset, "push", installation_id=INSTALLATION_ID)
    commit = payload["commits"][0]
    repository = Repository.objects.get(github_id=payload["repository"]["id"])
    backfilled = Event.objects.create(
        installation=installed,
        repository=repository,
        kind=EventKind.COMMIT,
        github_id=commit["id"],
        actor_login="rest-author",
        actor_github_id=4242,
        occurred_at=timezone.now() - timedelta(days=3),
        title="from the REST API",
    )
    deliver("push", payload)
    row = Event.objects.get(pk=backfilled.pk)
    assert (row.actor_github_id, row.title, row.occurred_at) == (
        4242,
        "from the REST API",
        backfilled.occurred_at,
    )
    assert Event.objects.filter(kind=EventKind.COMMIT).count() == len(payload["commits"])


def test_push_to_another_branch_is_ignored(
    dataset: Dataset, deliver: Deliver, installed: Installation
) -> None:
    payload = activity_payload(dataset, "push", installation_id=INSTALLATION_ID)
    payload["ref"] = "refs/heads/feature/x"
    delivery = deliver("push", payload)
    assert delivery.status == DeliveryStatus.IGNORED
    assert not Event.objects.exists()


def test_pull_request_stores_its_events_once_however_often_it_arrives(
    dataset: Dataset, deliver: Deliver, installed: Installation
) -> None:
    payload = activity_payload(dataset, "pull_request", installation_id=INSTALLATION_ID)
    assert deliver("pull_request", payload).status == DeliveryStatus.PROCESSED
    number = str(payload["pull_request"]["number"])
    kinds = set(Event.objects.filter(github_id=number).values_list("kind", flat=True))
    assert EventKind.PR_OPENED in kinds
    expected = {e.kind for e in pull_request_events(payload["pull_request"])}
    assert kinds == expected
    deliver("pull_request", copy.deepcopy(payload))  # a second delivery of the same news
    assert Event.objects.filter(github_id=number).count() == len(expected)


def test_a_merged_pull_request_marks_its_stored_merge_commit_with_merge_of(
    dataset: Dataset, deliver: Deliver, installed: Installation
) -> None:
    """GitHub's pull request `merge_commit_sha` is, once `merged_at` is set, the commit
    the merge wrote (merge commit, squash commit or last rebased commit); before, it is
    the test merge. The webhook marks the stored commit, keeping what it held."""
    payload = copy.deepcopy(
        activity_payload(dataset, "pull_request", installation_id=INSTALLATION_ID)
    )
    repository = Repository.objects.get(github_id=payload["repository"]["id"])
    pull = payload["pull_request"]
    commit = {
        "sha": "e" * 40,
        "html_url": "https://github.com/o/r/commit/" + "e" * 40,
        "commit": {
            "author": {"name": "Mona", "email": "m@example.com", "date": "2024-05-01T10:00:00Z"},
            "committer": {"name": "Mona", "email": "m@example.com", "date": "2024-05-01T10:00Z"},
            "message": "Merge pull request",
        },
        "author": None,
        "parents": [{"sha": "1" * 40}, {"sha": "2" * 40}],
    }
    events_upsert(installation=installed, repository=repository, events=[commit_event(commit)])
    pull.update(merged_at=None, closed_at=None, state="open", merge_commit_sha="e" * 40)
    deliver("pull_request", copy.deepcopy(payload))  # unmerged: the test merge, no mark
    assert "merge_of" not in Event.objects.get(github_id="e" * 40).data

    pull.update(merged_at="2024-05-02T00:00:00Z", closed_at="2024-05-02T00:00:00Z")
    payload["action"], pull["merged"] = "closed", True
    assert deliver("pull_request", payload).status == DeliveryStatus.PROCESSED

    data = Event.objects.get(github_id="e" * 40).data
    assert data["merge_of"] == pull["number"] and data["parents"] == 2


def test_pull_request_webhook_then_backfill_leaves_one_row_per_event(
    deliver: Deliver, github_settings: RunningSimulator
) -> None:
    dataset = github_settings.dataset
    linked_user()
    deliver(
        "installation",
        installation_created_payload(dataset, INSTALLATION_ID, SENDER_ID, SENDER_LOGIN),
    )
    payload = activity_payload(dataset, "pull_request", installation_id=INSTALLATION_ID)
    deliver("pull_request", payload)
    webhook_rows = {(e.kind, e.github_id): e.pk for e in Event.objects.all()}
    assert webhook_rows
    repository = Repository.objects.get(github_id=payload["repository"]["id"])
    app = GitHubApp(
        base_url=github_settings.url,
        app_id=github_settings.app_id,
        private_key=github_settings.private_key_pem,
    )
    client = GitHubClient(app=app, installation_id=INSTALLATION_ID)
    pulls = [
        pull
        for page in client.paginate(
            f"/repos/{repository.full_name}/pulls", {"state": "all", "per_page": 100}
        )
        for pull in page.items
    ]
    backfilled = [event for pull in pulls for event in pull_request_events(pull)]
    events_upsert(installation=repository.installation, repository=repository, events=backfilled)
    keys = {(e.kind, e.github_id) for e in backfilled}
    assert set(webhook_rows) <= keys
    assert Event.objects.count() == len(keys)
    for key, pk in webhook_rows.items():
        assert Event.objects.get(kind=key[0], github_id=key[1]).pk == pk


def test_pull_request_review_stores_the_review(
    dataset: Dataset, deliver: Deliver, installed: Installation
) -> None:
    payload = activity_payload(dataset, "pull_request_review", installation_id=INSTALLATION_ID)
    assert deliver("pull_request_review", payload).status == DeliveryStatus.PROCESSED
    row = Event.objects.get(kind=EventKind.REVIEW_SUBMITTED)
    assert row.github_id == str(payload["review"]["id"])
    assert row.number == payload["pull_request"]["number"]


def test_issues_store_issue_events(
    dataset: Dataset, deliver: Deliver, installed: Installation
) -> None:
    payload = activity_payload(dataset, "issues", installation_id=INSTALLATION_ID)
    assert deliver("issues", payload).status == DeliveryStatus.PROCESSED
    number = str(payload["issue"]["number"])
    kinds = set(Event.objects.filter(github_id=number).values_list("kind", flat=True))
    assert EventKind.ISSUE_OPENED in kinds
    assert (EventKind.ISSUE_CLOSED in kinds) == bool(payload["issue"]["closed_at"])


def test_edited_issue_comment_updates_its_row(
    dataset: Dataset, deliver: Deliver, installed: Installation
) -> None:
    payload = activity_payload(dataset, "issue_comment", installation_id=INSTALLATION_ID)
    payload["action"] = "created"
    assert deliver("issue_comment", payload).status == DeliveryStatus.PROCESSED
    row = Event.objects.get(kind=EventKind.ISSUE_COMMENT)
    edited = copy.deepcopy(payload)
    edited["action"] = "edited"
    edited["comment"]["body"] = "Edited: now with more detail"
    deliver("issue_comment", edited)
    updated = Event.objects.get(kind=EventKind.ISSUE_COMMENT)
    assert updated.pk == row.pk
    assert updated.title == "Edited: now with more detail"
    assert updated.first_seen_at == row.first_seen_at


def test_activity_for_an_unknown_repository_or_installation_is_ignored_with_a_reason(
    dataset: Dataset, deliver: Deliver, installed: Installation
) -> None:
    payload = activity_payload(dataset, "issues", installation_id=INSTALLATION_ID)
    payload["repository"]["id"] = 424_242
    delivery = deliver("issues", payload)
    assert (delivery.status, delivery.error) == (
        DeliveryStatus.IGNORED,
        "unknown repository 424242",
    )
    other = activity_payload(dataset, "issues", installation_id=1002)
    delivery = deliver("issues", other)
    assert (delivery.status, delivery.error) == (
        DeliveryStatus.IGNORED,
        "unknown installation 1002",
    )
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    "event", ["push", "pull_request", "issues", "issue_comment", "pull_request_review_comment"]
)
def test_activity_without_an_installation_is_ignored_not_failed(
    dataset: Dataset, deliver: Deliver, installed: Installation, event: str
) -> None:
    """A repository webhook pointed at ghsync sends the same events without the App's
    `installation`: nothing to retry, nothing to log as an error."""
    payload = activity_payload(dataset, event, installation_id=INSTALLATION_ID)
    del payload["installation"]
    with capture_logs() as logs:
        delivery = deliver(event, payload)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.IGNORED, 1)
    assert "without an installation" in delivery.error
    assert not [e for e in logs if e["event"] == "webhook.failed"]
    assert not Event.objects.exists()


# --------------------------------------------------------------------------- failures


def test_malformed_payload_fails_visibly_and_is_not_retried(
    dataset: Dataset, post_webhook: Any, installed: Installation
) -> None:
    payload = activity_payload(dataset, "pull_request", installation_id=INSTALLATION_ID)
    del payload["pull_request"]["number"]
    response = post_webhook("pull_request", payload)
    delivery = WebhookDelivery.objects.get(delivery_id=response.json()["delivery_id"])
    with capture_logs() as logs:
        process_webhook_delivery.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == 1
    assert "KeyError" in delivery.error and "number" in delivery.error
    failed = [e for e in logs if e["event"] == "webhook.failed"]
    assert [e["delivery_id"] for e in failed] == [delivery.delivery_id]
    assert failed[0]["github_event"] == "pull_request"


def _with(payload: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(payload)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


# Found by the fault suite's webhook fuzzing: a value of the wrong JSON type where
# ghsync expects an object or a string (AttributeError), or a date whose offset takes
# it past year 9999 in UTC (OverflowError), was a *retryable* failure: the task retried
# a delivery that can only fail again, six times, logging an error each time.
WRONG_TYPES = [
    ("pull_request", ("pull_request", "user"), ["not", "an", "object"], "malformed"),
    ("issue_comment", ("comment",), 2147483648, "malformed"),
    ("pull_request_review_comment", ("comment", "created_at"), None, "malformed"),
    ("issues", ("issue", "title"), 12, "malformed"),
    ("push", ("commits", 0, "author"), "someone", "malformed"),
    ("pull_request", ("pull_request", "created_at"), "9999-12-31T23:59:59-05:00", "malformed"),
]
# Found by the webhook fuzzing on PostgreSQL: a number or an id that does not fit its
# column (a pull request number beyond 2**31, a comment id longer than 64 characters,
# a user id beyond 2**63) raised DataError (OverflowError on SQLite), also treated as
# retryable although the same payload can never be stored. EventData refuses them.
TOO_BIG = [
    ("pull_request", ("pull_request", "number"), 2**40, "out of range"),
    ("issue_comment", ("comment", "id"), "9" * 100, "longer than"),
    ("issue_comment", ("comment", "user", "id"), 2**64, "out of range"),
    ("pull_request_review_comment", ("comment", "id"), "9" * 100, "longer than"),
    ("push", ("commits", 0, "id"), "a" * 100, "longer than"),
]


@pytest.mark.parametrize(("event", "path", "value", "error"), WRONG_TYPES + TOO_BIG)
def test_a_payload_that_can_never_be_stored_fails_once_as_a_permanent_error(
    dataset: Dataset,
    post_webhook: Any,
    installed: Installation,
    event: str,
    path: tuple[Any, ...],
    value: Any,
    error: str,
) -> None:
    payload = activity_payload(dataset, event, installation_id=INSTALLATION_ID)
    response = post_webhook(event, _with(payload, path, value))
    delivery = WebhookDelivery.objects.get(delivery_id=response.json()["delivery_id"])

    with pytest.raises(DeliveryFailed) as failed:
        delivery_process(delivery_pk=delivery.pk)

    assert not failed.value.retryable, str(failed.value)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
    assert error in delivery.error
    process_webhook_delivery(delivery.pk)  # the task: no retry is scheduled (no Retry raised)
    assert not Event.objects.exists()


def test_failure_is_retried_with_attempts_counted_and_recovers_once_fixed(
    dataset: Dataset, post_webhook: Any, settings: Any
) -> None:
    linked_user()
    settings.GITHUB_WEBHOOK_MAX_ATTEMPTS = 3
    settings.SYNC_BACKFILL_DAYS = 10**10  # a broken setting: the sync request overflows
    payload = installation_created_payload(dataset, INSTALLATION_ID, SENDER_ID, SENDER_LOGIN)
    response = post_webhook("installation", payload)
    delivery = WebhookDelivery.objects.get(delivery_id=response.json()["delivery_id"])
    process_webhook_delivery.apply(args=[delivery.pk])  # eager: retries run inline
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == 3
    assert "OverflowError" in delivery.error
    assert not Installation.objects.exists()  # nothing half-written
    settings.SYNC_BACKFILL_DAYS = 30
    process_webhook_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.error) == (DeliveryStatus.PROCESSED, 4, "")
    assert IngestionJob.objects.count() == 1


def test_processing_twice_changes_nothing(dataset: Dataset, deliver: Deliver) -> None:
    linked_user()
    payload = installation_created_payload(dataset, INSTALLATION_ID, SENDER_ID, SENDER_LOGIN)
    delivery = deliver("installation", payload)
    process_webhook_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert IngestionJob.objects.count() == 1
    process_webhook_delivery(987_654_321)  # a message for a delivery that is gone


def test_redrive_resends_deliveries_left_received(post_webhook: Any) -> None:
    post_webhook("pull_request", {"action": "opened"}, delivery_id="stuck")
    post_webhook("pull_request", {"action": "opened"}, delivery_id="fresh")
    WebhookDelivery.objects.filter(delivery_id="stuck").update(
        received_at=timezone.now() - timedelta(minutes=10)
    )
    assert deliveries_redrive() == 1
