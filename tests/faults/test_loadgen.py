"""The load generator of scenario 6 (tests/faults/loadgen.py) against a small real HTTP
server: it keeps N connections busy, sends each request of its list with its headers
and body, measures latency, and counts non-2xx answers and refused connections as
errors."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.faults.infra import free_port
from tests.faults.loadgen import Request, percentile, run_load
from tests.faults.support import BASE_DIR


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as runserver answers
    seen: Counter[tuple[str, str, str, bytes]] = Counter()
    in_flight = 0
    most_in_flight = 0
    lock = threading.Lock()

    def _answer(self) -> None:
        cls = type(self)
        with cls.lock:
            cls.in_flight += 1
            cls.most_in_flight = max(cls.most_in_flight, cls.in_flight)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(0.02)
        with cls.lock:
            cls.seen[(self.command, self.path, self.headers.get("X-Tag", ""), body)] += 1
            cls.in_flight -= 1
        status = 500 if self.path == "/fail" else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.seen = Counter()
    _Handler.most_in_flight = 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7
    assert percentile([], 50) == 0


def test_closed_loop_load_sends_each_request_and_counts_non_2xx(server: str) -> None:
    requests = [
        Request("POST", "/ok", {"X-Tag": "a"}, b'{"n": 1}'),
        Request("GET", "/fail", {"X-Tag": "b"}),
    ]
    result = run_load(server, requests, connections=4, seconds=1.0, timeout=5)
    summary = result.summary()
    sent = sum(_Handler.seen.values())
    assert summary["requests"] == sent >= 40  # 4 connections x 20 ms per answer, for 1 s
    assert set(_Handler.seen) == {("POST", "/ok", "a", b'{"n": 1}'), ("GET", "/fail", "b", b"")}
    assert _Handler.most_in_flight == 4
    fails = _Handler.seen[("GET", "/fail", "b", b"")]
    assert summary["status"] == summary["errors"] == fails
    assert summary["statuses"] == {"200": sent - fails, "500": fails}
    assert 20 <= summary["p50_ms"] <= summary["p99_ms"] <= summary["max_ms"] < 1000
    assert summary["rps"] == pytest.approx(sent / summary["duration_s"], rel=0.01)


def test_refused_connections_are_connect_errors() -> None:
    closed = f"http://127.0.0.1:{free_port(8900)}"
    result = run_load(closed, [Request("GET", "/")], connections=2, seconds=0.3, timeout=1)
    assert result.requests == 0
    assert result.errors_by_kind["connect"] == result.errors > 0


def test_command_line_prints_one_json_summary(server: str, tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "url": server,
                "requests": [Request("GET", "/ok").as_json()],
                "connections": 2,
                "seconds": 0.5,
            }
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "tests.faults.loadgen", str(spec)],
        cwd=BASE_DIR, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("LOADJSON ")
    summary = json.loads(line.removeprefix("LOADJSON "))
    assert summary["requests"] == sum(_Handler.seen.values()) > 0
    assert summary["errors"] == 0
