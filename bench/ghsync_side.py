"""ghsync as the benchmark runs it: the real service, not a library call.

A migrated database (PostgreSQL `ghsync_bench` + Redis db 6 when both answer on
127.0.0.1, else SQLite + the embedded filesystem broker under the bench's var dir), a
real Celery worker process (`celery -A config worker -c 2 --pool prefork`), and each
sync requested and awaited by `bench/ghsync_sync.py` in its own process. The bench
process itself uses the ORM only to set the installation up and to read what was stored.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.records import Stored

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
# BENCH_DB_NAME / BENCH_REDIS_DB let several checkouts on one machine keep apart.
PG_DB = os.environ.get("BENCH_DB_NAME", "ghsync_bench")
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
REDIS_URL = f"redis://127.0.0.1:6379/{os.environ.get('BENCH_REDIS_DB', '6')}"


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def services_reachable() -> bool:
    """PostgreSQL and Redis both answer on 127.0.0.1 (BENCH_SERVICES=0 forces the defaults)."""
    if os.environ.get("BENCH_SERVICES") == "0":
        return False
    return _reachable(5432) and _reachable(6379)


class Ghsync:
    name = "ghsync"

    def __init__(self, *, sim_url: str, app_id: str, private_key_path: Path, var_dir: Path):
        self.var_dir = var_dir
        self.use_services = services_reachable()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "GHSYNC_VAR_DIR": str(var_dir),
            "GITHUB_API_URL": sim_url,
            "GITHUB_APP_ID": app_id,
            "GITHUB_APP_PRIVATE_KEY_PATH": str(private_key_path),
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",
            "PYTHONPATH": str(ROOT),
            # Production shape: DEBUG off (with it on, Django records every query's SQL).
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "bench-only-not-a-secret-" + "x" * 32,
        }
        self.env.pop("GITHUB_APP_PRIVATE_KEY", None)
        if self.use_services:
            self.env["DATABASE_URL"] = PG_URL
            self.env["CELERY_BROKER_URL"] = REDIS_URL
        else:
            self.env["DATABASE_URL"] = f"sqlite:///{var_dir / 'ghsync-bench.sqlite3'}"
            self.env.pop("CELERY_BROKER_URL", None)
        self.worker: subprocess.Popen[bytes] | None = None
        self._worker_log: Any = None

    def point_at(self, *, sim_url: str, private_key_path: Path) -> None:
        """Sync from another simulator (the scale scenario's dataset) from now on."""
        self.env["GITHUB_API_URL"] = sim_url
        self.env["GITHUB_APP_PRIVATE_KEY_PATH"] = str(private_key_path)

    def set_graphql(self, mode: str) -> None:
        """The worker's read path: `SYNC_GRAPHQL` = auto (GraphQL where cheaper), on, or
        off (REST only). Passed to the worker and the requesting process as they start."""
        self.env["SYNC_GRAPHQL"] = mode

    @property
    def backend(self) -> str:
        return "PostgreSQL + Redis" if self.use_services else "SQLite + filesystem broker"

    # ------------------------------------------------------------------ database

    def setup(self) -> None:
        """Create and migrate the database, configure Django in this process."""
        if self.use_services:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                exists = conn.execute(
                    "select 1 from pg_database where datname = %s", (PG_DB,)
                ).fetchone()
                if not exists:
                    conn.execute(f'create database "{PG_DB}"')
        os.environ.update(self.env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        self.flush_broker()

    def flush_broker(self) -> None:
        if self.use_services:
            import redis

            redis.Redis.from_url(REDIS_URL).flushdb()
        else:
            queue = self.var_dir / "broker" / "queue"
            for item in queue.glob("*") if queue.exists() else ():
                item.unlink()

    def reset_installation(self, dataset: dict[str, Any], installation_github_id: int) -> None:
        """A fresh installation with its repositories and an owner: nothing synced yet."""
        from bench.installation import installation_reset

        installation_reset(dataset, installation_github_id)

    def stored(self, installation_github_id: int) -> tuple[Stored, int]:
        """(events in the database, count of every kind)."""
        from integrations.models import Event

        rows = Event.objects.filter(installation__github_id=installation_github_id)
        keys = rows.values_list("repository__full_name", "kind", "github_id")
        stored = Stored().add_events((name, kind, str(gid)) for name, kind, gid in keys)
        return stored, rows.count()

    # ------------------------------------------------------------------ worker

    def start_worker(self, log_path: Path) -> int:
        """A real Celery worker (2 prefork processes); returns once it is ready."""
        self.stop_worker()
        self.flush_broker()
        self._worker_log = log_path.open("wb")
        self.worker = subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "celery"),
                "-A",
                "config",
                "worker",
                "-c",
                "2",
                "--pool",
                "prefork",
                "--loglevel",
                "INFO",
                "-n",
                f"bench-{os.getpid()}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._worker_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.worker.poll() is not None:
                raise RuntimeError(f"the Celery worker exited; see {log_path}")
            if b" ready." in log_path.read_bytes():
                return self.worker.pid
            time.sleep(0.1)
        raise RuntimeError(f"the Celery worker did not become ready; see {log_path}")

    def stop_worker(self) -> None:
        if self.worker is None:
            return
        if self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGTERM)
            try:
                self.worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.worker.pid, signal.SIGKILL)
                self.worker.wait()
        self.worker = None
        if self._worker_log is not None:
            self._worker_log.close()
            self._worker_log = None

    def sync_command(self, installation_github_id: int, *, full: bool, timeout: float) -> list[str]:
        cmd = [sys.executable, str(ROOT / "bench" / "ghsync_sync.py"), str(installation_github_id)]
        cmd += ["--timeout", str(timeout)]
        return cmd + (["--full"] if full else [])
