"""`make prod-check`: ghsync in its production shape on this machine, driven like a user.

Runs the README's "Running in production" commands (RELEASE and PROCESSES below; a test
checks the README shows the same commands, in the same order) with its production
environment: DEBUG off, PostgreSQL (a fresh database of its own on the running server),
Redis (a database number of its own), gunicorn with 2 workers behind a small local
TLS-terminating proxy that adds X-Forwarded-Proto (as nginx or a load balancer would),
two Celery workers on separate queues (webhooks, sync) and one beat, static files
through whitenoise after collectstatic.
GitHub is the simulator (`python -m simulator`, another process, over HTTP).

Then Chromium (Debian's, through Playwright) signs in, checks the dashboard is styled,
presses "Sync now" and follows progress to completion; the API answers with a token
made by `manage.py api_token`; `/api/health?deep=1` is 200; `/metrics` is scraped with
its bearer token. Every process it started is stopped at the end; logs stay in
var/prod-check/logs/.

Environment: PRODCHECK_DATABASE (default ghsync_prodcheck on postgres://postgres@
127.0.0.1:5432), PRODCHECK_REDIS_URL (default redis://127.0.0.1:6379/8).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import ipaddress
import json
import os
import secrets
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "prod-check"
LOGS = WORK / "logs"
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
PG_SERVER = os.environ.get("PRODCHECK_PG_SERVER", "postgres://postgres@127.0.0.1:5432")
DATABASE = os.environ.get("PRODCHECK_DATABASE", "ghsync_prodcheck")
REDIS_URL = os.environ.get("PRODCHECK_REDIS_URL", "redis://127.0.0.1:6379/8")
USERNAME, PASSWORD = "operator", "prod-check-" + secrets.token_hex(8)
SIM_SIZE, SIM_LATENCY_MS = "1x4x30", 60  # a sync of a few seconds: progress is visible

# The README's production section, command for command (tests/test_prod_check.py).
RELEASE = [
    "python manage.py check --deploy --fail-level WARNING",
    "python manage.py migrate --noinput",
    "python manage.py collectstatic --noinput",
]
PROCESSES = {
    "web": "gunicorn config.wsgi -w 2 -b 127.0.0.1:8000",
    "worker-webhooks": "celery -A config worker -Q webhooks -n webhooks@%h -c 1 -l info",
    "worker-sync": "celery -A config worker -Q sync -n sync@%h -c 2 -l info",
    "beat": "celery -A config beat -l info",
}
ACCESS = [
    "python manage.py createsuperuser --noinput --username operator --email ops@example.com",
    "python manage.py github_reconcile",
    "python manage.py add_member INSTALLATION_ID operator --role owner",
    "python manage.py api_token operator",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def say(text: str) -> None:
    print(f"[prod-check {time.strftime('%H:%M:%S')}] {text}", flush=True)


class Check:
    def __init__(self) -> None:
        self.passed: list[str] = []

    def ok(self, condition: bool, what: str, detail: Any = "") -> None:
        if not condition:
            raise AssertionError(f"FAILED: {what} {detail}".strip())
        self.passed.append(what)
        say(f"ok  {what}")


# --------------------------------------------------------------------------- machine


def fresh_database() -> str:
    import psycopg
    import redis

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    redis.Redis.from_url(REDIS_URL).flushdb()
    return f"{PG_SERVER}/{DATABASE}"


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """The proxy's TLS certificate for 127.0.0.1 (the browser is told to accept it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "proxy-cert.pem", folder / "proxy-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "transfer-encoding", "upgrade"}  # fmt: skip


