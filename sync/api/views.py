"""The read API (SPEC §6) and the health endpoint (SPEC §10). Thin: membership and
reads come from selectors, statuses from the view-model, sync decisions from
`request_sync`."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.models import Event, EventKind, Installation
from sync.api.serializers import (
    EventFilterSerializer,
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
    installation = installation_for_member(user=request.user, github_id=int(github_id))
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


class EventListView(ListAPIView[Event]):
    """Events of the user's installations, newest first, cursor-paginated."""

    serializer_class = EventSerializer
    pagination_class = EventCursorPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("installation", OpenApiTypes.INT, description="GitHub id"),
            OpenApiParameter("repository", OpenApiTypes.STR, description='"owner/name"'),
            OpenApiParameter("kind", OpenApiTypes.STR, enum=list(EventKind.values)),
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="occurred at or after"),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        filters = EventFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        wanted = filters.validated_data
        events = events_for_member(self.request.user)
        if "installation" in wanted:
            installation = _member_installation(self.request, wanted["installation"])
            events = events.filter(installation=installation)
        if "repository" in wanted:
            events = events.filter(repository__full_name=wanted["repository"])
        if "kind" in wanted:
            events = events.filter(kind=wanted["kind"])
        if "since" in wanted:
            events = events.filter(occurred_at__gte=wanted["since"])
        return events


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
