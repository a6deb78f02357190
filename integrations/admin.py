"""Admin: GitHub owns installations, repositories, events and deliveries, so those
views are read-only; memberships and profiles are ours to edit. Staff can ask for a
sync ("Sync now" action), which goes through the SyncService like every caller."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from integrations.models import (
    Event,
    GitHubProfile,
    Installation,
    InstallationMember,
    Repository,
    WebhookDelivery,
)
from sync.policy import Action, user_message
from sync.services import InstallationNotFound, request_sync

DECISION_LEVELS = {Action.START: messages.SUCCESS, Action.SKIP: messages.INFO}


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MemberInline(admin.TabularInline):
    model = InstallationMember
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Installation)
class InstallationAdmin(ReadOnlyAdmin):
    list_display = [
        "account_login",
        "github_id",
        "status",
        "sync_status",
        "last_synced_at",
        "rate_limit_remaining",
        "blocked_until",
    ]
    list_filter = ["status", "sync_status"]
    search_fields = ["account_login", "github_id"]
    inlines = [MemberInline]
    actions = ["sync_now"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Viewing is read-only, but the change page hosts the member inline.
        return bool(request.user.is_staff)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Installation._meta.fields]

    def has_sync_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_staff)

    @admin.action(description="Sync now", permissions=["sync"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet[Installation]) -> None:
        """Ask the SyncService (trigger admin) for each selected installation and say
        what it decided, in the policy's own words."""
        for installation in queryset.order_by("account_login", "github_id"):
            try:
                decision = request_sync(
                    installation_id=installation.pk, trigger="admin", actor=request.user
                )
            except InstallationNotFound:
                self.message_user(request, f"{installation}: no longer exists", messages.ERROR)
                continue
            text = f"{installation}: {user_message(decision)}"
            if decision.job_id is not None:
                text += f" (job {decision.job_id})"
            self.message_user(request, text, DECISION_LEVELS.get(decision.action, messages.WARNING))


@admin.register(Repository)
class RepositoryAdmin(ReadOnlyAdmin):
    list_display = ["full_name", "installation", "is_active", "last_synced_at", "last_error"]
    list_filter = ["is_active", "private", "archived"]
    search_fields = ["full_name"]


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["kind", "repository", "github_id", "actor_login", "occurred_at", "title"]
    list_filter = ["kind"]
    search_fields = ["github_id", "title", "actor_login"]
    date_hierarchy = "occurred_at"
    list_select_related = ["repository"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "delivery_id",
        "event",
        "action",
        "installation_github_id",
        "status",
        "received_at",
    ]
    list_filter = ["status", "event"]
    search_fields = ["delivery_id"]


@admin.register(InstallationMember)
class InstallationMemberAdmin(admin.ModelAdmin):
    list_display = ["user", "installation", "role"]
    list_filter = ["role"]
    autocomplete_fields = ["user"]


@admin.register(GitHubProfile)
class GitHubProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "github_login", "github_id"]
    search_fields = ["github_login", "user__username"]
