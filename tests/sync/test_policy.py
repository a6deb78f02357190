"""The pure SyncPolicy: every rule, every boundary, the rule order. No database, no
mocks: plain values in, a decision out."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.policy import (
    Action,
    DueBounds,
    PolicyConfig,
    Reason,
    Resource,
    SyncDecision,
    SyncState,
    Trigger,
    available_budget,
    budget_floor,
    evaluate,
    periodic_due_bounds,
    sync_window,
    user_message,
)

NOW = datetime(2026, 11, 29, 14, 0, 0, tzinfo=UTC)
CONFIG = PolicyConfig()
SECOND = timedelta(seconds=1)
RECENT = NOW - timedelta(minutes=10)  # synced recently: not stale, not due
HEALTHY = SyncState(last_synced_at=RECENT)


def decide(state: SyncState, trigger: str = "admin", now: datetime = NOW) -> SyncDecision:
    return evaluate(state, trigger, now, CONFIG)


def test_policy_module_imports_with_no_django_settings() -> None:
    code = (
        "import sys, sync.policy as p;"
        "assert 'django' not in sys.modules, 'policy imported django';"
        "print(p.evaluate(p.SyncState(), 'admin', __import__('datetime').datetime.now("
        "__import__('datetime').UTC), p.PolicyConfig()).action)"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "start"


@pytest.mark.parametrize("status", ["suspended", "deleted"])
def test_inactive_installation_is_blocked(status: str) -> None:
    decision = decide(replace(HEALTHY, installation_status=status))
    assert (decision.action, decision.reason) == (Action.BLOCK, Reason.INSTALLATION_INACTIVE)


def test_installation_without_owner_is_blocked() -> None:
    decision = decide(replace(HEALTHY, has_owner=False))
    assert (decision.action, decision.reason) == (Action.BLOCK, Reason.NO_OWNER)


def test_installation_without_repositories_is_blocked() -> None:
    decision = decide(replace(HEALTHY, active_repository_count=0))
    assert (decision.action, decision.reason) == (Action.BLOCK, Reason.NO_REPOSITORIES)


@pytest.mark.parametrize("trigger", list(Trigger))
def test_active_job_means_already_syncing_for_every_trigger(trigger: Trigger) -> None:
    decision = decide(replace(HEALTHY, has_active_job=True), trigger)
    assert (decision.action, decision.reason) == (Action.SKIP, Reason.ALREADY_SYNCING)


@pytest.mark.parametrize(
    ("manual_ago", "expected"),
    [
        (timedelta(seconds=3600) - SECOND, Reason.COOLDOWN_ACTIVE),
        (timedelta(seconds=3600), Reason.READY),
        (timedelta(seconds=3600) + SECOND, Reason.READY),
    ],
)
def test_manual_cooldown_boundaries(manual_ago: timedelta, expected: Reason) -> None:
    state = replace(HEALTHY, last_manual_sync_at=NOW - manual_ago)
    assert decide(state, "manual").reason == expected


def test_manual_sync_is_skipped_during_cooldown_with_remaining_ms() -> None:
    state = replace(HEALTHY, last_manual_sync_at=NOW - timedelta(minutes=45))
    decision = decide(state, "manual")
    assert decision.action == Action.SKIP
    assert decision.metadata == {"cooldown_ms": 15 * 60 * 1000}
    assert user_message(decision) == "Please wait 15 minutes before syncing again"


@pytest.mark.parametrize("trigger", ["admin", "webhook"])
def test_cooldown_applies_only_to_manual(trigger: str) -> None:
    state = replace(HEALTHY, last_manual_sync_at=NOW - timedelta(minutes=1))
    assert decide(state, trigger).action == Action.START


@pytest.mark.parametrize(
    ("synced_ago", "expected"),
    [
        (timedelta(seconds=172800) - SECOND, Reason.COOLDOWN_ACTIVE),
        (timedelta(seconds=172800), Reason.COOLDOWN_ACTIVE),
        (timedelta(seconds=172800) + SECOND, Reason.READY),
    ],
)
def test_stale_installation_bypasses_manual_cooldown(
    synced_ago: timedelta, expected: Reason
) -> None:
    state = SyncState(
        last_synced_at=NOW - synced_ago, last_manual_sync_at=NOW - timedelta(minutes=1)
    )
    assert decide(state, "manual").reason == expected


def test_never_synced_bypasses_manual_cooldown() -> None:
    state = SyncState(last_synced_at=None, last_manual_sync_at=NOW - timedelta(minutes=1))
    assert decide(state, "manual").action == Action.START


@pytest.mark.parametrize(
    ("synced_ago", "expected"),
    [
        (timedelta(seconds=3600) - SECOND, Reason.NOT_DUE),
        (timedelta(seconds=3600), Reason.READY),
        (timedelta(seconds=3600) + SECOND, Reason.READY),
    ],
)
def test_cron_due_boundaries(synced_ago: timedelta, expected: Reason) -> None:
    assert decide(SyncState(last_synced_at=NOW - synced_ago), "cron").reason == expected


def test_cron_not_due_reports_next_due_at() -> None:
    decision = decide(SyncState(last_synced_at=NOW - timedelta(minutes=20)), "cron")
    assert decision.metadata == {"next_due_at": NOW + timedelta(minutes=40)}


def test_cron_starts_when_never_synced() -> None:
    assert decide(SyncState(), "cron").action == Action.START


@pytest.mark.parametrize(
    ("synced_ago", "expected"),
    [
        (timedelta(seconds=86400) - SECOND, Reason.NOT_DUE),
        (timedelta(seconds=86400), Reason.NOT_DUE),
        (timedelta(seconds=86400) + SECOND, Reason.READY),
    ],
)
def test_maintenance_catch_up_boundaries(synced_ago: timedelta, expected: Reason) -> None:
    assert decide(SyncState(last_synced_at=NOW - synced_ago), "maintenance").reason == expected


@pytest.mark.parametrize(
    ("errored_ago", "expected"),
    [
        (timedelta(seconds=3600) - SECOND, Reason.NOT_DUE),
        (timedelta(seconds=3600), Reason.NOT_DUE),
        (timedelta(seconds=3600) + SECOND, Reason.READY),
    ],
)
def test_maintenance_retries_errored_installation_after_delay(
    errored_ago: timedelta, expected: Reason
) -> None:
    state = replace(HEALTHY, sync_status="error", last_sync_error_at=NOW - errored_ago)
    assert decide(state, "maintenance").reason == expected


def test_maintenance_starts_never_synced_installation() -> None:
    assert decide(SyncState(), "maintenance").action == Action.START


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(-SECOND, Reason.READY), (timedelta(0), Reason.READY), (SECOND, Reason.RATE_LIMITED)],
)
def test_blocked_until_boundaries(offset: timedelta, expected: Reason) -> None:
    assert decide(replace(HEALTHY, blocked_until=NOW + offset)).reason == expected


def test_blocked_until_is_capped_at_65_minutes() -> None:
    decision = decide(replace(HEALTHY, blocked_until=NOW + timedelta(days=20_000)))
    assert decision.action == Action.BLOCK
    assert decision.metadata["blocked_until"] == NOW + timedelta(minutes=65)


def budget_state(remaining: int, reset_in: timedelta = timedelta(minutes=30)) -> SyncState:
    return replace(
        HEALTHY,
        rate_limit_limit=5000,
        rate_limit_remaining=remaining,
        rate_limit_reset_at=NOW + reset_in,
    )


@pytest.mark.parametrize(
    ("trigger", "remaining", "expected"),
    [
        ("admin", 99, Reason.RATE_LIMITED),
        ("admin", 100, Reason.READY),
        ("admin", 101, Reason.READY),
        ("webhook", 99, Reason.RATE_LIMITED),
        ("manual", 100, Reason.READY),
        ("cron", 99, Reason.RATE_LIMITED),
        ("cron", 100, Reason.BUDGET_RESERVED),
        ("cron", 599, Reason.BUDGET_RESERVED),
        ("cron", 600, Reason.READY),
        ("cron", 601, Reason.READY),
    ],
)
def test_budget_boundaries(trigger: str, remaining: int, expected: Reason) -> None:
    state = replace(budget_state(remaining), last_synced_at=NOW - timedelta(days=1))
    assert decide(state, trigger).reason == expected


def test_budget_block_reports_reset_and_budgets() -> None:
    state = replace(budget_state(50), last_synced_at=NOW - timedelta(days=1))
    decision = decide(state, "cron")
    assert decision.action == Action.BLOCK
    assert decision.metadata == {
        "blocked_until": NOW + timedelta(minutes=30),
        "required_budget": 600,
        "available_budget": 50,
        "budget_resource": "core",
    }
    assert user_message(decision) == "GitHub rate limit reached. Sync resumes at 14:30 UTC."


def test_a_cron_request_refused_for_the_reserve_is_a_skip_until_the_reset() -> None:
    state = replace(budget_state(550), last_synced_at=NOW - timedelta(days=1))
    decision = decide(state, "cron")
    assert (decision.action, decision.reason) == (Action.SKIP, Reason.BUDGET_RESERVED)
    assert decision.metadata == {
        "next_due_at": NOW + timedelta(minutes=30),
        "required_budget": 600,
        "available_budget": 550,
        "budget_resource": "core",
    }
    assert user_message(decision) == (
        "GitHub budget kept for people and webhooks. Next automatic sync at 14:30 UTC."
    )
    # A person or a webhook may still start a sync on that budget.
    for trigger in ("manual", "admin", "webhook"):
        assert decide(state, trigger).started, trigger


@pytest.mark.parametrize(
    ("limit", "remaining", "trigger", "expected"),
    [
        (60, 60, "admin", Reason.READY),  # a full small window is enough
        (60, 60, "cron", Reason.READY),
        (60, 59, "admin", Reason.RATE_LIMITED),
        (550, 550, "cron", Reason.READY),
        (550, 549, "cron", Reason.BUDGET_RESERVED),
    ],
)
def test_a_limit_below_the_requirement_never_crashes_the_policy(
    limit: int, remaining: int, trigger: str, expected: Reason
) -> None:
    state = replace(
        budget_state(remaining),
        rate_limit_limit=limit,
        last_synced_at=NOW - timedelta(days=1),
    )
    assert decide(state, trigger).reason == expected


def test_a_limit_below_the_requirement_with_no_known_reset_never_crashes() -> None:
    state = replace(HEALTHY, rate_limit_limit=60, rate_limit_remaining=10, rate_limit_reset_at=None)
    assert decide(state).started  # unknown reset: the stored number is not trusted


PAUSED_CRON_JOB = replace(
    budget_state(400),
    has_active_job=True,
    active_job_paused_for_reserve=True,
    blocked_until=NOW + timedelta(minutes=30),  # the job's own pause, on the installation
    last_synced_at=NOW - timedelta(days=1),
)


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        ("manual", Reason.READY),
        ("admin", Reason.READY),
        ("webhook", Reason.ALREADY_SYNCING),
        ("cron", Reason.ALREADY_SYNCING),
        ("maintenance", Reason.ALREADY_SYNCING),
    ],
)
def test_sync_now_on_a_cron_job_paused_at_the_reserve_lets_it_resume(
    trigger: str, expected: Reason
) -> None:
    assert decide(PAUSED_CRON_JOB, trigger).reason == expected


def test_sync_now_on_a_paused_cron_job_still_needs_the_minimum_and_the_cooldown() -> None:
    below_minimum = replace(PAUSED_CRON_JOB, rate_limit_remaining=99)
    assert decide(below_minimum, "manual").reason == Reason.RATE_LIMITED
    cooling = replace(PAUSED_CRON_JOB, last_manual_sync_at=NOW - timedelta(minutes=5))
    assert decide(cooling, "manual").reason == Reason.COOLDOWN_ACTIVE
    not_paused = replace(PAUSED_CRON_JOB, active_job_paused_for_reserve=False)
    assert decide(not_paused, "manual").reason == Reason.ALREADY_SYNCING


@pytest.mark.parametrize(
    ("keeps_reserve", "limit", "expected"),
    [
        (False, 5000, 100),
        (True, 5000, 600),
        (True, 600, 100),  # the limit cannot hold the reserve: the minimum still
        (True, 601, 600),
        (False, 100, 0),  # nor the minimum: nothing is kept back
        (False, None, 100),
    ],
)
def test_budget_floor_is_the_strictest_rule_the_limit_can_hold(
    keeps_reserve: bool, limit: int | None, expected: int
) -> None:
    assert budget_floor(keeps_reserve=keeps_reserve, limit=limit, config=CONFIG) == expected


def test_budget_block_caps_a_far_future_reset() -> None:
    decision = decide(budget_state(5, reset_in=timedelta(hours=400)))
    assert decision.metadata["blocked_until"] == NOW + timedelta(minutes=65)


@pytest.mark.parametrize(
    ("reset_offset", "expected"),
    [(-SECOND, Reason.READY), (timedelta(0), Reason.READY), (SECOND, Reason.RATE_LIMITED)],
)
def test_low_budget_whose_reset_has_passed_counts_as_full(
    reset_offset: timedelta, expected: Reason
) -> None:
    state = replace(HEALTHY, rate_limit_remaining=0, rate_limit_reset_at=NOW + reset_offset)
    assert decide(state).reason == expected


def test_unknown_budget_counts_as_full() -> None:
    assert decide(replace(HEALTHY, rate_limit_remaining=None, rate_limit_reset_at=None)).started


# --- the GraphQL bucket: rules 9 and 9b hold for each bucket the sync spends from --------

REST_ONLY = replace(CONFIG, spends_graphql=False)


def graphql_state(
    remaining: int, reset_in: timedelta = timedelta(minutes=40), limit: int | None = 5000
) -> SyncState:
    """REST's bucket full, GraphQL's as given; last synced long enough ago that every
    trigger, maintenance included, reaches the budget rules."""
    return replace(
        budget_state(5000, reset_in=timedelta(minutes=30)),
        graphql_limit=limit,
        graphql_remaining=remaining,
        graphql_reset_at=NOW + reset_in,
        last_synced_at=NOW - timedelta(days=3),
    )


@pytest.mark.parametrize(
    ("trigger", "remaining", "expected"),
    [
        ("admin", 99, Reason.RATE_LIMITED),
        ("admin", 100, Reason.READY),
        ("admin", 101, Reason.READY),
        ("webhook", 99, Reason.RATE_LIMITED),
        ("webhook", 100, Reason.READY),
        ("manual", 99, Reason.RATE_LIMITED),
        ("manual", 100, Reason.READY),
        ("maintenance", 99, Reason.RATE_LIMITED),
        ("maintenance", 100, Reason.READY),
        ("cron", 99, Reason.RATE_LIMITED),
        ("cron", 100, Reason.BUDGET_RESERVED),
        ("cron", 599, Reason.BUDGET_RESERVED),
        ("cron", 600, Reason.READY),
        ("cron", 601, Reason.READY),
    ],
)
def test_graphql_budget_boundaries(trigger: str, remaining: int, expected: Reason) -> None:
    assert decide(graphql_state(remaining), trigger).reason == expected


@pytest.mark.parametrize("trigger", ["admin", "manual", "webhook", "cron", "maintenance"])
@pytest.mark.parametrize("remaining", [0, 99, 599])
def test_with_sync_graphql_off_the_graphql_bucket_never_blocks(
    trigger: str, remaining: int
) -> None:
    assert evaluate(graphql_state(remaining), trigger, NOW, REST_ONLY).started


def test_with_sync_graphql_off_the_rest_bucket_still_blocks() -> None:
    state = replace(graphql_state(5000), rate_limit_remaining=99)
    decision = evaluate(state, "admin", NOW, REST_ONLY)
    assert decision.reason == Reason.RATE_LIMITED
    assert decision.metadata["budget_resource"] == "core"


def test_a_short_graphql_bucket_blocks_until_its_own_reset() -> None:
    decision = decide(graphql_state(42, reset_in=timedelta(minutes=40)), "webhook")
    assert decision.action == Action.BLOCK
    assert decision.metadata == {
        "blocked_until": NOW + timedelta(minutes=40),  # GraphQL's reset, not REST's (30)
        "required_budget": 100,
        "available_budget": 42,
        "budget_resource": "graphql",
    }
    assert user_message(decision) == "GitHub rate limit reached. Sync resumes at 14:40 UTC."


@pytest.mark.parametrize(
    ("rest_reset_in", "graphql_reset_in", "resource", "available"),
    [
        (timedelta(minutes=10), timedelta(minutes=40), "graphql", 20),
        (timedelta(minutes=50), timedelta(minutes=40), "core", 30),
        (timedelta(minutes=40), timedelta(minutes=40), "core", 30),  # a tie: either is right
    ],
)
def test_both_buckets_short_block_until_the_later_reset(
    rest_reset_in: timedelta, graphql_reset_in: timedelta, resource: str, available: int
) -> None:
    state = replace(
        graphql_state(20, reset_in=graphql_reset_in),
        rate_limit_remaining=30,
        rate_limit_reset_at=NOW + rest_reset_in,
    )
    decision = decide(state)
    assert decision.reason == Reason.RATE_LIMITED
    assert decision.metadata["blocked_until"] == NOW + max(rest_reset_in, graphql_reset_in)
    assert decision.metadata["budget_resource"] == resource
    assert decision.metadata["available_budget"] == available


def test_a_graphql_bucket_below_the_minimum_blocks_before_rest_below_the_reserve_skips() -> None:
    # Rule 9 (any bucket below the minimum) comes before rule 9b (any below the reserve).
    state = replace(
        graphql_state(50, reset_in=timedelta(minutes=20)),
        rate_limit_remaining=300,
        rate_limit_reset_at=NOW + timedelta(minutes=50),
    )
    decision = decide(state, "cron")
    assert (decision.action, decision.reason) == (Action.BLOCK, Reason.RATE_LIMITED)
    assert decision.metadata == {
        "blocked_until": NOW + timedelta(minutes=20),
        "required_budget": 600,
        "available_budget": 50,
        "budget_resource": "graphql",
    }


def test_a_cron_request_refused_for_the_graphql_reserve_is_a_skip_until_its_reset() -> None:
    decision = decide(graphql_state(550, reset_in=timedelta(minutes=45)), "cron")
    assert (decision.action, decision.reason) == (Action.SKIP, Reason.BUDGET_RESERVED)
    assert decision.metadata == {
        "next_due_at": NOW + timedelta(minutes=45),
        "required_budget": 600,
        "available_budget": 550,
        "budget_resource": "graphql",
    }
    for trigger in ("manual", "admin", "webhook"):
        assert decide(graphql_state(550), trigger).started, trigger


def test_both_buckets_below_the_reserve_skip_until_the_later_reset() -> None:
    state = replace(
        graphql_state(500, reset_in=timedelta(minutes=15)),
        rate_limit_remaining=400,
        rate_limit_reset_at=NOW + timedelta(minutes=55),
    )
    decision = decide(state, "cron")
    assert decision.reason == Reason.BUDGET_RESERVED
    assert decision.metadata["next_due_at"] == NOW + timedelta(minutes=55)
    assert decision.metadata["budget_resource"] == "core"
    assert decision.metadata["available_budget"] == 400


@pytest.mark.parametrize(
    ("reset_offset", "expected"),
    [(-SECOND, Reason.READY), (timedelta(0), Reason.READY), (SECOND, Reason.RATE_LIMITED)],
)
def test_low_graphql_budget_whose_reset_has_passed_counts_as_full(
    reset_offset: timedelta, expected: Reason
) -> None:
    state = replace(HEALTHY, graphql_remaining=0, graphql_reset_at=NOW + reset_offset)
    assert decide(state).reason == expected


@pytest.mark.parametrize(
    ("remaining", "reset_in"),
    [(None, None), (0, None), (None, timedelta(minutes=5))],
)
def test_unknown_graphql_budget_counts_as_full(
    remaining: int | None, reset_in: timedelta | None
) -> None:
    state = replace(
        graphql_state(0),
        graphql_remaining=remaining,
        graphql_reset_at=NOW + reset_in if reset_in is not None else None,
    )
    assert decide(state, "cron").started
    assert available_budget(state, NOW, Resource.GRAPHQL) == 5000


@pytest.mark.parametrize(
    ("limit", "remaining", "trigger", "expected"),
    [
        (60, 60, "admin", Reason.READY),  # a full small window is enough
        (60, 60, "cron", Reason.READY),
        (60, 59, "admin", Reason.RATE_LIMITED),
        (550, 550, "cron", Reason.READY),
        (550, 549, "cron", Reason.BUDGET_RESERVED),
        (None, 100, "admin", Reason.READY),  # an unknown limit is GitHub's 5,000
        (None, 99, "admin", Reason.RATE_LIMITED),
    ],
)
def test_a_graphql_limit_below_the_requirement_caps_it(
    limit: int | None, remaining: int, trigger: str, expected: Reason
) -> None:
    assert decide(graphql_state(remaining, limit=limit), trigger).reason == expected


def test_a_graphql_block_caps_a_far_future_reset() -> None:
    decision = decide(graphql_state(5, reset_in=timedelta(hours=400)))
    assert decision.metadata["blocked_until"] == NOW + timedelta(minutes=65)


def test_each_bucket_is_read_on_its_own() -> None:
    state = replace(graphql_state(1234), rate_limit_remaining=4321)
    assert available_budget(state, NOW) == 4321
    assert available_budget(state, NOW, Resource.CORE) == 4321
    assert available_budget(state, NOW, Resource.GRAPHQL) == 1234


def test_sync_now_on_a_paused_cron_job_needs_the_graphql_minimum_too() -> None:
    paused = replace(PAUSED_CRON_JOB, graphql_remaining=400, graphql_reset_at=NOW + SECOND)
    assert decide(paused, "manual").reason == Reason.READY
    short = replace(paused, graphql_remaining=99)
    assert decide(short, "manual").reason == Reason.RATE_LIMITED


# --- rule order: when several rules match, the earlier one wins -----------------------

EVERYTHING_WRONG = SyncState(
    installation_status="suspended",
    has_owner=False,
    active_repository_count=0,
    has_active_job=True,
    last_synced_at=RECENT,
    last_manual_sync_at=NOW - timedelta(minutes=1),
    blocked_until=NOW + timedelta(minutes=5),
    rate_limit_remaining=0,
    rate_limit_reset_at=NOW + timedelta(minutes=5),
)


@pytest.mark.parametrize(
    ("fixed", "trigger", "expected"),
    [
        ({}, "manual", Reason.INSTALLATION_INACTIVE),
        ({"installation_status": "active"}, "manual", Reason.NO_OWNER),
        ({"installation_status": "active", "has_owner": True}, "manual", Reason.NO_REPOSITORIES),
        (
            {"installation_status": "active", "has_owner": True, "active_repository_count": 3},
            "manual",
            Reason.ALREADY_SYNCING,
        ),
        (
            {
                "installation_status": "active",
                "has_owner": True,
                "active_repository_count": 3,
                "has_active_job": False,
            },
            "manual",
            Reason.COOLDOWN_ACTIVE,
        ),
        (
            {
                "installation_status": "active",
                "has_owner": True,
                "active_repository_count": 3,
                "has_active_job": False,
            },
            "cron",
            Reason.NOT_DUE,
        ),
        (
            {
                "installation_status": "active",
                "has_owner": True,
                "active_repository_count": 3,
                "has_active_job": False,
            },
            "maintenance",
            Reason.NOT_DUE,
        ),
        (
            {
                "installation_status": "active",
                "has_owner": True,
                "active_repository_count": 3,
                "has_active_job": False,
            },
            "admin",
            Reason.RATE_LIMITED,
        ),
        (
            {
                "installation_status": "active",
                "has_owner": True,
                "active_repository_count": 3,
                "has_active_job": False,
                "blocked_until": None,
            },
            "admin",
            Reason.RATE_LIMITED,
        ),
    ],
)
def test_rule_order(fixed: dict, trigger: str, expected: Reason) -> None:
    assert decide(replace(EVERYTHING_WRONG, **fixed), trigger).reason == expected


def test_rate_limit_from_blocked_until_precedes_budget_rule() -> None:
    state = replace(
        HEALTHY,
        blocked_until=NOW + timedelta(minutes=3),
        rate_limit_remaining=0,
        rate_limit_reset_at=NOW + timedelta(minutes=50),
    )
    decision = decide(state)
    assert decision.metadata == {"blocked_until": NOW + timedelta(minutes=3)}


def test_healthy_state_starts() -> None:
    decision = decide(HEALTHY)
    assert (decision.action, decision.reason) == (Action.START, Reason.READY)
    assert user_message(decision) == "Sync started"


def test_config_constants_change_the_rules() -> None:
    config = PolicyConfig(manual_cooldown_seconds=60, cron_due_after_seconds=30)
    state = replace(HEALTHY, last_manual_sync_at=NOW - timedelta(seconds=61))
    assert evaluate(state, "manual", NOW, config).started
    assert evaluate(
        SyncState(last_synced_at=NOW - timedelta(seconds=31)), "cron", NOW, config
    ).started


def test_config_reads_every_sync_setting() -> None:
    class Settings:
        SYNC_MANUAL_COOLDOWN_SECONDS = 1
        SYNC_STALE_AFTER_SECONDS = 2
        SYNC_CRON_DUE_AFTER_SECONDS = 3
        SYNC_MAINTENANCE_CATCHUP_SECONDS = 4
        SYNC_ERROR_RETRY_SECONDS = 5
        SYNC_MIN_BUDGET = 6
        SYNC_CRON_RESERVE = 7
        SYNC_BACKFILL_DAYS = 8
        SYNC_OVERLAP_SECONDS = 9
        SYNC_GRAPHQL = "off"

    assert PolicyConfig.from_settings(Settings) == PolicyConfig(1, 2, 3, 4, 5, 6, 7, 8, 9, False)


@pytest.mark.parametrize(("mode", "spends"), [("auto", True), ("on", True), ("off", False)])
def test_sync_graphql_decides_whether_the_graphql_bucket_is_spent(mode: str, spends: bool) -> None:
    class Settings:
        SYNC_MANUAL_COOLDOWN_SECONDS = SYNC_STALE_AFTER_SECONDS = 1
        SYNC_CRON_DUE_AFTER_SECONDS = SYNC_MAINTENANCE_CATCHUP_SECONDS = 1
        SYNC_ERROR_RETRY_SECONDS = SYNC_MIN_BUDGET = SYNC_CRON_RESERVE = 1
        SYNC_BACKFILL_DAYS = SYNC_OVERLAP_SECONDS = 1
        SYNC_GRAPHQL = mode

    assert PolicyConfig.from_settings(Settings).spends_graphql is spends


# --- sync_window ---------------------------------------------------------------------


def test_sync_window_backfills_30_days_when_never_synced() -> None:
    assert sync_window(None, NOW, False) == NOW - timedelta(days=30)


def test_sync_window_full_ignores_last_sync() -> None:
    assert sync_window(RECENT, NOW, True) == NOW - timedelta(days=30)


def test_sync_window_overlaps_one_hour_after_a_sync() -> None:
    assert sync_window(RECENT, NOW, False) == RECENT - timedelta(hours=1)


# --- user_message --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        (SyncDecision(Action.START, Reason.READY), "Sync started"),
        (SyncDecision(Action.SKIP, Reason.ALREADY_SYNCING), "Sync already in progress"),
        (
            SyncDecision(Action.SKIP, Reason.COOLDOWN_ACTIVE, {"cooldown_ms": 60_000}),
            "Please wait 1 minute before syncing again",
        ),
        (
            SyncDecision(Action.SKIP, Reason.COOLDOWN_ACTIVE, {"cooldown_ms": 1_500}),
            "Please wait 1 minute before syncing again",
        ),
        (
            SyncDecision(Action.SKIP, Reason.COOLDOWN_ACTIVE, {"cooldown_ms": 60_001}),
            "Please wait 2 minutes before syncing again",
        ),
        (
            SyncDecision(
                Action.BLOCK,
                Reason.RATE_LIMITED,
                {"blocked_until": datetime(2026, 1, 1, 14, 5, tzinfo=UTC)},
            ),
            "GitHub rate limit reached. Sync resumes at 14:05 UTC.",
        ),
        (SyncDecision(Action.BLOCK, Reason.NO_REPOSITORIES), "No repositories selected for sync"),
        (
            SyncDecision(
                Action.BLOCK, Reason.INSTALLATION_INACTIVE, {"installation_status": "suspended"}
            ),
            "This installation is suspended",
        ),
        (SyncDecision(Action.BLOCK, Reason.NO_OWNER), "This installation has no owner yet"),
    ],
)
def test_user_message(decision: SyncDecision, message: str) -> None:
    assert user_message(decision) == message


def _within(state: SyncState, bounds: DueBounds) -> bool:
    if state.last_synced_at is None or state.last_synced_at <= bounds.synced_by:
        return True
    if bounds.errored_by is None or state.sync_status != "error":
        return False
    return state.last_sync_error_at is None or state.last_sync_error_at <= bounds.errored_by


_MOMENTS = st.one_of(
    st.none(),
    st.integers(min_value=-3 * 86400, max_value=600).map(lambda s: NOW + timedelta(seconds=s)),
    st.sampled_from([NOW - timedelta(hours=1), NOW - timedelta(days=1)]),
)


@settings(max_examples=400, deadline=None)
@given(
    trigger=st.sampled_from([Trigger.CRON, Trigger.MAINTENANCE]),
    last_synced_at=_MOMENTS,
    last_sync_error_at=_MOMENTS,
    sync_status=st.sampled_from(["idle", "error", "blocked", "syncing"]),
    remaining=st.one_of(st.none(), st.integers(min_value=0, max_value=5000)),
)
def test_every_periodic_start_lies_within_the_due_bounds_a_pass_queries(
    trigger: Trigger,
    last_synced_at: datetime | None,
    last_sync_error_at: datetime | None,
    sync_status: str,
    remaining: int | None,
) -> None:
    state = SyncState(
        last_synced_at=last_synced_at,
        last_sync_error_at=last_sync_error_at,
        sync_status=sync_status,
        rate_limit_limit=5000,
        rate_limit_remaining=remaining,
        rate_limit_reset_at=NOW + timedelta(minutes=30),
    )
    decision = decide(state, trigger)
    if decision.action == Action.START or decision.reason == Reason.RATE_LIMITED:
        assert _within(state, periodic_due_bounds(trigger, NOW, CONFIG))
    if not _within(state, periodic_due_bounds(trigger, NOW, CONFIG)):
        assert decision.reason == Reason.NOT_DUE


def test_only_cron_and_maintenance_have_due_bounds() -> None:
    with pytest.raises(ValueError):
        periodic_due_bounds(Trigger.MANUAL, NOW, CONFIG)
