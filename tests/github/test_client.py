"""The real GitHub client against the running simulator, over HTTP."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
import structlog
from structlog.testing import capture_logs

from integrations.github.client import (
    AuthenticationFailed,
    GitHubApp,
    GitHubClient,
    RateLimit,
    RateLimited,
    RepositoryUnavailable,
    TransientError,
)
from simulator.testing import RunningSimulator, generate_app_keypair

COMMITS = "/repos/org-1/repo-1/commits"


def _endpoint_count(sim: RunningSimulator, template: str) -> int:
    return sim.server.stats()["requests_by_endpoint"].get(template, 0)


def test_paginate_follows_link_across_many_pages_and_matches_the_dataset(
    sim: RunningSimulator, client: GitHubClient
) -> None:
    repo = sim.dataset.repository("org-1/repo-1")
    assert repo is not None
    expected = [c.sha for c in repo.default_branch_commits()]

    pages = list(client.paginate(COMMITS, {"per_page": 4}))

    assert len(pages) == math.ceil(len(expected) / 4) > 5
    assert [item["sha"] for page in pages for item in page.items] == expected
    assert pages[-1].next_url is None


def test_pagination_only_follows_link_never_guessed_page_numbers(
    sim: RunningSimulator, client: GitHubClient
) -> None:
    pages = list(client.paginate("/repos/org-1/repo-1/issues", {"state": "all", "per_page": 7}))

    for previous, page in itertools.pairwise(pages):
        assert page.url == previous.next_url
        assert "after=" in page.url and "page=" not in page.url.replace("per_page=", "")
    repo = sim.dataset.repository("org-1/repo-1")
    assert repo is not None
    assert sum(len(p.items) for p in pages) == len(repo.issues)
    assert _endpoint_count(sim, "GET /repos/{owner}/{repo}/issues") == len(pages)


def test_a_304_spends_no_budget_and_ends_pagination(
    sim: RunningSimulator, client: GitHubClient
) -> None:
    first = client.get_page(COMMITS, {"per_page": 5})
    spent = sim.server.stats()["budget_spent"][1001]

    pages = list(client.paginate(COMMITS, {"per_page": 5}, etag=first.etag))

    assert len(pages) == 1
    assert pages[0].not_modified and pages[0].items == [] and pages[0].status == 304
    stats = sim.server.stats()
    assert stats["budget_spent"][1001] == spent
    assert stats["not_modified_by_installation"][1001] == 1
    assert client.last_rate_limit is not None
    assert client.last_rate_limit.remaining == 5000 - spent


@pytest.mark.parametrize("status", [403, 429])
def test_primary_rate_limit_raises_rate_limited_with_the_reset(
    sim: RunningSimulator, client: GitHubClient, status: int
) -> None:
    sim.server.set_budget(1001, remaining=0, reset_in=120, status=status)

    with pytest.raises(RateLimited) as caught:
        client.get_page(COMMITS)

    error = caught.value
    assert error.kind == "primary" and error.status == status
    assert abs((error.reset_at - datetime.now(UTC)).total_seconds() - 120) < 5
    assert error.rate_limit is not None and error.rate_limit.remaining == 0


def test_secondary_rate_limit_honours_retry_after(
    sim: RunningSimulator, client: GitHubClient
) -> None:
    sim.server.set_faults(secondary_next=1, secondary_retry_after=7)

    with pytest.raises(RateLimited) as caught:
        client.get_page(COMMITS)

    assert caught.value.kind == "secondary"
    assert abs((caught.value.reset_at - datetime.now(UTC)).total_seconds() - 7) < 3
    assert client.get_page(COMMITS).status == 200


def test_far_future_reset_is_capped_at_65_minutes(
    sim: RunningSimulator, client: GitHubClient
) -> None:
    sim.server.set_budget(1001, remaining=0, reset_in=10 * 3600)

    with pytest.raises(RateLimited) as caught:
        client.get_page(COMMITS)

    assert caught.value.reset_at <= datetime.now(UTC) + timedelta(minutes=65, seconds=1)
    assert caught.value.reset_at >= datetime.now(UTC) + timedelta(minutes=64)


def test_reset_in_milliseconds_is_capped_too() -> None:
    millis = str(int(time.time() * 1000) + 60_000)
    rate = RateLimit.from_headers({"x-ratelimit-remaining": "0", "x-ratelimit-reset": millis})

    assert rate is not None and rate.reset_at is not None
    assert rate.reset_at <= datetime.now(UTC) + timedelta(minutes=65, seconds=1)


def test_server_errors_are_retried_until_success(
    sim: RunningSimulator, make_client: Callable[..., GitHubClient]
) -> None:
    client = make_client(max_retries=3)
    client.get_page(COMMITS)  # token cached
    before = _endpoint_count(sim, "GET /repos/{owner}/{repo}/commits")
    sim.server.set_faults(fail_next=2)

    page = client.get_page(COMMITS)

    assert page.status == 200
    assert _endpoint_count(sim, "GET /repos/{owner}/{repo}/commits") - before == 3


def test_persistent_server_errors_raise_transient_error_after_bounded_retries(
    sim: RunningSimulator, make_client: Callable[..., GitHubClient]
) -> None:
    client = make_client(max_retries=2)
    client.get_page(COMMITS)
    before = _endpoint_count(sim, "GET /repos/{owner}/{repo}/commits")
    sim.server.set_faults(fail_next=50)

    with pytest.raises(TransientError):
        client.get_page(COMMITS)

    assert _endpoint_count(sim, "GET /repos/{owner}/{repo}/commits") - before == 3


def test_read_timeout_raises_transient_error(
    sim: RunningSimulator, make_client: Callable[..., GitHubClient]
) -> None:
    client = make_client(timeout=(1, 0.2), max_retries=1)
    client.get_page(COMMITS)
    sim.server.set_faults(latency_ms=600)

    started = time.monotonic()
    with pytest.raises(TransientError):
        client.get_page(COMMITS)

    assert time.monotonic() - started < 3


def test_a_401_refreshes_the_token_once_and_succeeds(
    sim: RunningSimulator, client: GitHubClient
) -> None:
    client.get_page(COMMITS)
    sim.server.revoke_tokens()

    page = client.get_page(COMMITS)

    assert page.status == 200
    stats = sim.server.stats()
    assert stats["tokens_issued"] == 2
    assert stats["requests_by_status"][401] == 1


def test_a_second_401_raises_authentication_failed(
    sim: RunningSimulator, client: GitHubClient
) -> None:
    sim.server.configure(auth_failure=True)

    with pytest.raises(AuthenticationFailed):
        client.get_page(COMMITS)

    assert sim.server.stats()["requests_by_status"][401] == 2


def test_an_expiring_token_is_refreshed_before_use() -> None:
    from simulator.testing import running_simulator

    with running_simulator(size="1x1x3", token_ttl=61) as sim:
        app = GitHubApp(base_url=sim.url, app_id=sim.app_id, private_key=sim.private_key_pem)
        client = GitHubClient(app=app, installation_id=1001, backoff_base=0.01)
        client.get_page("/repos/org-1/repo-1/commits")
        time.sleep(1.2)  # now inside the 60 s refresh margin

        client.get_page("/repos/org-1/repo-1/commits")

        stats = sim.server.stats()
        assert stats["tokens_issued"] == 2
        assert 401 not in stats["requests_by_status"]


def test_installation_token_is_cached_across_clients(
    sim: RunningSimulator, make_client: Callable[..., GitHubClient]
) -> None:
    make_client().get_page(COMMITS)
    make_client().get_page(COMMITS)

    assert sim.server.stats()["tokens_issued"] == 1


def test_empty_repository_raises_repository_unavailable_409(client: GitHubClient) -> None:
    with pytest.raises(RepositoryUnavailable) as caught:
        client.get_page("/repos/org-1/repo-2/commits")

    assert caught.value.status == 409 and caught.value.reason == "empty repository"


def test_deleted_repository_raises_repository_unavailable_404(
    make_client: Callable[..., GitHubClient],
) -> None:
    client = make_client(1003)
    listed = [r["full_name"] for r in client.installation_repositories()]

    with pytest.raises(RepositoryUnavailable) as caught:
        client.get_page("/repos/org-3/repo-3/pulls")

    assert "org-3/repo-3" in listed
    assert caught.value.status == 404


def test_another_installations_repository_is_404(client: GitHubClient) -> None:
    with pytest.raises(RepositoryUnavailable) as caught:
        client.get_page("/repos/org-2/repo-1/commits")

    assert caught.value.status == 404


def test_installation_repositories_and_installations_are_listed(
    sim: RunningSimulator, app: GitHubApp, client: GitHubClient
) -> None:
    assert [i["id"] for i in app.list_installations()] == [1001, 1002, 1003]
    assert [r["full_name"] for r in client.installation_repositories()] == [
        "org-1/repo-1",
        "org-1/repo-2",
        "org-1/repo-3",
    ]


def test_a_jwt_signed_with_the_wrong_key_is_rejected(sim: RunningSimulator) -> None:
    wrong_key, _ = generate_app_keypair()
    app = GitHubApp(base_url=sim.url, app_id=sim.app_id, private_key=wrong_key)

    with pytest.raises(AuthenticationFailed):
        app.installation_token(1001)
    with pytest.raises(AuthenticationFailed):
        list(app.list_installations())


def test_a_token_cached_for_one_key_never_answers_for_another(sim: RunningSimulator) -> None:
    """The token cache is process-wide: an App with the right key fills it, and an App
    at the same address and id with another key must still be refused by GitHub."""
    right = GitHubApp(base_url=sim.url, app_id=sim.app_id, private_key=sim.private_key_pem)
    assert right.installation_token(1001)
    wrong_key, _ = generate_app_keypair()
    wrong = GitHubApp(base_url=sim.url, app_id=sim.app_id, private_key=wrong_key)

    with pytest.raises(AuthenticationFailed):
        wrong.installation_token(1001)


def test_a_jwt_with_the_wrong_app_id_is_rejected(sim: RunningSimulator) -> None:
    app = GitHubApp(base_url=sim.url, app_id=999, private_key=sim.private_key_pem)

    with pytest.raises(AuthenticationFailed):
        app.installation_token(1001)


@pytest.fixture
def debug_logs() -> Iterator[None]:
    """Let debug events through whatever level the project configured, then restore."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(0))
    try:
        yield
    finally:
        structlog.configure(**saved)


