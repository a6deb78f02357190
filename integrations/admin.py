"""Admin: GitHub owns installations, repositories, events and deliveries, so those
views are read-only; memberships and profiles are ours to edit. The "Sync now" action
is a caller of the SyncService and lives with it (sync/admin.py)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from integrations.models import (
    Event,
    GitHubProfile,
    Installation,
    InstallationMember,
    Repository,
    WebhookDelivery,
)


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
        "graphql_remaining",
        "blocked_until",
    ]
    list_filter = ["status", "sync_status"]
    search_fields = ["account_login", "github_id"]
    inlines = [MemberInline]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Every field is read-only, but the change page hosts the member inline (whose
        # own permissions decide what can be edited there): open to whoever may view.
        return bool(request.user.has_perm("integrations.view_installation"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Installation._meta.fields]


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
