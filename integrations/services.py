"""Services for what GitHub tells us about installations and who owns them.

Webhook processing, reconcile and the membership commands all write through
these functions; each owns its transaction. GitHub's JSON is parsed once, into
`InstallationData` / `RepositoryData`, so a malformed payload fails here with a
`PayloadError` instead of half-writing rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils.dateparse import parse_datetime

from integrations.models import (
    GitHubProfile,
    Installation,
    InstallationMember,
    InstallationStatus,
    MemberRole,
    Repository,
    WebhookDelivery,
    is_github_id,
)

log = structlog.get_logger(__name__)


class PayloadError(ValueError):
    """GitHub JSON without the fields ghsync needs (a permanent failure, not retried)."""


class UnknownInstallation(LookupError):
    """No installation has that GitHub id."""


class UnknownUser(LookupError):
    """No user has that username."""


class InvalidMember(ValueError):
    """A membership or GitHub identity that cannot be recorded (bad role, id taken)."""


# --------------------------------------------------------------------------- parsing


def github_int(value: Any) -> int | None:
    """A GitHub numeric id, or None for anything else (strings, bools, floats, huge)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if is_github_id(value) else None


def github_time(value: Any) -> datetime | None:
    """A timestamp as GitHub writes it in webhooks: ISO 8601 text (any offset) or, in
    some installation payloads, epoch seconds. None for anything else."""
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, tz=UTC)
        if isinstance(value, str):
            parsed = parse_datetime(value.strip())
            if parsed is not None and parsed.tzinfo is not None:
                return parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _required_id(payload: Mapping[str, Any], what: str) -> int:
    value = github_int(payload.get("id"))
    if value is None:
        raise PayloadError(f"{what} has no numeric id")
    return value


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PayloadError(f"{what} is not an object")
    return value


@dataclass(frozen=True)
class InstallationData:
    github_id: int
    account_login: str
    account_type: str
    repository_selection: str
    suspended: bool = False
    updated_at: datetime | None = None  # GitHub's own, to refuse older (replayed) bodies

    @classmethod
    def from_github(cls, payload: Any) -> InstallationData:
        """From an `installation` object (webhooks and `GET /app/installations`)."""
        body = _mapping(payload, "installation")
        raw_account = body.get("account")
        account: Mapping[str, Any] = raw_account if isinstance(raw_account, Mapping) else {}
        login = str(account.get("login") or account.get("slug") or account.get("name") or "")
        return cls(
            github_id=_required_id(body, "installation"),
            account_login=login[:255] or f"installation-{body.get('id')}",
            account_type=str(account.get("type") or body.get("target_type") or "")[:32],
            repository_selection=str(body.get("repository_selection") or "")[:16],
            suspended=bool(body.get("suspended_at")),
            updated_at=github_time(body.get("updated_at")),
        )


@dataclass(frozen=True)
class RepositoryData:
    github_id: int
    full_name: str
    default_branch: str | None = None
    private: bool | None = None
    archived: bool | None = None

    @classmethod
    def from_github(cls, payload: Any) -> RepositoryData:
        """From a repository object; the short ones in installation webhooks carry no
        default branch or archived flag, so those stay None (unchanged on update)."""
        body = _mapping(payload, "repository")
        full_name = str(body.get("full_name") or "")
        if not full_name:
            raise PayloadError("repository has no full_name")
        branch = body.get("default_branch")
        return cls(
            github_id=_required_id(body, "repository"),
            full_name=full_name[:255],
            default_branch=str(branch)[:255] if branch else None,
            private=bool(body["private"]) if "private" in body else None,
            archived=bool(body["archived"]) if "archived" in body else None,
        )


def repositories_from_github(items: Any) -> list[RepositoryData]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise PayloadError("repositories is not a list")
    return [RepositoryData.from_github(item) for item in items]


# --------------------------------------------------------------------------- installations


