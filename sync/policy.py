"""SyncPolicy: the pure decision engine behind every sync request.

`evaluate(state, trigger, now, config)` answers start / skip / block with a reason.
No I/O, no Django, no clock: the service builds `state` and passes `now` in, so every
rule is testable with plain values. Rules are checked in order; the first match wins
(SPEC §3)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from integrations.github.limits import RESET_CAP, cap_wait
from sync.wording import plural


class Action(StrEnum):
    START = "start"
    SKIP = "skip"
    BLOCK = "block"


class Reason(StrEnum):
    INSTALLATION_INACTIVE = "installation_inactive"
    NO_OWNER = "no_owner"
    NO_REPOSITORIES = "no_repositories"
    ALREADY_SYNCING = "already_syncing"
    COOLDOWN_ACTIVE = "cooldown_active"
    NOT_DUE = "not_due"
    RATE_LIMITED = "rate_limited"
    BUDGET_RESERVED = "budget_reserved"
    READY = "ready"


class Resource(StrEnum):
    """GitHub's rate-limit buckets a sync spends from (`x-ratelimit-resource`)."""

    CORE = "core"  # REST requests
    GRAPHQL = "graphql"  # GraphQL points


class Trigger(StrEnum):
    MANUAL = "manual"
    ADMIN = "admin"
    WEBHOOK = "webhook"
    CRON = "cron"
    MAINTENANCE = "maintenance"


# Who may let a cron job paused at the reserve spend it: a person asking for a sync.
RESERVE_RELEASERS = frozenset({Trigger.MANUAL, Trigger.ADMIN})

DEFAULT_RATE_LIMIT = 5000
BLOCKED_UNTIL_CAP = RESET_CAP  # one rule with the client's (integrations.github.limits)


@dataclass(frozen=True)
class PolicyConfig:
    manual_cooldown_seconds: int = 3600
    stale_after_seconds: int = 172800
    cron_due_after_seconds: int = 3600
    maintenance_catchup_seconds: int = 86400
    error_retry_seconds: int = 3600
    min_budget: int = 100
    cron_reserve: int = 500
    backfill_days: int = 30
    overlap_seconds: int = 3600
    # SYNC_GRAPHQL `auto` or `on`: the sync spends GraphQL points as well as REST
    # requests, so both buckets must hold the requirement; `off`: REST only.
    spends_graphql: bool = True

    @classmethod
    def from_settings(cls, settings: Any) -> PolicyConfig:
        """Read the SYNC_* values from a settings object (Django's, or any other)."""
        return cls(
            manual_cooldown_seconds=settings.SYNC_MANUAL_COOLDOWN_SECONDS,
            stale_after_seconds=settings.SYNC_STALE_AFTER_SECONDS,
            cron_due_after_seconds=settings.SYNC_CRON_DUE_AFTER_SECONDS,
            maintenance_catchup_seconds=settings.SYNC_MAINTENANCE_CATCHUP_SECONDS,
            error_retry_seconds=settings.SYNC_ERROR_RETRY_SECONDS,
            min_budget=settings.SYNC_MIN_BUDGET,
            cron_reserve=settings.SYNC_CRON_RESERVE,
            backfill_days=settings.SYNC_BACKFILL_DAYS,
            overlap_seconds=settings.SYNC_OVERLAP_SECONDS,
            spends_graphql=settings.SYNC_GRAPHQL != "off",
        )


@dataclass(frozen=True)
class SyncState:
    """Everything the policy may look at, as plain values."""

    installation_status: str = "active"
    has_owner: bool = True
    active_repository_count: int = 1
    has_active_job: bool = False
    # The active job was started by cron and is paused at the cron reserve.
    active_job_paused_for_reserve: bool = False
    sync_status: str = "idle"
    last_synced_at: datetime | None = None
    last_manual_sync_at: datetime | None = None
    last_sync_error_at: datetime | None = None
    rate_limit_limit: int | None = None
    rate_limit_remaining: int | None = None
    rate_limit_reset_at: datetime | None = None
    graphql_limit: int | None = None
    graphql_remaining: int | None = None
    graphql_reset_at: datetime | None = None
    blocked_until: datetime | None = None

    def bucket(self, resource: Resource) -> Bucket:
        """One of GitHub's budgets as last recorded on the installation."""
        if resource == Resource.GRAPHQL:
            return Bucket(
                resource, self.graphql_limit, self.graphql_remaining, self.graphql_reset_at
            )
        return Bucket(
            resource, self.rate_limit_limit, self.rate_limit_remaining, self.rate_limit_reset_at
        )


