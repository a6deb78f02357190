"""The request gate under a stampede: 64 concurrent `request_sync` calls for one installation.

`python bench/gate.py [--calls 64] [--rounds 5] [--active]` with the bench's environment
(DATABASE_URL, CELERY_BROKER_URL). Meant for PostgreSQL (SQLite serialises writers and
proves nothing about row locks); on SQLite it says so and runs anyway.

Each round: a fresh idle installation, then `--calls` callers released at once by a
barrier, first as threads of one process, then as separate processes (each with its
own database connection, opened before the barrier so connecting is not timed). The
trigger is `manual`, the "Sync now" button. Figures: jobs created per round (the
contract: exactly one), the decisions returned, and the latency of the calls. The
stampede on an idle installation (one call starts the job, the others find it under
the row lock) is measured first, then (`active`) the same calls for an installation
whose job is already running: the "already syncing" read path, no lock.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

GATE_INSTALLATION_GITHUB_ID = 990_001


def _prepare(*, active: bool = False) -> int:
    """A fresh installation with three repositories and an owner, idle or (`active`)
    with a job started; its pk."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from integrations.models import Installation, InstallationMember, MemberRole, Repository

    with transaction.atomic():
        Installation.objects.filter(github_id=GATE_INSTALLATION_GITHUB_ID).delete()
        installation = Installation.objects.create(
            github_id=GATE_INSTALLATION_GITHUB_ID, account_login="gate-org"
        )
        Repository.objects.bulk_create(
            Repository(
                github_id=GATE_INSTALLATION_GITHUB_ID * 10 + k,
                installation=installation,
                full_name=f"gate-org/repo-{k}",
            )
            for k in range(3)
        )
        owner, _ = get_user_model().objects.get_or_create(username="bench-gate-owner")
        InstallationMember.objects.create(
            user=owner, installation=installation, role=MemberRole.OWNER
        )
    if active:
        from sync.policy import Trigger
        from sync.services import request_sync

        request_sync(installation_id=installation.pk, trigger=Trigger.ADMIN)
    return installation.pk


def _call(installation_pk: int) -> tuple[float, str]:
    from sync.policy import Trigger
    from sync.services import request_sync

    started = time.perf_counter()
    decision = request_sync(installation_id=installation_pk, trigger=Trigger.MANUAL)
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, f"{decision.action}/{decision.reason}"


def _thread_round(installation_pk: int, calls: int) -> list[tuple[float, str]]:
    from django.db import connection

    barrier = threading.Barrier(calls)
    results: list[tuple[float, str]] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            connection.ensure_connection()
            barrier.wait()
            outcome = _call(installation_pk)
            with lock:
                results.append(outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _process_worker(
    installation_pk: int, barrier: Any, queue: Any
) -> None:  # runs in a forked child
    from django.db import connection

    connection.ensure_connection()
    barrier.wait()
    queue.put(_call(installation_pk))
    connection.close()


def _process_round(installation_pk: int, calls: int) -> list[tuple[float, str]]:
    from django.db import connections

    connections.close_all()  # a forked child must not share the parent's connection
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(calls)
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_process_worker, args=(installation_pk, barrier, queue))
        for _ in range(calls)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join()
    return results


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[index], 2)


def _run(mode: str, calls: int, rounds: int, *, active: bool = False) -> dict[str, Any]:
    from sync.models import IngestionJob

    latencies: list[float] = []
    decisions: Counter[str] = Counter()
    jobs_per_round: list[int] = []
    for _ in range(rounds):
        pk = _prepare(active=active)
        results = (_thread_round if mode == "threads" else _process_round)(pk, calls)
        jobs_per_round.append(IngestionJob.objects.filter(installation_id=pk).count())
        latencies += [ms for ms, _ in results]
        decisions.update(d for _, d in results)
    return {
        "calls_per_round": calls,
        "rounds": rounds,
        "jobs_created_per_round": jobs_per_round,
        "exactly_one_job_every_round": all(n == 1 for n in jobs_per_round),
        "decisions": dict(decisions),
        "p50_ms": _percentile(latencies, 50),
        "p99_ms": _percentile(latencies, 99),
        "max_ms": round(max(latencies), 2),
        "mean_ms": round(statistics.fmean(latencies), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from integrations.models import Installation

    vendor = connection.vendor
    report: dict[str, Any] = {
        "database": vendor,
        "broker": settings.CELERY_BROKER_URL.split("://", 1)[0],
        "trigger": "manual",
    }
    if vendor != "postgresql":
        report["note"] = "not PostgreSQL: SQLite serialises writers, row locks are not exercised"
    try:
        report["threads"] = _run("threads", args.calls, args.rounds)
        report["processes"] = _run("processes", args.calls, args.rounds)
        report["active"] = {
            "threads": _run("threads", args.calls, args.rounds, active=True),
            "processes": _run("processes", args.calls, args.rounds, active=True),
        }
    finally:
        Installation.objects.filter(github_id=GATE_INSTALLATION_GITHUB_ID).delete()
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
