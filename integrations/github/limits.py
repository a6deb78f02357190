"""GitHub's rate-limit windows as pure values: no I/O, no Django, no HTTP.

Shared by the client (a reset read from headers) and the sync policy (a stored
`blocked_until`), so both cap a wait with the same rule."""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["RESET_CAP", "cap_wait"]

# GitHub's windows are one hour; five minutes of slack for clocks and retry-after.
RESET_CAP = timedelta(minutes=65)


def cap_wait(until: datetime, now: datetime) -> datetime:
    """`until` kept within [now, now + 65 min]: a reset in the past is now, and one
    beyond the cap is a clock or seconds-vs-milliseconds bug."""
    return min(max(until, now), now + RESET_CAP)
