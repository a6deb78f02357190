"""Binds a request id to every log line written while a request is handled, and
returns it in the `X-Request-ID` header so a person can quote it."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

import structlog
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Polling and health probes would drown the log; they are logged at debug.
_QUIET_PREFIXES = ("/api/health", "/status/live", "/static/")


class RequestIdMiddleware:
    """Adopts a sane incoming X-Request-ID (from a proxy) or makes a new one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        started = time.monotonic()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            response = self.get_response(request)
            level = "debug" if request.path.startswith(_QUIET_PREFIXES) else "info"
            getattr(log, level)(
                "http.request",
                method=request.method,
                path=request.path,
                status=response.status_code,
                duration_ms=round((time.monotonic() - started) * 1000, 1),
            )
        response[REQUEST_ID_HEADER] = request_id
        return response


class RejectNulInQueryMiddleware:
    """A NUL character in a query string is never meaningful and PostgreSQL refuses it
    in any lookup (the admin's filters would turn it into a 500): answer 400."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for key, values in request.GET.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return HttpResponseBadRequest("NUL characters are not allowed in the query")
        return self.get_response(request)
