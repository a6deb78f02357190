"""Relay connections over a list: `first`/`last`, `after`/`before` cursors, `pageInfo`.

A cursor names an item's position in the whole (filtered, ordered) list; like GitHub's,
it is opaque base64 and only good for the same list.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

from graphql import GraphQLError


def cursor(index: int) -> str:
    return base64.b64encode(f"cursor:v2:{index}".encode()).decode()


def _index(value: str) -> int:
    try:
        text = base64.b64decode(value.encode(), validate=True).decode()
        prefix, _, number = text.rpartition(":")
        if prefix != "cursor:v2":
            raise ValueError(text)
        return int(number)
    except (ValueError, UnicodeDecodeError) as exc:
        raise GraphQLError(
            f"`{value}` does not appear to be a valid cursor.",
            extensions={"type": "INVALID_CURSOR_ARGUMENTS"},
        ) from exc


class Edge:
    def __init__(self, cursor: str, node: Any) -> None:
        self.cursor = cursor
        self.node = node


class Connection:
    """One page of `items`, each wrapped by `wrap` only when it is on the page."""

    def __init__(
        self,
        items: Sequence[Any],
        wrap: Callable[[Any], Any],
        *,
        first: int | None = None,
        last: int | None = None,
        after: str | None = None,
        before: str | None = None,
        total_count: int | None = None,
    ) -> None:
        start = _index(after) + 1 if after else 0
        end = min(_index(before), len(items)) if before else len(items)
        start = min(max(start, 0), end)
        if first is not None:
            end = min(end, start + first)
        elif last is not None:
            start = max(start, end - last)
        self._items = items
        self._start, self._end = start, end
        self._wrap = wrap
        self.total_count = len(items) if total_count is None else total_count

    def nodes(self) -> list[Any]:
        return [self._wrap(item) for item in self._items[self._start : self._end]]

    def edges(self) -> list[Edge]:
        return [Edge(cursor(i), self._wrap(self._items[i])) for i in range(self._start, self._end)]

    def page_info(self) -> dict[str, Any]:
        empty = self._start >= self._end
        return {
            "hasNextPage": self._end < len(self._items),
            "hasPreviousPage": self._start > 0,
            "startCursor": None if empty else cursor(self._start),
            "endCursor": None if empty else cursor(self._end - 1),
        }
