"""`POST /webhooks/github/`: verify, record, acknowledge. Processing happens in a task,
so GitHub gets its 202 in milliseconds. Bad input is a 4xx, never a 500."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs

import structlog
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.services import github_int
from sync.webhooks.deliveries import delivery_record
from sync.webhooks.signature import signature_matches

log = structlog.get_logger(__name__)

HEADER_MAX = 64  # the delivery id and event columns' width; GitHub's are far shorter
_PRINTABLE = re.compile(r"^[\x21-\x7e]+$")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class Rejected(Exception):
    def __init__(self, status: int, outcome: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome
        self.message = message


def _header(request: HttpRequest, name: str) -> str:
    value = (request.headers.get(name) or "").strip()
    if not value:
        raise Rejected(400, "missing_header", f"missing {name} header")
    return value


def _short_token(request: HttpRequest, name: str) -> str:
    value = _header(request, name)
    if len(value) > HEADER_MAX or not _PRINTABLE.match(value):
        raise Rejected(400, "bad_header", f"malformed {name} header")
    return value


def _body(request: HttpRequest, limit: int) -> bytes:
    """The raw body, never reading more than `limit` + 1 bytes."""
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared:
        try:
            length = int(declared)
        except ValueError:
            raise Rejected(400, "bad_header", "malformed Content-Length header") from None
        if length > limit:
            raise Rejected(413, "too_large", f"payload larger than {limit} bytes")
    body = request.read(limit + 1)
    if len(body) > limit:
        raise Rejected(413, "too_large", f"payload larger than {limit} bytes")
    return body


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _without_nul(value: Any) -> Any:
    """PostgreSQL's jsonb cannot store U+0000: drop it from strings and keys."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    return value


def _payload(request: HttpRequest, body: bytes) -> dict[str, Any]:
    text: str | bytes = body
    content_type = (request.content_type or "").lower()
    try:
        if content_type == "application/x-www-form-urlencoded":
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
            text = (form.get("payload") or [""])[0]
        else:  # JSON may be UTF-16 or -32: decode first, so the checks below see the text
            text = body.decode(json.detect_encoding(body))
        payload = json.loads(text, parse_constant=_reject_constant)
        raw = text.encode() if isinstance(text, str) else text
        if _SURROGATE_ESCAPE.search(raw):
            json.dumps(payload, ensure_ascii=False).encode("utf-8")  # lone surrogates fail
        if b"\\u0000" in raw:
            payload = _without_nul(payload)
    except (ValueError, RecursionError):
        raise Rejected(400, "bad_json", "payload is not valid JSON") from None
    if not isinstance(payload, dict):
        raise Rejected(400, "bad_json", "payload is not a JSON object")
    return payload


def _secrets() -> list[str]:
    return [
        str(secret)
        for secret in (settings.GITHUB_WEBHOOK_SECRET, settings.GITHUB_WEBHOOK_SECRET_PREVIOUS)
        if secret
    ]


@csrf_exempt
@require_POST
def github_webhook(request: HttpRequest) -> JsonResponse:
    delivery_id = event = action = ""
    installation_id: int | None = None
    try:
        secrets = _secrets()
        if not secrets:
            raise Rejected(503, "not_configured", "webhook secret is not configured")
        event = _short_token(request, "X-GitHub-Event")
        delivery_id = _short_token(request, "X-GitHub-Delivery")
        signature = _header(request, "X-Hub-Signature-256")
        body = _body(request, int(settings.GITHUB_WEBHOOK_MAX_BYTES))
        if not signature_matches(body, signature, secrets):
            raise Rejected(401, "bad_signature", "signature does not match")
        payload = _payload(request, body)
        action = payload["action"][:64] if isinstance(payload.get("action"), str) else ""
        installation = payload.get("installation")
        if isinstance(installation, dict):
            installation_id = github_int(installation.get("id"))
        recorded = delivery_record(
            delivery_id=delivery_id,
            event=event,
            action=action,
            installation_github_id=installation_id,
            payload=payload,
        )
    except Rejected as rejected:
        fields = {
            "delivery_id": delivery_id or None,
            "github_event": event or None,
            "action": action or None,
            "installation_id": installation_id,
            "outcome": rejected.outcome,
        }
        if rejected.status == 503:
            log.error("webhook.received", **fields, error=rejected.message)
        else:
            log.warning("webhook.received", **fields, error=rejected.message)
        return JsonResponse({"error": rejected.message}, status=rejected.status)
    log.info(
        "webhook.received",
        delivery_id=delivery_id,
        github_event=event,
        action=action,
        installation_id=installation_id,
        outcome=recorded.outcome,
    )
    return JsonResponse({"delivery_id": delivery_id, "status": recorded.outcome}, status=202)
