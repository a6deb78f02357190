"""The `/_sim/` control API: the in-process object API, over HTTP, for the demo and benchmarks.

GET  /_sim/stats                          counters (as `SimulatorServer.stats()`)
POST /_sim/stats/reset                    zero the counters
GET  /_sim/dataset                        installations, repositories, special cases
POST /_sim/config                         {"budget": {installation_id, remaining, limit?,
                                          reset_in?, status?} | [...],
                                          "graphql_budget": {installation_id, remaining,
                                          limit?, reset_in?} | [...], "faults": {rate?,
                                          secondary_rate?, latency_ms?, fail_next?,
                                          fail_status?, fail_path?, secondary_next?,
                                          secondary_retry_after?, cut_next?,
                                          truncate_next?, secondary_status?,
                                          secondary_rate_headers?},
                                          "token_ttl"?, "window_seconds"?, "limit_status"?,
                                          "auth_failure"?, "revoke_tokens"?}
POST /_sim/activity                       {kind, installation_id?, repo?, at?} -> events
POST /_sim/webhooks                       {url, secret, event, payload | kind,
                                          installation_id?, repo?, sender_id?,
                                          sender_login?, delivery_id?} -> {status, delivery_id}
GET  /_sim/expected?installation_id&since&until        expected events
GET  /_sim/min_requests?installation_id&since&until&per_page
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import routes
from .expectations import all_true_events, expected_events
from .webhooks import activity_payload, deliver, installation_created_payload

if TYPE_CHECKING:
    from .server import SimulatorServer


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    return value


def _window(args: dict[str, str]) -> tuple[int, datetime, datetime]:
    installation_id = int(args["installation_id"])
    until = routes.parse_time(args.get("until")) or datetime.now(UTC)
    since = routes.parse_time(args.get("since")) or until - timedelta(days=30)
    return installation_id, since, until


def _dataset_summary(sim: SimulatorServer) -> dict[str, Any]:
    ds = sim.dataset
    with ds.lock:
        return {
            "seed": ds.seed,
            "size": list(ds.size),
            "now": ds.now.isoformat(),
            "app_id": sim.app_id,
            "installations": [
                {
                    "id": inst.id,
                    "account": inst.account_login,
                    "repositories": [
                        {
                            "id": r.id,
                            "full_name": r.full_name,
                            "empty": r.empty,
                            "deleted": r.deleted,
                        }
                        for r in inst.repositories
                    ],
                }
                for inst in ds.installations.values()
            ],
        }


def _configure(sim: SimulatorServer, body: dict[str, Any]) -> None:
    budgets = body.get("budget") or []
    for budget in budgets if isinstance(budgets, list) else [budgets]:
        sim.set_budget(
            int(budget["installation_id"]),
            int(budget["remaining"]),
            limit=budget.get("limit"),
            reset_in=budget.get("reset_in"),
            status=budget.get("status"),
        )
    graphql_budgets = body.get("graphql_budget") or []
    if isinstance(graphql_budgets, dict):
        graphql_budgets = [graphql_budgets]
    for budget in graphql_budgets:
        sim.graphql.set_budget(
            int(budget["installation_id"]),
            int(budget["remaining"]),
            limit=budget.get("limit"),
            reset_in=budget.get("reset_in"),
        )
    faults = body.get("faults") or {}
    sim.set_faults(
        faults.get("rate"),
        faults.get("secondary_rate"),
        faults.get("latency_ms"),
        fail_next=faults.get("fail_next"),
        fail_status=faults.get("fail_status"),
        fail_path=faults.get("fail_path"),
        secondary_next=faults.get("secondary_next"),
        secondary_retry_after=faults.get("secondary_retry_after"),
        cut_next=faults.get("cut_next"),
        truncate_next=faults.get("truncate_next"),
        secondary_status=faults.get("secondary_status"),
        secondary_rate_headers=faults.get("secondary_rate_headers"),
    )
    sim.configure(
        token_ttl=body.get("token_ttl"),
        window_seconds=body.get("window_seconds"),
        limit_status=body.get("limit_status"),
        auth_failure=body.get("auth_failure"),
    )
    if body.get("revoke_tokens"):
        sim.revoke_tokens()


def _webhook(sim: SimulatorServer, body: dict[str, Any]) -> dict[str, Any]:
    event = body["event"]
    payload = body.get("payload")
    if payload is None:
        kind = body.get("kind") or event
        installation_id = body.get("installation_id")
        if kind == "installation":
            iid = int(installation_id or next(iter(sim.dataset.installations)))
            payload = installation_created_payload(
                sim.dataset,
                iid,
                int(body.get("sender_id") or 5001),
                str(body.get("sender_login") or "user-1"),
                app_id=sim.app_id,
            )
        else:
            payload = activity_payload(
                sim.dataset, kind, installation_id=installation_id, repo=body.get("repo")
            )
    delivery_id = body.get("delivery_id") or str(uuid.uuid4())
    status = deliver(body["url"], body["secret"], event, payload, delivery_id=delivery_id)
    return {"status": status, "delivery_id": delivery_id}


def handle_control(
    sim: SimulatorServer, method: str, path: str, query: list[tuple[str, str]], raw: bytes
) -> routes.Reply:
    """Answer a `/_sim/` request; never counted, never spends budget."""
    args = dict(query)
    try:
        body = json.loads(raw) if raw else {}
        if method == "GET" and path == "/_sim/stats":
            return routes.Reply(200, _jsonable(sim.stats()))
        if method == "POST" and path == "/_sim/stats/reset":
            sim.reset_stats()
            return routes.Reply(200, {"ok": True})
        if method == "GET" and path == "/_sim/dataset":
            return routes.Reply(200, _dataset_summary(sim))
        if method == "POST" and path == "/_sim/config":
            _configure(sim, body)
            return routes.Reply(200, {"ok": True})
        if method == "POST" and path == "/_sim/activity":
            at = routes.parse_time(body.get("at"))
            created = sim.add_activity(
                body.get("kind", "commit"),
                installation_id=body.get("installation_id"),
                repo=body.get("repo"),
                at=at,
            )
            return routes.Reply(201, _jsonable(created))
        if method == "POST" and path == "/_sim/webhooks":
            return routes.Reply(200, _webhook(sim, body))
        if method == "GET" and path == "/_sim/expected":
            installation_id, since, until = _window(args)
            events = sorted(expected_events(sim.dataset, installation_id, since, until))
            return routes.Reply(200, {"count": len(events), "events": _jsonable(events)})
        if method == "GET" and path == "/_sim/true_events":
            iid = int(args["installation_id"]) if "installation_id" in args else None
            events = sorted(all_true_events(sim.dataset, iid))
            return routes.Reply(200, {"count": len(events), "events": _jsonable(events)})
        if method == "GET" and path == "/_sim/min_requests":
            installation_id, since, until = _window(args)
            per_page = int(args.get("per_page", 100))
            return routes.Reply(
                200, {"min_requests": sim.min_requests(installation_id, since, until, per_page)}
            )
    except (KeyError, ValueError, TypeError, routes.BadRequest) as exc:
        return routes.Reply(400, {"message": f"{type(exc).__name__}: {exc}"})
    return routes.Reply(404, {"message": "Not Found"})
