"""A closed-loop HTTP load generator on aiohttp: what `wrk -c8 -d30s` measured, with
nothing to install but the dev extras.

N connections; each sends its next request as soon as the previous answer has been
read, until the duration is over (requests still in flight then are awaited and
counted). The requests are taken in turn from a list (signed webhook replays, or one
API call). A run reports requests/s, p50/p99/max latency of the answered requests and
its errors by kind, as wrk does: `connect` (refused, reset before a connection),
`read` (the connection broke during a request), `timeout` (no answer in time) and
`status` (answered, but not 2xx).

No Django here: the fault suite runs it as its own process, like wrk was,
`python -m tests.faults.loadgen SPEC.json`, which prints one JSON line.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "headers": self.headers,
            "body_b64": base64.b64encode(self.body).decode(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Request:
        return cls(
            data["method"],
            data["path"],
            dict(data.get("headers") or {}),
            base64.b64decode(data.get("body_b64") or ""),
        )


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class LoadResult:
    connections: int
    seconds: float
    duration_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors_by_kind: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        """Requests answered (any status), as wrk counts them."""
        return len(self.latencies_ms)

    @property
    def errors(self) -> int:
        return sum(self.errors_by_kind.values())

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        return {
            "connections": self.connections,
            "seconds": self.seconds,
            "duration_s": round(self.duration_s, 3),
            "requests": self.requests,
            "rps": self.requests / self.duration_s if self.duration_s else 0.0,
            "p50_ms": percentile(ordered, 50),
            "p99_ms": percentile(ordered, 99),
            "max_ms": ordered[-1] if ordered else 0.0,
            "errors": self.errors,
            **{kind: self.errors_by_kind[kind] for kind in ("connect", "read", "timeout")},
            "status": self.errors_by_kind["status"],
            "statuses": {str(code): n for code, n in sorted(self.statuses.items())},
        }


async def _run(
    base_url: str, requests: list[Request], connections: int, seconds: float, timeout: float
) -> LoadResult:
    result = LoadResult(connections=connections, seconds=seconds)
    turn = 0
    connector = aiohttp.TCPConnector(limit=connections)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(
        base_url, connector=connector, timeout=client_timeout, auto_decompress=False
    ) as session:
        started = time.perf_counter()
        deadline = started + seconds

        async def one_connection() -> None:
            nonlocal turn
            while time.perf_counter() < deadline:
                request = requests[turn % len(requests)]
                turn += 1
                sent = time.perf_counter()
                try:
                    async with session.request(
                        request.method, request.path, headers=request.headers, data=request.body
                    ) as response:
                        await response.read()
                except TimeoutError:
                    result.errors_by_kind["timeout"] += 1
                    continue
                except aiohttp.ClientConnectorError:
                    result.errors_by_kind["connect"] += 1
                    await asyncio.sleep(0.01)  # a refused connection does not spin the loop
                    continue
                except (aiohttp.ClientError, OSError):
                    result.errors_by_kind["read"] += 1
                    continue
                result.latencies_ms.append((time.perf_counter() - sent) * 1000)
                result.statuses[response.status] += 1
                if not 200 <= response.status < 300:
                    result.errors_by_kind["status"] += 1

        await asyncio.gather(*(one_connection() for _ in range(connections)))
        result.duration_s = time.perf_counter() - started
    return result


def run_load(
    base_url: str,
    requests: list[Request],
    *,
    connections: int = 8,
    seconds: float = 30,
    timeout: float = 10,
) -> LoadResult:
    """Closed-loop load on `base_url` (scheme://host:port) for `seconds`."""
    if not requests:
        raise ValueError("no requests to send")
    return asyncio.run(_run(base_url, requests, connections, seconds, timeout))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.faults.loadgen SPEC.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text())
    result = run_load(
        spec["url"],
        [Request.from_json(r) for r in spec["requests"]],
        connections=int(spec.get("connections", 8)),
        seconds=float(spec.get("seconds", 30)),
        timeout=float(spec.get("timeout", 10)),
    )
    print("LOADJSON " + json.dumps(result.summary()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
