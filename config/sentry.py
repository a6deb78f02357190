"""Sentry error reporting, on when `SENTRY_DSN` is set: the official SDK with its Django
and Celery integrations. Secrets are scrubbed as the logs scrub them (config/logging.py):
values under sensitive keys and tokens, JWTs and private keys in any text, in every part
of an event (messages, exception values, stack-frame variables, request data,
breadcrumbs), before it leaves the process."""

from __future__ import annotations

from typing import Any

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration

from config.logging import _SENSITIVE_KEY, REDACTED, scrub

MAX_DEPTH = 12


def scrub_secrets(value: Any, key: str = "", depth: int = 0) -> Any:
    """`value` with secrets replaced by [redacted], however deep in the event."""
    if key and _SENSITIVE_KEY.search(key) and value not in (None, "", False, [], {}):
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if depth >= MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {k: scrub_secrets(v, str(k), depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_secrets(v, "", depth + 1) for v in value]
    return value


def before_send(event: Any, hint: Any) -> Any:
    return scrub_secrets(event)


def before_breadcrumb(crumb: Any, hint: Any) -> Any:
    return scrub_secrets(crumb)


def init_sentry(*, dsn: str, environment: str) -> None:
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,  # no user e-mails, cookies or IP addresses
        before_send=before_send,
        before_breadcrumb=before_breadcrumb,
        traces_sample_rate=0.0,
    )
