"""GitHub's own webhook payloads (tests/data/github_webhooks/, from
@octokit/webhooks-examples; see the README there) through the real, signed webhook view
and the processing task, asserting the rows they leave. The simulator builds its
payloads from the same idea of GitHub's shapes as the parser reads them; these are not
built by us, so a shape both got wrong cannot pass here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

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
from sync.models import IngestionJob
from tests.callers.conftest import Deliver, PostWebhook
from tests.factories import make_installation, make_user
from tests.webhook_examples import github_example

pytestmark = pytest.mark.django_db

# Who the examples are about: GitHub's sample user and repositories.
CODERTOCAT_ID = 21031067
HELLO_WORLD_ID = 186853002  # Codertocat/Hello-World, default branch master


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def codertocat_user() -> Any:
    """A ghsync user linked to the sender of the examples."""
    user = make_user("codertocat")
    GitHubProfile.objects.create(user=user, github_id=CODERTOCAT_ID, github_login="Codertocat")
    return user


@pytest.fixture
def hello_world() -> Repository:
    """Installation 1 with Codertocat/Hello-World, as its `installation` webhook would
    have left them: the installation the examples' activity payloads name."""
    installation = make_installation(github_id=1, account_login="Codertocat", repos=0)
    return Repository.objects.create(
        github_id=HELLO_WORLD_ID,
        installation=installation,
        full_name="Codertocat/Hello-World",
        default_branch="master",
    )


def _events(repository: Repository) -> dict[tuple[str, str], Event]:
    return {(e.kind, e.github_id): e for e in Event.objects.filter(repository=repository)}


# --------------------------------------------------------------------------- installation


def test_installation_created_stores_the_installation_its_repositories_and_owner(
    deliver: Deliver,
) -> None:
    user = codertocat_user()
    payload = github_example("installation/created.payload.json")

    delivery = deliver("installation", payload)

    assert (delivery.status, delivery.error) == (DeliveryStatus.PROCESSED, "")
    assert delivery.installation_github_id == 957387
    installation = Installation.objects.get(github_id=957387)
    assert (installation.account_login, installation.account_type) == ("Codertocat", "User")
    assert installation.repository_selection == "selected"
    assert installation.status == InstallationStatus.ACTIVE
    repositories = installation.repositories.filter(is_active=True)
    assert {(r.github_id, r.full_name, r.private) for r in repositories} == {
        (HELLO_WORLD_ID, "Codertocat/Hello-World", False)
    }
    member = InstallationMember.objects.get(installation=installation)
    assert (member.user, member.role) == (user, MemberRole.OWNER)
    assert IngestionJob.objects.get(installation=installation).trigger == "webhook"


def test_new_permissions_accepted_keeps_the_installation_and_its_repositories(
    deliver: Deliver,
) -> None:
    codertocat_user()
    deliver("installation", github_example("installation/created.payload.json"))
    payload = github_example("installation/new_permissions_accepted.payload.json")

    delivery = deliver("installation", payload)

    assert delivery.status == DeliveryStatus.PROCESSED
    installation = Installation.objects.get(github_id=957387)
    assert installation.status == InstallationStatus.ACTIVE
    assert set(installation.repositories.values_list("github_id", "is_active")) == {
        (HELLO_WORLD_ID, True)
    }


def test_repositories_added_to_an_installation_become_active_rows(deliver: Deliver) -> None:
    codertocat_user()
    deliver("installation", github_example("installation/created.payload.json"))
    IngestionJob.objects.all().delete()  # the first sync is done
    Installation.objects.filter(github_id=957387).update(sync_status="idle")

    delivery = deliver(
        "installation_repositories",
        github_example("installation_repositories/added.payload.json"),
    )

    assert delivery.status == DeliveryStatus.PROCESSED
    space = Repository.objects.get(github_id=186853007)
    assert (space.installation.github_id, space.full_name, space.is_active) == (
        957387,
        "Codertocat/Space",
        True,
    )
    job = IngestionJob.objects.get(installation=space.installation)
    assert (job.trigger, space.pk in job.repository_ids) == ("webhook", True)


