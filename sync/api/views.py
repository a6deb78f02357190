"""The read API (SPEC §6) and the health endpoint (SPEC §10). Thin: membership and
reads come from selectors, statuses from the view-model, sync decisions from
`request_sync`."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.dateparse import parse_datetime
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from integrations.models import Event, Installation
from sync.activity import GROUP_KEYS, counts_by_day
from sync.api.exports import EXPORT_FORMATS, CSVRenderer, NDJSONRenderer, stream_events
from sync.api.filters import SCHEMA_PARAMETERS, EventFilter
from sync.api.serializers import (
    ActivitySerializer,
    EventSerializer,
    HealthSerializer,
    SyncDecisionSerializer,
    SyncStatusSerializer,
)
from sync.decisions import signed_in
from sync.health import health_report
from sync.policy import Trigger
from sync.selectors import events_for_member, installation_for_member
from sync.services import InstallationNotFound, request_sync
from sync.status import get_status, get_status_for_user


def _member_installation(request: Request, github_id: int | str) -> Installation:
    """The installation, or 404 when it does not exist or the user is not a member."""
    installation = installation_for_member(user=request.user, github_id=github_id)
    if installation is None:
        raise Http404("No such installation")
    return installation


class StatusListView(APIView):
    """Every installation the signed-in user is a member of."""

    @extend_schema(responses=SyncStatusSerializer(many=True))
    def get(self, request: Request) -> Response:
        statuses = get_status_for_user(request.user, timezone.now())
        return Response([s.as_dict() for s in statuses])


class InstallationStatusView(APIView):
    @extend_schema(responses=SyncStatusSerializer)
    def get(self, request: Request, github_id: str) -> Response:
        installation = _member_installation(request, github_id)
        return Response(get_status(installation, timezone.now()).as_dict())


class InstallationSyncView(APIView):
    """Sync now: the policy's decision; 202 when a job started, 200 otherwise."""

    @extend_schema(
        request=None, responses={202: SyncDecisionSerializer, 200: SyncDecisionSerializer}
    )
    def post(self, request: Request, github_id: str) -> Response:
        installation = _member_installation(request, github_id)
        try:
            decision = request_sync(
                installation_id=installation.pk,
                trigger=Trigger.MANUAL,
                actor=signed_in(request.user),
            )
        except InstallationNotFound as exc:  # removed between the two reads
            raise Http404("No such installation") from exc
        code = status.HTTP_202_ACCEPTED if decision.started else status.HTTP_200_OK
        return Response(decision.as_dict(), status=code)


class EventCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = ("-occurred_at", "-id")

    def decode_cursor(self, request: Request) -> Cursor | None:
        """DRF checks a cursor's offset and direction but not its position, which goes
        into the occurred_at filter as it is: a crafted one must be "Invalid cursor"
        (404) like any other bad cursor, not a 500."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                valid = parse_datetime(str(cursor.position)) is not None
            except ValueError:
                valid = False
            if not valid:
                raise NotFound(self.invalid_cursor_message)
        return cursor


class EventFilterBackend(DjangoFilterBackend):
    """The events filters (sync/api/filters.py): a bad value is a 400 naming the
    parameter; an installation the user is not a member of is a 404, like everywhere."""

    def filter_queryset(self, request: Request, queryset: Any, view: Any) -> Any:
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        github_id = filterset.form.cleaned_data.get("installation")
        if github_id is not None:
            _member_installation(request, github_id)
        return filterset.qs


class FormatNegotiation(DefaultContentNegotiation):
    """An unknown `?format=` is a 400 that lists the formats, not DRF's bare 404."""

    def select_renderer(self, request: Request, renderers: Any, format_suffix: Any = None) -> Any:
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except Http404 as exc:
            names = ", ".join(sorted({r.format for r in renderers if r.format != "api"}))
            raise ValidationError({"format": [f"Choose one of: {names}."]}) from exc


