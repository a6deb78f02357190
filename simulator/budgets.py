"""GitHub's hourly budgets, per installation and per resource (`core` for REST,
`graphql` for points): a window that resets itself, and the `x-ratelimit-*` headers
and `/rate_limit` entries that describe it."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any


@dataclass
class Budget:
    limit: int
    remaining: int
    reset_at: float  # whole epoch seconds, as the x-ratelimit-reset header says
    resource: str = "core"

    @property
    def used(self) -> int:
        return max(0, self.limit - self.remaining)

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-reset": str(int(self.reset_at)),
            "x-ratelimit-resource": self.resource,
        }

    def rate_limit_entry(self) -> dict[str, Any]:
        """The resource's entry in `GET /rate_limit`."""
        return {
            "limit": self.limit,
            "remaining": self.remaining,
            "reset": int(self.reset_at),
            "used": self.used,
            "resource": self.resource,
        }

    def snapshot(self) -> Budget:
        return replace(self)


class Budgets:
    """Every installation's budget of one resource. Not locked: the owner holds its own
    lock around each call, as it does around the work the budget pays for."""

    def __init__(self, *, resource: str, default: int, window_seconds: float) -> None:
        self.resource = resource
        self.default = default
        self.window_seconds = window_seconds
        self._by_installation: dict[int, Budget] = {}

    def get(self, installation_id: int) -> Budget:
        """The installation's budget, rolled over when its window has passed."""
        now = time.time()
        budget = self._by_installation.get(installation_id)
        if budget is None:
            budget = Budget(
                self.default, self.default, math.ceil(now + self.window_seconds), self.resource
            )
            self._by_installation[installation_id] = budget
        elif now >= budget.reset_at:
            budget.remaining = budget.limit
            budget.reset_at = math.ceil(now + self.window_seconds)
        return budget

    def set(
        self,
        installation_id: int,
        remaining: int,
        limit: int | None = None,
        reset_in: float | None = None,
    ) -> Budget:
        """Set an installation's budget; `reset_in` seconds until its window resets."""
        budget = self.get(int(installation_id))
        if limit is not None:
            budget.limit = int(limit)
        budget.remaining = int(remaining)
        if reset_in is not None:
            budget.reset_at = math.ceil(time.time() + float(reset_in))
        return budget

    def summary(self) -> dict[int, dict[str, int]]:
        """For `/_sim/stats`: installation id -> limit, remaining, reset."""
        return {
            iid: {"limit": b.limit, "remaining": b.remaining, "reset": int(b.reset_at)}
            for iid, b in self._by_installation.items()
        }

    def __iter__(self) -> Iterator[int]:
        return iter(self._by_installation)