@dataclass(frozen=True)
class Bucket:
    """One rate-limit bucket: what GitHub last reported of it (each value may be unknown)."""

    resource: Resource
    limit: int | None
    remaining: int | None
    reset_at: datetime | None

    def available(self, now: datetime) -> int:
        """The remaining budget; the full limit when unknown or when its window has
        reset, so a stored low number can never block forever."""
        full = self.limit or DEFAULT_RATE_LIMIT
        if self.remaining is None or self.reset_at is None or self.reset_at <= now:
            return full
        return self.remaining

    def reset_or_cap(self, now: datetime) -> datetime:
        """When a short bucket refills (a known reset in the future: `available` is below
        the limit only then), never more than 65 minutes ahead."""
        return cap_blocked_until(self.reset_at or now + BLOCKED_UNTIL_CAP, now)


@dataclass(frozen=True)
class SyncDecision:
    action: Action
    reason: Reason
    metadata: dict[str, Any] = field(default_factory=dict)
    job_id: int | None = None

    @property
    def started(self) -> bool:
        return self.action == Action.START

    def with_job(self, job_id: int) -> SyncDecision:
        return replace(self, job_id=job_id)

    def as_dict(self) -> dict[str, Any]:
        metadata = {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in self.metadata.items()
        }
        return {
            "action": str(self.action),
            "reason": str(self.reason),
            "message": user_message(self),
            "job_id": self.job_id,
            "metadata": metadata,
        }


def is_stale(state: SyncState, now: datetime, config: PolicyConfig) -> bool:
    """Never synced, or last synced more than `stale_after_seconds` ago."""
    if state.last_synced_at is None:
        return True
    return now - state.last_synced_at > timedelta(seconds=config.stale_after_seconds)


def available_budget(state: SyncState, now: datetime, resource: Resource = Resource.CORE) -> int:
    """The remaining budget of one bucket (REST unless told); the full limit when
    unknown or when its window has reset, so a stored low number never blocks forever."""
    return state.bucket(resource).available(now)


def spent_buckets(state: SyncState, config: PolicyConfig) -> tuple[Bucket, ...]:
    """The buckets a sync will spend from: REST always (tokens, repositories, what
    GraphQL can't serve), GraphQL too unless SYNC_GRAPHQL is off."""
    if config.spends_graphql:
        return (state.bucket(Resource.CORE), state.bucket(Resource.GRAPHQL))
    return (state.bucket(Resource.CORE),)


def _shortest(
    buckets: tuple[Bucket, ...], need: Callable[[Bucket], int], now: datetime
) -> Bucket | None:
    """Among the buckets holding less than they need, the one that refills last (the
    sync can run only once every bucket holds its requirement); None when all hold."""
    short = [bucket for bucket in buckets if bucket.available(now) < need(bucket)]
    if not short:
        return None
    return max(short, key=lambda bucket: bucket.reset_or_cap(now))


def required_budget(trigger: Trigger, config: PolicyConfig, limit: int | None = None) -> int:
    """The budget a sync needs: the minimum, plus the cron reserve for `cron`; capped
    at the limit (a GHES installation with a small limit starts on a full window)."""
    required = config.min_budget
    if trigger == Trigger.CRON:
        required += config.cron_reserve
    return min(required, limit or DEFAULT_RATE_LIMIT)