def start_proxy(port: int, upstream_port: int, cert: Path, key: Path) -> ThreadingHTTPServer:
    """A TLS-terminating reverse proxy: HTTPS in, HTTP to gunicorn, adding
    X-Forwarded-Proto: https and X-Forwarded-For, as a load balancer would."""

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["X-Forwarded-Proto"] = "https"
            headers["X-Forwarded-For"] = self.client_address[0]
            upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                payload = response.read()
            except OSError as exc:
                self.send_error(502, f"upstream: {exc}")
                return
            finally:
                upstream.close()
            self.send_response(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_HEAD = do_PUT = do_PATCH = do_DELETE = _forward

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Proxy)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Processes:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def argv(self, command: str) -> list[str]:
        words = shlex.split(command)
        if words[0] == "python":
            words[0] = sys.executable
        elif (BIN / words[0]).exists():
            words[0] = str(BIN / words[0])
        return words

    def run(self, command: str, name: str, *, check: bool = True) -> str:
        say(f"$ {command}")
        done = subprocess.run(
            self.argv(command), cwd=ROOT, env=self.env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        (LOGS / f"{name}.log").write_text(done.stdout + done.stderr)
        if check and done.returncode != 0:
            raise AssertionError(f"FAILED: {command}\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self, name: str, command: str) -> None:
        say(f"$ {command} &")
        log = (LOGS / f"{name}.log").open("wb")
        process = subprocess.Popen(
            self.argv(command), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.running.append((name, process))

    def stop(self) -> None:
        for _, process in reversed(self.running):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for name, process in reversed(self.running):
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop on SIGTERM: SIGKILL")
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)

    def alive(self) -> list[str]:
        return [name for name, process in self.running if process.poll() is None]


def wait_for(what: str, probe: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except (OSError, urllib.error.URLError, http.client.HTTPException):
            pass
        time.sleep(0.5)
    raise AssertionError(f"FAILED: timed out waiting for {what}")


# --------------------------------------------------------------------------- HTTP


UNVERIFIED = ssl.create_default_context()
UNVERIFIED.check_hostname = False
UNVERIFIED.verify_mode = ssl.CERT_NONE  # the proxy's self-signed certificate


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch(
    url: str, *, headers: dict[str, str] | None = None, data: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    opener = urllib.request.build_opener(
        NoRedirect, urllib.request.HTTPSHandler(context=UNVERIFIED)
    )
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def metric(text: str, name: str, **labels: str) -> float | None:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


# --------------------------------------------------------------------------- the run


def main() -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    check = Check()
    web_port, proxy_port, sim_port = 8000, free_port(), free_port()
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", web_port)) == 0:  # a demo running here?
            web_port = free_port()
            say(f"port 8000 is in use: gunicorn binds 127.0.0.1:{web_port} instead")
    PROCESSES["web"] = PROCESSES["web"].replace("127.0.0.1:8000", f"127.0.0.1:{web_port}")
    base = f"https://127.0.0.1:{proxy_port}"
    database_url = fresh_database()
    cert, key = self_signed_certificate(WORK)
    webhook_secret = secrets.token_hex(20)
    metrics_token = secrets.token_urlsafe(24)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SYNC_"))}
    env.update(
        {
            # The README's production environment, with this machine's values.
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": REDIS_URL,
            "DJANGO_CSRF_TRUSTED_ORIGINS": base,
            "DJANGO_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
            "DJANGO_SECURE_SSL_REDIRECT": "true",
            "DJANGO_SESSION_COOKIE_SECURE": "true",
            "DJANGO_CSRF_COOKIE_SECURE": "true",
            "DJANGO_SECURE_HSTS_SECONDS": "31536000",
            "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
            "DJANGO_SECURE_HSTS_PRELOAD": "true",
            "METRICS_TOKEN": metrics_token,
            "GITHUB_API_URL": f"http://127.0.0.1:{sim_port}",
            "GITHUB_APP_ID": "1",
            "GITHUB_APP_PRIVATE_KEY_PATH": str(WORK / "app-keys" / "app-private-key.pem"),
            "GITHUB_WEBHOOK_SECRET": webhook_secret,
            "GHSYNC_VAR_DIR": str(WORK / "var"),
            "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
            "PYTHONUNBUFFERED": "1",
        }
    )
    processes = Processes(env)
    proxy = None
    try:
        processes.start(
            "simulator",
            f"python -m simulator --port {sim_port} --seed 11 --size {SIM_SIZE}"
            f" --app-key-dir {WORK / 'app-keys'} --latency-ms {SIM_LATENCY_MS}",
        )
        wait_for(
            "the simulator",
            lambda: (WORK / "app-keys" / "app-private-key.pem").exists()
            and fetch(f"http://127.0.0.1:{sim_port}/rate_limit")[0] in (200, 401),
        )
        for number, command in enumerate(RELEASE):
            processes.run(command, f"release-{number}")
        check.ok(True, "check --deploy clean, migrated, static files collected")
        for name, command in PROCESSES.items():
            processes.start(name, command)
        proxy = start_proxy(proxy_port, web_port, cert, key)
        wait_for("gunicorn", lambda: fetch(f"{base}/api/health")[0] == 200)
        processes.run(ACCESS[0], "createsuperuser")
        processes.run(ACCESS[1], "reconcile")
        statuses = json.loads(processes.run("python manage.py sync_status --json", "status"))
        installation_id = str(statuses[0]["installation_id"])
        processes.run(ACCESS[2].replace("INSTALLATION_ID", installation_id), "add-member")
        token = processes.run(ACCESS[3], "api-token").strip()

        # The deploy: HTTPS only, HSTS, static files from whitenoise.
        status, headers, _ = fetch(f"http://127.0.0.1:{web_port}/accounts/login/")
        check.ok(
            status == 301 and headers.get("Location", "").startswith("https://"),
            "plain HTTP is redirected to HTTPS",
            (status, headers.get("Location")),
        )
        status, headers, _ = fetch(f"{base}/accounts/login/")
        check.ok(
            status == 200 and "max-age=31536000" in headers.get("Strict-Transport-Security", ""),
            "HSTS on HTTPS responses",
        )
        status, headers, css = fetch(f"{base}/static/ghsync.css")
        check.ok(
            status == 200 and headers.get("Content-Type", "").startswith("text/css") and bool(css),
            "static CSS served by whitenoise with DEBUG off",
            status,
        )

        # A signed webhook through the proxy, processed by a worker.
        body = json.dumps({"zen": "Design for failure.", "hook_id": 1,
                           "installation": {"id": int(installation_id)}}).encode()  # fmt: skip
        signature = "sha256=" + hmac.new(webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        status, _, answer = fetch(
            f"{base}/webhooks/github/",
            data=body,
            headers={"Content-Type": "application/json", "X-GitHub-Event": "ping",
                     "X-GitHub-Delivery": f"prod-check-{secrets.token_hex(6)}",
                     "X-Hub-Signature-256": signature},
        )  # fmt: skip
        check.ok(status == 202, "signed webhook accepted (202)", (status, answer[:200]))

        browse(check, base, installation_id)

        status, _, answer = fetch(
            f"{base}/api/installations/{installation_id}/status",
            headers={"Authorization": f"Token {token}"},
        )
        body_json = json.loads(answer) if status == 200 else {}
        check.ok(
            status == 200
            and bool(body_json.get("last_synced_at"))
            and body_json["state"] == "idle",
            "API with a token: the installation synced and idle",
            (status, answer[:300]),
        )
        status, _, answer = fetch(f"{base}/api/sync/status/")
        check.ok(status in (401, 403), "API without a token is refused", status)

        def deep_ok() -> bool:
            code, _, payload = fetch(f"{base}/api/health?deep=1")
            report = json.loads(payload)
            return code == 200 and report["checks"]["worker"]["status"] == "ok"

        wait_for("a deep health check with a worker heartbeat", deep_ok, timeout=60)
        _, _, payload = fetch(f"{base}/api/health?deep=1")
        report = json.loads(payload)["checks"]
        check.ok(
            all(report[name]["status"] == "ok" for name in ("database", "broker", "worker")),
            "/api/health?deep=1 is 200: database, broker and worker ok",
            {name: value["status"] for name, value in report.items()},
        )

        status, _, _ = fetch(f"{base}/metrics")
        check.ok(status == 403, "/metrics without its token is refused", status)

        def scraped() -> str:
            code, _, text = fetch(
                f"{base}/metrics", headers={"Authorization": f"Bearer {metrics_token}"}
            )
            assert code == 200, code
            return text.decode()

        wait_for(
            "the ping delivery processed",
            lambda: (metric(scraped(), "ghsync_webhook_deliveries", outcome="ignored") or 0) >= 1,
            timeout=60,
        )
        text = scraped()
        rest = metric(text, "ghsync_github_budget_remaining", installation=installation_id)
        check.ok(
            (metric(text, "ghsync_jobs", state="completed") or 0) >= 1
            and rest is not None
            and metric(text, "ghsync_seconds_since_last_sync", installation=installation_id)
            is not None
            and metric(text, "ghsync_broker_up") == 1
            and metric(text, "ghsync_broker_queue_length", queue="webhooks") is not None
            and metric(text, "ghsync_broker_queue_length", queue="sync") is not None,
            "/metrics scraped: a completed job, the webhook processed, budget, sync age, queues",
            f"budget left {rest}",
        )
        dead = [name for name, _ in processes.running if name not in processes.alive()]
        check.ok(not dead, "every process still running at the end", dead)
    except AssertionError as failure:
        say(str(failure))
        say(f"logs: {LOGS}")
        return 1
    finally:
        if proxy is not None:
            proxy.shutdown()
        processes.stop()
    say(f"PASSED: {len(check.passed)} checks in {time.monotonic() - started:.0f} s")
    print(f"{len(check.passed)} passed, 0 failed")
    return 0


def browse(check: Check, base: str, installation_id: str) -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise AssertionError(f"FAILED: {CHROMIUM} is not installed (apt-get install chromium)")
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(ignore_https_errors=True)
            page = context.new_page()
            page.set_default_timeout(20_000)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/")
            check.ok("/accounts/login/" in page.url, "anonymous is sent to the login page")
            page.fill("input[name=username]", USERNAME)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/")
            check.ok(True, "signed in through the TLS proxy (CSRF, secure cookies)")
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            check.ok(
                background == "rgb(245, 246, 248)", "dashboard styled (body background)", background
            )
            card = page.locator(f"#card-{installation_id}")
            card.get_by_role("button", name="Sync now").click()
            page.wait_for_load_state()
            decided = page.content()
            said = "Sync started" if "Sync started" in decided else "Sync already in progress"
            check.ok(said in decided, f"Sync now: the decision shown ({said})")
            banner = page.locator("#sync-banner")
            banner.get_by_role("progressbar").wait_for(timeout=60_000)
            check.ok(True, "progress bar while the sync runs")
            banner.get_by_text("Synced ").wait_for(timeout=180_000)
            summary = " ".join(banner.inner_text().replace("✓", "").split())
            check.ok(True, f"completion shown: {summary[:80]}")
            page.screenshot(path=str(WORK / "dashboard.png"), full_page=True)
        finally:
            browser.close()
    check.ok(not errors, "no JavaScript errors in the console", errors)


if __name__ == "__main__":
    sys.exit(main())
