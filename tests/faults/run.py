"""`make faults`: the fault suite against PostgreSQL, Redis, real worker processes and
the simulator, then its figures table.

It starts its own Redis (no persistence) and, when PostgreSQL's server binaries are
installed, its own throwaway PostgreSQL cluster, both on free ports, because the
scenarios stop and restart them; the machine's shared servers are never touched. Then
it runs `pytest tests/faults` (slow cases included) with the run's settings pointing
at them, prints the figures table and writes it to var/faults/figures.json. Logs of
every process go to var/faults/logs/. Extra arguments go to pytest.

Without its own PostgreSQL (no initdb), it uses DATABASE_URL (default: the shared
server's ghsync_faults database) and the PostgreSQL scenario terminates the workers'
connections instead of restarting the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(BASE_DIR))

from tests.faults.figures import figures_table  # noqa: E402
from tests.faults.infra import (  # noqa: E402
    FAULTS_DIR_ENV,
    PG_DATA_ENV,
    PG_PORT_ENV,
    REDIS_LOG_ENV,
    REDIS_PORT_ENV,
    OwnPostgres,
    OwnRedis,
    answers,
    free_port,
)

OUT = BASE_DIR / "var" / "faults"
SHARED_PG_URL = "postgres://postgres@127.0.0.1:5432/ghsync_faults"


def _fresh_output() -> None:
    shutil.rmtree(OUT / "logs", ignore_errors=True)
    (OUT / "logs").mkdir(parents=True, exist_ok=True)
    (OUT / "figures.json").unlink(missing_ok=True)


def _missing_tools() -> str | None:
    """One line naming what this machine lacks to run the suite, or None.
    (`make faults` runs scripts/ensure_system_tools.sh first, which installs them as root.)"""
    lacking = [tool for tool in ("redis-server", "redis-cli") if shutil.which(tool) is None]
    if lacking:
        return f"make faults needs {' and '.join(lacking)}: sudo apt-get install redis-server"
    if not OwnPostgres.available():
        url = urlsplit(os.environ.get("DATABASE_URL") or SHARED_PG_URL)
        if not answers(url.port or 5432, url.hostname or "127.0.0.1"):
            return (
                "make faults needs PostgreSQL's server binaries (sudo apt-get install postgresql)"
                f" or a PostgreSQL answering at {url.hostname}:{url.port or 5432} (DATABASE_URL)"
            )
    return None


def main(pytest_args: list[str]) -> int:
    problem = _missing_tools()
    if problem:
        print(problem)
        return 2
    _fresh_output()
    started = time.monotonic()
    redis = OwnRedis(free_port(6390), OUT / "logs" / "redis.log")
    pg: OwnPostgres | None = None
    pg_parent: Path | None = None
    env = dict(os.environ)
    try:
        redis.start()
        if OwnPostgres.available():
            pg_parent = Path(tempfile.mkdtemp(prefix="ghsync-faults-pg-"))
            pg = OwnPostgres(pg_parent / "data", free_port(5440))
            pg.init()
            pg.start()
            env.update({PG_DATA_ENV: str(pg.data_dir), PG_PORT_ENV: str(pg.port)})
            database_url = pg.url
        else:
            database_url = os.environ.get("DATABASE_URL") or SHARED_PG_URL
            print(f"no PostgreSQL server binaries: using {database_url} (no restart)")
        env.update(
            {
                "DATABASE_URL": database_url,
                "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis.port}/7",
                "GHSYNC_VAR_DIR": str(BASE_DIR / "var" / "t-faults"),
                FAULTS_DIR_ENV: str(OUT),
                REDIS_PORT_ENV: str(redis.port),
                REDIS_LOG_ENV: str(redis.log_path),
            }
        )
        print(f"== fault suite: PostgreSQL {database_url}, Redis {env['CELERY_BROKER_URL']} ==")
        sys.stdout.flush()
        # pyproject's addopts deselect `slow`; the fault suite is mostly slow cases, so
        # it selects every test (a later -m overrides the addopts' one; so does a -m
        # among the extra arguments).
        command = [
            str(BASE_DIR / ".venv/bin/pytest"),
            "tests/faults",
            "-p",
            "no:cacheprovider",
            "-m",
            "slow or not slow",
        ]
        code = subprocess.run([*command, *pytest_args], cwd=BASE_DIR, env=env).returncode
    finally:
        if redis.running:
            redis.stop()
        if pg is not None:
            with contextlib.suppress(subprocess.CalledProcessError):
                pg.stop()
        if pg_parent is not None:
            shutil.rmtree(pg_parent, ignore_errors=True)
    return _report(code, time.monotonic() - started)


def _report(code: int, elapsed: float) -> int:
    path = OUT / "figures.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    print()
    print(f"== fault suite figures ({elapsed / 60:.1f} min; logs in {OUT / 'logs'}) ==")
    print(figures_table(rows) if rows else "(no figures recorded)")
    print(f"written to {path}")
    if code != 0:
        print(f"pytest exited with status {code}: see the failures above (lines marked FAIL)")
    if code == 0 and any(not row["ok"] for row in rows):
        code = 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
