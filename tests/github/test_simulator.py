"""The simulator's data, rules and control API (through the real client where it can)."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from integrations.github.client import GitHubApp, GitHubClient, RateLimited, RepositoryUnavailable
from simulator import (
    all_true_events,
    expected_events,
    generate,
    min_requests,
)
from simulator.testing import RunningSimulator, running_simulator
from simulator.webhooks import activity_payload, deliver, installation_created_payload, sign
from tests.webhook_examples import github_example

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
WINDOW = (NOW - timedelta(days=30), NOW)
ROOT = Path(__file__).resolve().parents[2]


def _control(sim: RunningSimulator, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(sim.url + path, data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_the_same_seed_gives_the_same_data_and_another_seed_does_not() -> None:
    first, second = generate(7, "3x3x15", now=NOW), generate(7, "3x3x15", now=NOW)
    other = generate(8, "3x3x15", now=NOW)

    assert all_true_events(first) == all_true_events(second)
    assert all_true_events(first) != all_true_events(other)
    for iid in (1001, 1002, 1003):
        assert expected_events(first, iid, *WINDOW) == expected_events(second, iid, *WINDOW)


def test_events_fall_outside_the_window_too() -> None:
    data = generate(1, "1x1x40", now=NOW)

    assert len(expected_events(data, 1001, *WINDOW)) < len(all_true_events(data, 1001))
    assert expected_events(data, 1001, *WINDOW) <= all_true_events(data, 1001)


def test_expected_events_include_old_dated_commits_of_prs_merged_in_the_window() -> None:
    data = generate(1, "1x1x20", now=NOW)
    repo = data.repositories(1001)[0]
    expected = expected_events(data, 1001, *WINDOW)

    old = [
        c
        for pr in repo.pulls
        if pr.merged_at and pr.merged_at >= WINDOW[0]
        for c in map(repo.commit, pr.commit_shas)
        if c.committer_date < WINDOW[0]
    ]

    assert old
    assert all((repo.full_name, "commit", c.sha) in expected for c in old)


def test_expected_events_include_authorless_commits() -> None:
    data = generate(1, "1x1x30", now=NOW)
    repo = data.repositories(1001)[0]
    authorless = [c for c in repo.default_branch_commits() if c.author is None]
    expected = expected_events(data, 1001, WINDOW[0] - timedelta(days=60), NOW)

    assert authorless
    assert all((repo.full_name, "commit", c.sha) in expected for c in authorless)


def test_authorless_commits_have_a_null_author_and_a_git_name(client: GitHubClient) -> None:
    items = [i for p in client.paginate("/repos/org-1/repo-1/commits") for i in p.items]
    authorless = [i for i in items if i["author"] is None]

    assert authorless
    assert all(i["commit"]["author"]["name"] for i in authorless)


def test_special_repositories_are_where_documented() -> None:
    data = generate(1, "3x4x5", now=NOW)

    for inst in data.installations.values():
        assert [r.empty for r in inst.repositories] == [False, False, True, False]
    assert [r.deleted for r in data.installations[1003].repositories] == [False] * 3 + [True]
    assert not any(r.deleted for r in data.repositories(1001) + data.repositories(1002))
    assert not expected_events(data, 1003, NOW - timedelta(days=90), NOW) & {
        e for e in all_true_events(data) if e[0] in ("org-3/repo-3", "org-3/repo-4")
    }
    plain = generate(1, "3x4x5", now=NOW, empty_repos=False, deleted_repo=False)
    assert not any(r.empty or r.deleted for r in plain.repositories())


def test_ids_are_unique_across_repositories_and_numbers_share_one_sequence() -> None:
    data = generate(1, "2x3x12", now=NOW)
    repos = data.repositories()
    reviews = [r.id for repo in repos for pr in repo.pulls for r in pr.reviews]
    comments = [c.id for repo in repos for c in repo.comments]
    issue_ids = [i.id for repo in repos for i in repo.issues.values()]

    assert len({r.id for r in repos}) == len(repos)
    assert len(set(reviews)) == len(reviews) > 0
    assert len(set(comments)) == len(comments) > 0
    assert len(set(issue_ids)) == len(issue_ids)
    for repo in repos:
        if repo.issues:
            assert sorted(repo.issues) == list(range(1, len(repo.issues) + 1))


def test_issues_list_contains_pull_requests(client: GitHubClient) -> None:
    items = [
        i
        for p in client.paginate("/repos/org-1/repo-1/issues", {"state": "all", "per_page": 100})
        for i in p.items
    ]

    assert any("pull_request" in i for i in items)
    assert any("pull_request" not in i for i in items)


def test_edited_comments_are_listed_by_updated_since(
    sim: RunningSimulator, client: GitHubClient
) -> None:
    repo = sim.dataset.repository("org-1/repo-1")
    assert repo is not None
    edited = [c for c in repo.comments if c.updated_at > c.created_at]
    assert edited
    since = max(c.created_at for c in edited) + timedelta(seconds=1)
    newest_edit = max(edited, key=lambda c: c.updated_at)
    if newest_edit.updated_at < since:
        pytest.skip("no edit after the newest edited comment's creation in this dataset")

    ids = [
        i["id"]
        for p in client.paginate("/repos/org-1/repo-1/issues/comments", {"since": _iso(since)})
        for i in p.items
    ]

    assert newest_edit.id in ids


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_review_comments_are_listed_by_update_since_newest_first(
    sim: RunningSimulator, client: GitHubClient
) -> None:
    repo = sim.dataset.repository("org-1/repo-1")
    assert repo is not None and repo.review_comments
    assert any(c.updated_at > c.created_at for c in repo.review_comments)  # some edited
    since = sorted(c.updated_at for c in repo.review_comments)[len(repo.review_comments) // 2]
    query = {"since": _iso(since), "sort": "updated", "direction": "desc", "per_page": 100}

    items = [
        i for p in client.paginate("/repos/org-1/repo-1/pulls/comments", query) for i in p.items
    ]

    assert [i["id"] for i in items] == [
        c.id
        for c in sorted(repo.review_comments, key=lambda c: (c.updated_at, c.id), reverse=True)
        if c.updated_at >= since
    ]
    by_id = {c.id: c for c in repo.review_comments}
    for item in items:
        comment = by_id[item["id"]]
        assert item["pull_request_url"].endswith(f"/repos/org-1/repo-1/pulls/{comment.pr_number}")
        assert item["html_url"].endswith(f"/pull/{comment.pr_number}#discussion_r{comment.id}")
        review = next(
            r
            for r in repo.issues[comment.pr_number].reviews
            if r.id == item["pull_request_review_id"]
        )
        assert review.state != "APPROVED" and item["created_at"] == _iso(review.submitted_at)
    # Every field of GitHub's own example comment but its reactions.
    example = github_example("pull_request_review_comment/created.payload.json")["comment"]
    assert set(example) - set(items[0]) == {"reactions"}


def test_per_page_is_capped_at_100() -> None:
    with running_simulator(size="1x1x150") as sim:
        app = GitHubApp(base_url=sim.url, app_id=1, private_key=sim.private_key_pem)
        client = GitHubClient(app=app, installation_id=1001)
        page = client.get_page("/repos/org-1/repo-1/commits", {"per_page": 500})

        assert len(page.items) == 100 and page.next_url is not None


def test_budget_resets_when_the_window_passes() -> None:
    with running_simulator(size="1x1x3", window_seconds=1, budget=2) as sim:
        app = GitHubApp(base_url=sim.url, app_id=1, private_key=sim.private_key_pem)
        client = GitHubClient(app=app, installation_id=1001)
        client.get_page("/repos/org-1/repo-1")
        client.get_page("/repos/org-1/repo-1")
        with pytest.raises(RateLimited) as caught:
            client.get_page("/repos/org-1/repo-1")
        assert caught.value.reset_at <= datetime.now(UTC) + timedelta(seconds=2)

        time.sleep(max(0.0, (caught.value.reset_at - datetime.now(UTC)).total_seconds()) + 0.3)

        assert client.get_page("/repos/org-1/repo-1").rate_limit.remaining == 1  # type: ignore[union-attr]


def test_rate_limit_endpoint_is_free(sim: RunningSimulator, client: GitHubClient) -> None:
    client.get_page("/repos/org-1/repo-1")
    page = client.get_page("/rate_limit")
    page = client.get_page("/rate_limit")

    assert page.items[0]["resources"]["core"]["remaining"] == 4999
    assert sim.server.stats()["budget_spent"][1001] == 1


def test_added_activity_is_served_and_changes_the_etag(
    sim: RunningSimulator, client: GitHubClient
) -> None:
    since = {"since": _iso(datetime.now(UTC) - timedelta(minutes=5))}
    first = client.get_page("/repos/org-1/repo-1/commits", since)
    assert client.get_page(first.url, etag=first.etag).not_modified

    created = sim.server.add_activity("commit", installation_id=1001)
    again = client.get_page(first.url, etag=first.etag)

    assert not again.not_modified
    assert [i["sha"] for i in again.items] == [created["events"][0][2]]
    assert tuple(created["events"][0]) in expected_events(
        sim.dataset, 1001, datetime.now(UTC) - timedelta(minutes=1), datetime.now(UTC)
    )


@pytest.mark.parametrize(
    ("kind", "event_kinds"),
    [
        ("pr_opened", {"pr_opened"}),
        ("pr_merged", {"pr_merged", "commit"}),
        ("issue_opened", {"issue_opened"}),
        ("issue_closed", {"issue_closed"}),
        ("issue_comment", {"issue_comment"}),
        ("review_submitted", {"review_submitted"}),
    ],
)
def test_every_kind_of_activity_can_be_added(
    sim: RunningSimulator, kind: str, event_kinds: set[str]
) -> None:
    created = _control(sim, "/_sim/activity", {"kind": kind, "installation_id": 1002})
    now = datetime.now(UTC)

    assert event_kinds <= {e[1] for e in created["events"]}
    for event in created["events"]:
        assert tuple(event) in expected_events(sim.dataset, 1002, now - timedelta(minutes=1), now)


def test_control_api_sets_budgets_and_reports_stats(
    sim: RunningSimulator, client: GitHubClient
) -> None:
    _control(sim, "/_sim/config", {"budget": {"installation_id": 1001, "remaining": 0}})

    with pytest.raises(RateLimited):
        client.get_page("/repos/org-1/repo-1")

    stats = _control(sim, "/_sim/stats")
    assert stats["requests_by_status"]["403"] == 1
    assert stats["requests_by_endpoint"]["GET /repos/{owner}/{repo}"] == 1
    summary = _control(sim, "/_sim/dataset")
    assert [r["empty"] for r in summary["installations"][0]["repositories"]] == [
        False,
        True,
        False,
    ]


def test_min_requests_is_what_a_careful_sync_spends(
    sim: RunningSimulator, make_client: Callable[..., GitHubClient]
) -> None:
    client = make_client(1003)
    until = datetime.now(UTC)
    since = until - timedelta(days=30)
    window = {"since": _iso(since), "until": _iso(until), "per_page": 100}
    sim.server.reset_stats()

    pulls_query = {"state": "all", "sort": "updated", "direction": "desc", "per_page": 100}
    since_query = {"since": _iso(since), "per_page": 100}
    for repo in client.installation_repositories():
        base = f"/repos/{repo['full_name']}"
        try:
            list(client.paginate(f"{base}/commits", window))
        except RepositoryUnavailable as exc:
            if exc.status == 404:
                continue
        for page in client.paginate(f"{base}/pulls", pulls_query):
            for pr in page.items:
                if pr["updated_at"] < _iso(since):
                    break
                list(client.paginate(f"{base}/pulls/{pr['number']}/reviews", {"per_page": 100}))
                if pr["merged_at"] and _iso(since) <= pr["merged_at"] <= _iso(until):
                    list(client.paginate(f"{base}/pulls/{pr['number']}/commits", {"per_page": 100}))
        list(client.paginate(f"{base}/issues", {"state": "all", **since_query}))
        list(client.paginate(f"{base}/issues/comments", since_query))
        list(client.paginate(f"{base}/pulls/comments", since_query))

    served = sim.server.stats()["requests_by_installation"][1003]
    # Timestamps are whole seconds on the wire: compare with a second-aligned window.
    aligned = (since.replace(microsecond=0), until.replace(microsecond=0))
    assert served == min_requests(sim.dataset, 1003, *aligned)


def test_webhook_deliveries_are_signed(sim: RunningSimulator) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/webhooks/github"
    try:
        payload = installation_created_payload(sim.dataset, 1001, 5001, "user-1")
        assert deliver(url, "s3cret", "installation", payload, delivery_id="abc-1") == 202
        answer = _control(
            sim, "/_sim/webhooks", {"url": url, "secret": "s3cret", "event": "push", "kind": "push"}
        )
        assert answer["status"] == 202
    finally:
        receiver.shutdown()
        receiver.server_close()

    (headers, body), (push_headers, push_body) = received
    assert headers["X-GitHub-Event"] == "installation"
    assert headers["X-GitHub-Delivery"] == "abc-1"
    assert headers["X-Hub-Signature-256"] == sign(body, "s3cret")
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature-256"] == expected
    sent = json.loads(body)
    assert sent["action"] == "created" and sent["installation"]["id"] == 1001
    assert [r["full_name"] for r in sent["repositories"]] == [
        "org-1/repo-1",
        "org-1/repo-2",
        "org-1/repo-3",
    ]
    assert push_headers["X-GitHub-Event"] == "push"
    assert push_headers["X-Hub-Signature-256"] == sign(push_body, "s3cret")
    assert json.loads(push_body)["installation"]["id"] == 1001


def test_the_command_line_prints_where_it_listens(tmp_path: Path) -> None:
    with running_simulator(size="1x1x1") as sim:
        public_key = tmp_path / "app.pub.pem"
        public_key.write_text(sim.public_key_pem)
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--port", "0", "--size", "1x2x3",
         "--public-key", str(public_key)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("simulator listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        with urllib.request.urlopen(url + "/_sim/stats", timeout=5) as response:
            assert json.loads(response.read())["requests_total"] == 0
    finally:
        process.terminate()
        process.wait(timeout=5)


def _json_types(value: Any, path: str = "") -> dict[str, str]:
    """Every key path of a payload (a list's first item stands for all) and the JSON
    type there; null is left out (GitHub sends null for most fields at times)."""
    found: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            if item is not None:
                found[path + key] = type(item).__name__
            found.update(_json_types(item, f"{path}{key}."))
    elif isinstance(value, list) and value:
        found.update(_json_types(value[0], f"{path}[]."))
    return found


# GitHub's push payload describes its repository with epoch-second integers where
# every other payload (and the REST API) has ISO strings; the simulator renders the
# REST repository. ghsync reads neither field, so the difference harms nothing today.
PUSH_EPOCH_TIMES = pytest.mark.xfail(
    strict=True,
    reason="the simulator's push payload has ISO strings for repository.created_at and "
    "pushed_at, where GitHub's has epoch integers",
)


@pytest.mark.parametrize(
    ("event", "example"),
    [
        pytest.param(
            "push", "push/with-no-username-committer.payload.json", marks=PUSH_EPOCH_TIMES
        ),
        ("pull_request", "pull_request/closed.payload.json"),
        ("pull_request_review", "pull_request_review/submitted.payload.json"),
        ("issues", "issues/reopened.payload.json"),
        ("issue_comment", "issue_comment/created.with-installation.payload.json"),
        ("pull_request_review_comment", "pull_request_review_comment/created.payload.json"),
    ],
)
def test_webhook_payloads_have_githubs_json_types_where_both_have_a_field(
    event: str, example: str
) -> None:
    made = _json_types(activity_payload(generate(7, "1x2x6"), event, installation_id=1001))
    github = _json_types(github_example(example))

    shared = made.keys() & github.keys()
    assert {"repository.id", "sender.login", "installation.id"} <= shared
    assert {path: made[path] for path in shared if made[path] != github[path]} == {}


def test_installation_created_payload_has_githubs_json_types_where_both_have_a_field() -> None:
    made = _json_types(installation_created_payload(generate(7, "1x2x6"), 1001, 5001, "user-1"))
    github = _json_types(github_example("installation/created.payload.json"))
    # GitHub itself sends these as epoch integers (2019 examples) or ISO strings (2021).
    shared = made.keys() & github.keys() - {"installation.created_at", "installation.updated_at"}

    assert {"installation.id", "installation.account.login", "repositories.[].id"} <= shared
    assert {path: made[path] for path in shared if made[path] != github[path]} == {}
