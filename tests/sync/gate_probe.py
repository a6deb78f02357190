"""Run in child processes by the concurrency tests: one request_sync call each."""

from __future__ import annotations

import os
from typing import Any


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def request_once(installation_id: int, barrier: Any) -> tuple[str, str, int | None, str | None]:
    from django.db import connection

    from sync.policy import Trigger
    from sync.services import request_sync

    barrier.wait(timeout=60)
    try:
        decision = request_sync(installation_id=installation_id, trigger=Trigger.ADMIN)
        return (str(decision.action), str(decision.reason), decision.job_id, None)
    except Exception as exc:  # reported to the test, which fails on it
        return ("raised", type(exc).__name__, None, str(exc))
    finally:
        connection.close()
