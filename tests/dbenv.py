"""Lets a child process (a real separate process) use the test database of this run."""

from __future__ import annotations

import os

from django.db import connection


def child_database_url() -> str:
    params = connection.settings_dict
    if params["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{params['NAME']}"
    user = params.get("USER") or "postgres"
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{params['NAME']}"


def child_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = child_database_url()
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env.update(overrides)
    return env