def budget_floor(*, keeps_reserve: bool, limit: int | None, config: PolicyConfig) -> int:
    """The budget a running job leaves for others in one bucket (`limit` is that
    bucket's, REST or GraphQL alike): it makes a request only while at
    least this much remains, the comparison of rules 9 and 9b, so a job the policy
    starts always makes progress. The strictest floor the limit can hold: the
    minimum plus the reserve for a job cron started, else the minimum; a limit too
    small for the minimum keeps nothing back and the job waits at GitHub's own limit."""
    full = limit or DEFAULT_RATE_LIMIT
    floors = [config.min_budget + config.cron_reserve] if keeps_reserve else []
    floors.append(config.min_budget)
    return next((floor for floor in floors if floor < full), 0)


def cap_blocked_until(blocked_until: datetime, now: datetime) -> datetime:
    """GitHub's windows are one hour: a pause is kept within now + 65 min, the same
    rule the client applies to a reset it reads (`integrations.github.limits`)."""
    return cap_wait(blocked_until, now)


def evaluate(
    state: SyncState, trigger: Trigger | str, now: datetime, config: PolicyConfig
) -> SyncDecision:
    trigger = Trigger(trigger)
    if state.installation_status != "active":
        return SyncDecision(
            Action.BLOCK,
            Reason.INSTALLATION_INACTIVE,
            {"installation_status": state.installation_status},
        )
    if not state.has_owner:
        return SyncDecision(Action.BLOCK, Reason.NO_OWNER)
    if state.active_repository_count <= 0:
        return SyncDecision(Action.BLOCK, Reason.NO_REPOSITORIES)
    # "Sync now" on a cron job paused at the reserve lets it spend down to the minimum.
    resuming = state.active_job_paused_for_reserve and trigger in RESERVE_RELEASERS
    if state.has_active_job and not resuming:
        return SyncDecision(Action.SKIP, Reason.ALREADY_SYNCING)

    stale = is_stale(state, now, config)
    if trigger == Trigger.MANUAL and state.last_manual_sync_at is not None and not stale:
        ready_at = state.last_manual_sync_at + timedelta(seconds=config.manual_cooldown_seconds)
        if now < ready_at:
            remaining_ms = math.ceil((ready_at - now).total_seconds() * 1000)
            return SyncDecision(Action.SKIP, Reason.COOLDOWN_ACTIVE, {"cooldown_ms": remaining_ms})

    if trigger == Trigger.CRON and state.last_synced_at is not None:
        next_due_at = state.last_synced_at + timedelta(seconds=config.cron_due_after_seconds)
        if next_due_at > now:
            return SyncDecision(Action.SKIP, Reason.NOT_DUE, {"next_due_at": next_due_at})

    if trigger == Trigger.MAINTENANCE and not _maintenance_due(state, now, config):
        return SyncDecision(Action.SKIP, Reason.NOT_DUE)

    # The paused job's own pause is not GitHub refusing: rule 8 is for refusals.
    if not resuming and state.blocked_until is not None and state.blocked_until > now:
        return SyncDecision(
            Action.BLOCK,
            Reason.RATE_LIMITED,
            {"blocked_until": cap_blocked_until(state.blocked_until, now)},
        )

    # Rules 9 and 9b hold for each bucket the sync spends from; a short one waits for
    # its own reset (the later one when both are short).
    buckets = spent_buckets(state, config)
    short = _shortest(buckets, lambda b: required_budget(Trigger.ADMIN, config, b.limit), now)
    if short is not None:
        return SyncDecision(
            Action.BLOCK,
            Reason.RATE_LIMITED,
            {
                "blocked_until": short.reset_or_cap(now),
                "required_budget": required_budget(trigger, config, short.limit),
                "available_budget": short.available(now),
                "budget_resource": str(short.resource),
            },
        )
    if trigger == Trigger.CRON:
        short = _shortest(buckets, lambda b: required_budget(trigger, config, b.limit), now)
        if short is not None:
            return SyncDecision(
                Action.SKIP,
                Reason.BUDGET_RESERVED,
                {
                    "next_due_at": short.reset_or_cap(now),
                    "required_budget": required_budget(trigger, config, short.limit),
                    "available_budget": short.available(now),
                    "budget_resource": str(short.resource),
                },
            )
    return SyncDecision(Action.START, Reason.READY)


