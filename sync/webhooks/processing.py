"""Processing a stored delivery: what each GitHub event means for ghsync.

`delivery_process(delivery_pk=)` runs in the processing task. It is idempotent (a
delivery already processed or ignored is left alone; every write is an upsert), so a
second delivery of the task message, or a redrive, does no harm."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from integrations.events import (
    EventData,
    events_annotate,
    events_upsert,
    issue_comment_event,
    issue_events,
    pull_request_events,
    review_comment_event,
    review_event,
)
from integrations.models import (
    DeliveryStatus,
    Event,
    EventKind,
    Installation,
    InstallationStatus,
    Repository,
    WebhookDelivery,
)
from integrations.push import push_commit_events, pushed_to_default_branch
from integrations.services import (
    InstallationData,
    PayloadError,
    github_int,
    installation_stale_reason,
    installation_status_set,
    installation_upsert,
    member_link_sender,
    repositories_from_github,
    repositories_update,
)
from sync.policy import SyncDecision, Trigger
from sync.services import request_sync

log = structlog.get_logger(__name__)

# Events GitHub may send to an App that ghsync has no use for: recorded as ignored.
UNUSED_EVENTS = frozenset(
    {
        "ping",
        "branch_protection_configuration",
        "branch_protection_rule",
        "check_run",
        "check_suite",
        "code_scanning_alert",
        "commit_comment",
        "create",
        "custom_property",
        "custom_property_values",
        "delete",
        "dependabot_alert",
        "deploy_key",
        "deployment",
        "deployment_protection_rule",
        "deployment_review",
        "deployment_status",
        "discussion",
        "discussion_comment",
        "fork",
        "github_app_authorization",
        "gollum",
        "installation_target",
        "label",
        "marketplace_purchase",
        "member",
        "membership",
        "merge_group",
        "meta",
        "milestone",
        "org_block",
        "organization",
        "package",
        "page_build",
        "personal_access_token_request",
        "project",
        "project_card",
        "project_column",
        "projects_v2",
        "projects_v2_item",
        "public",
        "pull_request_review_thread",
        "registry_package",
        "release",
        "repository",
        "repository_advisory",
        "repository_dispatch",
        "repository_import",
        "repository_ruleset",
        "repository_vulnerability_alert",
        "secret_scanning_alert",
        "secret_scanning_alert_location",
        "security_advisory",
        "security_and_analysis",
        "sponsorship",
        "star",
        "status",
        "sub_issues",
        "team",
        "team_add",
        "watch",
        "workflow_dispatch",
        "workflow_job",
        "workflow_run",
    }
)


class DeliveryFailed(Exception):
    """Processing a delivery failed; it is recorded as `failed`. `retryable` is False
    for a payload that will never process (retrying cannot help)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class DeliveryOutcome:
    status: DeliveryStatus
    detail: str = ""
    events: int = 0
    decision: SyncDecision | None = None


def _ignored(detail: str) -> DeliveryOutcome:
    return DeliveryOutcome(DeliveryStatus.IGNORED, detail)


def event_disposition(event: str) -> tuple[bool, str]:
    """(handled, reason): whether a task must process `event`, and why not."""
    if event in HANDLERS:
        return True, ""
    if event in UNUSED_EVENTS:
        return False, f"{event} events are not used"
    log.warning("webhook.unknown_event", github_event=event)
    return False, f"unknown event {event!r}"


def delivery_process(*, delivery_pk: int) -> DeliveryOutcome | None:
    """Apply one delivery. None when it does not exist (any more). Raises
    `DeliveryFailed` after recording the failure on the delivery."""
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_pk).first()
            if delivery is None:
                return None
            if delivery.status in (DeliveryStatus.PROCESSED, DeliveryStatus.IGNORED):
                return DeliveryOutcome(DeliveryStatus(delivery.status), delivery.error)
            outcome = _dispatch(delivery.event, delivery.action, delivery.payload)
            delivery.status = outcome.status
            delivery.error = outcome.detail if outcome.status == DeliveryStatus.IGNORED else ""
            delivery.attempts = F("attempts") + 1
            delivery.processed_at = timezone.now()
            delivery.save(update_fields=["status", "error", "attempts", "processed_at"])
    except PayloadError as exc:
        raise _failed(delivery_pk, exc, retryable=False) from exc
    except Exception as exc:  # recorded, logged and re-raised for the task to retry
        raise _failed(delivery_pk, exc, retryable=True) from exc
    log.info(
        "webhook.processed",
        delivery_id=delivery.delivery_id,
        github_event=delivery.event,
        action=delivery.action,
        installation_id=delivery.installation_github_id,
        outcome=str(outcome.status),
        detail=outcome.detail,
        events=outcome.events,
        sync_action=str(outcome.decision.action) if outcome.decision else None,
        sync_reason=str(outcome.decision.reason) if outcome.decision else None,
    )
    return outcome


