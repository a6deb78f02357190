"""Admin of what sync owns (jobs), and the Installation admin's "Sync now" action, a
caller of the SyncService like every other."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from integrations.admin import InstallationAdmin, ReadOnlyAdmin
from integrations.models import Installation
from sync.decisions import decision_level, signed_in
from sync.models import IngestionJob
from sync.policy import Trigger, user_message
from sync.services import InstallationNotFound, request_sync


class SyncingInstallationAdmin(InstallationAdmin):
    actions = ["sync_now"]

    def has_sync_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_staff)

    @admin.action(description="Sync now", permissions=["sync"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet[Installation]) -> None:
        """Ask the SyncService (trigger admin) for each selected installation and say
        what it decided, in the policy's own words."""
        for installation in queryset.order_by("account_login", "github_id"):
            try:
                decision = request_sync(
                    installation_id=installation.pk,
                    trigger=Trigger.ADMIN,
                    actor=signed_in(request.user),
                )
            except InstallationNotFound:
                self.message_user(request, f"{installation}: no longer exists", messages.ERROR)
                continue
            text = f"{installation}: {user_message(decision)}"
            if decision.job_id is not None:
                text += f" (job {decision.job_id})"
            self.message_user(request, text, decision_level(decision))


admin.site.unregister(Installation)
admin.site.register(Installation, SyncingInstallationAdmin)


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
        "attempts",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "trigger"]
    list_select_related = ["installation"]