def _maintenance_due(state: SyncState, now: datetime, config: PolicyConfig) -> bool:
    """Maintenance catches up installations that went unsynced for a day, and retries
    those that have been in error for longer than the retry delay."""
    if state.last_synced_at is None:
        return True
    if now - state.last_synced_at > timedelta(seconds=config.maintenance_catchup_seconds):
        return True
    if state.sync_status == "error":
        errored_at = state.last_sync_error_at
        if errored_at is None:
            return True
        return now - errored_at > timedelta(seconds=config.error_retry_seconds)
    return False


@dataclass(frozen=True)
class DueBounds:
    """Which installations a periodic trigger can start, as bounds a query can test: an
    installation never synced, or last synced at or before `synced_by`, or (maintenance)
    in error since at or before `errored_by` (since ever, when its error time is
    unknown). Whatever `evaluate` starts for the trigger lies within them; what lies
    within them is still `evaluate`'s to decide. Rules 5 (cron not due) and 6
    (maintenance not due) read them the same way."""

    synced_by: datetime
    errored_by: datetime | None = None


def periodic_due_bounds(trigger: Trigger | str, now: datetime, config: PolicyConfig) -> DueBounds:
    """The bounds of a `cron` or `maintenance` request at `now` (see DueBounds)."""
    trigger = Trigger(trigger)
    if trigger == Trigger.CRON:
        return DueBounds(synced_by=now - timedelta(seconds=config.cron_due_after_seconds))
    if trigger == Trigger.MAINTENANCE:
        return DueBounds(
            synced_by=now - timedelta(seconds=config.maintenance_catchup_seconds),
            errored_by=now - timedelta(seconds=config.error_retry_seconds),
        )
    raise ValueError(f"{trigger} is not a periodic trigger")


def sync_window(
    last_synced_at: datetime | None, now: datetime, full: bool, config: PolicyConfig | None = None
) -> datetime:
    """The `since` of a new job: a full backfill window, or the last sync minus overlap."""
    config = config or PolicyConfig()
    if full or last_synced_at is None:
        return now - timedelta(days=config.backfill_days)
    return last_synced_at - timedelta(seconds=config.overlap_seconds)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment


def inactive_message(installation_status: str) -> str:
    """Why an installation that is not active does not sync."""
    if installation_status == "deleted":
        return "This installation was removed from GitHub"
    return "This installation is suspended"


def user_message(decision: SyncDecision) -> str:
    """One plain sentence for a person."""
    reason = decision.reason
    meta = decision.metadata
    if decision.action == Action.START:
        return "Sync started"
    if reason == Reason.ALREADY_SYNCING:
        return "Sync already in progress"
    if reason == Reason.COOLDOWN_ACTIVE:
        minutes = max(1, math.ceil(int(meta.get("cooldown_ms", 0)) / 60000))
        return f"Please wait {plural(minutes, 'minute')} before syncing again"
    if reason == Reason.RATE_LIMITED:
        blocked_until = meta.get("blocked_until")
        if isinstance(blocked_until, datetime):
            return f"GitHub rate limit reached. Sync resumes at {_utc(blocked_until):%H:%M} UTC."
        return "GitHub rate limit reached. Sync will resume automatically."
    if reason == Reason.NO_REPOSITORIES:
        return "No repositories selected for sync"
    if reason == Reason.INSTALLATION_INACTIVE:
        return inactive_message(str(meta.get("installation_status", "")))
    if reason == Reason.NO_OWNER:
        return "This installation has no owner yet"
    if reason == Reason.BUDGET_RESERVED:
        next_due_at = meta.get("next_due_at")
        when = f" at {_utc(next_due_at):%H:%M} UTC" if isinstance(next_due_at, datetime) else ""
        return f"GitHub budget kept for people and webhooks. Next automatic sync{when}."
    if reason == Reason.NOT_DUE:
        next_due_at = meta.get("next_due_at")
        if isinstance(next_due_at, datetime):
            return f"Synced recently. Next automatic sync at {_utc(next_due_at):%H:%M} UTC."
        return "Synced recently. Nothing to do yet."
    return "Sync not started"
