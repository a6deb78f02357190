"""Shared fixtures. Everything is real: the database of the run (SQLite or
PostgreSQL), the broker of the run, the simulator over HTTP."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings

# Users are created in most areas of the suite; PBKDF2 at Django's production work
# factor costs ~0.2 s each. Hashing strength is not under test anywhere, so the whole
# run (this process and the live server's threads) hashes with MD5. Child processes
# (manage.py, celery, runserver) keep config.settings: none of them checks a password
# a test hashed.
FAST_PASSWORD_HASHERS = override_settings(
    PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]
)


def pytest_configure(config: pytest.Config) -> None:
    if settings.configured:  # pytest-django loaded the settings before any conftest hook
        FAST_PASSWORD_HASHERS.enable()
        config.add_cleanup(FAST_PASSWORD_HASHERS.disable)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not settings.configured:
        return
    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL (DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)
