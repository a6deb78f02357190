"""`POST /graphql` for an authenticated installation: validate, price, charge, execute.

GitHub's behaviour, as documented and as clients meet it:

- one endpoint; a query that does not parse or validate, or that GitHub refuses before
  running (pagination bounds, node limit), is HTTP 200 with `errors` and no `data`, and
  costs nothing;
- each installation has an hourly points budget of its own (5,000), apart from the REST
  budget, reported in `x-ratelimit-*` headers with `x-ratelimit-resource: graphql` and in
  `rateLimit { cost limit remaining used resetAt nodeCount }`;
- a query that costs more than the points left is HTTP 200 with
  `errors[].type == "RATE_LIMITED"` (`code: graphql_rate_limit`), not a 403;
- resolver errors (`NOT_FOUND`) sit beside the data, with `type` at the top of the error;
- `rateLimit(dryRun: true)` prices the query without running it or charging for it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    execute_sync,
    parse,
    validate,
)

from ..budgets import Budget, Budgets
from ..dataset import Dataset, Installation
from ..render import iso
from .cost import Price, Refusal, price
from .root import QueryRoot
from .schema import github_schema, resolve_field, resolve_type
from .scope import Scope

DEFAULT_POINTS = 5000
MISSING_QUERY = "A query attribute must be specified and must be a string."


@dataclass
class GraphQLReply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class GraphQLEndpoint:
    """The GraphQL side of one simulator: points budgets, counters, execution."""

    def __init__(self, *, points: int = DEFAULT_POINTS, window_seconds: float = 3600) -> None:
        self.budgets = Budgets(resource="graphql", default=points, window_seconds=window_seconds)
        self._lock = threading.Lock()
        self.reset_stats()

    # ---------------------------------------------------------------- control

    def set_budget(
        self,
        installation_id: int,
        remaining: int,
        limit: int | None = None,
        reset_in: float | None = None,
    ) -> None:
        with self._lock:
            self.budgets.set(installation_id, remaining, limit, reset_in)

    def reset_stats(self) -> None:
        with self._lock:
            self._requests: Counter[int] = Counter()
            self._points: Counter[int] = Counter()
            self._rate_limited: Counter[int] = Counter()
            self._refusals: Counter[int] = Counter()
            # What the charged queries asked for: operation names and connection fields
            # (`pullRequests`, `history`, ...), to tell which streams a client read.
            self._operations: Counter[str] = Counter()
            self._connections: Counter[str] = Counter()

    def stats(self) -> dict[str, Any]:
        """Points served per installation, beside the REST counters in `/_sim/stats`."""
        with self._lock:
            return {
                "graphql_requests_total": sum(self._requests.values()),
                "graphql_requests_by_installation": dict(self._requests),
                "graphql_points_total": sum(self._points.values()),
                "graphql_points_spent": dict(self._points),
                "graphql_rate_limited": dict(self._rate_limited),
                "graphql_refused": dict(self._refusals),
                "graphql_operations": dict(self._operations),
                "graphql_connections": dict(self._connections),
                "graphql_budgets": self.budgets.summary(),
            }

    def rate_limit(self, installation_id: int) -> dict[str, Any]:
        """The `/rate_limit` resource `graphql` (free)."""
        with self._lock:
            return self.budgets.get(installation_id).rate_limit_entry()

    # ---------------------------------------------------------------- requests

    def answer(
        self, dataset: Dataset, installation: Installation, api: str, raw: bytes
    ) -> GraphQLReply:
        iid = installation.id
        with self._lock:
            self._requests[iid] += 1
            headers = self.budgets.get(iid).headers()
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return GraphQLReply(
                400,
                {"message": "Problems parsing JSON", "documentation_url": _DOCS},
                headers,
            )
        query = body.get("query") if isinstance(body, dict) else None
        if not isinstance(query, str):
            return self._refused(iid, headers, [{"message": MISSING_QUERY}])
        variables = body.get("variables") or {}
        operation_name = body.get("operationName") or None
        schema = github_schema()
        document, errors = _checked(query)
        if errors:
            return self._refused(iid, headers, list(errors))
        assert document is not None
        try:
            cost = price(schema, document, variables, operation_name)
        except Refusal as refusal:
            return self._refused(iid, headers, [refusal.as_error()])
        except GraphQLError as exc:
            return self._refused(iid, headers, [_github_error(exc.formatted)])

        with self._lock:
            budget = self.budgets.get(iid)
            if cost.dry_run:
                pass
            elif cost.cost > budget.remaining:
                self._rate_limited[iid] += 1
                return GraphQLReply(200, _rate_limited(iid), budget.headers())
            else:
                budget.remaining -= cost.cost
                self._points[iid] += cost.cost
                self._operations[operation_name or _first_operation(document)] += 1
                self._connections.update(cost.connections)
            snapshot = budget.snapshot()

        scope = Scope(dataset, installation, api)
        root = QueryRoot(scope, lambda: _rate_limit_object(snapshot, cost), dry_run=cost.dry_run)
        with dataset.lock:
            result = execute_sync(
                schema,
                document,
                root_value=root,
                variable_values=variables,
                operation_name=operation_name,
                field_resolver=resolve_field,
                type_resolver=resolve_type,
            )
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [_github_error(e.formatted) for e in result.errors]
        return GraphQLReply(200, out, snapshot.headers())

    # ---------------------------------------------------------------- internals

    def _refused(
        self, iid: int, headers: dict[str, str], errors: list[dict[str, Any]]
    ) -> GraphQLReply:
        with self._lock:
            self._refusals[iid] += 1
        return GraphQLReply(200, {"errors": errors}, headers)


_DOCS = "https://docs.github.com/graphql"


@lru_cache(maxsize=256)
def _checked(query: str) -> tuple[DocumentNode | None, tuple[dict[str, Any], ...]]:
    """The parsed document, or GitHub's errors for a query that does not parse or validate.

    Cached by text: a client sends the same few queries with different variables."""
    try:
        document = parse(query)
    except GraphQLError as exc:
        return None, (_github_error(exc.formatted),)
    problems = validate(github_schema(), document)
    if problems:
        return None, tuple(_github_error(p.formatted) for p in problems)
    return document, ()


def _first_operation(document: DocumentNode) -> str:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            return definition.name.value if definition.name else "(anonymous)"
    return "(none)"


def _rate_limit_object(budget: Budget, cost: Price) -> dict[str, Any]:
    return {
        "cost": cost.cost,
        "limit": budget.limit,
        "remaining": budget.remaining,
        "used": budget.used,
        "resetAt": iso(datetime.fromtimestamp(budget.reset_at, UTC)),
        "nodeCount": cost.nodes,
    }


def _rate_limited(installation_id: int) -> dict[str, Any]:
    return {
        "errors": [
            {
                "type": "RATE_LIMITED",
                "code": "graphql_rate_limit",
                "message": (
                    f"API rate limit already exceeded for installation ID {installation_id}."
                ),
            }
        ]
    }


def _github_error(formatted: Mapping[str, Any]) -> dict[str, Any]:
    """graphql-core's error shape as GitHub words it: `type` at the top, no `extensions`."""
    error: dict[str, Any] = {}
    kind = (formatted.get("extensions") or {}).get("type")
    if kind:
        error["type"] = kind
    for key in ("path", "locations"):
        if formatted.get(key):
            error[key] = formatted[key]
    error["message"] = formatted["message"]
    return error
