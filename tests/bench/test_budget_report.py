"""The bench's budget figures and issue 14's targets, computed from rows as `bench/run.py`
writes them (no bench run); and the scale scenario's sparse dataset."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from bench.report import budget_per_1000, render_table, targets
from simulator.dataset import generate, parse_busy


def test_budget_per_1000_events_adds_rest_requests_and_points_per_thousand_stored() -> None:
    assert budget_per_1000(1023, 0, 3875) == 264.0
    assert budget_per_1000(100, 50, 3000) == 50.0
    assert budget_per_1000(1, 2, 3) == 1000.0
    assert budget_per_1000(5, 5, 0) is None  # nothing stored: no figure, not a division error


def _row(scenario: str, tool: str, **figures: Any) -> dict[str, Any]:
    base = {
        "scenario": scenario,
        "tool": tool,
        "wall_s": 10.0,
        "requests": 0,
        "budget_spent": 0,
        "graphql_points": 0,
        "graphql_requests": 0,
        "records": 1000,
        "exit_status": 0,
        "invented": 0,
        "duplicated": 0,
        "all_kinds_missing": 0,
    }
    return {**base, **figures}


def _by_name(results: list[dict[str, Any]], **kw: Any) -> dict[str, dict[str, Any]]:
    """Targets by name; the no-change ones also by the name without their repository count."""
    out = {}
    for t in targets(results, latency_ms=50, **kw):
        out[t["target"]] = t
        out.setdefault(t["target"].split(", new token")[0], t)
    return out


def test_backfill_target_counts_rest_and_points_against_a_quarter_of_the_rest_minimum() -> None:
    met = _by_name([_row("backfill", "ghsync", requests=200, graphql_points=55, min_requests=1023)])
    target = met["backfill: ghsync REST requests + GraphQL points vs the REST minimum"]
    assert target["met"] is True  # 255 <= 255.75
    assert "255 / 1023" in target["actual"] and "under" in target["actual"]

    missed = _by_name(
        [_row("backfill", "ghsync", requests=200, graphql_points=56, min_requests=1023)]
    )
    target = missed["backfill: ghsync REST requests + GraphQL points vs the REST minimum"]
    assert target["met"] is False  # 256 > 255.75
    assert "0.25 over" in target["actual"]

    # Cheap but incomplete is not met.
    incomplete = _by_name(
        [_row("backfill", "ghsync", requests=10, min_requests=1023, all_kinds_missing=3)]
    )
    assert not incomplete["backfill: ghsync REST requests + GraphQL points vs the REST minimum"][
        "met"
    ]


def test_no_change_resync_allows_one_point_per_100_repositories_and_no_rest_budget() -> None:
    quiet = {"requests": 2, "budget_spent": 0, "graphql_points": 3, "wall_s": 1.0}
    row = _row("scale", "ghsync", resync=quiet)
    name = "scale: ghsync no-change resync"
    assert _by_name([row], repositories={"scale": 300})[name]["met"] is True
    assert _by_name([row], repositories={"scale": 250})[name]["met"] is True  # ceil(2.5) = 3
    assert _by_name([row], repositories={"scale": 200})[name]["met"] is False
    spent = {**quiet, "budget_spent": 1, "graphql_points": 0}
    assert (
        _by_name([_row("scale", "ghsync", resync=spent)], repositories={"scale": 300})[name]["met"]
        is False
    )
    # The next hour is judged on its own.
    row["resync_again"] = {**quiet, "graphql_points": 4}
    got = _by_name([row], repositories={"scale": 300})
    assert got[name]["met"] is True
    assert (
        got["scale: ghsync no-change resync, new token, 300 repositories (the next hour again)"][
            "met"
        ]
        is False
    )
    # The 10-repository second run: one point is the floor of any query, and allowed.
    second = _row("second_run", "ghsync", requests=2, graphql_points=1)
    got = _by_name([second], repositories={"backfill": 10})
    assert got["second_run: ghsync no-change resync, new token, 10 repositories"]["met"] is True


def test_latency_and_speed_targets_compare_ghsync_with_tap_github() -> None:
    results = [
        _row("backfill_50ms", "ghsync", wall_s=25.0),
        _row("backfill_50ms", "tap-github", wall_s=50.0),
        _row("backfill", "ghsync", wall_s=2.0, records=4000),
        _row("backfill", "tap-github", wall_s=2.0, records=3900),
    ]
    got = _by_name(results)
    assert got["backfill at 50 ms per request: ghsync wall time vs tap-github's"]["met"] is True
    speed = got["records/s at zero latency, ghsync (database) vs tap-github (stdout)"]
    assert speed["met"] is False and "1.03 x" in speed["actual"]
    results[0]["wall_s"] = 25.5
    slow = _by_name(results)["backfill at 50 ms per request: ghsync wall time vs tap-github's"]
    assert slow["met"] is False and "over" in slow["actual"]


def test_scale_backfill_must_leave_the_cron_reserve_in_each_bucket() -> None:
    name = "scale: ghsync backfill within one hour's budgets, cron reserve untouched"
    fits = _row("scale", "ghsync", budget_spent=4500, graphql_points=120)
    assert _by_name([fits])[name]["met"] is True
    rest_over = _row("scale", "ghsync", budget_spent=4501, graphql_points=0)
    assert _by_name([rest_over])[name]["met"] is False
    points_over = _row("scale", "ghsync", budget_spent=0, graphql_points=4600)
    assert _by_name([points_over])[name]["met"] is False


def test_one_new_event_allows_the_change_check_and_one_read() -> None:
    name = "scale: one new event in one repository of 300, ghsync resync (new token)"
    new = {
        "requests": 2,  # the token mint and one page: budget 1
        "budget_spent": 1,
        "graphql_points": 3,
        "stored": True,
        "rest_by_endpoint": {"GET /repos/{owner}/{repo}/commits": 1},
        "graphql_connections": {},
    }
    row = _row("scale", "ghsync", one_new_event=new)
    got = _by_name([row], repositories={"scale": 300})[name]
    assert got["met"] is True and "GET /repos/{owner}/{repo}/commits x1" in got["actual"]
    row["one_new_event"] = {**new, "budget_spent": 2}
    assert _by_name([row], repositories={"scale": 300})[name]["met"] is False
    # What the REST path does today: every stream of every repository read again.
    row["one_new_event"] = {**new, "budget_spent": 1691, "graphql_points": 0}
    assert _by_name([row], repositories={"scale": 300})[name]["met"] is False
    row["one_new_event"] = {**new, "stored": False}
    assert _by_name([row], repositories={"scale": 300})[name]["met"] is False


def test_the_table_shows_budget_columns_and_the_scale_resync() -> None:
    resync = {"requests": 5, "budget_spent": 3, "graphql_points": 2, "wall_s": 1.5}
    report = {
        "dataset": {
            "size": "1x10x100",
            "seed": 1,
            "size_meaning": "i x r x e",
            "window_days": 30,
            "expected_events_four_kinds": 1,
            "expected_events_all_kinds": 1,
            "min_requests": 1,
        },
        "ghsync_backend": "x",
        "machine": {"cpus": 2},
        "scenarios": {"backfill": "1. backfill", "scale": "5. scale"},
        "results": [
            _row("backfill", "ghsync-rest", requests=1023, budget_per_1000_events=264.0),
            _row("scale", "githubkit", requests=77, graphql_points=0, resync=resync),
        ],
    }
    table = render_table(report)
    assert "| REST requests | REST budget | GraphQL points | budget / 1k events |" in table
    assert "| ghsync-rest | 10.00 | 1023 | 0 | 0 | 264.0 |" in table
    assert "resync REST requests" in table
    assert "| githubkit | 10.00 | 77 | 0 | 0 | - | 1000 | - | 5 | 3 | 2 | 1.50 | 0 |" in table


def test_the_sparse_dataset_has_a_few_busy_repositories_and_many_quiet_ones() -> None:
    ds = generate(1, "1x300x3", busy=(5, 60))
    repos = ds.repositories(1001)
    assert len(repos) == 300
    direct = [
        len([c for c in r.commits if c.on_default_branch and c.pr_number is None and not c.made_by])
        for r in repos
    ]
    assert direct[:5] == [60] * 5
    quiet = [n for r, n in zip(repos[5:], direct[5:], strict=True) if not r.empty]
    assert set(quiet) <= {1, 2, 3} and len(set(quiet)) > 1  # sparse, and not all alike
    assert [r.name for r in repos if r.empty] == ["repo-299"]  # only the one GitHub-empty repo
    assert Counter(len(r.plain_issues) for r in repos[:5]) == Counter({60: 5})
    # Deterministic, and the default (no busy) dataset is what it always was.
    again = generate(1, "1x300x3", busy=(5, 60), now=ds.now)
    assert [len(r.commits) for r in again.repositories()] == [len(r.commits) for r in repos]
    plain = generate(1, "1x4x3", now=ds.now)
    assert {len(r.plain_issues) for r in plain.repositories() if not r.empty} == {3}


def test_busy_is_written_repositories_colon_events() -> None:
    assert parse_busy("5:60") == (5, 60)
    assert parse_busy(None) is None
    for bad in ("5", "5:x", "-1:3"):
        with pytest.raises(ValueError):
            parse_busy(bad)
