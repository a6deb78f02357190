"""/api/…: URLs name installations by their GitHub id. The trailing slash is
optional where SPEC §6 writes none, so clients need not guess."""

from django.urls import URLPattern, URLResolver, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from sync.api import views

urlpatterns: list[URLPattern | URLResolver] = [
    re_path(r"^health/?$", views.HealthView.as_view(), name="api-health"),
    re_path(r"^sync/status/?$", views.StatusListView.as_view(), name="api-status-list"),
    re_path(
        r"^installations/(?P<github_id>[0-9]+)/status/?$",
        views.InstallationStatusView.as_view(),
        name="api-installation-status",
    ),
    re_path(
        r"^installations/(?P<github_id>[0-9]+)/sync/?$",
        views.InstallationSyncView.as_view(),
        name="api-installation-sync",
    ),
    re_path(r"^events/?$", views.EventListView.as_view(), name="api-events"),
    re_path(r"^activity/?$", views.ActivityView.as_view(), name="api-activity"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
