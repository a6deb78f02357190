"""Mapping GitHub REST objects to events, and the one-statement upsert on the natural key."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from integrations.events import (
    commit_event,
    events_annotate,
    events_upsert,
    issue_comment_event,
    issue_events,
    pull_request_events,
    review_comment_event,
    review_event,
)
from integrations.models import Event
from tests.factories import make_installation

USER = {"login": "octocat", "id": 583231}


def _commit(
    sha: str = "a" * 40, *, author: dict | None = USER, message: str = "Fix it\n\nbody"
) -> dict:
    return {
        "sha": sha,
        "html_url": f"https://github.com/o/r/commit/{sha}",
        "commit": {
            "author": {
                "name": "Mona Lisa",
                "email": "m@example.com",
                "date": "2024-05-01T10:00:00Z",
            },
            "committer": {
                "name": "Mona Lisa",
                "email": "m@example.com",
                "date": "2024-05-02T11:00:00Z",
            },
            "message": message,
        },
        "author": author,
    }


def _pull(**over: object) -> dict:
    item = {
        "number": 7,
        "title": "Add feature\nsecond line",
        "user": USER,
        "html_url": "https://github.com/o/r/pull/7",
        "created_at": "2024-05-01T10:00:00Z",
        "merged_at": None,
        "closed_at": None,
    }
    item.update(over)
    return item


def test_commit_uses_author_date_first_message_line_and_the_github_account() -> None:
    event = commit_event(_commit())

    assert event.kind == "commit" and event.github_id == "a" * 40
    assert event.occurred_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert event.title == "Fix it"
    assert (event.actor_login, event.actor_github_id) == ("octocat", 583231)
    assert event.data["committed_at"] == "2024-05-02T11:00:00+00:00"


def test_commit_without_a_github_account_keeps_the_git_author_name() -> None:
    event = commit_event(_commit(author=None))

    assert event.actor_login == "Mona Lisa"
    assert event.actor_github_id is None


def test_commit_from_a_push_payload_maps_to_the_same_key() -> None:
    pushed = {
        "id": "a" * 40,
        "message": "Fix it",
        "timestamp": "2024-05-01T06:00:00-04:00",
        "url": "https://github.com/o/r/commit/" + "a" * 40,
        "author": {"name": "Mona Lisa", "email": "m@example.com", "username": "octocat"},
    }

    event = commit_event(pushed)

    assert event.key == commit_event(_commit()).key
    assert event.occurred_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert event.actor_login == "octocat"


def test_title_is_one_line_of_at_most_512_characters() -> None:
    event = commit_event(_commit(message="\n  " + "x" * 600 + "\nmore"))

    assert "\n" not in event.title and len(event.title) == 512


@pytest.mark.parametrize(
    ("merged_at", "closed_at", "kinds"),
    [
        (None, None, ["pr_opened"]),
        ("2024-05-03T00:00:00Z", "2024-05-03T00:00:00Z", ["pr_opened", "pr_merged"]),
        (None, "2024-05-04T00:00:00Z", ["pr_opened", "pr_closed"]),
    ],
)
def test_pull_request_events_follow_its_outcome(
    merged_at: str | None, closed_at: str | None, kinds: list[str]
) -> None:
    events = pull_request_events(_pull(merged_at=merged_at, closed_at=closed_at))

    assert [e.kind for e in events] == kinds
    assert {e.github_id for e in events} == {"7"} and {e.number for e in events} == {7}
    assert events[0].title == "Add feature"
    if len(events) == 2:
        assert events[1].occurred_at == datetime.fromisoformat(
            (merged_at or closed_at or "").replace("Z", "+00:00")
        )


def test_pending_review_is_not_an_event_and_a_submitted_one_is() -> None:
    pending = {"id": 1, "user": USER, "state": "PENDING", "submitted_at": None}
    submitted = {
        "id": 2,
        "user": USER,
        "state": "APPROVED",
        "submitted_at": "2024-05-05T00:00:00Z",
        "html_url": "https://github.com/o/r/pull/7#pullrequestreview-2",
    }

    assert review_event(pending, 7) is None
    event = review_event(submitted, 7)
    assert event is not None
    assert (event.kind, event.github_id, event.number) == ("review_submitted", "2", 7)
    assert event.data == {"state": "APPROVED"}


def test_issue_events_and_pull_requests_in_the_issues_list_are_skipped() -> None:
    issue = {
        "number": 3,
        "title": "Bug",
        "user": USER,
        "created_at": "2024-05-01T00:00:00Z",
        "closed_at": "2024-05-02T00:00:00Z",
        "html_url": "https://github.com/o/r/issues/3",
    }

    assert [e.kind for e in issue_events(issue)] == ["issue_opened", "issue_closed"]
    assert issue_events({**issue, "closed_at": None})[0].kind == "issue_opened"
    assert issue_events({**issue, "pull_request": {"url": "x"}}) == []


def test_comment_takes_its_issue_number_from_the_issue_url() -> None:
    comment = {
        "id": 99,
        "user": USER,
        "body": "Looks good\nthanks",
        "created_at": "2024-05-01T00:00:00Z",
        "updated_at": "2024-05-01T00:00:00Z",
        "issue_url": "https://api.github.com/repos/o/r/issues/12",
        "html_url": "https://github.com/o/r/issues/12#issuecomment-99",
    }

    event = issue_comment_event(comment)

    assert (event.kind, event.github_id, event.number, event.title) == (
        "issue_comment",
        "99",
        12,
        "Looks good",
    )


def test_review_comment_takes_its_pull_request_number_and_keeps_its_path_and_review() -> None:
    comment = {
        "id": 3_000_000_123,  # past 2**31, as GitHub's review comment ids are
        "pull_request_review_id": 77,
        "user": USER,
        "body": "Rename this\nplease",
        "path": "src/app.py",
        "created_at": "2024-05-01T00:00:00Z",
        "updated_at": "2024-05-02T00:00:00Z",
        "pull_request_url": "https://api.github.com/repos/o/r/pulls/12",
        "html_url": "https://github.com/o/r/pull/12#discussion_r3000000123",
    }

    event = review_comment_event(comment)

    assert (event.kind, event.github_id, event.number, event.title) == (
        "review_comment",
        "3000000123",
        12,
        "Rename this",
    )
    assert event.occurred_at == datetime(2024, 5, 1, tzinfo=UTC)  # created, not edited
    assert event.url == "https://github.com/o/r/pull/12#discussion_r3000000123"
    assert event.data == {
        "updated_at": "2024-05-02T00:00:00Z",
        "path": "src/app.py",
        "review_id": 77,
    }


@pytest.mark.django_db
def test_upsert_updates_an_edited_comment_in_place_and_keeps_first_seen_at() -> None:
    installation = make_installation(repos=1)
    repository = installation.repositories.get()
    comment = {
        "id": 99,
        "user": USER,
        "body": "First",
        "created_at": "2024-05-01T00:00:00Z",
        "updated_at": "2024-05-01T00:00:00Z",
        "issue_url": "https://api.github.com/repos/o/r/issues/12",
    }

    assert (
        events_upsert(
            installation=installation, repository=repository, events=[issue_comment_event(comment)]
        )
        == 1
    )
    first = Event.objects.get()
    Event.objects.filter(pk=first.pk).update(first_seen_at=first.first_seen_at - timedelta(days=1))
    edited = {**comment, "body": "Edited", "updated_at": "2024-05-03T00:00:00Z"}
    written = events_upsert(
        installation=installation, repository=repository, events=[issue_comment_event(edited)]
    )

    row = Event.objects.get()
    assert written == 1 and row.pk == first.pk
    assert row.title == "Edited"
    assert row.first_seen_at == first.first_seen_at - timedelta(days=1)
    assert row.updated_at > first.updated_at


@pytest.mark.django_db
def test_upsert_writes_one_row_per_natural_key_even_when_a_page_repeats_it() -> None:
    installation = make_installation(repos=2)
    repo_a, repo_b = installation.repositories.order_by("id")
    events = [
        commit_event(_commit("b" * 40)),
        commit_event(_commit("b" * 40, author=None)),
        *pull_request_events(
            _pull(merged_at="2024-05-03T00:00:00Z", closed_at="2024-05-03T00:00:00Z")
        ),
    ]

    assert events_upsert(installation=installation, repository=repo_a, events=events) == 3
    assert events_upsert(installation=installation, repository=repo_a, events=events) == 3
    events_upsert(installation=installation, repository=repo_b, events=events[:1])

    assert Event.objects.filter(repository=repo_a).count() == 3
    assert Event.objects.filter(repository=repo_b).count() == 1
    authorless = Event.objects.get(repository=repo_a, kind="commit")
    assert (authorless.actor_login, authorless.actor_github_id) == ("Mona Lisa", None)
    assert events_upsert(installation=installation, repository=repo_a, events=[]) == 0


def test_a_rest_commit_counts_its_parents_and_a_push_commit_has_none_to_count() -> None:
    """REST commits carry `parents` (two for a merge commit); a push payload's commits
    do not, so a pushed commit's event leaves `parents` out rather than guess."""
    merge = {**_commit(), "parents": [{"sha": "1" * 40}, {"sha": "2" * 40}]}
    pushed = {"id": "a" * 40, "message": "Fix it", "timestamp": "2024-05-01T10:00:00Z"}

    assert commit_event(merge).data["parents"] == 2
    assert "parents" not in commit_event(pushed).data


@pytest.mark.django_db
def test_upsert_merges_data_so_a_later_read_keeps_pull_number_and_merge_of() -> None:
    """The same commit comes from a PR's commit list (with `pull_number`), the pulls
    list (`merge_of` on the merge_commit_sha) and the default branch's commits list
    (neither): whichever comes last, what the others said stays."""
    installation = make_installation(repos=1)
    repository = installation.repositories.get()
    plain = commit_event(_commit("c" * 40))
    from_pull = replace(plain, data={**plain.data, "pull_number": 7})

    events_upsert(installation=installation, repository=repository, events=[from_pull])
    assert (
        events_annotate(
            repository=repository, kind="commit", notes={"c" * 40: {"merge_of": 7}, "d" * 40: {}}
        )
        == 1
    )
    events_upsert(installation=installation, repository=repository, events=[plain])

    row = Event.objects.get(repository=repository, github_id="c" * 40)
    assert row.data["pull_number"] == 7 and row.data["merge_of"] == 7
    assert row.data["sha"] == "c" * 40 and row.data["author_name"] == "Mona Lisa"
    assert Event.objects.filter(repository=repository).count() == 1