@pytest.mark.usefixtures("debug_logs")
def test_tokens_jwts_and_keys_never_reach_messages_or_logs(
    sim: RunningSimulator, app: GitHubApp, make_client: Callable[..., GitHubClient]
) -> None:
    client = make_client(max_retries=1)
    messages: list[str] = []
    with capture_logs() as logs:
        token = app.installation_token(1001)
        a_jwt = app.jwt()
        client.get_page(COMMITS)
        sim.server.set_faults(fail_next=5)
        for path in (COMMITS, "/repos/org-1/repo-2/commits", "/repos/org-9/none/commits"):
            try:
                client.get_page(path)
            except Exception as exc:  # every kind of failure, by design
                messages.append(f"{exc!s} {exc!r}")
        sim.server.set_budget(1001, remaining=0)
        with pytest.raises(RateLimited) as limited:
            client.get_page(COMMITS)
        messages.append(f"{limited.value!s} {limited.value!r}")
        sim.server.configure(auth_failure=True)
        with pytest.raises(AuthenticationFailed) as failed:
            client.get_page(COMMITS)
        messages.append(f"{failed.value!s} {failed.value!r}")
        wrong = GitHubApp(base_url=sim.url, app_id=1, private_key=generate_app_keypair()[0])
        with pytest.raises(AuthenticationFailed) as refused:
            wrong.installation_token(1001, force_refresh=True)
        messages.append(f"{refused.value!s} {refused.value!r} {app!r} {client!r}")

    text = "\n".join(messages) + "\n".join(repr(entry) for entry in logs)
    assert len(logs) >= 8 and len(messages) == 6
    key_body = sim.private_key_pem.splitlines()[5]
    for secret in (token, a_jwt, a_jwt.split(".")[0], "ghs_", key_body, "PRIVATE KEY"):
        assert secret not in text
    assert "authorization" not in text.lower()