def test_repositories_removed_from_an_installation_become_inactive(deliver: Deliver) -> None:
    installation = make_installation(github_id=2, account_login="octocat", repos=0)
    repository = Repository.objects.create(
        github_id=1296269, installation=installation, full_name="octocat/Hello-World"
    )

    delivery = deliver(
        "installation_repositories",
        github_example("installation_repositories/removed.payload.json"),
    )

    assert delivery.status == DeliveryStatus.PROCESSED
    repository.refresh_from_db()
    assert repository.is_active is False


def test_installation_deleted_marks_the_installation_deleted(deliver: Deliver) -> None:
    installation = make_installation(github_id=2, account_login="octocat")

    delivery = deliver("installation", github_example("installation/deleted.payload.json"))

    assert delivery.status == DeliveryStatus.PROCESSED
    installation.refresh_from_db()
    assert installation.status == InstallationStatus.DELETED


def test_deleting_an_installation_ghsync_never_knew_is_ignored(deliver: Deliver) -> None:
    delivery = deliver("installation", github_example("installation/deleted.payload.json"))

    assert (delivery.status, delivery.error) == (DeliveryStatus.IGNORED, "unknown installation 2")
    assert not Installation.objects.exists()


def test_installation_suspend_then_unsuspend(deliver: Deliver) -> None:
    installation = make_installation(github_id=16598467, account_login="Codertocat")

    suspended = deliver("installation", github_example("installation/suspend.payload.json"))

    assert suspended.status == DeliveryStatus.PROCESSED
    installation.refresh_from_db()
    assert installation.status == InstallationStatus.SUSPENDED

    unsuspended = deliver("installation", github_example("installation/unsuspend.payload.json"))

    assert unsuspended.status == DeliveryStatus.PROCESSED
    installation.refresh_from_db()
    assert installation.status == InstallationStatus.ACTIVE
    assert IngestionJob.objects.get(installation=installation).trigger == "webhook"


# --------------------------------------------------------------------------- activity


def test_push_to_the_default_branch_stores_its_commit_with_the_pushers_id(
    deliver: Deliver, hello_world: Repository
) -> None:
    payload = github_example("push/with-no-username-committer.payload.json")

    delivery = deliver("push", payload)

    assert (delivery.status, delivery.error) == (DeliveryStatus.PROCESSED, "")
    sha = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    assert set(_events(hello_world)) == {(EventKind.COMMIT, sha)}
    commit = _events(hello_world)[(EventKind.COMMIT, sha)]
    assert (commit.actor_login, commit.actor_github_id) == ("Codertocat", CODERTOCAT_ID)
    assert commit.occurred_at == at("2019-05-15T15:19:25Z")
    assert commit.title == "Initial commit"
    assert commit.url == f"https://github.com/Codertocat/Hello-World/commit/{sha}"
    assert commit.installation.github_id == 1


def test_push_of_a_tag_is_ignored(deliver: Deliver, hello_world: Repository) -> None:
    delivery = deliver("push", github_example("push/with-installation.payload.json"))

    assert delivery.status == DeliveryStatus.IGNORED
    assert not Event.objects.exists()


def test_pull_request_opened_stores_pr_opened(deliver: Deliver, hello_world: Repository) -> None:
    delivery = deliver("pull_request", github_example("pull_request/opened.payload.json"))

    assert (delivery.status, delivery.error) == (DeliveryStatus.PROCESSED, "")
    assert set(_events(hello_world)) == {(EventKind.PR_OPENED, "2")}
    opened = _events(hello_world)[(EventKind.PR_OPENED, "2")]
    assert (opened.number, opened.actor_login, opened.actor_github_id) == (
        2,
        "Codertocat",
        CODERTOCAT_ID,
    )
    assert opened.occurred_at == at("2019-05-15T15:20:33Z")
    assert opened.title == "Update the README with new information."
    assert opened.url == "https://github.com/Codertocat/Hello-World/pull/2"