def _failed(delivery_pk: int, exc: Exception, *, retryable: bool) -> DeliveryFailed:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    with transaction.atomic():
        rows = WebhookDelivery.objects.filter(pk=delivery_pk)
        rows.update(
            status=DeliveryStatus.FAILED,
            error=error,
            attempts=F("attempts") + 1,
            processed_at=timezone.now(),
        )
        found = rows.values_list("delivery_id", "event", "action", "installation_github_id")
        delivery_id, event, action, installation_id = found.first() or (None, None, None, None)
    log.error(
        "webhook.failed",
        delivery_pk=delivery_pk,
        delivery_id=delivery_id,
        github_event=event,
        action=action,
        installation_id=installation_id,
        error=error,
        retryable=retryable,
    )
    return DeliveryFailed(error, retryable=retryable)


def _dispatch(event: str, action: str, payload: Any) -> DeliveryOutcome:
    handler = HANDLERS.get(event)
    if handler is None:
        _, reason = event_disposition(event)
        return _ignored(reason)
    if not isinstance(payload, Mapping):
        raise PayloadError("payload is not an object")
    try:
        return handler(payload, action)
    # A field of the wrong JSON type (a list where an object is read: AttributeError)
    # is as permanent as a missing key: retrying the same payload can only fail again.
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, PayloadError):
            raise
        raise PayloadError(f"malformed {event} payload ({type(exc).__name__}: {exc})") from exc


# --------------------------------------------------------------------------- installations


def _sender_id(payload: Mapping[str, Any]) -> int | None:
    sender = payload.get("sender")
    return github_int(sender.get("id")) if isinstance(sender, Mapping) else None


INSTALLATION_ACTIONS = ("created", "new_permissions_accepted", "deleted", "suspend", "unsuspend")


def _replayed(data: InstallationData, action: str, raw: Mapping[str, Any]) -> bool:
    """Whether this body was already applied under another delivery id: GitHub sends
    `created` once per installation, and the same action with the same `updated_at`
    is the same body again."""
    applied = WebhookDelivery.objects.filter(
        event="installation",
        action=action,
        installation_github_id=data.github_id,
        status=DeliveryStatus.PROCESSED,
    )
    if action == "created":
        return applied.exists()
    updated_at = raw.get("updated_at")
    if updated_at is None or isinstance(updated_at, (dict, list)):
        return False
    return applied.filter(payload__installation__updated_at=updated_at).exists()


def _installation(payload: Mapping[str, Any], action: str) -> DeliveryOutcome:
    if action not in INSTALLATION_ACTIONS:
        return _ignored(f"installation action {action!r} is not used")
    raw = _mapping_of(payload.get("installation"))
    data = InstallationData.from_github(raw)
    known = Installation.objects.filter(github_id=data.github_id).first()
    if known is None and action != "created":  # only `created` may create one
        return _ignored(f"unknown installation {data.github_id}")
    if known is not None:
        stale = installation_stale_reason(known, data)
        if not stale and _replayed(data, action, raw):
            stale = f"installation {action} already applied (a replayed body)"
        if stale:
            log.warning(
                "webhook.stale", installation_id=data.github_id, action=action, reason=stale
            )
            return _ignored(stale)
    if action in ("created", "new_permissions_accepted"):
        installation, _ = installation_upsert(data=data)
        repositories = repositories_from_github(payload.get("repositories"))
        if action == "created" or repositories:
            repositories_update(
                installation=installation, added=repositories, complete=action == "created"
            )
        member_link_sender(installation=installation, sender_github_id=_sender_id(payload))
        decision = request_sync(installation_id=installation.pk, trigger=Trigger.WEBHOOK)
        return DeliveryOutcome(DeliveryStatus.PROCESSED, decision=decision)
    if action == "deleted":
        installation_status_set(
            github_id=data.github_id, status=InstallationStatus.DELETED, updated_at=data.updated_at
        )
        return DeliveryOutcome(DeliveryStatus.PROCESSED)
    if action == "suspend":
        installation_upsert(data=data, status=InstallationStatus.SUSPENDED)
        return DeliveryOutcome(DeliveryStatus.PROCESSED)
    installation, _ = installation_upsert(data=data, status=InstallationStatus.ACTIVE)
    decision = request_sync(installation_id=installation.pk, trigger=Trigger.WEBHOOK)
    return DeliveryOutcome(DeliveryStatus.PROCESSED, decision=decision)


