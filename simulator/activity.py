"""New activity at runtime ("someone pushed just now"), for incremental-sync tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from .dataset import (
    MERGE_METHODS,
    REVIEW_COMMENT_IDS,
    Comment,
    Commit,
    Dataset,
    Issue,
    Repository,
    Review,
    ReviewComment,
    make_sha,
    merge_pull,
)

KINDS = (
    "commit",
    "pr_opened",
    "pr_merged",
    "pr_closed",
    "review_submitted",
    "issue_opened",
    "issue_closed",
    "issue_comment",
    "comment_edited",
    "review_comment",
    "review_comment_edited",
)
ALIASES = {"pull_request": "pr_opened", "issue": "issue_opened", "review": "review_submitted"}


def pick_repository(
    dataset: Dataset, installation_id: int | None = None, repo: str | None = None
) -> Repository:
    """The named repository, or the first readable one of the installation (or dataset)."""
    if repo:
        found = dataset.repository(repo)
        if found is None:
            raise ValueError(f"unknown repository {repo!r}")
        return found
    for candidate in dataset.repositories(installation_id):
        if not candidate.empty and not candidate.deleted:
            return candidate
    raise ValueError("no readable repository")


def _newest(items: list[Issue]) -> Issue | None:
    return max(items, key=lambda i: (i.created_at, i.id), default=None)


def _new_pr(ds: Dataset, repo: Repository, at: datetime, counter: int) -> Issue:
    user = ds.users[counter % len(ds.users)]
    pr = Issue(repo.next_number(), ds.new_id(), f"Live PR {counter}", user, at, at)
    pr.is_pull_request = True
    sha = make_sha(ds.seed, repo.id, "live-pr", pr.id)
    line = repo.line()
    base = [c for c in line if c.committer_date < at]
    pr.base_sha = base[-1].sha if base else None
    repo.commits.append(
        Commit(sha, f"Live work {counter}", user.login, f"{user.login}@users.example",
               at, at, user, on_default_branch=False, pr_number=pr.number,
               parents=[pr.base_sha] if pr.base_sha else [])
    )  # fmt: skip
    pr.commit_shas.append(sha)
    repo.issues[pr.number] = pr
    return pr


def add_activity(
    dataset: Dataset,
    kind: str,
    *,
    installation_id: int | None = None,
    repo: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Create one piece of activity dated `at` (default: now) and return its events.

    Returns {"repo", "kind", "events": [(repo, kind, github_id), ...]}; `comment_edited`
    and `review_comment_edited` create no event (they change the newest comment's, or
    review comment's, updated_at). A `review_comment` comes with the `COMMENTED` review
    GitHub makes for it.
    """
    kind = ALIASES.get(kind, kind)
    if kind not in KINDS:
        raise ValueError(f"unknown activity kind {kind!r}; one of {', '.join(KINDS)}")
    at = (at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    with dataset.lock:
        target = pick_repository(dataset, installation_id, repo)
        name = target.full_name
        counter = dataset.new_id()
        user = dataset.users[counter % len(dataset.users)]
        events: list[tuple[str, str, str]] = []
        pr: Issue | None
        issue: Issue | None
        if kind == "commit":
            target.empty = False  # an empty repository's first push
            sha = make_sha(dataset.seed, target.id, "live", counter)
            line = target.line()
            target.commits.append(
                Commit(sha, f"Live change {counter}", user.login, f"{user.login}@users.example",
                       at, at, user, on_default_branch=True,
                       parents=[line[-1].sha] if line else [])
            )  # fmt: skip
            events.append((name, "commit", sha))
        elif kind == "pr_opened":
            pr = _new_pr(dataset, target, at, counter)
            events.append((name, "pr_opened", str(pr.number)))
        elif kind in ("pr_merged", "pr_closed"):
            pr = _newest([p for p in target.pulls if p.closed_at is None])
            if pr is None:
                pr = _new_pr(dataset, target, at - timedelta(seconds=1), counter)
                events.append((name, "pr_opened", str(pr.number)))
            pr.closed_at = pr.updated_at = at
            if kind == "pr_merged":
                pr.merged_at = at
                method = MERGE_METHODS[(target.id + pr.number) % 3]
                added = merge_pull(dataset, target, pr, method)
                for sha in dict.fromkeys([*pr.commit_shas, *added]):
                    events.append((name, "commit", sha))
            events.append((name, kind, str(pr.number)))
        elif kind == "review_submitted":
            pr = _newest([p for p in target.pulls if p.closed_at is None]) or _newest(target.pulls)
            if pr is None:
                pr = _new_pr(dataset, target, at - timedelta(seconds=1), counter)
                events.append((name, "pr_opened", str(pr.number)))
            review = Review(dataset.new_id(), pr.number, user, "APPROVED", at)
            pr.reviews.append(review)
            pr.updated_at = at
            events.append((name, "review_submitted", str(review.id)))
        elif kind == "issue_opened":
            issue = Issue(
                target.next_number(), dataset.new_id(), f"Live issue {counter}", user, at, at
            )
            target.issues[issue.number] = issue
            events.append((name, "issue_opened", str(issue.number)))
        elif kind == "issue_closed":
            issue = _newest([i for i in target.plain_issues if i.closed_at is None])
            if issue is None:
                issue = Issue(target.next_number(), dataset.new_id(), "Live issue", user, at, at)
                target.issues[issue.number] = issue
                events.append((name, "issue_opened", str(issue.number)))
            issue.closed_at = issue.updated_at = at
            events.append((name, "issue_closed", str(issue.number)))
        elif kind == "issue_comment":
            issue = _newest(list(target.issues.values()))
            if issue is None:
                issue = Issue(target.next_number(), dataset.new_id(), "Live issue", user, at, at)
                target.issues[issue.number] = issue
                events.append((name, "issue_opened", str(issue.number)))
            comment = Comment(
                dataset.new_id(), issue.number, user, f"Live comment {counter}", at, at
            )
            target.comments.append(comment)
            issue.updated_at = at
            events.append((name, "issue_comment", str(comment.id)))
        elif kind == "review_comment":
            pr = _newest([p for p in target.pulls if p.closed_at is None]) or _newest(target.pulls)
            if pr is None:
                pr = _new_pr(dataset, target, at - timedelta(seconds=1), counter)
                events.append((name, "pr_opened", str(pr.number)))
            review = Review(dataset.new_id(), pr.number, user, "COMMENTED", at)
            pr.reviews.append(review)
            comment_id = max(
                [c.id for c in target.review_comments],
                default=REVIEW_COMMENT_IDS + (target.id - 100_000) * 1_000_000 - 1,
            )
            sha = pr.commit_shas[-1] if pr.commit_shas else make_sha(dataset.seed, pr.number)
            note = ReviewComment(
                comment_id + 1, pr.number, review.id, user, f"Live note {counter}",
                "README.md", 1, sha, at, at,
            )  # fmt: skip
            target.review_comments.append(note)
            pr.updated_at = at
            events.append((name, "review_submitted", str(review.id)))
            events.append((name, "review_comment", str(note.id)))
        elif kind == "review_comment_edited":
            if not target.review_comments:
                raise ValueError(f"{name} has no review comment to edit")
            note = max(target.review_comments, key=lambda c: (c.created_at, c.id))
            note.updated_at = max(at, note.created_at)
            note.body += " (edited)"
            pull = target.issues[note.pr_number]
            pull.updated_at = max(pull.updated_at, note.updated_at)
        else:  # comment_edited
            if not target.comments:
                raise ValueError(f"{name} has no comment to edit")
            comment = max(target.comments, key=lambda c: (c.created_at, c.id))
            comment.updated_at = max(at, comment.created_at)
            comment.body += " (edited)"
            target.issues[comment.issue_number].updated_at = comment.updated_at
        return {"repo": name, "kind": kind, "events": events}
