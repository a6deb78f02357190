"""Admin of what sync owns (jobs), and the Installation admin's "Sync now" action, a
caller of the SyncService like every other."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.authtoken.models import TokenProxy

from integrations.admin import InstallationAdmin, ReadOnlyAdmin
from integrations.models import Installation
from sync.decisions import decision_level, signed_in
from sync.models import IngestionJob
from sync.policy import Trigger, user_message
from sync.services import InstallationNotFound, request_sync


class SyncingInstallationAdmin(InstallationAdmin):
    actions = ["sync_now", "backfill"]

    def has_sync_permission(self, request: HttpRequest) -> bool:
        """An admin sync skips the manual cooldown, so it spends GitHub budget at will:
        only for users given `integrations.sync_installation` (superusers have it)."""
        return bool(request.user.has_perm("integrations.sync_installation"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        """Everything is GitHub's and read-only, except the backfill depth for those
        who may sync."""
        fields = super().get_readonly_fields(request, obj)
        if self.has_sync_permission(request):
            return [name for name in fields if name != "backfill_days"]
        return list(fields)

    @admin.action(description="Backfill to the backfill depth", permissions=["sync"])
    def backfill(self, request: HttpRequest, queryset: QuerySet[Installation]) -> None:
        """History on demand: a full sync of each selected installation reading back
        its backfill depth (SYNC_BACKFILL_DAYS when it has none), further back than a
        periodic sync ever goes. The window is stored on the job."""
        now = timezone.now()
        for installation in queryset.order_by("account_login", "github_id"):
            days = installation.backfill_days or settings.SYNC_BACKFILL_DAYS
            self._ask(
                request,
                installation,
                started=f"{days} days back",
                since=now - timedelta(days=days),
                now=now,
            )

    @admin.action(description="Sync now", permissions=["sync"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet[Installation]) -> None:
        """Ask the SyncService (trigger admin) for each selected installation and say
        what it decided, in the policy's own words."""
        for installation in queryset.order_by("account_login", "github_id"):
            self._ask(request, installation)

    def _ask(
        self, request: HttpRequest, installation: Installation, started: str = "", **options: Any
    ) -> None:
        """One `request_sync` (trigger admin), its decision reported with message_user."""
        try:
            decision = request_sync(
                installation_id=installation.pk,
                trigger=Trigger.ADMIN,
                actor=signed_in(request.user),
                **options,
            )
        except InstallationNotFound:
            self.message_user(request, f"{installation}: no longer exists", messages.ERROR)
            return
        text = f"{installation}: {user_message(decision)}"
        if decision.job_id is not None:
            text += f" (job {decision.job_id}{', ' + started if started else ''})"
        self.message_user(request, text, decision_level(decision))


admin.site.unregister(Installation)
admin.site.register(Installation, SyncingInstallationAdmin)
# DRF's plain-text tokens are no longer accepted (API tokens are knox's, hashed): its
# admin would only make keys that do not work.
admin.site.unregister(TokenProxy)


@admin.register(IngestionJob)
class IngestionJobAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "installation",
        "trigger",
        "status",
        "progress_current",
        "progress_total",
        "events_ingested",
        "rest_requests",
        "graphql_points",
        "attempts",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "trigger"]
    list_select_related = ["installation"]
