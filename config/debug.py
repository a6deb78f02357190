"""What Django's error pages and mail show of the settings: besides Django's own list
(keys, tokens, passwords…), the URLs that carry credentials (DATABASE_URL,
CELERY_BROKER_URL, SENTRY_DSN)."""

import re

from django.views.debug import SafeExceptionReporterFilter


class ReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DSN|DATABASE_URL|BROKER_URL", re.I
    )