@pytest.mark.parametrize("fault", ["cut_next", "truncate_next"])
def test_a_body_cut_short_is_retried_like_a_reset(
    sim: RunningSimulator, client: GitHubClient, fault: str
) -> None:
    """SPEC §5 (transient errors): a connection reset mid-body reaches requests as
    ChunkedEncodingError (urllib3 ProtocolError / IncompleteRead), and a body cut short
    behind a matching Content-Length as JSON that does not parse; both are transient."""
    expected = [item["sha"] for item in client.get_page(COMMITS, {"per_page": 50}).items]
    if fault == "cut_next":
        sim.server.set_faults(cut_next=2)
    else:
        sim.server.set_faults(truncate_next=2)

    page = client.get_page(COMMITS, {"per_page": 50})

    assert [item["sha"] for item in page.items] == expected
    assert sim.server.cut_next == sim.server.truncate_next == 0
    assert _endpoint_count(sim, "GET /repos/{owner}/{repo}/commits") == 4


def test_a_body_cut_short_every_time_ends_in_transient_error(
    sim: RunningSimulator, make_client: Callable[..., GitHubClient]
) -> None:
    client = make_client(max_retries=1)
    sim.server.set_faults(cut_next=5)

    with pytest.raises(TransientError, match="ChunkedEncodingError after 2 attempts"):
        client.get_page(COMMITS)


