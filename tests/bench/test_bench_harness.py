"""The bench's own moving parts, fast: measuring a process, and turning what a peer
stored into events compared with the simulator's expected set."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

from bench.measure import run_measured
from bench.records import FOUR_KINDS, Stored, compare
from simulator import all_true_events, expected_events, running_simulator


def test_a_measured_run_reports_its_exit_status_wall_time_and_peak_memory(tmp_path: Path) -> None:
    script = (
        "import time; block = bytearray(64 * 1024 * 1024); time.sleep(0.3); raise SystemExit(3)"
    )
    measured = run_measured(
        [sys.executable, "-c", script],
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        stdout=tmp_path / "out",
        stderr=tmp_path / "err",
        timeout=30,
    )
    assert measured.exit_status == 3
    assert not measured.timed_out
    assert 0.3 <= measured.wall_s < 10
    assert measured.peak_rss_mb >= 64
    assert measured.max_process_rss_mb >= 64


def test_a_run_past_its_timeout_is_killed_and_says_so(tmp_path: Path) -> None:
    measured = run_measured(
        [sys.executable, "-c", "import time; time.sleep(30)"],
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        stdout=tmp_path / "out",
        stderr=tmp_path / "err",
        timeout=0.5,
    )
    assert measured.timed_out
    assert measured.exit_status is None
    assert measured.wall_s < 5


def _list(session: requests.Session, url: str, **params: Any) -> list[dict[str, Any]]:
    """Follow Link rel="next" as every peer does."""
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    query: dict[str, Any] | None = {"per_page": 100, **params}
    while next_url:
        response = session.get(next_url, params=query, timeout=10)
        if response.status_code == 409:  # an empty repository
            return items
        response.raise_for_status()
        body = response.json()
        items += body["repositories"] if isinstance(body, dict) else body
        next_url = response.links.get("next", {}).get("url")
        query = None
    return items


def _peer_like_listing(sim: Any, installation_id: int, since: str) -> list[tuple[str, dict]]:
    """What the straightforward peer scripts fetch: commits since, pull requests with
    their reviews, issues since (no pull request commits)."""
    session = requests.Session()
    token = requests.post(
        f"{sim.url}/app/installations/{installation_id}/access_tokens",
        headers={"Authorization": f"Bearer {_jwt(sim)}"},
        timeout=10,
    ).json()["token"]
    session.headers["Authorization"] = f"token {token}"
    out: list[tuple[str, dict]] = []
    for repo in _list(session, f"{sim.url}/installation/repositories"):
        base = f"{sim.url}/repos/{repo['full_name']}"
        out += [("commits", c) for c in _list(session, f"{base}/commits", since=since)]
        for pr in _list(session, f"{base}/pulls", state="all"):
            out.append(("pulls", pr))
            reviews = _list(session, f"{base}/pulls/{pr['number']}/reviews")
            out += [("reviews", r) for r in reviews]
        out += [("issues", i) for i in _list(session, f"{base}/issues", state="all", since=since)]
    return out


def _jwt(sim: Any) -> str:
    import time

    import jwt

    now = int(time.time())
    claims = {"iat": now - 60, "exp": now + 500, "iss": str(sim.app_id)}
    return jwt.encode(claims, sim.private_key_pem, algorithm="RS256")


def test_peer_objects_become_the_expected_events_except_old_pull_request_commits() -> None:
    with running_simulator(size="1x3x12") as sim:
        installation_id = next(iter(sim.dataset.installations))
        until = sim.dataset.now + timedelta(seconds=1)
        since = until - timedelta(days=30)
        objects = _peer_like_listing(sim, installation_id, since.isoformat())
        expected = expected_events(sim.dataset, installation_id, since, until)
        true_events = all_true_events(sim.dataset, installation_id)

    stored = Stored().add_objects(objects)
    result = compare(stored, expected, true_events)

    # The only events a commits-since listing cannot see: commits of pull requests
    # merged in the window but dated before it (ghsync reads /pulls/{n}/commits).
    assert set(result["missing_by_kind"]) <= {"commit"}
    assert result["missing"] > 0  # the dataset builds such pull requests in
    assert result["invented"] == 0
    assert result["duplicated"] == 0
    assert result["expected"] == sum(1 for e in expected if e[1] in FOUR_KINDS)


def test_an_object_stored_twice_counts_as_a_duplicate_and_an_unknown_one_as_invented() -> None:
    commit = {"url": "http://sim/repos/o/r/commits/abc", "sha": "abc"}
    pull = {
        "url": "http://sim/repos/o/r/pulls/7",
        "number": 7,
        "created_at": "2026-01-01T00:00:00Z",
        "merged_at": None,
        "closed_at": "2026-01-02T00:00:00Z",
    }
    stored = Stored().add_objects([("commits", commit), ("commits", commit), ("pulls", pull)])
    assert stored.duplicates == 1
    assert stored.events == {
        ("o/r", "commit", "abc"),
        ("o/r", "pr_opened", "7"),
        ("o/r", "pr_closed", "7"),
    }
    result = compare(
        stored, {("o/r", "commit", "abc")}, {("o/r", "commit", "abc"), ("o/r", "pr_opened", "7")}
    )
    assert result["missing"] == 0
    assert result["invented"] == 1  # pr_closed 7 is not a true event
    assert result["extra_outside_window"] == 1
