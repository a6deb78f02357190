"""The simulator's HTTP server: auth, budgets, faults, ETags, counters, control API.

A real `ThreadingHTTPServer` with HTTP/1.1 keep-alive, TCP_NODELAY and one write per
response, so a keep-alive client pays no Nagle/delayed-ACK stall.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import random
import secrets
import socket
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from email.utils import format_datetime, formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from . import routes
from .activity import add_activity
from .budgets import Budgets
from .control import handle_control
from .dataset import Dataset
from .graphql import GraphQLEndpoint
from .render import iso

log = logging.getLogger("simulator")

RATE_LIMIT_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try"
    " again. If you reach out to GitHub Support for help, please include the request ID."
)


class SimulatorServer:
    """A GitHub REST and GraphQL API peer over a dataset; `start()` serves it in a thread."""

    def __init__(
        self,
        dataset: Dataset,
        *,
        app_id: str | int,
        public_key_pem: str,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0,
        fault_rate: float = 0.0,
        secondary_rate: float = 0.0,
        secondary_retry_after: int = 60,
        secondary_status: int = 403,
        secondary_rate_headers: bool = True,
        budget: int = 5000,
        window_seconds: float = 3600,
        limit_status: int = 403,
        token_ttl: float = 3600,
        fault_seed: int | None = None,
        graphql_points: int = 5000,
    ) -> None:
        self.dataset = dataset
        self.app_id = str(app_id)
        self._public_key = load_pem_public_key(public_key_pem.encode())
        self.host = host
        self._port = port
        self.latency_ms = latency_ms
        self.fault_rate = fault_rate
        self.secondary_rate = secondary_rate
        self.secondary_retry_after = secondary_retry_after  # < 0: no retry-after header
        self.secondary_status = secondary_status
        self.secondary_rate_headers = secondary_rate_headers
        self.budgets = Budgets(resource="core", default=budget, window_seconds=window_seconds)
        self.limit_status = limit_status
        self.token_ttl = token_ttl
        self.fail_next = 0
        self.fail_status: int | None = None  # the status of the fail_next faults
        self.fail_path = ""  # only requests whose path starts with it fail
        self.cut_next = 0
        self.truncate_next = 0
        self.secondary_next = 0
        self.auth_failure = False
        self._rng = random.Random(dataset.seed if fault_seed is None else fault_seed)
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[int, float]] = {}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.graphql = GraphQLEndpoint(points=graphql_points, window_seconds=window_seconds)
        self.reset_stats()

    # ----------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        return self._httpd.server_address[1] if self._httpd else self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def bind(self) -> None:
        if self._httpd is None:
            self._httpd = _HTTPServer((self.host, self._port), _Handler)
            self._httpd.sim = self

    def start(self) -> SimulatorServer:
        self.bind()
        assert self._httpd is not None
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="github-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.bind()
        assert self._httpd is not None
        self._httpd.serve_forever()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- control

    def set_budget(
        self,
        installation_id: int,
        remaining: int,
        limit: int | None = None,
        reset_in: float | None = None,
        status: int | None = None,
    ) -> None:
        """Set an installation's budget; `reset_in` seconds until its window resets."""
        with self._lock:
            self.budgets.set(installation_id, remaining, limit, reset_in)
            if status is not None:
                self.limit_status = int(status)

    def set_faults(
        self,
        rate: float | None = None,
        secondary_rate: float | None = None,
        latency_ms: float | None = None,
        *,
        fail_next: int | None = None,
        fail_status: int | None = None,
        fail_path: str | None = None,
        secondary_next: int | None = None,
        secondary_retry_after: int | None = None,
        cut_next: int | None = None,
        truncate_next: int | None = None,
        secondary_status: int | None = None,
        secondary_rate_headers: bool | None = None,
    ) -> None:
        """5xx probability, secondary-limit probability, latency; or the next N requests
        (those whose path starts with `fail_path`, answered with `fail_status`, when set;
        otherwise any request, with 500, 502 or 503). `cut_next`: the next N answers that
        spend budget drop the connection mid-body; `truncate_next`: they end early with a
        Content-Length that matches, so only the JSON is broken."""
        with self._lock:
            if rate is not None:
                self.fault_rate = float(rate)
            if secondary_rate is not None:
                self.secondary_rate = float(secondary_rate)
            if latency_ms is not None:
                self.latency_ms = float(latency_ms)
            if fail_next is not None:
                self.fail_next = int(fail_next)
            if fail_status is not None:
                self.fail_status = int(fail_status)
            if fail_path is not None:
                self.fail_path = fail_path
            if secondary_next is not None:
                self.secondary_next = int(secondary_next)
            if secondary_retry_after is not None:
                self.secondary_retry_after = int(secondary_retry_after)
            if cut_next is not None:
                self.cut_next = int(cut_next)
            if truncate_next is not None:
                self.truncate_next = int(truncate_next)
            if secondary_status is not None:
                self.secondary_status = int(secondary_status)
            if secondary_rate_headers is not None:
                self.secondary_rate_headers = bool(secondary_rate_headers)

    def configure(
        self,
        *,
        token_ttl: float | None = None,
        window_seconds: float | None = None,
        limit_status: int | None = None,
        auth_failure: bool | None = None,
    ) -> None:
        with self._lock:
            if token_ttl is not None:
                self.token_ttl = float(token_ttl)
            if window_seconds is not None:
                self.budgets.window_seconds = float(window_seconds)
                self.graphql.budgets.window_seconds = float(window_seconds)
            if limit_status is not None:
                self.limit_status = int(limit_status)
            if auth_failure is not None:
                self.auth_failure = bool(auth_failure)

    def revoke_tokens(self) -> None:
        """Every issued installation token stops working (the next use is a 401)."""
        with self._lock:
            self._tokens.clear()

    def add_activity(self, kind: str, **kwargs: Any) -> dict[str, Any]:
        return add_activity(self.dataset, kind, **kwargs)

    def min_requests(
        self, installation_id: int, since: datetime, until: datetime, per_page: int = 100
    ) -> int:
        from .expectations import min_requests

        return min_requests(self.dataset, installation_id, since, until, per_page)

    def reset_stats(self) -> None:
        self._stats_lock = getattr(self, "_stats_lock", threading.Lock())
        with self._stats_lock:
            self._by_installation: Counter[int] = Counter()
            self._by_endpoint: Counter[str] = Counter()
            self._by_status: Counter[int] = Counter()
            self._not_modified: Counter[int] = Counter()
            self._spent: Counter[int] = Counter()
            self._total = 0
            self._tokens_issued = 0
        self.graphql.reset_stats()

    def stats(self) -> dict[str, Any]:
        """Counters since the last reset; installation ids are ints (strings over HTTP)."""
        with self._stats_lock:
            stats: dict[str, Any] = {
                "requests_total": self._total,
                "requests_by_installation": dict(self._by_installation),
                "requests_by_endpoint": dict(self._by_endpoint),
                "requests_by_status": dict(self._by_status),
                "not_modified_total": sum(self._not_modified.values()),
                "not_modified_by_installation": dict(self._not_modified),
                "budget_spent": dict(self._spent),
                "tokens_issued": self._tokens_issued,
            }
        with self._lock:
            stats["budgets"] = self.budgets.summary()
        stats.update(self.graphql.stats())
        return stats

    # ----------------------------------------------------------------- internals

    def _count(self, template: str, installation_id: int | None, status: int) -> None:
        with self._stats_lock:
            self._total += 1
            self._by_endpoint[template] += 1
            self._by_status[status] += 1
            if installation_id is not None:
                self._by_installation[installation_id] += 1
                if status == 304:
                    self._not_modified[installation_id] += 1

    def _fault(self, path: str) -> int | None:
        """None, or a fault for this request: the status to answer, 0 for "any 5xx"."""
        with self._lock:
            if self.fail_next > 0 and path.startswith(self.fail_path):
                self.fail_next -= 1
                return self.fail_status or 0
            if self.fault_rate and self._rng.random() < self.fault_rate:
                return 0
        return None

    def _secondary(self) -> bool:
        with self._lock:
            if self.secondary_next > 0:
                self.secondary_next -= 1
                return True
            return bool(self.secondary_rate and self._rng.random() < self.secondary_rate)

    def _verify_jwt(self, authorization: str) -> str | None:
        """None when the App JWT is valid, else GitHub's complaint."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "A JSON web token could not be decoded"
        try:
            claims = jwt.decode(
                token,
                self._public_key,  # type: ignore[arg-type]
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"]},
                leeway=30,
            )
        except jwt.ExpiredSignatureError:
            return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"  # noqa: E501
        except jwt.PyJWTError:
            return "A JSON web token could not be decoded"
        if str(claims["iss"]) != self.app_id:
            return "'Issuer' claim ('iss') must be an Integer"
        if int(claims["exp"]) - int(claims["iat"]) > 600:
            return "'Expiration time' claim ('exp') is too far in the future"
        return None

    def _issue_token(self, installation_id: int) -> routes.Reply:
        if installation_id not in self.dataset.installations:
            return routes.Reply(404, routes.NOT_FOUND)
        token = "ghs_" + secrets.token_urlsafe(27)
        with self._lock:
            expires = time.time() + self.token_ttl
            self._tokens[token] = (installation_id, expires)
        with self._stats_lock:
            self._tokens_issued += 1
        expires_at = datetime.fromtimestamp(expires, UTC)
        return routes.Reply(
            201,
            {
                "token": token,
                "expires_at": iso(expires_at),
                "permissions": {"contents": "read", "issues": "read", "pull_requests": "read"},
                "repository_selection": "all",
            },
        )

    def _installation_of(self, authorization: str) -> int | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() not in ("token", "bearer") or not token:
            return None
        with self._lock:
            if self.auth_failure:
                return None
            found = self._tokens.get(token)
            if found is None or found[1] <= time.time():
                return None
            return found[0]

    def handle(self, method: str, target: str, headers: Any, body: bytes) -> routes.Reply:
        """Answer one request (the HTTP layer only frames it)."""
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        query = parse_qsl(parts.query, keep_blank_values=True)
        base = f"http://{headers.get('Host') or f'{self.host}:{self.port}'}"
        if path.startswith("/_sim/"):
            return handle_control(self, method, path, query, body)
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        if method == "POST" and path == "/graphql":
            return self._graphql(headers, body, base)
        with self.dataset.lock:
            path = routes.canonical_path(self.dataset, path)
        found = routes.match(method, path)
        if found is None:
            self._count(f"{method} (unknown)", None, 404)
            return routes.Reply(404, routes.NOT_FOUND)
        template, auth, handler, args = found
        authorization = headers.get("Authorization") or ""
        req = routes.Request(method, path, query, base, base, app_id=self.app_id)

        if auth == "jwt":
            installation_id = int(args[0]) if args else None
            problem = self._verify_jwt(authorization)
            if problem:
                reply = routes.Reply(401, {"message": problem})
            elif self._fault(path) is not None:
                reply = routes.Reply(502, {"message": "Server Error"})
            elif handler is None:
                reply = self._issue_token(int(args[0]))
            else:
                with self.dataset.lock:
                    reply = handler(self.dataset, req, *args)
            self._count(template, installation_id, reply.status)
            return reply

        installation_id = self._installation_of(authorization)
        if installation_id is None:
            self._count(template, None, 401)
            return routes.Reply(
                401,
                {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
            )
        req.installation = self.dataset.installations[installation_id]
        reply = self._answer(req, template, handler, args, headers, installation_id, authorization)
        self._count(template, installation_id, reply.status)
        return reply

    def _graphql(self, headers: Any, body: bytes, base: str) -> routes.Reply:
        """`POST /graphql`: this server's auth and faults, then the GraphQL endpoint."""
        template = "POST /graphql"
        installation_id = self._installation_of(headers.get("Authorization") or "")
        if installation_id is None:
            self._count(template, None, 401)
            return routes.Reply(
                401,
                {
                    "message": "This endpoint requires you to be authenticated.",
                    "documentation_url": "https://docs.github.com/graphql",
                },
            )
        fault = self._fault("/graphql")
        if fault is not None:
            reply = routes.Reply(fault or 502, {"message": "Server Error"})
        elif self._secondary():
            with self._lock:
                budget_headers = self.graphql.budgets.get(installation_id).headers()
            reply = self._secondary_reply(budget_headers, "https://docs.github.com/graphql")
        else:
            installation = self.dataset.installations[installation_id]
            answer = self.graphql.answer(self.dataset, installation, base, body)
            reply = routes.Reply(answer.status, answer.body, answer.headers)
        self._count(template, installation_id, reply.status)
        return reply

    def _secondary_reply(self, budget_headers: dict[str, str], docs: str) -> routes.Reply:
        """A secondary limit, REST or GraphQL alike: 403 or 429, with or without
        retry-after, sometimes without the x-ratelimit-* headers (SPEC §12); the message
        names a secondary rate limit."""
        with self._lock:
            status, retry_after = self.secondary_status, self.secondary_retry_after
            headers = dict(budget_headers) if self.secondary_rate_headers else {}
        if retry_after >= 0:
            headers["retry-after"] = str(retry_after)
        return routes.Reply(
            status, {"message": SECONDARY_MESSAGE, "documentation_url": docs}, headers
        )

    def _answer(
        self,
        req: routes.Request,
        template: str,
        handler: routes.Handler | None,
        args: tuple[str, ...],
        headers: Any,
        installation_id: int,
        authorization: str,
    ) -> routes.Reply:
        fault = self._fault(req.path)
        if fault is not None:
            status = fault or self._rng.choice([500, 502, 503])
            return routes.Reply(status, {"message": "Server Error"})
        if handler is None:  # /rate_limit: free, reports the current window
            with self._lock:
                budget = self.budgets.get(installation_id)
                rate = budget.rate_limit_entry()
                rate_headers = budget.headers()
            resources = {"core": rate, "graphql": self.graphql.rate_limit(installation_id)}
            return routes.Reply(200, {"resources": resources, "rate": rate}, rate_headers)
        if self._secondary():
            with self._lock:
                budget_headers = self.budgets.get(installation_id).headers()
            return self._secondary_reply(budget_headers, "https://docs.github.com/rest")
        try:
            with self.dataset.lock:
                reply = handler(self.dataset, req, *args)
        except routes.BadRequest as exc:
            reply = routes.Reply(422, {"message": str(exc)})
        payload = json.dumps(reply.body, separators=(",", ":")).encode()
        if reply.status == 200 and self._conditional(reply, payload, headers, authorization):
            with self._lock:
                reply.headers.update(self.budgets.get(installation_id).headers())
            return routes.Reply(304, None, reply.headers)
        with self._lock:
            budget = self.budgets.get(installation_id)
            if budget.remaining <= 0:
                budget.remaining = 0
                return routes.Reply(
                    self.limit_status,
                    {
                        "message": (
                            f"API rate limit exceeded for installation ID {installation_id}."
                        ),
                        "documentation_url": RATE_LIMIT_DOCS,
                    },
                    budget.headers(),
                )
            budget.remaining -= 1
            reply.headers.update(budget.headers())
        with self._stats_lock:
            self._spent[installation_id] += 1
        reply.body = payload
        with self._lock:
            if self.cut_next > 0 and payload:
                self.cut_next -= 1
                reply.cut = "reset"
            elif self.truncate_next > 0 and payload:
                self.truncate_next -= 1
                reply.cut = "truncate"
        return reply

    @staticmethod
    def _conditional(reply: routes.Reply, payload: bytes, headers: Any, authorization: str) -> bool:
        """Set the validators of a 200 and say whether the request's conditions make it
        a 304, as GitHub does (SPEC §12):

        - the ETag hashes the body *and the token that asked*: GitHub's ETags are auth
          token specific (GitHub Support, 2024), and `Vary: Accept, Authorization,
          Cookie, X-GitHub-OTP` says so; a 200 carries the weak form `W/"…"` (GitHub
          compresses), the 304 the strong one; tags compare without `W/`;
        - `Last-Modified` only where GitHub sends it (the handler sets it); with
          `If-Modified-Since` it is a 304 whoever asks, when nothing is newer;
        - If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2): a request with
          a stale ETag is a 200 whatever its date says."""
        scope = authorization.partition(" ")[2].encode()
        strong = '"' + hashlib.sha256(scope + b"\n" + payload).hexdigest()[:40] + '"'
        reply.headers["ETag"] = "W/" + strong
        reply.headers["Vary"] = "Accept, Authorization, Cookie, X-GitHub-OTP"
        if reply.last_modified is not None:
            reply.headers["Last-Modified"] = format_datetime(
                reply.last_modified.astimezone(UTC).replace(microsecond=0), usegmt=True
            )
        if_none_match = headers.get("If-None-Match")
        if if_none_match:
            wanted = {_strong(tag) for tag in if_none_match.split(",")}
            if strong in wanted or "*" in wanted:
                reply.headers["ETag"] = strong
                return True
            return False
        since = _http_time(headers.get("If-Modified-Since"))
        if since is None or reply.last_modified is None:
            return False
        return reply.last_modified.replace(microsecond=0) <= since