# --------------------------------------------------------------------------- validators
# GitHub facts (SPEC §12), from GitHub's docs ("Best practices for using the REST API":
# conditional requests; a 304 does not count against the primary limit when made with
# an Authorization header), GitHub Support (2024: "It's currently expected for ETags to
# be auth token specific") and recorded responses (@octokit/fixtures 23.1.2,
# scenarios/api.github.com/get-repository/raw-fixture.json: `Vary: Accept, Authorization,
# Cookie, X-GitHub-OTP`, and `Last-Modified` on the repository).

PULLS = "/repos/org-1/repo-1/pulls"


def _spent(sim: RunningSimulator) -> int:
    return int(sim.server.stats()["budget_spent"].get(1001, 0))


def test_an_etag_from_one_token_sent_with_another_is_a_200_that_spends_budget(
    sim: RunningSimulator, app: GitHubApp, client: GitHubClient
) -> None:
    """GitHub's ETags are specific to the token that asked (GitHub Support, 2024)."""
    first = client.get_page(COMMITS)
    same_token = client.get_page(COMMITS, etag=first.etag)
    assert same_token.not_modified
    spent = _spent(sim)

    app.installation_token(1001, force_refresh=True)  # a new token, as an hour later
    assert client.token_scope() != first.scope
    other_token = client.get_page(COMMITS, etag=first.etag)

    assert not other_token.not_modified and other_token.status == 200
    assert other_token.items == first.items
    assert _spent(sim) == spent + 1
    assert other_token.etag != first.etag


def test_etags_are_weak_on_200_strong_on_304_compared_without_w_and_vary_names_authorization(
    sim: RunningSimulator, app: GitHubApp
) -> None:
    """Recorded GitHub responses: a 200's ETag is `W/"…"` (compressed), the 304 answers
    with the strong form; `Vary` lists Authorization, so caches keep tokens apart."""
    headers = {"Authorization": f"token {app.installation_token(1001)}"}
    ok = requests.get(sim.url + COMMITS, headers=headers, timeout=5)
    etag = ok.headers["ETag"]
    assert etag.startswith('W/"') and etag.endswith('"')
    assert ok.headers["Vary"] == "Accept, Authorization, Cookie, X-GitHub-OTP"
    for sent in (etag, etag[2:], f'"other", {etag[2:]}'):
        not_modified = requests.get(
            sim.url + COMMITS, headers={**headers, "If-None-Match": sent}, timeout=5
        )
        assert not_modified.status_code == 304 and not_modified.content == b""
        assert not_modified.headers["ETag"] == etag[2:]


def test_last_modified_is_sent_on_the_three_endpoints_github_sends_it_on(
    sim: RunningSimulator, client: GitHubClient
) -> None:
    """SPEC §12: Last-Modified on the commits list (its newest commit's committer date),
    a pull request's commits (the PR's updated_at) and a repository (its updated_at);
    not on the other lists."""
    repo = sim.dataset.repository("org-1/repo-1")
    assert repo is not None
    newest = repo.default_branch_commits()[0].committer_date
    commits = client.get_page(COMMITS, {"since": "2000-01-01T00:00:00Z"})
    assert commits.last_modified == format_datetime(newest.replace(microsecond=0), usegmt=True)
    pr = repo.pulls[0]
    pr_commits = client.get_page(f"/repos/org-1/repo-1/pulls/{pr.number}/commits")
    assert pr_commits.last_modified == format_datetime(
        pr.updated_at.replace(microsecond=0), usegmt=True
    )
    assert client.get_page("/repos/org-1/repo-1").last_modified is not None
    for path in (PULLS, "/repos/org-1/repo-1/issues", "/repos/org-1/repo-1/issues/comments"):
        assert client.get_page(path).last_modified is None, path