def installation_upsert(
    *, data: InstallationData, status: InstallationStatus | str | None = None
) -> tuple[Installation, bool]:
    """Create or update an installation from GitHub's description of it. `status`
    (when given) overrides the one implied by `data.suspended`. Returns (row, created)."""
    new_status = str(status or (InstallationStatus.SUSPENDED if data.suspended else "active"))
    with transaction.atomic():
        installation, created = Installation.objects.select_for_update().get_or_create(
            github_id=data.github_id,
            defaults={
                "account_login": data.account_login,
                "account_type": data.account_type or "Organization",
                "repository_selection": data.repository_selection or "all",
                "status": new_status,
                "github_updated_at": data.updated_at,
            },
        )
        if not created:
            if data.updated_at is not None and (
                installation.github_updated_at is None
                or data.updated_at > installation.github_updated_at
            ):
                installation.github_updated_at = data.updated_at
            installation.account_login = data.account_login
            if data.account_type:
                installation.account_type = data.account_type
            if data.repository_selection:
                installation.repository_selection = data.repository_selection
            installation.status = new_status
            installation.save(
                update_fields=[
                    "account_login",
                    "account_type",
                    "repository_selection",
                    "status",
                    "github_updated_at",
                    "updated_at",
                ]
            )
    log.info(
        "installation.upserted",
        installation_id=data.github_id,
        status=new_status,
        created=created,
    )
    return installation, created


def installation_stale_reason(installation: Installation, data: InstallationData) -> str:
    """Why a webhook's description of `installation` must change nothing, or "".
    State never moves backwards: a deleted installation stays deleted (GitHub never
    reuses an installation id), and a body older than the stored state (by GitHub's own
    `updated_at`) is a replay or arrived late."""
    if installation.status == InstallationStatus.DELETED:
        return f"installation {installation.github_id} was deleted"
    stored = installation.github_updated_at
    if data.updated_at is not None and stored is not None and data.updated_at < stored:
        return (
            f"older than the stored state of installation {installation.github_id}"
            f" (updated_at {data.updated_at.isoformat()} < {stored.isoformat()})"
        )
    return ""


def installation_status_set(
    *, github_id: int, status: InstallationStatus | str, updated_at: datetime | None = None
) -> bool:
    """Record GitHub's suspend / unsuspend / delete. False when the installation is unknown."""
    with transaction.atomic():
        rows = Installation.objects.filter(github_id=github_id)
        updated = rows.update(status=str(status))
        if updated and updated_at is not None:
            rows.filter(
                models.Q(github_updated_at__isnull=True)
                | models.Q(github_updated_at__lt=updated_at)
            ).update(github_updated_at=updated_at)
    if updated:
        log.info("installation.status_changed", installation_id=github_id, status=str(status))
    return bool(updated)


@dataclass(frozen=True)
class RepositoriesChange:
    added: int = 0
    updated: int = 0
    deactivated: int = 0


def repositories_update(
    *,
    installation: Installation,
    added: Sequence[RepositoryData] = (),
    removed: Iterable[int] = (),
    complete: bool = False,
) -> RepositoriesChange:
    """Make `added` active repositories of `installation`, and `removed` (GitHub ids)
    inactive. With `complete`, `added` is the whole selection: every other repository
    of the installation becomes inactive. Inactive repositories keep their events."""
    created = updated = 0
    with transaction.atomic():
        existing = {
            repo.github_id: repo
            for repo in Repository.objects.select_for_update().filter(
                github_id__in=[item.github_id for item in added]
            )
        }
        for item in added:
            repo = existing.get(item.github_id)
            if repo is None:
                Repository.objects.create(
                    github_id=item.github_id,
                    installation=installation,
                    full_name=item.full_name,
                    default_branch=item.default_branch or "main",
                    private=bool(item.private),
                    archived=bool(item.archived),
                    is_active=True,
                )
                created += 1
                continue
            repo.installation = installation
            repo.full_name = item.full_name
            repo.is_active = True
            if item.default_branch is not None:
                repo.default_branch = item.default_branch
            if item.private is not None:
                repo.private = item.private
            if item.archived is not None:
                repo.archived = item.archived
            repo.save(
                update_fields=[
                    "installation",
                    "full_name",
                    "is_active",
                    "default_branch",
                    "private",
                    "archived",
                    "updated_at",
                ]
            )
            updated += 1
        to_deactivate = Repository.objects.filter(installation=installation, is_active=True)
        if complete:
            to_deactivate = to_deactivate.exclude(github_id__in=[item.github_id for item in added])
        else:
            to_deactivate = to_deactivate.filter(github_id__in=list(removed))
        deactivated = to_deactivate.update(is_active=False)
    change = RepositoriesChange(added=created, updated=updated, deactivated=deactivated)
    log.info(
        "installation.repositories_updated",
        installation_id=installation.github_id,
        added=change.added,
        updated=change.updated,
        deactivated=change.deactivated,
    )
    return change


