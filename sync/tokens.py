"""API tokens: stored hashed (SHA-512, django-rest-knox), each with an expiry; the key is
shown once, when it is made. DRF's plain-text tokens from before are converted by a
migration (`legacy_tokens_convert`): the same key keeps working, now hashed and
expiring `API_TOKEN_TTL_DAYS` after the conversion."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS

log = structlog.get_logger(__name__)


class UnknownUser(LookupError):
    """No active user has that username."""


@dataclass(frozen=True)
class IssuedToken:
    key: str  # shown once; only its hash is stored
    expiry: datetime | None


def token_ttl(days: int | None = None) -> timedelta | None:
    """The lifetime of a new token: `days`, else API_TOKEN_TTL_DAYS; 0 means none."""
    value = int(settings.API_TOKEN_TTL_DAYS if days is None else days)
    return timedelta(days=value) if value > 0 else None


def api_token_create(*, username: str, days: int | None = None) -> IssuedToken:
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise UnknownUser(f"no active user named {username!r}")
    instance, key = AuthToken.objects.create(user=user, expiry=token_ttl(days))
    log.info("api_token.created", user_id=user.pk, expiry=instance.expiry)
    return IssuedToken(key=key, expiry=instance.expiry)


def legacy_tokens_convert(*, legacy_model: Any, knox_model: Any, now: datetime) -> int:
    """Every DRF token becomes a knox token with the same key (hashed), expiring one
    token lifetime from `now`; the plain-text rows are deleted. Models are passed in so
    a migration can hand over its historical ones."""
    ttl = token_ttl() or timedelta(days=90)  # a converted key expires whatever the setting
    with transaction.atomic():
        rows = [
            knox_model(
                user_id=legacy.user_id,
                digest=hash_token(legacy.key),
                token_key=legacy.key[: CONSTANTS.TOKEN_KEY_LENGTH],
                expiry=now + ttl,
            )
            for legacy in legacy_model.objects.select_for_update()
        ]
        knox_model.objects.bulk_create(rows)  # knox's manager.create() makes new keys
        legacy_model.objects.all().delete()
    if rows:
        log.info("api_token.legacy_converted", tokens=len(rows))
    return len(rows)
