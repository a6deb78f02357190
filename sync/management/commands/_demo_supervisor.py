"""`make demo` / `manage.py demo`: ghsync on embedded defaults against the GitHub
simulator, for a newcomer to watch a sync happen.

Starts four processes (simulator, Celery worker, beat, web server), creates a demo user
and delivers three signed `installation` webhooks from the simulator: a small
installation, a large one whose rate-limit budget runs out mid-sync (it pauses and
resumes by itself), and one with a deleted repository. Ctrl-C stops everything."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from integrations.models import GitHubProfile

DEMO_SETTINGS = {
    # Shortened timings so the demo shows in minutes what production does in hours.
    "SYNC_MANUAL_COOLDOWN_SECONDS": "60",
    "SYNC_CRON_DUE_AFTER_SECONDS": "300",
    "SYNC_BEAT_INTERVAL_SECONDS": "30",
    "SYNC_LEASE_SECONDS": "60",
    "SYNC_SLICE_SECONDS": "20",
    "SYNC_MIN_BUDGET": "10",
    "SYNC_CRON_RESERVE": "20",
}
SIM_SEED = 7
SIM_SIZE = "3x6x40"
SIM_WINDOW_SECONDS = 120  # the simulator's rate-limit window: the paused sync resumes soon
LARGE_BUDGET = 90  # installation 1002 runs out of budget partway through its backfill
LARGE_POINTS = 18  # ... of both budgets: REST requests and GraphQL points
DEMO_SENDER = {"id": 424242, "login": "demo-octocat"}
SMALL, LARGE, DELETED = 1001, 1002, 1003


@dataclass
class DemoConfig:
    base_dir: Path
    host: str = "127.0.0.1"
    web_port: int = 8000
    sim_port: int = 8765
    username: str = "demo"
    password: str = "ghsync-demo"
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    @property
    def demo_dir(self) -> Path:
        return self.base_dir / "var" / "demo"

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_port}"

    @property
    def sim_url(self) -> str:
        return f"http://{self.host}:{self.sim_port}"


def demo_credentials(config: DemoConfig) -> dict[str, str]:
    """Where the App's key pair lives (the simulator makes it under var/demo/, as GitHub
    makes an App's private key) and the webhook secret, made once and reused."""
    config.demo_dir.mkdir(parents=True, exist_ok=True)
    secret_path = config.demo_dir / "webhook-secret"
    if not secret_path.exists():
        secret_path.write_text(secrets.token_hex(20))
        secret_path.chmod(0o600)
    return {
        "private_key_path": str(config.demo_dir / "app-private-key.pem"),
        "webhook_secret": secret_path.read_text().strip(),
    }


