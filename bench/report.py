"""The bench's table and its targets (not tests: figures to meet, with the margin)."""

from __future__ import annotations

from typing import Any


def _get(results: list[dict[str, Any]], scenario: str, tool: str) -> dict[str, Any] | None:
    return next((r for r in results if r["scenario"] == scenario and r["tool"] == tool), None)


def _rate(row: dict[str, Any] | None) -> float | None:
    if not row or not row.get("wall_s"):
        return None
    return float(row["records"]) / float(row["wall_s"])


def targets(
    results: list[dict[str, Any]], *, latency_ms: float, status: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(name: str, target: str, actual: Any, met: bool | None, note: str = "") -> None:
        out.append({"target": name, "wanted": target, "actual": actual, "met": met, "note": note})

    row = _get(results, "backfill", "ghsync")
    if row:
        ratio = row["requests"] / row["min_requests"] if row.get("min_requests") else None
        add(
            "backfill requests vs the simulator's minimum",
            "<= 1.02 x",
            f"{row['requests']} / {row['min_requests']} = {ratio:.3f} x" if ratio else None,
            ratio is not None and ratio <= 1.02,
        )
    row = _get(results, "second_run", "ghsync")
    if row:
        add(
            "no-change second run: budget spent",
            "0",
            row["budget_spent"],
            row["budget_spent"] == 0,
        )
    ours, theirs = _get(results, "backfill", "ghsync"), _get(results, "backfill", "tap-github")
    if ours and theirs:
        a, b = _rate(ours), _rate(theirs)
        add(
            "records/s at zero latency, ghsync (database) vs tap-github (stdout)",
            ">= 2 x",
            f"{a:.0f} vs {b:.0f} /s = {a / b:.2f} x" if a and b else None,
            bool(a and b and a >= 2 * b),
        )
    row = _get(results, "backfill_50ms", "ghsync")
    if row and row.get("min_requests"):
        floor = row["min_requests"] * latency_ms / 1000
        add(
            f"wall time at {latency_ms:g} ms latency vs minimum requests x latency",
            "<= 1.1 x",
            f"{row['wall_s']:.1f} s / {floor:.1f} s = {row['wall_s'] / floor:.2f} x",
            row["wall_s"] <= 1.1 * floor,
        )
    row = _get(results, "small_budget", "ghsync")
    if row:
        exact = (
            row["exit_status"] == 0
            and row.get("all_kinds_missing") == 0
            and row["invented"] == 0
            and row["duplicated"] == 0
        )
        add(
            "small budget: ghsync waits and completes with the exact dataset",
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


COLUMNS = (
    ("tool", "tool", "<"),
    ("wall_s", "wall s", ">"),
    ("requests", "requests", ">"),
    ("budget_spent", "budget", ">"),
    ("records", "records", ">"),
    ("missing", "missing", ">"),
    ("duplicated", "dup", ">"),
    ("peak_rss_mb", "peak RSS MB", ">"),
    ("exit_status", "exit", ">"),
)


def _cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if key == "wall_s" and value is not None:
        return f"{value:.2f}"
    if key == "exit_status" and row.get("tool") == "ghsync" and row.get("job"):
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
    for key, title in report["scenarios"].items():
        rows = [r for r in report["results"] if r["scenario"] == key]
        if not rows:
            continue
        lines.append(f"### {title}")
        if key == "small_budget":
            sb = report["small_budget"]
            lines.append(f"(budget {sb['remaining']} requests left, reset in {sb['reset_in']:g} s)")
        lines.append("")
        lines.append("| " + " | ".join(h for _, h, _ in COLUMNS) + " |")
        lines.append("|" + "|".join("---:" if a == ">" else "---" for _, _, a in COLUMNS) + "|")
        for row in rows:
            lines.append("| " + " | ".join(_cell(row, k) for k, _, _ in COLUMNS) + " |")
        notes = []
        for row in rows:
            if row["tool"] == "ghsync":
                notes.append(
                    f"ghsync stored {row.get('all_kinds_stored')} events of all kinds"
                    f" (expected {row.get('all_kinds_expected')},"
                    f" missing {row.get('all_kinds_missing')});"
                    f" minimum requests for its window {row.get('min_requests')};"
                    f" largest single process {row.get('max_process_rss_mb')} MB"
                )
                third = row.get("third_run")
                if third:
                    notes.append(
                        f"ghsync third run, nothing changed: {third['requests']} requests"
                        f" ({third['not_modified']} answered 304), budget"
                        f" {third['budget_spent']}, {third['wall_s']:.2f} s"
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
            mark = "met" if t["met"] else "MISSED"
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
            for mode in ("threads", "processes"):
                g = gate[mode]
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


def _compact(value: Any) -> str:
    import json

    return json.dumps(value, indent=1, default=str)[:4000]
