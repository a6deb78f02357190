"""Sentry reporting when SENTRY_DSN is set: the official SDK, configured by settings,
sends an error event to the DSN's server with the secrets scrubbed as the logs scrub
them. A real SDK in a real process, a real HTTP server standing in for Sentry."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "ghs_" + "A1b2C3d4E5f6G7h8I9j0" * 2
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretsecret\n-----END RSA PRIVATE KEY-----"

SCRIPT = f"""
import django, sentry_sdk
django.setup()
from django.conf import settings
assert settings.SENTRY_DSN
def fetch(installation_id):
    access_token = {TOKEN!r}
    private_key = {PEM!r}
    raise RuntimeError("GitHub refused token " + access_token)
try:
    fetch(4242)
except RuntimeError:
    sentry_sdk.capture_exception()
sentry_sdk.flush(5)
"""


def test_errors_reach_sentry_with_secrets_scrubbed() -> None:
    bodies: list[bytes] = []

    class Sentry(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            encoding = self.headers.get("Content-Encoding", "")
            if encoding == "gzip":
                raw = gzip.decompress(raw)
            elif encoding == "deflate":
                raw = zlib.decompress(raw)
            assert encoding in ("", "gzip", "deflate"), encoding
            bodies.append(raw)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sentry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("SENTRY_", "DJANGO_SETTINGS"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DJANGO_DEBUG="true",
            SENTRY_DSN=f"http://publickey@127.0.0.1:{server.server_port}/1",
        )
        run = subprocess.run(
            [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
    finally:
        server.shutdown()
    assert run.returncode == 0, run.stderr
    sent = b"\n".join(bodies).decode()
    assert "RuntimeError" in sent and "GitHub refused token" in sent
    events = [json.loads(line) for line in sent.splitlines() if '"exception"' in line]
    assert events, sent[:500]
    frames = events[0]["exception"]["values"][0]["stacktrace"]["frames"]
    assert any(frame.get("function") == "fetch" for frame in frames)
    assert TOKEN not in sent
    assert "MIIEowIBAAKCAQEAsecretsecret" not in sent
    assert "[redacted]" in sent
