"""The fault suite's own Redis and PostgreSQL servers, which it may stop and restart.

`tests/faults/run.py` starts them before pytest (PostgreSQL must answer before
pytest-django creates the test database; settings read the broker URL at import) and
tells the tests where they are through environment variables. The machine's shared
servers (6379, 5432), used by other runs, are never touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

FAULTS_DIR_ENV = "GHSYNC_FAULTS_DIR"  # where figures and logs go (var/faults)


def _pg_bin() -> Path:
    """PostgreSQL's server binaries: GHSYNC_FAULTS_PG_BIN, else Debian's newest
    /usr/lib/postgresql/N/bin (scripts/ensure_system_tools.sh looks in the same place)."""
    if os.environ.get("GHSYNC_FAULTS_PG_BIN"):
        return Path(os.environ["GHSYNC_FAULTS_PG_BIN"])
    versions = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()]
    if not versions:
        return Path("/usr/lib/postgresql/15/bin")
    return max(versions, key=lambda p: int(p.parent.name))


PG_BIN = _pg_bin()

LIBFAKETIME_GLOBS = ("/usr/lib/*/faketime/libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1")


def libfaketime() -> Path | None:
    """libfaketime's shared object (Debian's `faketime` package; scripts/
    ensure_system_tools.sh installs it for `make faults`), or None."""
    for pattern in LIBFAKETIME_GLOBS:
        found = sorted(Path("/").glob(pattern.lstrip("/")))
        if found:
            return found[0]
    return None


def clock_ahead_env(seconds: int) -> dict[str, str]:
    """Environment variables that start a process with its clock `seconds` ahead (the
    wall clock and the monotonic one: libfaketime's defaults, which keep time.sleep
    working), or {} without libfaketime."""
    library = libfaketime()
    if library is None:
        return {}
    return {"LD_PRELOAD": str(library), "FAKETIME": f"+{seconds}s"}


REDIS_PORT_ENV = "GHSYNC_FAULTS_REDIS_PORT"
REDIS_LOG_ENV = "GHSYNC_FAULTS_REDIS_LOG"
PG_DATA_ENV = "GHSYNC_FAULTS_PGDATA"
PG_PORT_ENV = "GHSYNC_FAULTS_PGPORT"


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(start: int) -> int:
    for port in range(start, start + 200):
        if port_free(port):
            return port
    raise RuntimeError(f"no free port from {start}")


def answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class OwnRedis:
    """A redis-server without persistence on its own port: stopping it loses every
    queued message, as a crashed broker would."""

    port: int
    log_path: Path

    @classmethod
    def from_env(cls) -> OwnRedis | None:
        port = os.environ.get(REDIS_PORT_ENV)
        if not port:
            return None
        return cls(int(port), Path(os.environ.get(REDIS_LOG_ENV, "/dev/null")))

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            # Detached from us: it outlives the start() call; stop() shuts it down.
            subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--daemonize", "no"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        _wait(lambda: answers(self.port), 10, f"redis on {self.port}")

    def stop(self) -> None:
        subprocess.run(
            ["redis-cli", "-p", str(self.port), "shutdown", "nosave"],
            capture_output=True,
            timeout=10,
            check=False,
        )
        _wait(lambda: not answers(self.port), 10, f"redis on {self.port} to stop")

    @property
    def running(self) -> bool:
        return answers(self.port)


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the `postgres` user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@dataclass
class OwnPostgres:
    """A throwaway PostgreSQL cluster (no fsync) on its own port."""

    data_dir: Path
    port: int

    @classmethod
    def from_env(cls) -> OwnPostgres | None:
        data = os.environ.get(PG_DATA_ENV)
        if not data:
            return None
        return cls(Path(data), int(os.environ[PG_PORT_ENV]))

    @classmethod
    def available(cls) -> bool:
        return (PG_BIN / "initdb").exists() and (
            os.geteuid() != 0 or shutil.which("runuser") is not None
        )

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / "postgres.log"

    def _ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-w", "-t", "30",
                 "-l", str(self.log_path), "-o", options, *args]
            ),
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def init(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.data_dir.parent, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                 "--auth=trust", "--no-sync"]
            ),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def start(self) -> None:
        self._ctl("start")
        _wait(lambda: answers(self.port), 30, f"postgres on {self.port}")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")

    def restart(self) -> None:
        self._ctl("-m", "fast", "restart")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/ghsync_faults"
