"""The GitHub simulator as the benchmark uses it: its own process, driven over HTTP.

Every tool talks to the same simulator process and the same dataset; the bench reads
the counters (`/_sim/stats`), sets budgets and latency (`/_sim/config`) and asks for
the expected events and the minimum request count of a window.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt

ROOT = Path(__file__).resolve().parent.parent


class Simulator:
    def __init__(
        self,
        *,
        seed: int,
        size: str,
        app_id: str,
        workdir: Path,
        budget: int = 5000,
        busy: str | None = None,
    ) -> None:
        from simulator import generate_app_keypair

        self.seed, self.size, self.app_id, self.budget = seed, size, app_id, budget
        self.busy = busy
        workdir.mkdir(parents=True, exist_ok=True)
        private_pem, public_pem = generate_app_keypair()
        self.private_key_path = workdir / "app.pem"
        self.private_key_path.write_text(private_pem)
        self.private_key_path.chmod(0o600)
        public_path = workdir / "app.pub.pem"
        public_path.write_text(public_pem)
        self._log = (workdir / "simulator.log").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "simulator",
                "--port",
                "0",
                "--seed",
                str(seed),
                "--size",
                size,
                "--app-id",
                app_id,
                "--budget",
                str(budget),
                "--public-key",
                str(public_path),
                *(["--busy", busy] if busy else []),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if "listening on" not in line:
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.url = line.rsplit(" ", 1)[1].strip()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()

    # ------------------------------------------------------------------ control API

    def _call(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_sim/stats"))

    def reset_stats(self) -> None:
        self._call("POST", "/_sim/stats/reset")

    def configure(self, **body: Any) -> None:
        self._call("POST", "/_sim/config", body)

    def set_latency(self, ms: float) -> None:
        self.configure(faults={"latency_ms": ms})

    def refill_budget(self, installation_id: int) -> None:
        """A fresh window: the full budgets (REST and GraphQL), resetting in an hour."""
        full = {
            "installation_id": installation_id,
            "remaining": self.budget,
            "limit": self.budget,
            "reset_in": 3600,
        }
        self.configure(budget=full, graphql_budget=full)

    def add_activity(self, kind: str, repo: str) -> dict[str, Any]:
        """Someone acts on GitHub now (`POST /_sim/activity`): the events it made."""
        return dict(self._call("POST", "/_sim/activity", {"kind": kind, "repo": repo}))

    def dataset(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_sim/dataset"))

    def expected(self, installation_id: int, since: datetime, until: datetime) -> set[tuple]:
        body = self._call(
            "GET",
            "/_sim/expected",
            installation_id=installation_id,
            since=since.isoformat(),
            until=until.isoformat(),
        )
        return {tuple(e) for e in body["events"]}

    def true_events(self, installation_id: int) -> set[tuple]:
        body = self._call("GET", "/_sim/true_events", installation_id=installation_id)
        return {tuple(e) for e in body["events"]}

    def min_requests(self, installation_id: int, since: datetime, until: datetime) -> int:
        body = self._call(
            "GET",
            "/_sim/min_requests",
            installation_id=installation_id,
            since=since.isoformat(),
            until=until.isoformat(),
        )
        return int(body["min_requests"])

    def installation_token(self, installation_id: int) -> str:
        """What an App does: a JWT, then POST .../access_tokens (one counted request)."""
        now = int(time.time())
        token = jwt.encode(
            {"iat": now - 60, "exp": now + 540, "iss": self.app_id},
            self.private_key_path.read_text(),
            algorithm="RS256",
        )
        request = urllib.request.Request(
            f"{self.url}/app/installations/{installation_id}/access_tokens",
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(json.load(response)["token"])