def test_if_modified_since_on_the_commits_list_is_a_free_304_across_tokens(
    sim: RunningSimulator, app: GitHubApp, client: GitHubClient
) -> None:
    """Last-Modified holds whichever token asks: a new token's If-Modified-Since is a
    304 that spends nothing, until a newer commit lands."""
    first = client.get_page(COMMITS, {"since": "2000-01-01T00:00:00Z"})
    assert first.last_modified is not None
    app.installation_token(1001, force_refresh=True)
    spent = _spent(sim)

    again = client.get_page(
        COMMITS, {"since": "2001-01-01T00:00:00Z"}, if_modified_since=first.last_modified
    )

    assert again.not_modified and _spent(sim) == spent
    sim.server.add_activity("commit", installation_id=1001, repo="org-1/repo-1")
    changed = client.get_page(COMMITS, if_modified_since=first.last_modified)
    assert changed.status == 200 and _spent(sim) == spent + 1


def test_if_modified_since_is_ignored_where_github_sends_no_last_modified_and_under_a_stale_etag(
    sim: RunningSimulator, app: GitHubApp, client: GitHubClient
) -> None:
    """No Last-Modified on the pulls list, so If-Modified-Since cannot make it a 304; and
    If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2): a stale ETag with a
    fresh date is a 200."""
    far_future = "Fri, 01 Jan 2100 00:00:00 GMT"
    assert client.get_page(PULLS, if_modified_since=far_future).status == 200
    first = client.get_page(COMMITS)
    app.installation_token(1001, force_refresh=True)
    both = client.get_page(COMMITS, etag=first.etag, if_modified_since=far_future)
    assert both.status == 200


def test_an_empty_repository_looks_as_github_shows_it(client: GitHubClient) -> None:
    """GitHub: an empty repository has `size: 0` and `pushed_at` equal to `created_at`
    (never null; SPEC §12), and its commits list answers 409 "Git Repository is
    empty."."""
    (repo,) = client.get_page("/repos/org-1/repo-2").items
    assert repo["size"] == 0 and repo["pushed_at"] == repo["created_at"] is not None
    with pytest.raises(RepositoryUnavailable) as caught:
        client.get_page("/repos/org-1/repo-2/commits")
    assert caught.value.status == 409
    (full,) = client.get_page("/repos/org-1/repo-1").items
    assert full["size"] > 0 and full["pushed_at"] > full["created_at"]


def test_links_point_at_repositories_by_id_with_page_and_the_alias_answers_the_same(
    sim: RunningSimulator, client: GitHubClient
) -> None:
    """GitHub's Link headers on a repository's lists point at `/repositories/{id}/…`
    (@octokit/fixtures 23.1.2, scenarios/api.github.com/paginate-issues: asked as
    `/repos/{o}/{r}/issues?per_page=3`, it links `<https://api.github.com/repositories/
    1000/issues?per_page=3&page=2>; rel="next"`), with `page=`; a client follows them
    as given (SPEC §12)."""
    repo = sim.dataset.repository("org-1/repo-1")
    assert repo is not None
    pages = list(client.paginate(COMMITS, {"per_page": 4}))
    assert len(pages) > 2
    for page in pages[1:]:
        assert f"/repositories/{repo.id}/commits?" in page.url and "page=" in page.url
    by_name = [item["sha"] for page in pages for item in page.items]
    assert by_name == [c.sha for c in repo.default_branch_commits()]
    alias = client.get_page(f"/repositories/{repo.id}/commits", {"per_page": 4})
    assert [item["sha"] for item in alias.items] == by_name[:4]
    assert client.get_page(f"/repositories/{repo.id}").items[0]["full_name"] == "org-1/repo-1"


def test_merge_commit_sha_is_set_on_unmerged_pull_requests_too(
    sim: RunningSimulator, client: GitHubClient
) -> None:
    """GitHub's `pull-request` schema (@octokit/openapi): `merge_commit_sha` is the test
    merge commit while the pull request is open; `merged_at` says whether it merged
    (SPEC §12). A client must not read "merged" from it."""
    pulls = client.get_page(PULLS, {"state": "all", "per_page": 100}).items
    unmerged = [p for p in pulls if p["merged_at"] is None]
    assert unmerged and all(len(p["merge_commit_sha"] or "") == 40 for p in unmerged)
