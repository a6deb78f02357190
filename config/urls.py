"""URL map: pages (sync.urls), the API under /api/ (sync.api.urls), the GitHub
webhook (sync.urls), the admin and Django's auth views."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("sync.api.urls")),
    path("", include("sync.urls")),
]
