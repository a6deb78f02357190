"""Settings come from environment variables with defaults that run with nothing
installed; bad values are refused with a clear message."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def settings_of(code: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    clean: dict[str, str | None] = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SYNC_", "DJANGO_", "GITHUB_"))
        and k not in {"DATABASE_URL", "CELERY_BROKER_URL"}
    }
    clean["DJANGO_DEBUG"] = "true"  # as the demo and the tests set it; production's is off
    clean.update(env)
    given = {k: v for k, v in clean.items() if v is not None}
    given["DJANGO_SETTINGS_MODULE"] = "config.settings"
    script = (
        "import django; django.setup(); from django.conf import settings as s;"
        f" print(repr(({code},)))"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=given,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_defaults_are_sqlite_and_the_embedded_broker_with_the_spec_constants() -> None:
    out = settings_of(
        "s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'],"
        " s.CELERY_BROKER_URL, s.SYNC_MANUAL_COOLDOWN_SECONDS, s.SYNC_MIN_BUDGET,"
        " s.SYNC_CRON_RESERVE, s.SYNC_LEASE_SECONDS, s.SYNC_BEAT_INTERVAL_SECONDS,"
        " s.GITHUB_API_URL"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == repr(
        (
            "django.db.backends.sqlite3",
            str(ROOT / "var" / "ghsync.sqlite3"),
            "filesystem://localhost//",
            3600,
            100,
            500,
            300,
            300,
            "https://api.github.com",
        )
    )


def test_environment_variables_override_the_defaults() -> None:
    out = settings_of(
        "s.DATABASES['default']['ENGINE'], s.SYNC_MANUAL_COOLDOWN_SECONDS, s.ALLOWED_HOSTS,"
        " s.GITHUB_APP_PRIVATE_KEY",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/ghsync",
        SYNC_MANUAL_COOLDOWN_SECONDS="60",
        DJANGO_ALLOWED_HOSTS="a.example, b.example",
        GITHUB_APP_PRIVATE_KEY="-----BEGIN KEY-----\\nabc\\n-----END KEY-----",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == repr(
        (
            "django.db.backends.postgresql",
            60,
            ["a.example", "b.example"],
            "-----BEGIN KEY-----\nabc\n-----END KEY-----",
        )
    )


def test_debug_is_off_unless_django_debug_says_otherwise() -> None:
    unset = settings_of("s.DEBUG", DJANGO_DEBUG=None)
    assert unset.returncode != 0  # off, so the development key is refused
    assert "DJANGO_SECRET_KEY must be set" in unset.stderr
    keyed = settings_of("s.DEBUG", DJANGO_DEBUG=None, DJANGO_SECRET_KEY="k" * 50)
    assert (keyed.returncode, keyed.stdout.strip()) == (0, "(False,)"), keyed.stderr


def test_production_proxy_and_cookie_settings_come_from_the_environment() -> None:
    out = settings_of(
        "s.CSRF_TRUSTED_ORIGINS, s.SECURE_PROXY_SSL_HEADER, s.SECURE_SSL_REDIRECT,"
        " s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS,"
        " s.DATA_UPLOAD_MAX_MEMORY_SIZE",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://ghsync.example, https://b.example",
        DJANGO_SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
        DJANGO_SECURE_SSL_REDIRECT="true",
        DJANGO_SESSION_COOKIE_SECURE="true",
        DJANGO_CSRF_COOKIE_SECURE="1",
        DJANGO_SECURE_HSTS_SECONDS="31536000",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == repr(
        (
            ["https://ghsync.example", "https://b.example"],
            ("HTTP_X_FORWARDED_PROTO", "https"),
            True,
            True,
            True,
            31536000,
            2621440,  # Django's default: only the webhook reads bigger bodies
        )
    )
    bad = settings_of("s.SECURE_PROXY_SSL_HEADER", DJANGO_SECURE_PROXY_SSL_HEADER="https")
    assert bad.returncode != 0 and "HEADER,value" in bad.stderr


def test_debug_off_with_the_development_key_refuses_to_start() -> None:
    out = settings_of("s.DEBUG", DJANGO_DEBUG="false")
    assert out.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in out.stderr


def test_a_non_numeric_sync_setting_is_a_clear_error() -> None:
    out = settings_of("s.SYNC_MIN_BUDGET", SYNC_MIN_BUDGET="lots")
    assert out.returncode != 0
    assert "SYNC_MIN_BUDGET must be an integer, got 'lots'" in out.stderr


def test_redis_visibility_timeout_outlasts_the_longest_eta_the_worker_schedules() -> None:
    from sync.policy import BLOCKED_UNTIL_CAP
    from sync.worker.endings import JITTER_MAX_SECONDS, RETRY_BACKOFF_CAP_SECONDS

    out = settings_of(
        "s.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'],"
        " s.CELERY_BROKER_TRANSPORT_OPTIONS['socket_connect_timeout'],"
        " s.CELERY_TASK_PUBLISH_RETRY_POLICY['max_retries']",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/7",
    )
    assert out.returncode == 0, out.stderr
    visibility, connect, retries = ast.literal_eval(out.stdout)
    longest_eta = max(BLOCKED_UNTIL_CAP.total_seconds(), RETRY_BACKOFF_CAP_SECONDS)
    assert visibility > longest_eta + JITTER_MAX_SECONDS + 60
    # A publish against an unreachable Redis gives up well inside GitHub's 10 s.
    assert (retries + 1) * connect <= 5


def test_error_pages_never_show_the_credentials_in_database_and_broker_urls() -> None:
    out = settings_of(
        "sorted(k for k, v in __import__('django.views.debug', fromlist=['x'])"
        ".get_default_exception_reporter_filter().get_safe_settings().items()"
        " if 'hunter2' in str(v))",
        DATABASE_URL="postgres://ghsync:hunter2@db.example:5432/ghsync",
        CELERY_BROKER_URL="redis://:hunter2@redis.example:6379/0",
        SENTRY_DSN="https://hunter2@sentry.example/1",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "([],)"


def test_sync_graphql_is_auto_by_default_and_takes_on_or_off() -> None:
    assert settings_of("s.SYNC_GRAPHQL").stdout.strip() == "('auto',)"
    for given, value in (("on", "on"), ("OFF", "off"), (" auto ", "auto")):
        out = settings_of("s.SYNC_GRAPHQL", SYNC_GRAPHQL=given)
        assert (out.returncode, out.stdout.strip()) == (0, repr((value,))), out.stderr


def test_an_unknown_sync_graphql_value_refuses_to_start_naming_the_choices() -> None:
    out = settings_of("s.SYNC_GRAPHQL", SYNC_GRAPHQL="yes")
    assert out.returncode != 0
    assert "SYNC_GRAPHQL must be one of auto, on, off, got 'yes'" in out.stderr
