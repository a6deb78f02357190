"""Pieces the fault scenarios share: the figures table, where logs go, the secrets the
simulators issued (for the final grep), a simulator that records them, and real
Celery worker processes that can be SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.db import connection
from django.db.utils import InterfaceError, OperationalError

from simulator.dataset import generate
from simulator.routes import Reply
from simulator.server import SimulatorServer
from simulator.testing import RunningSimulator, shared_app_keypair
from tests.dbenv import child_env
from tests.faults.infra import FAULTS_DIR_ENV, free_port

BASE_DIR = Path(settings.BASE_DIR)


def faults_dir() -> Path:
    """var/faults under `make faults` (run.py sets it); per configuration otherwise, so
    the two runs of `make test` do not read each other's logs."""
    path = Path(os.environ.get(FAULTS_DIR_ENV) or Path(settings.VAR_DIR) / "faults")
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_dir() -> Path:
    path = faults_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- secrets


@dataclass
class IssuedSecrets:
    """Everything secret the fault runs handled: the installation tokens and App JWTs
    the simulators saw, the App private keys, the webhook secrets."""

    tokens: set[str] = field(default_factory=set)
    jwts: set[str] = field(default_factory=set)
    private_keys: set[str] = field(default_factory=set)
    webhook_secrets: set[str] = field(default_factory=set)

    def patterns(self) -> dict[str, str]:
        """Fixed strings to grep for -> what they are. A private key is looked for by
        each line of its base64 body, so a partial leak counts too."""
        found: dict[str, str] = {}
        for token in self.tokens:
            found[token] = "installation token"
        for jwt in self.jwts:
            found[jwt] = "App JWT"
            found[jwt.rsplit(".", 1)[-1]] = "App JWT signature"
        for pem in self.private_keys:
            for line in pem.replace("\\n", "\n").splitlines():
                if len(line) >= 40 and "PRIVATE KEY" not in line:
                    found[line] = "App private key"
        for secret in self.webhook_secrets:
            found[secret] = "webhook secret"
        return found


ISSUED = IssuedSecrets()


class RecordingSimulatorServer(SimulatorServer):
    """The simulator, noting every installation token it issues and every App JWT it
    accepts, so the suite can prove none of them reached a log."""

    def _issue_token(self, installation_id: int) -> Reply:
        reply = super()._issue_token(installation_id)
        if isinstance(reply.body, dict) and "token" in reply.body:
            ISSUED.tokens.add(str(reply.body["token"]))
        return reply

    def _verify_jwt(self, authorization: str) -> str | None:
        problem = super()._verify_jwt(authorization)
        token = authorization.partition(" ")[2].strip()
        if problem is None and token:
            ISSUED.jwts.add(token)
        return problem


@contextmanager
def recording_simulator(
    *, seed: int = 1, size: str = "2x3x20", dataset_options: dict[str, Any] | None = None,
    **server_options: Any,
) -> Iterator[RunningSimulator]:  # fmt: skip
    private_pem, public_pem = shared_app_keypair()
    ISSUED.private_keys.add(private_pem)
    data = generate(seed, size, **(dataset_options or {}))
    server = RecordingSimulatorServer(
        data, app_id=1, public_key_pem=public_pem, host="127.0.0.1", port=0, **server_options
    )
    server.start()
    try:
        yield RunningSimulator(server.url, server, private_pem, public_pem, 1)
    finally:
        server.stop()


# --------------------------------------------------------------------------- processes


def app_env(sim: RunningSimulator, **overrides: str) -> dict[str, str]:
    """The environment of a child process on this run's database and broker, talking
    to `sim`, logging JSON at DEBUG (every line is grepped for secrets later)."""
    return child_env(
        GITHUB_API_URL=sim.url,
        GITHUB_APP_ID=str(sim.app_id),
        GITHUB_APP_PRIVATE_KEY=sim.private_key_pem,
        LOG_LEVEL="DEBUG",
        LOG_FORMAT="json",
        PYTHONUNBUFFERED="1",
        **overrides,
    )


class WorkerProcess:
    """`celery worker` as a real separate process; its output goes to a log file."""

    count = 0

    def __init__(
        self,
        env: dict[str, str],
        *,
        label: str = "worker",
        args: list[str] | None = None,
        queues: str = "",
    ) -> None:
        WorkerProcess.count += 1
        self.name = f"{label}-{os.getpid()}-{WorkerProcess.count}"
        self.log_path = log_dir() / f"{self.name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in wait()
        args = args or [
            "worker",
            "--pool",
            "solo",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "-l",
            "debug",
            "-n",
            f"{self.name}@faults",
            *(["-Q", queues] if queues else []),
        ]
        self.process = subprocess.Popen(
            [str(BASE_DIR / ".venv/bin/celery"), "-A", "config", *args],
            cwd=BASE_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far (0 once it has ended)."""
        return process_cpu_seconds(self.process.pid) if self.alive else 0.0

    def kill(self) -> None:
        """SIGKILL: no cleanup, no ack, no lease release."""
        if self.alive:
            os.kill(self.process.pid, signal.SIGKILL)
        self.wait()

    def stop(self, timeout: float = 20) -> None:
        """A warm shutdown (SIGTERM), then SIGKILL if it does not end in time."""
        if self.alive:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
        self.wait()

    def wait(self) -> None:
        self.process.wait(timeout=30)
        self._log.close()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process, from /proc (0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Workers:
    """Every worker a test started; all of them end before the test's database is
    flushed."""

    def __init__(self) -> None:
        self.started: list[WorkerProcess] = []

    def start(
        self, env: dict[str, str], *, label: str = "worker", queues: str = ""
    ) -> WorkerProcess:
        """A worker process; `queues` like `celery worker -Q` (default: every queue)."""
        worker = WorkerProcess(env, label=label, queues=queues)
        self.started.append(worker)
        return worker

    def start_command(self, env: dict[str, str], args: list[str], *, label: str) -> WorkerProcess:
        """Another Celery command (`beat …`) as a process stopped with the workers."""
        process = WorkerProcess(env, label=label, args=args)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for worker in self.started:
            if worker.alive:
                worker.stop(timeout=10)


# --------------------------------------------------------------------------- waiting


def db_retrying(read: Callable[[], Any], *, timeout: float = 60) -> Any:
    """`read()`, retried while the database is restarting (the test process's own
    connection dies with it too)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return read()
        except (OperationalError, InterfaceError):
            connection.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def wait_until(check: Callable[[], Any], *, timeout: float, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {check}")
        time.sleep(every)


class WebServer:
    """`manage.py runserver` (threaded, no autoreload) as a real separate process."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port(8300)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir() / f"web-{self.port}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(BASE_DIR / ".venv/bin/python"), "manage.py", "runserver",
             f"127.0.0.1:{self.port}", "--noreload"],
            cwd=BASE_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait_ready(self) -> None:
        def up() -> bool:
            try:
                return requests.get(f"{self.url}/api/health", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_until(up, timeout=30, every=0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()