def _mapping_of(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PayloadError("installation is not an object")
    return value


def _installation_repositories(payload: Mapping[str, Any], action: str) -> DeliveryOutcome:
    if action not in ("added", "removed"):
        return _ignored(f"installation_repositories action {action!r} is not used")
    data = InstallationData.from_github(payload.get("installation"))
    installation = Installation.objects.filter(github_id=data.github_id).first()
    if installation is None:  # only `installation created` may create one
        return _ignored(f"unknown installation {data.github_id}")
    stale = installation_stale_reason(installation, data)
    if stale:
        log.warning("webhook.stale", installation_id=data.github_id, action=action, reason=stale)
        return _ignored(stale)
    added = repositories_from_github(payload.get("repositories_added"))
    removed = [
        item.github_id for item in repositories_from_github(payload.get("repositories_removed"))
    ]
    repositories_update(installation=installation, added=added, removed=removed)
    if action == "added":
        decision = request_sync(installation_id=installation.pk, trigger=Trigger.WEBHOOK)
        return DeliveryOutcome(DeliveryStatus.PROCESSED, decision=decision)
    return DeliveryOutcome(DeliveryStatus.PROCESSED)


# --------------------------------------------------------------------------- activity


def _repository_of(payload: Mapping[str, Any]) -> tuple[Repository | None, str]:
    """The active repository an activity payload is about, or None and why not."""
    installation = payload.get("installation")
    repository = payload.get("repository")
    if installation is None:  # SPEC §6: ignored, never failed
        return None, "activity without an installation (a repository webhook)"
    installation_id = (
        github_int(installation.get("id")) if isinstance(installation, Mapping) else None
    )
    repository_id = github_int(repository.get("id")) if isinstance(repository, Mapping) else None
    if installation_id is None:  # a repository or organization webhook, not the App's
        return None, "activity without an installation (not from the GitHub App)"
    if repository_id is None:
        raise PayloadError("activity payload without a repository id")
    found = (
        Repository.objects.select_related("installation")
        .filter(github_id=repository_id, installation__github_id=installation_id)
        .first()
    )
    if found is None:
        if not Installation.objects.filter(github_id=installation_id).exists():
            return None, f"unknown installation {installation_id}"
        return None, f"unknown repository {repository_id}"
    if not found.is_active:
        return None, f"repository {found.full_name} is no longer part of the installation"
    return found, ""


def _store(
    payload: Mapping[str, Any], events: Callable[[Repository], list[EventData]]
) -> DeliveryOutcome:
    repository, reason = _repository_of(payload)
    if repository is None:
        return _ignored(reason)
    items = events(repository)
    if not items:
        return _ignored("nothing to store")
    count = events_upsert(installation=repository.installation, repository=repository, events=items)
    return DeliveryOutcome(DeliveryStatus.PROCESSED, events=count)


def _push(payload: Mapping[str, Any], action: str) -> DeliveryOutcome:
    def events(repository: Repository) -> list[EventData]:
        if not pushed_to_default_branch(payload, repository.default_branch):
            return []
        items = push_commit_events(payload)
        known = set(
            Event.objects.filter(
                repository=repository,
                kind=EventKind.COMMIT,
                github_id__in=[item.github_id for item in items],
            ).values_list("github_id", flat=True)
        )
        return [item for item in items if item.github_id not in known]

    return _store(payload, events)


def _pull_request(payload: Mapping[str, Any], action: str) -> DeliveryOutcome:
    pull = payload["pull_request"]

    def events(repository: Repository) -> list[EventData]:
        items = pull_request_events(pull)
        # A merged pull request's merge_commit_sha is the commit its merge wrote; when
        # that commit is stored already, it says so (SPEC §2). On an unmerged one the
        # SHA is GitHub's test merge, never a commit of the branch.
        sha = pull.get("merge_commit_sha")
        if pull.get("merged_at") and sha:
            note = {"merge_of": int(pull["number"])}
            events_annotate(repository=repository, kind=EventKind.COMMIT, notes={str(sha): note})
        return items

    return _store(payload, events)


def _pull_request_review(payload: Mapping[str, Any], action: str) -> DeliveryOutcome:
    def events(_: Repository) -> list[EventData]:
        event = review_event(payload["review"], int(payload["pull_request"]["number"]))
        return [event] if event is not None else []

    return _store(payload, events)


def _issues(payload: Mapping[str, Any], action: str) -> DeliveryOutcome:
    if action == "deleted":
        return _ignored("a deleted issue keeps its events")
    return _store(payload, lambda _: issue_events(payload["issue"]))


def _issue_comment(payload: Mapping[str, Any], action: str) -> DeliveryOutcome:
    if action == "deleted":
        return _ignored("a deleted comment keeps its event")
    return _store(payload, lambda _: [issue_comment_event(payload["comment"])])


def _pull_request_review_comment(payload: Mapping[str, Any], action: str) -> DeliveryOutcome:
    """created and edited upsert the comment on its id (an edit updates the row)."""
    if action == "deleted":
        return _ignored("a deleted review comment keeps its event")
    return _store(payload, lambda _: [review_comment_event(payload["comment"])])


HANDLERS: dict[str, Callable[[Mapping[str, Any], str], DeliveryOutcome]] = {
    "installation": _installation,
    "installation_repositories": _installation_repositories,
    "push": _push,
    "pull_request": _pull_request,
    "pull_request_review": _pull_request_review,
    "pull_request_review_comment": _pull_request_review_comment,
    "issues": _issues,
    "issue_comment": _issue_comment,
}
