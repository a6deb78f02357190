"""Ingest benchmark: one full backfill of a simulated installation, at a size and at 10x.

    .venv/bin/python bench/ingest.py [--size 1x3x100] [--factor 10] [--seed 1]

Not a test: prints one JSON object. For each size (the given one, and the same with
`factor` times the events of each kind): events ingested, GitHub requests used against
the simulator's minimum for the job's window, events per second, and the peak RSS of
the process that did the ingesting, so that memory can be seen to stay flat however
big the repositories are (the worker holds one page at a time).

Processes: the simulator runs in its own process (bench/simulator.py), so its memory
is not counted. Each ingest runs in a child process of this script: it calls
`request_sync(trigger="admin", full=True)` and drives the job to completion with
`sync.worker.job_run` in that process, as a worker's task runs would; its peak RSS is
the kernel's `ru_maxrss` from `os.wait4`. A first child (not measured) migrates the
database and creates a fresh installation with its repositories and an owner.

Storage: PostgreSQL `ghsync_perf` and Redis db 8 when both answer on 127.0.0.1
(`BENCH_SERVICES=0` forces the defaults), otherwise SQLite and the embedded broker
under `var/t-perf/` (GHSYNC_VAR_DIR).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.ghsync_side import services_reachable  # noqa: E402
from bench.simulator import Simulator  # noqa: E402

APP_ID = "4243"
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
PG_DB = os.environ.get("BENCH_PERF_DB_NAME", "ghsync_perf")
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
REDIS_URL = f"redis://127.0.0.1:6379/{os.environ.get('BENCH_PERF_REDIS_DB', '8')}"
BUDGET = 100_000  # enough for the 10x size in one window: the budget is not measured here


def scaled(size: str, factor: int) -> str:
    installations, repositories, events = size.split("x")
    return f"{installations}x{repositories}x{int(events) * factor}"


def _env(var_dir: Path, sim: Simulator) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "GHSYNC_VAR_DIR": str(var_dir),
        "GITHUB_API_URL": sim.url,
        "GITHUB_APP_ID": APP_ID,
        "GITHUB_APP_PRIVATE_KEY_PATH": str(sim.private_key_path),
        "LOG_LEVEL": "WARNING",
        # Production shape: with DEBUG on, Django keeps the last 9,000 queries' SQL.
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench-only-" + "x" * 40,
        "LOG_FORMAT": "json",
        "PYTHONPATH": str(ROOT),
        # One task run does the whole job: no time slices in the middle of the figure.
        "SYNC_SLICE_SECONDS": "3600",
    }
    env.pop("GITHUB_APP_PRIVATE_KEY", None)
    if services_reachable():
        env["DATABASE_URL"] = PG_URL
        env["CELERY_BROKER_URL"] = REDIS_URL
    else:
        env["DATABASE_URL"] = f"sqlite:///{var_dir / 'ingest.sqlite3'}"
        env.pop("CELERY_BROKER_URL", None)
    return env


def _create_pg_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (PG_DB,)).fetchone()
        if not exists:
            conn.execute(f'create database "{PG_DB}"')


def _child(
    phase: str, env: dict[str, str], payload: dict[str, Any]
) -> tuple[dict[str, Any], float]:
    """Run this script as `--child PHASE`; returns (its JSON, its peak RSS in MB)."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", phase],
        env=env,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.write(json.dumps(payload).encode())
    proc.stdin.close()
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{phase} child exited {proc.returncode}: {err.decode()[-2000:]}")
    lines = out.decode().strip().splitlines()
    return json.loads(lines[-1]), usage.ru_maxrss / 1024  # Linux: kilobytes


def run_size(size: str, *, seed: int, var_dir: Path) -> dict[str, Any]:
    sim = Simulator(
        seed=seed, size=size, app_id=APP_ID, workdir=var_dir / f"sim-{size}", budget=BUDGET
    )
    try:
        env = _env(var_dir, sim)
        if "CELERY_BROKER_URL" in env:
            _create_pg_database()
        installation_id = int(sim.dataset()["installations"][0]["id"])
        _child("setup", env, {"dataset": sim.dataset(), "installation_id": installation_id})
        sim.refill_budget(installation_id)
        sim.reset_stats()
        report, peak_rss_mb = _child("ingest", env, {"installation_id": installation_id})
        stats = sim.stats()
        since = datetime.fromisoformat(report["since"])
        until = datetime.fromisoformat(report["finished_at"])
        minimum = sim.min_requests(installation_id, since, until)
    finally:
        sim.stop()
    requests = int(stats["requests_total"])
    return {
        "size": size,
        "events_ingested": report["events_ingested"],
        "events_stored": report["events_stored"],
        "requests": requests,
        "budget_spent": int(stats["budget_spent"].get(str(installation_id), 0)),
        "min_requests": minimum,
        "requests_vs_min": round(requests / minimum, 3),
        "ingest_s": report["ingest_s"],
        "events_per_s": round(report["events_ingested"] / report["ingest_s"], 1),
        "requests_per_s": round(requests / report["ingest_s"], 1),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "rss_before_sync_mb": report["rss_before_sync_mb"],
        "job_status": report["status"],
    }


