"""The bench's table and its targets (not tests: figures to meet, with the margin)."""

from __future__ import annotations

import math
from typing import Any

# SPEC §3: GitHub's hourly budget per bucket and the reserve periodic work leaves alone.
HOURLY_BUDGET = 5000
CRON_RESERVE = 500


def budget_per_1000(rest_requests: int, graphql_points: int, events: int) -> float | None:
    """(REST requests + GraphQL points) per 1,000 events stored; None when nothing is stored."""
    if events <= 0:
        return None
    return round((rest_requests + graphql_points) * 1000 / events, 1)


def _get(results: list[dict[str, Any]], scenario: str, tool: str) -> dict[str, Any] | None:
    return next((r for r in results if r["scenario"] == scenario and r["tool"] == tool), None)


def _rate(row: dict[str, Any] | None) -> float | None:
    if not row or not row.get("wall_s"):
        return None
    return float(row["records"]) / float(row["wall_s"])


def _spent(row: dict[str, Any]) -> int:
    """REST requests + GraphQL points of a run (a row or its summary)."""
    return int(row.get("requests") or 0) + int(row.get("graphql_points") or 0)


def _margin(actual: float, limit: float) -> str:
    """How far under (met) or over (missed) a ceiling, in the figure's own unit."""
    gap = limit - actual
    return f"{abs(gap):g} {'under' if gap >= 0 else 'over'}"