def test_pull_request_closed_without_merging_stores_pr_closed_not_pr_merged(
    deliver: Deliver, hello_world: Repository
) -> None:
    deliver("pull_request", github_example("pull_request/opened.payload.json"))

    delivery = deliver("pull_request", github_example("pull_request/closed.payload.json"))

    assert delivery.status == DeliveryStatus.PROCESSED
    assert set(_events(hello_world)) == {(EventKind.PR_OPENED, "2"), (EventKind.PR_CLOSED, "2")}
    closed = _events(hello_world)[(EventKind.PR_CLOSED, "2")]
    assert closed.occurred_at == at("2019-05-15T15:21:18Z")
    assert (closed.number, closed.actor_github_id) == (2, CODERTOCAT_ID)


def test_pull_request_review_submitted_stores_the_review(
    deliver: Deliver, hello_world: Repository
) -> None:
    payload = github_example("pull_request_review/submitted.payload.json")

    delivery = deliver("pull_request_review", payload)

    assert delivery.status == DeliveryStatus.PROCESSED
    assert set(_events(hello_world)) == {(EventKind.REVIEW_SUBMITTED, "237895671")}
    review = _events(hello_world)[(EventKind.REVIEW_SUBMITTED, "237895671")]
    assert (review.number, review.actor_login, review.actor_github_id) == (
        2,
        "Codertocat",
        CODERTOCAT_ID,
    )
    assert review.occurred_at == at("2019-05-15T15:20:38Z")
    assert review.data == {"state": "COMMENTED"}


def test_issues_event_stores_the_issue_and_its_closing(
    deliver: Deliver, hello_world: Repository
) -> None:
    payload = github_example("issues/reopened.payload.json")

    delivery = deliver("issues", payload)

    assert delivery.status == DeliveryStatus.PROCESSED
    # GitHub's example keeps the closed_at of the earlier close: that close is an event.
    assert set(_events(hello_world)) == {
        (EventKind.ISSUE_OPENED, "1"),
        (EventKind.ISSUE_CLOSED, "1"),
    }
    opened = _events(hello_world)[(EventKind.ISSUE_OPENED, "1")]
    assert (opened.number, opened.actor_github_id) == (1, CODERTOCAT_ID)
    assert opened.occurred_at == at("2021-07-05T18:05:24Z")
    assert opened.title == "Spelling error in the README file"
    assert _events(hello_world)[(EventKind.ISSUE_CLOSED, "1")].occurred_at == at(
        "2021-07-05T18:07:10Z"
    )


def test_issue_comment_created_stores_the_comment_on_its_issue(
    deliver: Deliver, hello_world: Repository
) -> None:
    payload = github_example("issue_comment/created.with-installation.payload.json")

    delivery = deliver("issue_comment", payload)

    assert delivery.status == DeliveryStatus.PROCESSED
    assert set(_events(hello_world)) == {(EventKind.ISSUE_COMMENT, "492700400")}
    comment = _events(hello_world)[(EventKind.ISSUE_COMMENT, "492700400")]
    assert (comment.number, comment.actor_login, comment.actor_github_id) == (
        1,
        "Codertocat",
        CODERTOCAT_ID,
    )
    assert comment.occurred_at == at("2019-05-15T15:20:21Z")
    assert comment.title == "You are totally right! I'll get this fixed right away."


