"""Reads that the pages and the API share: which installations a user may see, an
installation's repositories, its job history and its recent events.

Membership (InstallationMember) is the one rule for who sees what, superusers
included; a selector that takes a user never returns anything outside it."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Exists, OuterRef, QuerySet

from integrations.models import Event, Installation, InstallationMember, Repository, is_github_id
from sync.models import IngestionJob


def installations_for_member(user: User | AnonymousUser) -> QuerySet[Installation]:
    """The installations `user` is a member of."""
    if not user.is_authenticated:
        return Installation.objects.none()
    member = InstallationMember.objects.filter(user=user, installation=OuterRef("pk"))
    return Installation.objects.filter(Exists(member))


def github_id_of(value: int | str) -> int | None:
    """A GitHub id from a URL or query string: ASCII digits a BIGINT column can hold,
    else None. `"\u00b2".isdigit()` is true and `int()` refuses it; `int()` also refuses
    more than 4,300 digits: both are "no such installation", never an exception."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()) or len(value) > 19:
            return None
        value = int(value)
    return value if is_github_id(value) else None


def installation_for_member(
    *, user: User | AnonymousUser, github_id: int | str
) -> Installation | None:
    """The installation with that GitHub id, or None when it does not exist or `user`
    is not a member (the two are indistinguishable on purpose). An id no column can
    hold (a URL or API path of any length, unicode digits) finds nothing, without
    asking the database."""
    number = github_id_of(github_id)
    if number is None:
        return None
    return installations_for_member(user).filter(github_id=number).first()


def repositories_of(installation: Installation) -> QuerySet[Repository]:
    """Active repositories first, then removed ones (their events stay)."""
    return installation.repositories.order_by("-is_active", "full_name")


def job_history(installation: Installation, *, limit: int = 20) -> list[IngestionJob]:
    return list(
        IngestionJob.objects.filter(installation=installation)
        .select_related("actor")
        .order_by("-created_at", "-id")[:limit]
    )


def recent_events(installation: Installation, *, limit: int = 25) -> list[Event]:
    return list(
        Event.objects.filter(installation=installation)
        .select_related("repository")
        .order_by("-occurred_at", "-id")[:limit]
    )


def events_for_member(user: User | AnonymousUser) -> QuerySet[Event]:
    """Every event of the installations `user` is a member of, newest first."""
    if not user.is_authenticated:
        return Event.objects.none()
    member = InstallationMember.objects.filter(user=user, installation=OuterRef("installation"))
    return (
        Event.objects.filter(Exists(member))
        .select_related("repository", "installation")
        .order_by("-occurred_at", "-id")
    )
