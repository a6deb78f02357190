from django.urls import URLPattern, URLResolver, path

from integrations.webhooks.views import github_webhook

urlpatterns: list[URLPattern | URLResolver] = [
    path("webhooks/github/", github_webhook, name="github-webhook"),
]