def demo_environment(config: DemoConfig, credentials: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(DEMO_SETTINGS)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "true",  # a development run: production's default is off
            "GITHUB_API_URL": config.sim_url,
            "GITHUB_APP_ID": "1",
            "GITHUB_APP_PRIVATE_KEY_PATH": credentials["private_key_path"],
            "GITHUB_WEBHOOK_SECRET": credentials["webhook_secret"],
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s (see var/demo/*.log)")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - localhost
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError):
        return False


def post_json(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - localhost only
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return dict(json.loads(response.read() or b"{}"))


def start_process(
    config: DemoConfig, name: str, args: list[str], env: dict[str, str]
) -> subprocess.Popen[bytes]:
    log_path = config.demo_dir / f"{name}.log"
    log_file = log_path.open("ab")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        args, cwd=config.base_dir, env=env, stdout=log_file, stderr=subprocess.STDOUT
    )
    config.processes.append((name, process))
    return process


def stop_all(config: DemoConfig) -> None:
    for _name, process in reversed(config.processes):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for _name, process in config.processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()


def demo_user_ensure(config: DemoConfig) -> None:
    """The demo user, with the GitHub identity the simulator's webhooks are sent by."""
    with transaction.atomic():
        user, _ = get_user_model().objects.get_or_create(username=config.username)
        user.set_password(config.password)
        user.save()
        GitHubProfile.objects.update_or_create(
            user=user,
            defaults={"github_id": DEMO_SENDER["id"], "github_login": DEMO_SENDER["login"]},
        )


def demo_schedules_shorten() -> None:
    """Beat's schedules run every SYNC_BEAT_INTERVAL_SECONDS of the demo, not 5 minutes."""
    every = int(DEMO_SETTINGS["SYNC_BEAT_INTERVAL_SECONDS"])
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=every, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.filter(task__startswith="sync.tasks.").update(interval=interval)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_demo(config: DemoConfig, say: Callable[[str], None]) -> int:
    """Start everything, wire the demo data, then wait for Ctrl-C."""
    python = sys.executable
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the children too, like Ctrl-C
    for port in (config.web_port, config.sim_port):
        if not port_free(config.host, port):
            say(f"Port {port} on {config.host} is in use: is another demo running? Stop it first.")
            return 1
    credentials = demo_credentials(config)
    env = demo_environment(config, credentials)

    say("Migrating the SQLite database ...")
    call_command("migrate", interactive=False, verbosity=0)
    demo_user_ensure(config)
    demo_schedules_shorten()

    say("Starting the GitHub simulator, a Celery worker, beat and the web server ...")
    start_process(
        config,
        "simulator",
        [python, "-m", "simulator", "--host", config.host,
         "--port", str(config.sim_port), "--seed", str(SIM_SEED), "--size", SIM_SIZE,
         "--app-id", "1", "--app-key-dir", str(config.demo_dir),
         "--window-seconds", str(SIM_WINDOW_SECONDS), "--latency-ms", "40"],
        env,
    )  # fmt: skip
    wait_for("the simulator", lambda: http_ok(f"{config.sim_url}/_sim/stats"))
    start_process(
        config,
        "worker",
        [python, "-m", "celery", "-A", "config", "worker", "-l", "info", "-c", "2",
         "-n", "demo-worker@%h"],
        env,
    )  # fmt: skip
    start_process(
        config, "beat", [python, "-m", "celery", "-A", "config", "beat", "-l", "info"], env
    )
    start_process(
        config,
        "web",
        [python, "manage.py", "runserver", f"{config.host}:{config.web_port}", "--noreload"],
        env,
    )
    wait_for("the web server", lambda: http_ok(f"{config.web_url}/api/health"))

    say("Delivering three signed `installation` webhooks from the simulator ...")
    post_json(
        f"{config.sim_url}/_sim/config",
        {
            "budget": {"installation_id": LARGE, "remaining": LARGE_BUDGET},
            "graphql_budget": {"installation_id": LARGE, "remaining": LARGE_POINTS},
        },
    )
    for installation_id in (SMALL, LARGE, DELETED):
        answer = post_json(
            f"{config.sim_url}/_sim/webhooks",
            {
                "url": f"{config.web_url}/webhooks/github/",
                "secret": credentials["webhook_secret"],
                "event": "installation",
                "installation_id": installation_id,
                "sender_id": DEMO_SENDER["id"],
                "sender_login": DEMO_SENDER["login"],
            },
        )
        say(f"  installation {installation_id}: webhook answered {answer.get('status')}")

    say("")
    say(f"ghsync is running: {config.web_url}/")
    say(f"  sign in as {config.username} / {config.password}")
    say(f"  health: {config.web_url}/api/health?deep=1   admin: {config.web_url}/admin/")
    say("  org-1 is small; org-2 runs out of GitHub budget mid-sync and resumes by itself;")
    say("  org-3 has a deleted repository, reported as a failure.")
    say(f"  logs: {config.demo_dir}/*.log")
    say("Press Ctrl-C to stop every process the demo started.")
    try:
        while True:
            for name, process in config.processes:
                if process.poll() is not None:
                    say(f"{name} exited with status {process.returncode}; see var/demo/{name}.log")
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        say("\nStopping ...")
    return 0
