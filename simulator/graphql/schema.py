"""The vendored SDL as a graphql-core schema, and how fields find their values.

The SDL is GitHub's (see NOTICE.md), so a query that validates here validates on
GitHub. Building it takes seconds, so it is built once per process, on first use.
Fields resolve by name on view objects (`views.py`): `committedDate` is the attribute
or method `committed_date`; a field the simulator does not serve is an error that names
it, never a silent null.
"""

from __future__ import annotations

import re
import threading
from functools import cache
from pathlib import Path
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema, build_ast_schema, parse

SDL_PATH = Path(__file__).with_name("schema.graphql")

_lock = threading.Lock()
_schema: GraphQLSchema | None = None


def github_schema() -> GraphQLSchema:
    """GitHub's schema (built on the first call, then shared)."""
    global _schema
    with _lock:
        if _schema is None:
            document = parse(SDL_PATH.read_text(encoding="utf-8"), no_location=True)
            _schema = build_ast_schema(document, assume_valid_sdl=True)
        return _schema


@cache
def python_name(field_name: str) -> str:
    """`committedDate` -> `committed_date`."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", field_name).lower()


class NotServed(GraphQLError):
    pass


def resolve_field(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    """A dict's key, or a view's attribute or method (called with snake_case arguments)."""
    name = info.field_name
    if isinstance(source, dict):
        return source.get(name)
    attr = getattr(source, python_name(name), _MISSING)
    if attr is _MISSING:
        raise NotServed(
            f"The GitHub simulator does not serve `{info.parent_type.name}.{name}`.",
            extensions={"type": "NOT_SERVED"},
        )
    if callable(attr):
        return attr(**{python_name(k): v for k, v in args.items()})
    return attr


def resolve_type(value: Any, info: GraphQLResolveInfo, abstract_type: Any) -> str:
    """The concrete type of an interface or union value (`node`, `author`, `target`)."""
    return str(value.typename)


_MISSING = object()