def targets(
    results: list[dict[str, Any]],
    *,
    latency_ms: float,
    status: dict[str, Any] | None = None,
    repositories: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """Issue 14's targets for ghsync (SYNC_GRAPHQL=auto), then the REST path's own
    (ghsync-rest), each computed from the figures: met or missed, with the margin."""
    out: list[dict[str, Any]] = []
    repositories = repositories or {}

    def add(name: str, target: str, actual: Any, met: bool | None, note: str = "") -> None:
        out.append({"target": name, "wanted": target, "actual": actual, "met": met, "note": note})

    # Backfill: REST requests + points <= 0.25 x the REST minimum.
    for scenario in ("backfill", "scale"):
        row = _get(results, scenario, "ghsync")
        if row and row.get("min_requests"):
            spent, ceiling = _spent(row), 0.25 * row["min_requests"]
            add(
                f"{scenario}: ghsync REST requests + GraphQL points vs the REST minimum",
                "<= 0.25 x",
                f"{row['requests']} + {row['graphql_points']} = {spent} / {row['min_requests']}"
                f" = {spent / row['min_requests']:.3f} x ({_margin(spent, ceiling)}"
                f" {ceiling:g}); missing {row.get('all_kinds_missing')} (all kinds)",
                spent <= ceiling and row.get("all_kinds_missing") == 0,
            )
    # No-change resync with a new token: 0 REST budget, <= 1 point per 100 repositories.
    no_change = (
        ("second_run", None, ""),
        ("second_run", "third_run", " (the next hour again)"),
        ("scale", "resync", ""),
        ("scale", "resync_again", " (the next hour again)"),
    )
    for scenario, key, when in no_change:
        row = _get(results, scenario, "ghsync")
        run = (row or {}).get(key) if key else row
        repos = repositories.get("backfill" if scenario == "second_run" else scenario)
        if run and repos:
            points_max = math.ceil(repos / 100)
            rest = int(run["budget_spent"] or 0)
            points = int(run["graphql_points"] or 0)
            add(
                f"{scenario}: ghsync no-change resync, new token, {repos} repositories{when}",
                f"0 REST budget, <= {points_max} GraphQL point(s) (1 per 100 repositories)",
                f"REST budget {rest} ({run['requests']} requests, token mint and 304s"
                f" included), {points} points ({_margin(points, points_max)} {points_max})",
                rest == 0 and points <= points_max,
            )
    # One new event in one repository of 300: the change check, then only that
    # repository's changed stream (one read, a REST page or a query).
    row = _get(results, "scale", "ghsync")
    repos = repositories.get("scale")
    if row and row.get("one_new_event") and repos:
        new = row["one_new_event"]
        allowed = math.ceil(repos / 100) + 1
        spent = int(new["budget_spent"] or 0) + int(new["graphql_points"] or 0)
        add(
            f"scale: one new event in one repository of {repos}, ghsync resync (new token)",
            f"stored; REST budget + points <= {allowed} (the change check, then one read)",
            f"stored {new['stored']}; REST budget {new['budget_spent']} + points"
            f" {new['graphql_points']} = {spent} ({_margin(spent, allowed)} {allowed});"
            f" REST read {_endpoints(new.get('rest_by_endpoint'))};"
            f" GraphQL operations {new.get('graphql_operations') or {}},"
            f" connections {new.get('graphql_connections') or {}}",
            bool(new["stored"]) and spent <= allowed,
        )
    # Wall time at 50 ms: ghsync <= 0.5 x tap-github's.
    ours, theirs = (
        _get(results, "backfill_50ms", "ghsync"),
        _get(results, "backfill_50ms", "tap-github"),
    )
    if ours and theirs and theirs.get("wall_s"):
        ratio = ours["wall_s"] / theirs["wall_s"]
        add(
            f"backfill at {latency_ms:g} ms per request: ghsync wall time vs tap-github's",
            "<= 0.5 x",
            f"{ours['wall_s']:.1f} s vs {theirs['wall_s']:.1f} s = {ratio:.2f} x"
            f" ({_margin(round(ratio, 2), 0.5)} 0.5)",
            ratio <= 0.5,
        )
    # Records/s at zero latency: ghsync >= 2 x tap-github's.
    ours, theirs = _get(results, "backfill", "ghsync"), _get(results, "backfill", "tap-github")
    if ours and theirs:
        a, b = _rate(ours), _rate(theirs)
        add(
            "records/s at zero latency, ghsync (database) vs tap-github (stdout)",
            ">= 2 x",
            f"{a:.0f} vs {b:.0f} /s = {a / b:.2f} x" if a and b else None,
            bool(a and b and a >= 2 * b),
        )
    # The 300-repository backfill fits one hour, the cron reserve untouched.
    row = _get(results, "scale", "ghsync")
    if row:
        ceiling = HOURLY_BUDGET - CRON_RESERVE
        rest, points = int(row["budget_spent"]), int(row["graphql_points"])
        add(
            "scale: ghsync backfill within one hour's budgets, cron reserve untouched",
            f"REST budget and GraphQL points each <= {ceiling} ({HOURLY_BUDGET} - {CRON_RESERVE})",
            f"REST budget {rest} ({_margin(rest, ceiling)}), points {points}"
            f" ({_margin(points, ceiling)})",
            rest <= ceiling and points <= ceiling,
        )
    # The REST path's own targets (SYNC_GRAPHQL=off), kept from before issue 14.
    row = _get(results, "backfill", "ghsync-rest")
    if row:
        ratio = row["requests"] / row["min_requests"] if row.get("min_requests") else None
        add(
            "ghsync-rest: backfill requests vs the simulator's minimum",
            "<= 1.02 x",
            f"{row['requests']} / {row['min_requests']} = {ratio:.3f} x" if ratio else None,
            ratio is not None and ratio <= 1.02,
        )
    row = _get(results, "backfill_50ms", "ghsync-rest")
    if row and row.get("min_requests"):
        floor = row["min_requests"] * latency_ms / 1000
        add(
            f"ghsync-rest: wall time at {latency_ms:g} ms vs minimum requests x latency",
            "<= 1.1 x",
            f"{row['wall_s']:.1f} s / {floor:.1f} s = {row['wall_s'] / floor:.2f} x",
            row["wall_s"] <= 1.1 * floor,
        )
    for tool in ("ghsync", "ghsync-rest"):
        row = _get(results, "small_budget", tool)
        if row:
            exact = (
                row["exit_status"] == 0
                and row.get("all_kinds_missing") == 0
                and row["invented"] == 0
                and row["duplicated"] == 0
            )
            add(
                f"small budget: {tool} waits and completes with the exact dataset",
                "completed, 0 missing, 0 invented, 0 duplicated",
                f"exit {row['exit_status']}, missing {row.get('all_kinds_missing')} (all kinds),"
                f" invented {row['invented']}, duplicated {row['duplicated']}",
                exact,
            )
    if status and status.get("results"):
        for page in ("dashboard", "status_api"):
            counts = {
                r["installations"]: r["queries"] for r in status["results"] if r["page"] == page
            }
            if counts:
                add(
                    f"{page}: queries per request from 1 to 200 installations",
                    "constant",
                    counts,
                    len(set(counts.values())) == 1,
                )
    return out


# What a run spent of GitHub's two budgets, and what it got for it.
SPENT_COLUMNS = (
    ("requests", "REST requests", ">"),
    ("budget_spent", "REST budget", ">"),
    ("graphql_points", "GraphQL points", ">"),
    ("budget_per_1000_events", "budget / 1k events", ">"),
    ("records", "records", ">"),
    ("missing", "missing", ">"),
)

COLUMNS = (
    ("tool", "tool", "<"),
    ("wall_s", "wall s", ">"),
    *SPENT_COLUMNS,
    ("duplicated", "dup", ">"),
    ("peak_rss_mb", "peak RSS MB", ">"),
    ("exit_status", "exit", ">"),
)


# The scale scenario's table: the backfill, then the resync (`resync.*`) beside it.
SCALE_COLUMNS = (
    ("tool", "tool", "<"),
    ("wall_s", "backfill wall s", ">"),
    *SPENT_COLUMNS,
    ("resync.requests", "resync REST requests", ">"),
    ("resync.budget_spent", "resync REST budget", ">"),
    ("resync.graphql_points", "resync points", ">"),
    ("resync.wall_s", "resync wall s", ">"),
    ("exit_status", "exit", ">"),
)


def _cell(row: dict[str, Any], key: str) -> str:
    if "." in key:
        outer, inner = key.split(".", 1)
        return _cell(row.get(outer) or {}, inner)
    value = row.get(key)
    if key == "wall_s" and value is not None:
        return f"{value:.2f}"
    if key == "exit_status" and str(row.get("tool")).startswith("ghsync") and row.get("job"):
        return f"{value} ({row['job'].get('status')})"
    return "-" if value is None else str(value)


def render_table(report: dict[str, Any]) -> str:
    ds = report["dataset"]
    lines = [
        f"ghsync bench: dataset {ds['size']} (seed {ds['seed']}; {ds['size_meaning']}),"
        f" {ds['window_days']}-day window, {ds['expected_events_four_kinds']} expected events"
        f" on the four compared kinds ({ds['expected_events_all_kinds']} on all kinds),"
        f" minimum {ds['min_requests']} requests; ghsync on {report['ghsync_backend']};"
        f" {report['machine']['cpus']} CPUs",
        "",
    ]
    scale = report.get("scale_dataset")
    if scale:
        lines += [
            f"Scale dataset {scale['size']}, busy {scale['busy']} ({scale['meaning']}):"
            f" {scale['repositories']} repositories, {scale['expected_events_four_kinds']}"
            f" expected events on the four kinds ({scale['expected_events_all_kinds']} on all),"
            f" minimum {scale['min_requests']} REST requests",
            "",
        ]
    if report.get("ghsync_modes"):
        modes = ", ".join(f"{t}: SYNC_GRAPHQL={m}" for t, m in report["ghsync_modes"].items())
        lines += [
            f"ghsync rows: {modes}. budget / 1k events = (REST requests + GraphQL"
            " points) x 1000 / records.",
            "",
        ]
    for key, title in report["scenarios"].items():
        rows = [r for r in report["results"] if r["scenario"] == key]
        if not rows:
            continue
        lines.append(f"### {title}")
        if key == "small_budget":
            sb = report["small_budget"]
            lines.append(f"(budget {sb['remaining']} requests left, reset in {sb['reset_in']:g} s)")
        if report.get("scenario_durations_s", {}).get(key) is not None:
            lines.append(f"(scenario took {report['scenario_durations_s'][key]:g} s)")
        lines.append("")
        columns = SCALE_COLUMNS if key == "scale" else COLUMNS
        lines.append("| " + " | ".join(h for _, h, _ in columns) + " |")
        lines.append("|" + "|".join("---:" if a == ">" else "---" for _, _, a in columns) + "|")
        for row in rows:
            lines.append("| " + " | ".join(_cell(row, k) for k, _, _ in columns) + " |")
        notes = []
        for row in rows:
            if str(row["tool"]).startswith("ghsync"):
                notes.append(
                    f"{row['tool']} stored {row.get('all_kinds_stored')} events of all kinds"
                    f" (expected {row.get('all_kinds_expected')},"
                    f" missing {row.get('all_kinds_missing')});"
                    f" minimum requests for its window {row.get('min_requests')};"
                    f" largest single process {row.get('max_process_rss_mb')} MB"
                )
                third = row.get("third_run")
                if third:
                    notes.append(
                        f"{row['tool']} third run, nothing changed: {third['requests']} REST"
                        f" requests ({third['not_modified']} answered 304), REST budget"
                        f" {third['budget_spent']}, {third['graphql_points']} GraphQL points,"
                        f" {third['wall_s']:.2f} s"
                    )
                for key, label in (("resync", "resync"), ("resync_again", "next resync")):
                    run = row.get(key)
                    if run and run.get("graphql_operations"):
                        notes.append(
                            f"{row['tool']} {label}, nothing changed: {run['requests']} REST"
                            f" requests, budget {run['budget_spent']},"
                            f" {run['graphql_points']} points"
                            f" (operations {run['graphql_operations']}), {run['wall_s']:.2f} s"
                        )
                new = row.get("one_new_event")
                if new:
                    notes.append(
                        f"{row['tool']}, one new event ({new['activity']['kind']} in"
                        f" {new['activity']['repo']}, stored: {new['stored']}), resync with a"
                        f" new token: {new['requests']} REST requests (budget"
                        f" {new['budget_spent']}: {_endpoints(new.get('rest_by_endpoint'))}),"
                        f" {new['graphql_points']} GraphQL points in"
                        f" {new['graphql_requests']} queries"
                        f" (operations {new.get('graphql_operations') or {}},"
                        f" connections {new.get('graphql_connections') or {}}),"
                        f" {new['wall_s']:.2f} s"
                    )
            if row.get("missing_by_kind"):
                notes.append(f"{row['tool']} missing by kind: {row['missing_by_kind']}")
            if row.get("error"):
                notes.append(f"{row['tool']}: {row['error']}")
        lines += [""] + [f"- {n}" for n in notes] + [""]
    if report.get("targets"):
        lines.append("### Targets")
        lines.append("")
        for t in report["targets"]:
            mark = "met" if t["met"] else "MISSED"  # computed from the figures above
            lines.append(f"- {mark}: {t['target']} ({t['wanted']}): {t['actual']}")
        lines.append("")
    gate = report.get("gate")
    if gate:
        lines.append("### bench/gate.py: concurrent request_sync for one installation")
        lines.append("")
        if gate.get("threads"):
            lines.append(
                f"{gate['database']}, broker {gate['broker']}, trigger {gate['trigger']}"
                + (f" ({gate['note']})" if gate.get("note") else "")
            )
            lines.append("")
            lines.append(
                "| callers | calls x rounds | jobs created per round | decisions"
                " | p50 ms | p99 ms | max ms |"
            )
            lines.append("|---|---:|---|---|---:|---:|---:|")
            rows = [(mode, gate[mode]) for mode in ("threads", "processes")]
            rows += [
                (f"{mode}, job already active", gate["active"][mode])
                for mode in ("threads", "processes")
                if mode in gate.get("active", {})
            ]
            for mode, g in rows:
                decisions = ", ".join(f"{k} {v}" for k, v in sorted(g["decisions"].items()))
                lines.append(
                    f"| {mode} | {g['calls_per_round']} x {g['rounds']}"
                    f" | {g['jobs_created_per_round']} | {decisions}"
                    f" | {g['p50_ms']} | {g['p99_ms']} | {g['max_ms']} |"
                )
        else:
            lines += ["```", _compact(gate), "```"]
        lines.append("")
    status = report.get("status")
    if status:
        lines.append("### bench/status.py: dashboard and status API")
        lines.append("")
        if status.get("results"):
            lines.append("| page | installations | queries | median ms |")
            lines.append("|---|---:|---:|---:|")
            for r in status["results"]:
                lines.append(
                    f"| {r['page']} | {r['installations']} | {r['queries']} | {r['median_ms']} |"
                )
        else:
            lines.append("```")
            lines.append(_compact(status))
            lines.append("```")
        lines.append("")
    if report.get("not_run"):
        lines.append("### Not run")
        lines += [f"- {k}: {v}" for k, v in report["not_run"].items()]
    return "\n".join(lines) + "\n"


def _endpoints(by_endpoint: dict[str, int] | None) -> str:
    return ", ".join(f"{k} x{v}" for k, v in sorted((by_endpoint or {}).items())) or "none"


def _compact(value: Any) -> str:
    import json

    return json.dumps(value, indent=1, default=str)[:4000]
