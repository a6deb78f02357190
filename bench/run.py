"""`make bench`: ghsync and its peers, side by side, against one simulator dataset.

Scenarios (each tool, the same dataset, the same simulator process):
  1. backfill       full backfill of the window, no added latency;
  2. backfill_50ms  the same with 50 ms added to every request (GitHub-like);
  3. second_run     a second run with nothing changed (the first is not in the table),
                    with a new installation token, as an hourly resync has: GitHub's
                    ETags are token specific, so a stored ETag is a 200 that spends;
  4. small_budget   a rate-limit budget smaller than the backfill needs, reset soon after;
  5. scale          another simulator, 1 installation x 300 repositories with sparse
                    activity: backfill, then an hourly resync with a new token; for
                    ghsync also one new event in one repository, and a resync.

ghsync runs twice in every scenario: `ghsync` (SYNC_GRAPHQL=auto, GraphQL where it is
cheaper) and `ghsync-rest` (SYNC_GRAPHQL=off, REST only).

Figures per tool and scenario: wall time, REST requests, REST budget and GraphQL points
spent (the simulator's counters), budget per 1,000 events, records (events, see
bench/records.py) stored, missing and duplicated against the simulator's expected set,
peak RSS of the process tree, exit status. Then bench/gate.py and bench/status.py.
Prints a table; writes var/bench/results.json (and a timestamped copy).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.ghsync_side import Ghsync  # noqa: E402
from bench.measure import run_measured  # noqa: E402
from bench.peers import PEERS, Peer, RunContext, reset_dir  # noqa: E402
from bench.records import FOUR_KINDS, Stored, compare  # noqa: E402
from bench.report import budget_per_1000, render_table, targets  # noqa: E402
from bench.simulator import Simulator  # noqa: E402

DEFAULT_SIZE = "1x10x100"
# The scale scenario: 300 repositories, 1 to 3 events of each kind in most, 60 in 5.
SCALE_SIZE = "1x300x3"
SCALE_BUSY = "5:60"
WINDOW_DAYS = 30
APP_ID = "4242"
# ghsync's rows: the tool name in the table -> SYNC_GRAPHQL for its worker.
GHSYNC_MODES = {"ghsync": "auto", "ghsync-rest": "off"}
GRAPHQL_ENDPOINT = "POST /graphql"
# The one new event of the scale scenario: a push to one quiet repository.
NEW_EVENT_KIND = "commit"
NEW_EVENT_REPO_INDEX = 150
NEW_EVENT_TOOL = "ghsync"  # GraphQL's change check is what this figure is about


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    latency_ms: float = 0
    second_run: bool = False
    small_budget: bool = False
    scale: bool = False


SCENARIOS = (
    Scenario("backfill", "1. full backfill, no added latency"),
    Scenario("backfill_50ms", "2. full backfill, 50 ms per request", latency_ms=50),
    Scenario("second_run", "3. second run, nothing changed", second_run=True),
    Scenario("small_budget", "4. budget smaller than the backfill needs", small_budget=True),
    Scenario(
        "scale",
        "5. 300 repositories, sparse activity: backfill, then an hourly resync (new token)",
        scale=True,
    ),
)


@dataclass
class World:
    """One simulator process, its dataset and the installation the bench syncs."""

    sim: Simulator
    dataset: dict[str, Any]
    installation_id: int
    org: str
    true_events: set[tuple[Any, ...]] = field(default_factory=set)

    @classmethod
    def start(cls, sim: Simulator) -> World:
        data = sim.dataset()
        first = data["installations"][0]
        world = cls(sim, data, int(first["id"]), str(first["account"]))
        world.true_events = sim.true_events(world.installation_id)
        return world

    @property
    def repositories(self) -> list[dict[str, Any]]:
        return list(self.dataset["installations"][0]["repositories"])


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out_dir: Path = args.out
        self.runs_dir = reset_dir(self.out_dir / "runs")
        self.var_dir: Path = args.var_dir
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.main = World.start(
            Simulator(
                seed=args.seed, size=args.size, app_id=APP_ID, workdir=self.var_dir / "simulator"
            )
        )
        self.world = self.main
        self.scale: World | None = None
        self.scale_info: dict[str, Any] = {}
        self.ghsync = Ghsync(
            sim_url=self.sim.url,
            app_id=APP_ID,
            private_key_path=self.sim.private_key_path,
            var_dir=self.var_dir,
        )
        self.peers: list[Peer] = []
        self.not_run: dict[str, str] = {}
        self.small_budget: dict[str, Any] = {}

    # The world the current scenario runs in (the scale scenario has its own simulator).
    @property
    def sim(self) -> Simulator:
        return self.world.sim

    @property
    def dataset(self) -> dict[str, Any]:
        return self.world.dataset

    @property
    def installation_id(self) -> int:
        return self.world.installation_id

    @property
    def org(self) -> str:
        return self.world.org

    @property
    def true_events(self) -> set[tuple[Any, ...]]:
        return self.world.true_events

    def enter(self, world: World) -> None:
        self.world = world
        self.ghsync.point_at(sim_url=world.sim.url, private_key_path=world.sim.private_key_path)

    # ------------------------------------------------------------------ set-up

    def install_peers(self) -> None:
        venvs = self.out_dir / "venvs"
        venvs.mkdir(parents=True, exist_ok=True)
        for peer_class in PEERS:
            peer = peer_class(venvs)
            if self.args.tools and peer.venv_name not in self.args.tools:
                continue
            try:
                peer.install()
            except Exception as exc:  # a peer that cannot be installed is reported, not fatal
                self.not_run[peer.name] = f"install failed: {exc}"
                continue
            self.peers.append(peer)

    def window_since(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0) - timedelta(days=WINDOW_DAYS)

    def set_budget(self, scenario: Scenario) -> None:
        if scenario.small_budget:
            self.sim.configure(
                budget={
                    "installation_id": self.installation_id,
                    "remaining": self.small_budget["remaining"],
                    "limit": self.sim.budget,
                    "reset_in": self.small_budget["reset_in"],
                }
            )
        else:
            self.sim.refill_budget(self.installation_id)

    # ------------------------------------------------------------------ one run

    def _figures(
        self,
        *,
        tool: str,
        measured: Any,
        stats: dict[str, Any],
        stored: Stored,
        accumulated: Stored,
        since: datetime,
        until: datetime,
    ) -> dict[str, Any]:
        expected = self.sim.expected(self.installation_id, since, until)
        got = compare(accumulated, expected, self.true_events)
        this_run = compare(stored, expected, self.true_events)
        iid = str(self.installation_id)
        by_endpoint = dict(stats["requests_by_endpoint"])
        graphql_requests = int(by_endpoint.pop(GRAPHQL_ENDPOINT, 0))
        rest_requests = int(stats["requests_total"]) - graphql_requests
        points = int(stats.get("graphql_points_spent", {}).get(iid, 0))
        return {
            "tool": tool,
            "wall_s": measured.wall_s,
            # REST only: every request the simulator counted but POST /graphql (the token
            # mint, 401s and 304s included).
            "requests": rest_requests,
            "requests_by_endpoint": by_endpoint,
            "requests_by_status": stats["requests_by_status"],
            "not_modified": stats["not_modified_total"],
            "budget_spent": int(stats["budget_spent"].get(iid, 0)),
            "graphql_requests": graphql_requests,
            "graphql_points": points,
            "graphql_operations": stats.get("graphql_operations", {}),
            "graphql_connections": stats.get("graphql_connections", {}),
            "budget_per_1000_events": budget_per_1000(rest_requests, points, got["records"]),
            "records": got["records"],
            "records_written_this_run": this_run["rows"],
            "rows": got["rows"],
            "expected": got["expected"],
            "missing": got["missing"],
            "missing_by_kind": got["missing_by_kind"],
            "extra_outside_window": got["extra_outside_window"],
            "invented": got["invented"],
            "duplicated": this_run["duplicated"],
            "peak_rss_mb": measured.peak_rss_mb,
            "max_process_rss_mb": measured.max_process_rss_mb,
            "exit_status": "timeout" if measured.timed_out else measured.exit_status,
            "window": {"since": since.isoformat(), "until": until.isoformat()},
        }

    def run_peer(
        self, peer: Peer, scenario: Scenario, run_dir: Path, previous: RunContext | None
    ) -> tuple[RunContext, dict[str, Any]]:
        since = datetime.fromisoformat(previous.since) if previous else self.window_since()
        self.set_budget(scenario)
        self.sim.reset_stats()
        ctx = RunContext(
            api=self.sim.url,
            app_id=APP_ID,
            private_key_path=self.sim.private_key_path,
            installation_id=self.installation_id,
            org=self.org,
            since=since.isoformat(),
            run_dir=run_dir,
            previous_run_dir=previous.run_dir if previous else None,
        )
        if peer.needs_token:
            ctx.token = self.sim.installation_token(self.installation_id)
        measured = run_measured(
            peer.command(ctx),
            env={"PATH": "/usr/bin:/bin", "HOME": str(run_dir), "LANG": "C.UTF-8"},
            cwd=run_dir,
            stdout=run_dir / peer.stdout_name(),
            stderr=run_dir / "stderr.log",
            timeout=self.args.timeout,
        )
        until = datetime.now(UTC)
        stats = self.sim.stats()
        figures = self._figures(
            tool=peer.name,
            measured=measured,
            stats=stats,
            stored=peer.stored(ctx),
            accumulated=peer.accumulated(ctx),
            since=since,
            until=until,
        )
        if figures["exit_status"] not in (0, None):
            figures["error"] = _last_error_line(run_dir / "stderr.log")
        return ctx, figures

    def run_ghsync(
        self,
        scenario: Scenario,
        run_dir: Path,
        *,
        tool: str,
        full: bool,
        first_since: datetime | None,
    ) -> tuple[datetime, dict[str, Any]]:
        self.set_budget(scenario)
        self.sim.reset_stats()
        assert self.ghsync.worker is not None
        measured = run_measured(
            self.ghsync.sync_command(self.installation_id, full=full, timeout=self.args.timeout),
            env=self.ghsync.env,
            cwd=ROOT,
            stdout=run_dir / "sync.json",
            stderr=run_dir / "stderr.log",
            timeout=self.args.timeout + 30,
            extra_roots=[self.ghsync.worker.pid],
        )
        stats = self.sim.stats()
        report = _json_or_none(run_dir / "sync.json") or {}
        job = report.get("job") or {}
        since = first_since or (
            datetime.fromisoformat(job["since"]) if job.get("since") else self.window_since()
        )
        until = datetime.fromisoformat(job["finished_at"]) if job.get("finished_at") else None
        until = until or datetime.now(UTC)
        stored, all_kinds = self.ghsync.stored(self.installation_id)
        figures = self._figures(
            tool=tool,
            measured=measured,
            stats=stats,
            stored=stored,
            accumulated=stored,
            since=since,
            until=until,
        )
        figures["records_written_this_run"] = job.get("events_ingested")
        figures["job"] = job
        figures["decision"] = report.get("decision")
        figures["all_kinds_stored"] = all_kinds
        expected_all = self.sim.expected(self.installation_id, since, until)
        figures["all_kinds_expected"] = len(expected_all)
        figures["all_kinds_missing"] = len(expected_all - stored.events)
        figures["min_requests"] = self.sim.min_requests(self.installation_id, since, until)
        figures["graphql_mode"] = self.ghsync.env.get("SYNC_GRAPHQL")
        if figures["exit_status"] != 0:
            figures["error"] = job.get("error") or _last_error_line(run_dir / "stderr.log")
        return since, figures

    # ------------------------------------------------------------------ scenarios

    def scenario(self, scenario: Scenario) -> list[dict[str, Any]]:
        self.sim.set_latency(scenario.latency_ms)
        rows: list[dict[str, Any]] = []
        base = self.runs_dir / scenario.key
        for tool, mode in GHSYNC_MODES.items():
            if tool in self.tool_names():
                self.ghsync.set_graphql(mode)
                rows.append(self._scenario_ghsync(scenario, base / tool, tool))
        for peer in self.peers:
            rows.append(self._scenario_peer(peer, scenario, base / peer.venv_name))
        for row in rows:
            row["scenario"] = scenario.key
            _progress(f"   {row['tool']:<14} {row['wall_s']:>7.2f} s  exit {row['exit_status']}")
        self.sim.set_latency(0)
        return rows

    def _scenario_ghsync(self, scenario: Scenario, run_dir: Path, tool: str) -> dict[str, Any]:
        self.ghsync.reset_installation(self.dataset, self.installation_id)
        self.ghsync.start_worker(reset_dir(run_dir) / "worker.log")
        try:
            if scenario.second_run:
                first_dir = reset_dir(run_dir / "first")
                since, first = self.run_ghsync(
                    scenario, first_dir, tool=tool, full=True, first_since=None
                )
                second_dir = reset_dir(run_dir / "second")
                self.rotate_tokens()
                _, figures = self.run_ghsync(
                    scenario, second_dir, tool=tool, full=False, first_since=since
                )
                # A third no-change run, with a new token again, as every hourly resync.
                third_dir = reset_dir(run_dir / "third")
                self.rotate_tokens()
                _, third = self.run_ghsync(
                    scenario, third_dir, tool=tool, full=False, first_since=since
                )
                figures["first_run"] = _summary(first)
                figures["third_run"] = _summary(third)
                return figures
            if scenario.scale:
                return self._scale_ghsync(scenario, run_dir, tool)
            _, figures = self.run_ghsync(scenario, run_dir, tool=tool, full=True, first_since=None)
            return figures
        finally:
            self.ghsync.stop_worker()

    def _scale_ghsync(self, scenario: Scenario, run_dir: Path, tool: str) -> dict[str, Any]:
        """Backfill (the row), an hourly resync with a new token, then (for `ghsync` only,
        to keep the scenario short) a second no-change resync and one new event in one
        quiet repository and a resync (a new token each time)."""
        since, figures = self.run_ghsync(
            scenario, reset_dir(run_dir / "backfill"), tool=tool, full=True, first_since=None
        )
        self.rotate_tokens()
        _, resync = self.run_ghsync(
            scenario, reset_dir(run_dir / "resync"), tool=tool, full=False, first_since=since
        )
        figures["resync"] = _summary(resync)
        if tool != NEW_EVENT_TOOL:
            return figures
        # The next hour's resync, nothing changed again: what every later hour costs
        # (the first after a backfill may still be settling what the backfill left).
        self.rotate_tokens()
        _, again = self.run_ghsync(
            scenario, reset_dir(run_dir / "resync_again"), tool=tool, full=False, first_since=since
        )
        figures["resync_again"] = _summary(again)
        repo = self.world.repositories[NEW_EVENT_REPO_INDEX]["full_name"]
        made = self.sim.add_activity(NEW_EVENT_KIND, repo)
        self.world.true_events = self.sim.true_events(self.installation_id)
        self.rotate_tokens()
        _, after = self.run_ghsync(
            scenario, reset_dir(run_dir / "one_new_event"), tool=tool, full=False, first_since=since
        )
        stored, _ = self.ghsync.stored(self.installation_id)
        new_events = [tuple(e) for e in made["events"]]
        figures["one_new_event"] = {
            **_summary(after),
            "activity": {"kind": NEW_EVENT_KIND, "repo": repo, "events": new_events},
            "stored": all(e in stored.events for e in new_events),
            "rest_by_endpoint": after["requests_by_endpoint"],
            "graphql_operations": after["graphql_operations"],
            "graphql_connections": after["graphql_connections"],
        }
        return figures

    def _scenario_peer(self, peer: Peer, scenario: Scenario, run_dir: Path) -> dict[str, Any]:
        reset_dir(run_dir)
        if scenario.second_run or scenario.scale:
            first_ctx, first = self.run_peer(peer, scenario, reset_dir(run_dir / "first"), None)
            self.rotate_tokens()
            _, second = self.run_peer(
                peer, scenario, reset_dir(run_dir / "second"), previous=first_ctx
            )
            if scenario.scale:  # the row is the backfill, the resync beside it
                first["resync"] = _summary(second)
                return first
            second["first_run"] = _summary(first)
            return second
        _, figures = self.run_peer(peer, scenario, run_dir, None)
        return figures

    def rotate_tokens(self) -> None:
        """Every installation token issued so far stops working, as an hour later: the
        next run mints a new one, and GitHub's ETags are specific to the token."""
        self.sim.configure(revoke_tokens=True)

    def tool_names(self) -> set[str]:
        names = set(GHSYNC_MODES) | {p.venv_name for p in PEERS}
        return set(self.args.tools) if self.args.tools else names

    def scale_world(self) -> World:
        """The scale scenario's simulator, started on first use (its own process)."""
        if self.scale is None:
            self.scale = World.start(
                Simulator(
                    seed=self.args.seed,
                    size=self.args.scale_size,
                    busy=self.args.scale_busy,
                    app_id=APP_ID,
                    workdir=self.var_dir / "simulator-scale",
                )
            )
            since, until = self.window_since(), datetime.now(UTC)
            iid = self.scale.installation_id
            expected = self.scale.sim.expected(iid, since, until)
            self.scale_info = {
                "size": self.args.scale_size,
                "busy": self.args.scale_busy,
                "meaning": "installations x repositories x events per kind (at most, in the"
                " quiet repositories); busy = repositories:events per kind",
                "repositories": len(self.scale.repositories),
                "min_requests": self.scale.sim.min_requests(iid, since, until),
                "expected_events_all_kinds": len(expected),
                "expected_events_four_kinds": sum(1 for e in expected if e[1] in FOUR_KINDS),
            }
        return self.scale

    # ------------------------------------------------------------------ main

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        _progress(f"simulator {self.sim.url}, dataset {self.args.size} seed {self.args.seed}")
        self.install_peers()
        if self.tool_names() & set(GHSYNC_MODES):
            self.ghsync.setup()
        since = self.window_since()
        until = datetime.now(UTC)
        min_requests = self.sim.min_requests(self.installation_id, since, until)
        expected = self.sim.expected(self.installation_id, since, until)
        self.small_budget = {
            "remaining": max(200, min_requests // 2),
            "reset_in": self.args.reset_in,
        }
        results: list[dict[str, Any]] = []
        durations: dict[str, float] = {}
        for scenario in SCENARIOS:
            if self.args.scenarios and scenario.key not in self.args.scenarios:
                continue
            _progress(f"== {scenario.title}")
            scenario_started = time.monotonic()
            self.enter(self.scale_world() if scenario.scale else self.main)
            try:
                results.extend(self.scenario(scenario))
            finally:
                self.enter(self.main)
            durations[scenario.key] = round(time.monotonic() - scenario_started, 1)
        extras: dict[str, Any] = {}
        if not self.args.skip_gate:
            extras["gate"] = self._script("gate.py")
        if not self.args.skip_status:
            extras["status"] = self._script("status.py")
        return {
            "command": "make bench  (" + " ".join([sys.executable, *sys.argv]) + ")",
            "generated_at": datetime.now(UTC).isoformat(),
            "machine": {"cpus": _cpus(), "python": platform.python_version()},
            "dataset": {
                "seed": self.args.seed,
                "size": self.args.size,
                "size_meaning": "installations x repositories x events per kind",
                "repositories": len(self.main.repositories),
                "window_days": WINDOW_DAYS,
                "min_requests": min_requests,
                "expected_events_all_kinds": len(expected),
                "expected_events_four_kinds": sum(1 for e in expected if e[1] in FOUR_KINDS),
            },
            "ghsync_backend": self.ghsync.backend,
            "scale_dataset": self.scale_info,
            "scenarios": {s.key: s.title for s in SCENARIOS},
            "scenario_durations_s": durations,
            "ghsync_modes": GHSYNC_MODES,
            "small_budget": self.small_budget,
            "latency_ms": 50,
            "results": results,
            "not_run": self.not_run,
            "targets": targets(
                results,
                latency_ms=50,
                status=extras.get("status"),
                repositories={
                    "backfill": len(self.main.repositories),
                    **({"scale": self.scale_info["repositories"]} if self.scale_info else {}),
                },
            ),
            **extras,
            "duration_s": round(time.monotonic() - started, 1),
        }

    def _script(self, name: str) -> dict[str, Any]:
        import subprocess

        _progress(f"== {name}")
        env = dict(self.ghsync.env)
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / name)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            timeout=900,
        )
        (self.runs_dir / f"{name}.stderr.log").write_bytes(done.stderr)
        try:
            return dict(json.loads(done.stdout.decode().strip().splitlines()[-1]))
        except (ValueError, IndexError):
            return {"error": f"exit {done.returncode}", "stderr": done.stderr.decode()[-2000:]}

    def close(self) -> None:
        self.ghsync.stop_worker()
        self.main.sim.stop()
        if self.scale is not None:
            self.scale.sim.stop()


