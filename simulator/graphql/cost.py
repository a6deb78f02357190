"""What a query costs and whether GitHub would run it, decided before it runs.

GitHub's rules (docs.github.com, "Rate limits and node limits for the GraphQL API"):

- every connection that selects `nodes` or `edges` needs `first` or `last`, each
  within 1..100; `nodes(ids:)` takes at most 100 ids;
- the nodes a query could return (each connection's page size times the pages of every
  connection above it) may not exceed 500,000;
- cost: add up the requests each connection could need (one per parent node, every
  page assumed full), divide by 100 and round to the nearest whole number, at least 1.
  The docs' example, 100 repositories x 50 issues x 60 labels, needs 1 + 100 + 5,000 =
  5,101 requests and costs 51.

Pure: a parsed, validated document in, a `Price` out or a `Refusal` raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    is_composite_type,
)
from graphql.execution.values import get_argument_values

NODE_LIMIT = 500_000
PAGE_LIMIT = 100


@dataclass(frozen=True)
class Price:
    requests: int  # connection requests the query could need
    nodes: int  # nodes it could return
    dry_run: bool = False  # `rateLimit(dryRun: true)`: price it, don't run it
    connections: tuple[str, ...] = ()  # the connection fields asked, by name (for counters)

    @property
    def cost(self) -> int:
        return max(1, (self.requests + 50) // 100)


@dataclass
class Refusal(Exception):
    """GitHub refuses the query before running it (`type` as GitHub names it)."""

    type: str
    message: str
    path: list[str] | None = None
    locations: list[dict[str, int]] = field(default_factory=list)

    def as_error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type}
        if self.path is not None:
            error["path"] = self.path
        if self.locations:
            error["locations"] = self.locations
        error["message"] = self.message
        return error


def price(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> Price:
    """The price of the operation to run, or `Refusal` when GitHub would not run it."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None or _name(o) == operation_name]
    if not chosen:
        raise Refusal("INVALID_OPERATION", f"No operation named {operation_name!r}.")
    operation = chosen[0]
    root = schema.get_root_type(operation.operation)
    assert root is not None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walk = _Walk(schema, fragments, dict(variables or {}))
    walk.selections(operation.selection_set, root, 1, [])
    if walk.nodes > NODE_LIMIT:
        raise Refusal(
            "MAX_NODE_LIMIT_EXCEEDED",
            f"This query requests up to {walk.nodes:,} possible nodes which exceeds the"
            f" maximum limit of {NODE_LIMIT:,}.",
        )
    return Price(walk.requests, walk.nodes, walk.dry_run, tuple(sorted(walk.connections)))


def _name(operation: OperationDefinitionNode) -> str | None:
    return operation.name.value if operation.name else None


def is_connection(field_def: GraphQLField) -> bool:
    named = get_named_type(field_def.type)
    return named.name.endswith("Connection") and "first" in field_def.args


class _Walk:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.requests = 0
        self.nodes = 0
        self.dry_run = False
        self.connections: set[str] = set()

    def selections(
        self, selection_set: SelectionSetNode, parent: Any, multiplier: int, path: list[str]
    ) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self.field(selection, parent, multiplier, path)
            elif isinstance(selection, InlineFragmentNode):
                cond = selection.type_condition
                target = self.schema.get_type(cond.name.value) if cond else parent
                self.selections(selection.selection_set, target, multiplier, path)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments[selection.name.value]
                target = self.schema.get_type(fragment.type_condition.name.value)
                self.selections(fragment.selection_set, target, multiplier, path)

    def field(self, node: FieldNode, parent: Any, multiplier: int, path: list[str]) -> None:
        name = node.name.value
        if name.startswith("__") or not hasattr(parent, "fields"):
            return
        field_def: GraphQLField = parent.fields[name]
        here = [*path, node.alias.value if node.alias else name]
        args = get_argument_values(field_def, node, self.variables)
        named: GraphQLNamedType = get_named_type(field_def.type)
        if named.name == "RateLimit" and args.get("dryRun"):
            self.dry_run = True
        if is_connection(field_def):
            size = self._page_size(node, args, here)
            self.connections.add(name)
            self.requests += multiplier
            self.nodes += multiplier * size
            multiplier *= size or 1
        elif isinstance(_nullable(field_def.type), GraphQLList) and "ids" in args:
            if len(args["ids"]) > PAGE_LIMIT:  # Query.nodes(ids:)
                raise Refusal(
                    "ARGUMENT_LIMIT",
                    f"You may not request more than {PAGE_LIMIT} nodes at once.",
                    here,
                    _locations(node),
                )
            multiplier *= max(1, len(args["ids"]))
        if node.selection_set is not None and is_composite_type(named):
            self.selections(node.selection_set, named, multiplier, here)

    def _page_size(self, node: FieldNode, args: dict[str, Any], path: list[str]) -> int:
        name = node.name.value
        loc = _locations(node)
        first, last = args.get("first"), args.get("last")
        if first is not None and last is not None:
            raise Refusal(
                "ARGUMENT_LIMIT",
                f"Passing both `first` and `last` to paginate the `{name}` connection is not"
                " supported.",
                path,
                loc,
            )
        for arg, value in (("first", first), ("last", last)):
            if value is None:
                continue
            if value > PAGE_LIMIT:
                raise Refusal(
                    "EXCESSIVE_PAGINATION",
                    f"Requesting {value} records on the `{name}` connection exceeds the"
                    f" `{arg}` limit of {PAGE_LIMIT} records.",
                    path,
                    loc,
                )
            if value < 1:
                raise Refusal(
                    "ARGUMENT_LIMIT",
                    f"`{arg}` on the `{name}` connection must be within 1-{PAGE_LIMIT}.",
                    path,
                    loc,
                )
            return int(value)
        if _selects_items(node):
            raise Refusal(
                "MISSING_PAGINATION_BOUNDARIES",
                f"You must provide a `first` or `last` value to properly paginate the `{name}`"
                " connection.",
                path,
                loc,
            )
        return 0  # totalCount / pageInfo only: one request, no nodes


def _nullable(type_: GraphQLOutputType) -> GraphQLOutputType:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def _selects_items(node: FieldNode) -> bool:
    """Whether a connection selection asks for `nodes` or `edges` (directly or in fragments)."""
    if node.selection_set is None:
        return False
    for selection in node.selection_set.selections:
        if isinstance(selection, FieldNode) and selection.name.value in ("nodes", "edges"):
            return True
        if not isinstance(selection, FieldNode):
            return True  # a fragment on the connection: assume it does
    return False


def _locations(node: FieldNode) -> list[dict[str, int]]:
    if node.loc is None:
        return []
    source = node.loc.source
    line = source.body.count("\n", 0, node.loc.start) + 1
    column = node.loc.start - source.body.rfind("\n", 0, node.loc.start)
    return [{"line": line, "column": column}]