def _strong(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def _http_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    sim: SimulatorServer

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # idle keep-alive connections are closed after this
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            reply = self.server.sim.handle(self.command, self.path, self.headers, body)
        except Exception:
            log.exception("simulator.request.failed path=%s", self.path)
            reply = routes.Reply(500, {"message": "simulator error"})
        self._write(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def _write(self, reply: routes.Reply) -> None:
        if reply.status == 304 or reply.body is None:
            payload = b""
        elif isinstance(reply.body, bytes):
            payload = reply.body
        else:
            payload = json.dumps(reply.body, separators=(",", ":")).encode()
        if reply.cut == "truncate":
            payload = payload[: len(payload) // 2]
        phrase = http.client.responses.get(reply.status, "Unknown")
        lines = [
            f"HTTP/1.1 {reply.status} {phrase}",
            "Server: github.com (simulator)",
            f"Date: {formatdate(usegmt=True)}",
            "X-GitHub-Api-Version-Selected: 2022-11-28",
            f"X-GitHub-Request-Id: {uuid.uuid4().hex[:20].upper()}",
        ]
        if reply.status != 304:
            lines.append("Content-Type: application/json; charset=utf-8")
        lines += [f"{k}: {v}" for k, v in reply.headers.items()]
        lines.append(f"Content-Length: {len(payload)}")
        lines.append("Connection: close" if self.close_connection else "Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if reply.cut == "reset":
            # Content-Length promises the whole body; half of it arrives, then the
            # connection ends, as a reset mid-transfer looks to the client.
            self.wfile.write(head + payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(head + payload)