class JSONErrorsMixin:
    """Errors are JSON even when the request asked for a CSV or NDJSON download."""

    def handle_exception(self, exc: Exception) -> Response:
        response: Response = super().handle_exception(exc)  # type: ignore[misc]
        request = self.request  # type: ignore[attr-defined]
        renderer = getattr(request, "accepted_renderer", None)
        if renderer is not None and renderer.format in EXPORT_FORMATS:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return response


FORMAT_PARAMETER = OpenApiParameter(
    "format",
    OpenApiTypes.STR,
    enum=["json", "csv", "ndjson"],
    description=(
        "json (default): cursor pages. csv or ndjson: every matching event as one "
        "streamed download (Content-Disposition: attachment), newest first, each row "
        "in the event shape; `data` is a JSON string in CSV. A CSV text cell that "
        "starts with =, +, -, @ gets a leading apostrophe (spreadsheet formulas)."
    ),
)


@extend_schema_view(
    get=extend_schema(
        parameters=[*SCHEMA_PARAMETERS, FORMAT_PARAMETER],
        description=(
            "Events of the installations you are a member of, newest first "
            "(occurred_at, id). `repository` and `kind` repeat. An `installation` you "
            "are not a member of is a 404; a bad filter value is a 400 naming it."
        ),
    )
)
class EventListView(JSONErrorsMixin, ListAPIView[Event]):
    """Events of the user's installations, newest first, cursor-paginated; or, with
    `?format=csv|ndjson`, all of them as a streamed download."""

    serializer_class = EventSerializer
    pagination_class = EventCursorPagination
    filter_backends = [EventFilterBackend]
    filterset_class = EventFilter
    renderer_classes: list[Any] = [
        *api_settings.DEFAULT_RENDERER_CLASSES,
        CSVRenderer,
        NDJSONRenderer,
    ]
    content_negotiation_class = FormatNegotiation

    def get_queryset(self) -> Any:
        return events_for_member(self.request.user)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        export_format = request.accepted_renderer.format
        if export_format in EXPORT_FORMATS:
            events = self.filter_queryset(self.get_queryset())
            return stream_events(events, export_format=export_format, filename="ghsync-events")
        return super().list(request, *args, **kwargs)


class ActivityView(GenericAPIView[Event]):
    """Counts of events by day (UTC) and kind, with the events filters; one query."""

    filter_backends = [EventFilterBackend]
    filterset_class = EventFilter
    pagination_class = None

    def get_queryset(self) -> Any:
        return events_for_member(self.request.user)

    @extend_schema(
        filters=True,
        parameters=[
            *SCHEMA_PARAMETERS,
            OpenApiParameter(
                "group_by",
                OpenApiTypes.STR,
                enum=sorted(GROUP_KEYS),
                description="Add the repository (owner/name) or the actor's login to each count.",
            ),
        ],
        responses=ActivitySerializer,
    )
    def get(self, request: Request) -> Response:
        group_by = request.query_params.get("group_by", "") or None
        if group_by is not None and group_by not in GROUP_KEYS:
            choices = " or ".join(sorted(GROUP_KEYS))
            raise ValidationError({"group_by": [f"Choose {choices}."]})
        events = self.filter_queryset(self.get_queryset())
        results = counts_by_day(events, group_by=group_by)
        return Response({"total": sum(row["count"] for row in results), "results": results})


class HealthView(APIView):
    """Liveness (always 200, touches nothing) and, with ?deep=1, readiness."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[OpenApiParameter("deep", OpenApiTypes.BOOL)],
        responses={200: HealthSerializer, 503: HealthSerializer},
    )
    def get(self, request: Request) -> Response:
        if request.query_params.get("deep", "").lower() not in ("1", "true", "yes"):
            response = Response({"status": "ok"})
        else:
            report = health_report()
            code = status.HTTP_200_OK if report.healthy else status.HTTP_503_SERVICE_UNAVAILABLE
            response = Response(report.as_dict(), status=code)
        add_never_cache_headers(response)
        response["Pragma"] = "no-cache"
        return response

    @extend_schema(
        parameters=[OpenApiParameter("deep", OpenApiTypes.BOOL)],
        request=None,
        responses={200: HealthSerializer, 503: HealthSerializer},
    )
    def post(self, request: Request) -> Response:
        return self.get(request)