# --------------------------------------------------------------------------- children


def _child_setup(payload: dict[str, Any]) -> dict[str, Any]:
    """Migrate; a fresh installation (no events, no stream state) with an owner."""
    from django.core.management import call_command

    from bench.installation import installation_reset

    call_command("migrate", verbosity=0, interactive=False)
    installation = installation_reset(payload["dataset"], payload["installation_id"])
    _purge_broker()
    return {"installation": installation.pk}


def _child_ingest(payload: dict[str, Any]) -> dict[str, Any]:
    from django.utils import timezone

    from integrations.models import Event, Installation
    from sync.models import IngestionJob
    from sync.policy import Trigger
    from sync.services import request_sync
    from sync.worker import Outcome, job_run

    installation = Installation.objects.get(github_id=payload["installation_id"])
    # Warm the imports the worker needs so that they count as "before the sync".
    import integrations.github.client  # noqa: F401

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    decision = request_sync(installation_id=installation.pk, trigger=Trigger.ADMIN, full=True)
    assert decision.job_id is not None, decision.as_dict()
    while True:
        outcome = job_run(job_id=decision.job_id)
        if outcome in (Outcome.COMPLETED, Outcome.FAILED):
            break
        if outcome == Outcome.BLOCKED:
            job = IngestionJob.objects.get(pk=decision.job_id)
            wait = (job.blocked_until - timezone.now()).total_seconds() if job.blocked_until else 0
            time.sleep(max(0.0, wait) + 0.05)
        elif outcome in (Outcome.NOT_CLAIMED, Outcome.LEASE_LOST):
            raise RuntimeError(f"job {decision.job_id}: {outcome}")
    elapsed = time.perf_counter() - started
    job = IngestionJob.objects.get(pk=decision.job_id)
    _purge_broker()
    assert job.started_at is not None and job.finished_at is not None
    return {
        "status": job.status,
        "since": job.since.isoformat(),
        "finished_at": job.finished_at.isoformat(),
        "events_ingested": job.events_ingested,
        "events_stored": Event.objects.filter(installation=installation).count(),
        "ingest_s": round(elapsed, 3),
        "rss_before_sync_mb": round(rss_before, 1),
    }


def _purge_broker() -> None:
    """Drop the job messages `request_sync` enqueued: no worker consumes them here."""
    from config.celery import app

    app.control.purge()


def child_main(phase: str) -> int:
    import django

    django.setup()
    payload = json.loads(sys.stdin.read())
    result = _child_setup(payload) if phase == "setup" else _child_ingest(payload)
    print(json.dumps(result))
    return 0


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1x3x100", help="installations x repositories x events")
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--var-dir", type=Path, default=ROOT / "var" / "t-perf")
    parser.add_argument("--child", choices=["setup", "ingest"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args.child)
    var_dir = args.var_dir.resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    sizes = (args.size, scaled(args.size, args.factor))
    runs = [run_size(size, seed=args.seed, var_dir=var_dir) for size in sizes]
    small, large = runs
    report = {
        "command": " ".join(
            [Path(sys.executable).name, "bench/ingest.py", *(argv or sys.argv[1:])]
        ),
        "generated_at": datetime.now(UTC).isoformat(),
        "backend": "PostgreSQL + Redis" if services_reachable() else "SQLite + filesystem broker",
        "cpus": os.cpu_count(),
        "runs": runs,
        "events_ratio": round(large["events_ingested"] / max(1, small["events_ingested"]), 2),
        "peak_rss_ratio": round(large["peak_rss_mb"] / small["peak_rss_mb"], 3),
        "peak_rss_growth_mb": round(large["peak_rss_mb"] - small["peak_rss_mb"], 1),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
