from django.contrib import admin

from integrations.admin import ReadOnlyAdmin
from sync.models import IngestionJob


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