# --------------------------------------------------------------------------- people


def member_link_sender(
    *, installation: Installation, sender_github_id: int | None
) -> InstallationMember | None:
    """Make the user whose GitHub identity is the webhook's `sender` an owner of
    `installation`. None when nobody has linked that GitHub id (yet)."""
    if sender_github_id is None:
        return None
    profile = (
        GitHubProfile.objects.filter(github_id=sender_github_id).select_related("user").first()
    )
    if profile is None:
        return None
    return _member_set(installation=installation, user=profile.user, role=MemberRole.OWNER)


def member_add(
    *, installation_github_id: int, username: str, role: MemberRole | str = MemberRole.VIEWER
) -> InstallationMember:
    """Give `username` access to an installation (or change their role)."""
    if role not in MemberRole.values:
        raise InvalidMember(f"role must be one of {', '.join(MemberRole.values)}, not {role!r}")
    installation = Installation.objects.filter(github_id=installation_github_id).first()
    if installation is None:
        raise UnknownInstallation(f"no installation with GitHub id {installation_github_id}")
    user = _user(username)
    return _member_set(installation=installation, user=user, role=MemberRole(role))


def _user(username: str) -> Any:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise UnknownUser(f"no user named {username!r}")
    return user


def _member_set(*, installation: Installation, user: Any, role: MemberRole) -> InstallationMember:
    with transaction.atomic():
        member, created = InstallationMember.objects.select_for_update().get_or_create(
            installation=installation, user=user, defaults={"role": role}
        )
        if not created and member.role != role:
            member.role = role
            member.save(update_fields=["role"])
    log.info(
        "installation.member_set",
        installation_id=installation.github_id,
        user_id=user.pk,
        role=str(role),
        created=created,
    )
    return member


@dataclass(frozen=True)
class GitHubLink:
    profile: GitHubProfile
    owned: list[Installation] = field(default_factory=list)


INSTALLING_ACTIONS = ("created", "new_permissions_accepted")


def github_link(*, username: str, github_id: int, github_login: str) -> GitHubLink:
    """Give a user the GitHub identity webhooks' `sender` is matched against, and make
    them owner of every installation they installed before they were linked (known
    from the stored `installation` deliveries)."""
    if github_int(github_id) is None:
        raise InvalidMember(f"GitHub id must be a positive number, not {github_id!r}")
    if not github_login.strip():
        raise InvalidMember("GitHub login must not be empty")
    user = _user(username)
    with transaction.atomic():
        taken = GitHubProfile.objects.filter(github_id=github_id).exclude(user=user).first()
        if taken is not None:
            raise InvalidMember(f"GitHub id {github_id} is already linked to {taken.user}")
        profile, _ = GitHubProfile.objects.update_or_create(
            user=user, defaults={"github_id": github_id, "github_login": github_login.strip()}
        )
    installed = set(
        WebhookDelivery.objects.filter(
            event="installation",
            action__in=INSTALLING_ACTIONS,
            payload__sender__id=github_id,
            installation_github_id__isnull=False,
        ).values_list("installation_github_id", flat=True)
    )
    owned = []
    for installation in Installation.objects.filter(github_id__in=installed).order_by("github_id"):
        _member_set(installation=installation, user=user, role=MemberRole.OWNER)
        owned.append(installation)
    log.info("github.linked", user_id=user.pk, github_id=github_id, owned=len(owned))
    return GitHubLink(profile=profile, owned=owned)
