"""URL map: pages (sync.urls), the API under /api/ (sync.api.urls), the GitHub
webhook (sync.urls), Prometheus metrics, the admin and Django's auth views."""

from django.contrib import admin
from django.urls import include, path

from sync.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("sync.api.urls")),
    path("metrics", metrics_view, name="metrics"),
    path("", include("sync.urls")),
]
