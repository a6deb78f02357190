"""Pages and the GitHub webhook endpoint. Installations are named by their GitHub id."""

from django.urls import URLPattern, URLResolver, path

from sync import views
from sync.activity_page import installation_activity
from sync.webhooks.views import github_webhook

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.dashboard, name="dashboard"),
    path("installations/<int:github_id>/", views.installation_detail, name="installation"),
    path(
        "installations/<int:github_id>/activity/",
        installation_activity,
        name="installation-activity",
    ),
    path("installations/<int:github_id>/sync", views.installation_sync, name="installation-sync"),
    path("status/live/", views.status_live, name="status-live"),
    path("webhooks/github/", github_webhook, name="github-webhook"),
]