def _summary(figures: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "wall_s",
        "requests",
        "not_modified",
        "budget_spent",
        "graphql_requests",
        "graphql_points",
        "budget_per_1000_events",
        "graphql_operations",
        "records",
        "missing",
        "exit_status",
    )
    return {k: figures.get(k) for k in keys}


def _json_or_none(path: Path) -> dict[str, Any] | None:
    try:
        lines = path.read_text().strip().splitlines()
        return dict(json.loads(lines[-1])) if lines else None
    except (OSError, ValueError):
        return None


def _last_error_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    for line in reversed(lines):
        if "Error" in line or "Exception" in line or "error" in line:
            return line.strip()[:300]
    return lines[-1].strip()[:300] if lines else ""


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default=DEFAULT_SIZE)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--var-dir", type=Path, default=ROOT / "var" / "bench-run")
    parser.add_argument("--timeout", type=float, default=300, help="per run, seconds")
    parser.add_argument("--reset-in", type=float, default=20, help="scenario 4's reset, s")
    parser.add_argument("--scale-size", default=SCALE_SIZE, help="the scale scenario's size")
    parser.add_argument(
        "--scale-busy", default=SCALE_BUSY, help="the scale scenario's busy repositories:events"
    )
    parser.add_argument(
        "--tools", nargs="*", help="ghsync ghsync-rest tap_github dlt pygithub githubkit"
    )
    parser.add_argument("--scenarios", nargs="*", help=" ".join(s.key for s in SCENARIOS))
    parser.add_argument("--skip-gate", action="store_true")
    parser.add_argument("--skip-status", action="store_true")
    parser.add_argument(
        "--render", type=Path, help="print the table of a results JSON, run nothing"
    )
    args = parser.parse_args(argv)
    # `--tools ghsync,ghsync-rest` and `--tools ghsync ghsync-rest` alike.
    for name in ("tools", "scenarios"):
        value = getattr(args, name)
        if value:
            setattr(args, name, [v for item in value for v in item.split(",") if v])
    if args.render:
        saved = json.loads(args.render.read_text())
        # The targets judged again from the saved figures (the rules may be newer).
        repositories = {"backfill": saved["dataset"]["repositories"]}
        if saved.get("scale_dataset"):
            repositories["scale"] = saved["scale_dataset"]["repositories"]
        saved["targets"] = targets(
            saved["results"],
            latency_ms=saved.get("latency_ms", 50),
            status=saved.get("status"),
            repositories=repositories,
        )
        print(render_table(saved))
        return 0
    args.out = args.out.resolve()
    args.var_dir = args.var_dir.resolve()
    args.out.mkdir(parents=True, exist_ok=True)

    bench = Bench(args)
    try:
        report = bench.run()
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        bench.close()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(report, indent=2, default=str)
    (args.out / "results.json").write_text(text)
    (args.out / f"results-{stamp}.json").write_text(text)
    table = render_table(report)
    (args.out / "results.md").write_text(table)
    print(table)
    print(f"JSON: {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
