"""Signed GitHub webhook deliveries built from the dataset (stdlib HTTP only)."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import uuid
from typing import Any
from urllib.parse import urlsplit

from . import render
from .activity import pick_repository
from .dataset import Dataset, Installation, Repository

API = "https://api.github.com"


def sign(body: bytes, secret: str | bytes) -> str:
    """The X-Hub-Signature-256 value: sha256=<hex HMAC-SHA256 of the raw body>."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def _sender(login: str, user_id: int) -> dict[str, Any]:
    return {"login": login, "id": user_id, "type": "User", "site_admin": False}


def installation_created_payload(
    dataset: Dataset,
    installation_id: int,
    sender_id: int,
    sender_login: str,
    *,
    app_id: str | int = 1,
) -> dict[str, Any]:
    """The `installation` event, action `created`, for one installation."""
    inst = dataset.installations[installation_id]
    return {
        "action": "created",
        "installation": render.installation(inst, API, str(app_id)),
        "repositories": [
            {
                "id": r.id,
                "node_id": f"R_{r.id}",
                "name": r.name,
                "full_name": r.full_name,
                "private": r.private,
            }
            for r in inst.repositories
        ],
        "requester": None,
        "sender": _sender(sender_login, sender_id),
    }


def _envelope(inst: Installation, repo: Repository, sender: dict[str, Any]) -> dict[str, Any]:
    return {
        "repository": render.repository(repo, inst, API),
        "organization": render.account(inst, API),
        "installation": {"id": inst.id, "node_id": f"MDIz_{inst.id}"},
        "sender": sender,
    }


def activity_payload(
    dataset: Dataset,
    event: str,
    *,
    installation_id: int | None = None,
    repo: str | None = None,
) -> dict[str, Any]:
    """A `push`, `pull_request`, `issues`, `issue_comment`, `pull_request_review` or
    `pull_request_review_comment` payload about the newest matching object of a repository."""
    with dataset.lock:
        target = pick_repository(dataset, installation_id, repo)
        inst = dataset.installations[target.installation_id]
        first_user = dataset.users[0]
        sender = _sender(first_user.login, first_user.id)
        body = _envelope(inst, target, sender)
        pulls = sorted(target.pulls, key=lambda p: p.updated_at)
        issues = sorted(target.plain_issues, key=lambda i: i.updated_at)
        if event == "push":
            commits = target.default_branch_commits()[:3]
            body.update(
                {
                    "ref": f"refs/heads/{target.default_branch}",
                    "before": "0" * 40,
                    "after": commits[0].sha if commits else "0" * 40,
                    "commits": [_push_commit(c, target) for c in reversed(commits)],
                    "head_commit": _push_commit(commits[0], target) if commits else None,
                    "pusher": {"name": first_user.login, "email": None},
                }
            )
        elif event == "pull_request":
            pr = pulls[-1]
            action = "closed" if pr.closed_at else "opened"
            rendered = render.pull(pr, target, API, inst)
            rendered["merged"] = pr.merged_at is not None
            body.update({"action": action, "number": pr.number, "pull_request": rendered})
        elif event == "pull_request_review":
            pr = next(p for p in reversed(pulls) if p.reviews)
            review = pr.reviews[-1]
            body.update(
                {
                    "action": "submitted",
                    "review": render.review(review, target, API),
                    "pull_request": render.pull(pr, target, API, inst),
                }
            )
        elif event == "issues":
            issue = issues[-1]
            action = "closed" if issue.closed_at else "opened"
            body.update({"action": action, "issue": render.issue(issue, target, API)})
        elif event == "issue_comment":
            comment = max(target.comments, key=lambda c: (c.created_at, c.id))
            issue = target.issues[comment.issue_number]
            action = "edited" if comment.updated_at > comment.created_at else "created"
            body.update(
                {
                    "action": action,
                    "issue": render.issue(issue, target, API),
                    "comment": render.comment(comment, target, API),
                }
            )
        elif event == "pull_request_review_comment":
            note = max(target.review_comments, key=lambda c: (c.created_at, c.id))
            action = "edited" if note.updated_at > note.created_at else "created"
            body.update(
                {
                    "action": action,
                    "comment": render.review_comment(note, target, API),
                    "pull_request": render.pull(target.issues[note.pr_number], target, API, inst),
                }
            )
        else:
            raise ValueError(f"unsupported webhook event {event!r}")
        return body


def _push_commit(commit: Any, repo: Repository) -> dict[str, Any]:
    return {
        "id": commit.sha,
        "message": commit.message,
        "timestamp": render.iso(commit.committer_date),
        "url": f"https://github.com/{repo.full_name}/commit/{commit.sha}",
        "author": {
            "name": commit.author_name,
            "email": commit.author_email,
            "username": commit.author.login if commit.author else None,
        },
        "committer": {"name": commit.author_name, "email": commit.author_email},
        "distinct": True,
    }


def deliver(
    url: str,
    secret: str,
    event: str,
    payload: dict[str, Any],
    *,
    delivery_id: str | None = None,
    timeout: float = 10,
) -> int:
    """POST one signed delivery; returns the HTTP status (redeliver with the same id)."""
    body = json.dumps(payload).encode()
    parts = urlsplit(url)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.netloc, timeout=timeout)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        connection.request(
            "POST",
            target,
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "GitHub-Hookshot/sim",
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
                "X-GitHub-Hook-ID": "1",
                "X-GitHub-Hook-Installation-Target-Type": "integration",
                "X-Hub-Signature-256": sign(body, secret),
            },
        )
        response = connection.getresponse()
        response.read()
        return int(response.status)
    finally:
        connection.close()