def test_pull_request_review_comment_created_stores_the_comment(
    deliver: Deliver, hello_world: Repository
) -> None:
    payload = github_example("pull_request_review_comment/created.payload.json")

    delivery = deliver("pull_request_review_comment", payload)

    assert delivery.status == DeliveryStatus.PROCESSED
    assert set(_events(hello_world)) == {(EventKind.REVIEW_COMMENT, "284312630")}
    comment = _events(hello_world)[(EventKind.REVIEW_COMMENT, "284312630")]
    assert (comment.number, comment.actor_login, comment.actor_github_id) == (
        2,
        "Codertocat",
        CODERTOCAT_ID,
    )
    assert comment.occurred_at == at("2019-05-15T15:20:37Z")
    assert comment.title == "Maybe you should use more emoji on this line."
    assert comment.url == ("https://github.com/Codertocat/Hello-World/pull/2#discussion_r284312630")
    assert comment.data["path"] == "README.md"
    assert comment.data["review_id"] == 237895671


def test_an_edited_review_comment_updates_its_row(
    deliver: Deliver, hello_world: Repository
) -> None:
    created = github_example("pull_request_review_comment/created.payload.json")
    deliver("pull_request_review_comment", created)
    first = Event.objects.get(repository=hello_world, kind=EventKind.REVIEW_COMMENT)
    edited = github_example("pull_request_review_comment/created.payload.json")
    edited["action"] = "edited"
    edited["changes"] = {"body": {"from": created["comment"]["body"]}}
    edited["comment"]["body"] = "Use more emoji here, please."
    edited["comment"]["updated_at"] = "2019-05-16T09:00:00Z"

    delivery = deliver("pull_request_review_comment", edited)

    assert delivery.status == DeliveryStatus.PROCESSED
    row = Event.objects.get(repository=hello_world, kind=EventKind.REVIEW_COMMENT)
    assert (row.pk, row.github_id, row.title) == (
        first.pk,
        "284312630",
        "Use more emoji here, please.",
    )
    assert row.occurred_at == at("2019-05-15T15:20:37Z")  # created_at, not the edit
    assert row.first_seen_at == first.first_seen_at
    assert row.data["updated_at"] == "2019-05-16T09:00:00Z"


def test_a_deleted_review_comment_keeps_its_event(
    deliver: Deliver, hello_world: Repository
) -> None:
    payload = github_example("pull_request_review_comment/created.payload.json")
    deliver("pull_request_review_comment", payload)
    payload["action"] = "deleted"

    delivery = deliver("pull_request_review_comment", payload)

    assert (delivery.status, delivery.error) == (
        DeliveryStatus.IGNORED,
        "a deleted review comment keeps its event",
    )
    assert set(_events(hello_world)) == {(EventKind.REVIEW_COMMENT, "284312630")}


@pytest.mark.parametrize(
    ("event", "name"),
    [
        ("push", "push/payload.json"),
        ("issues", "issues/opened.payload.json"),
        ("issue_comment", "issue_comment/created.payload.json"),
    ],
)
def test_activity_from_a_repository_webhook_without_an_installation_is_ignored(
    deliver: Deliver, hello_world: Repository, event: str, name: str
) -> None:
    payload = github_example(name)
    assert "installation" not in payload  # a repository's own webhook, not the App's

    delivery = deliver(event, payload)

    assert (delivery.status, delivery.error) == (
        DeliveryStatus.IGNORED,
        "activity without an installation (a repository webhook)",
    )
    assert delivery.installation_github_id is None
    assert not Event.objects.exists()


def test_activity_of_an_installation_ghsync_does_not_know_is_ignored(deliver: Deliver) -> None:
    delivery = deliver("pull_request", github_example("pull_request/opened.payload.json"))

    assert (delivery.status, delivery.error) == (DeliveryStatus.IGNORED, "unknown installation 1")
    assert not Event.objects.exists()


def test_ping_is_acknowledged_and_ignored(post_webhook: PostWebhook) -> None:
    payload = github_example("ping/with-app_id.payload.json")

    response = post_webhook("ping", payload)

    assert response.status_code == 202
    delivery = WebhookDelivery.objects.get(delivery_id=response.json()["delivery_id"])
    assert delivery.status == DeliveryStatus.IGNORED
    assert delivery.payload == payload
