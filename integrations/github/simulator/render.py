"""GitHub REST JSON shapes for dataset objects (the fields ghsync and its peers read)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .dataset import Comment, Commit, Installation, Issue, Repository, Review, User

WEB = "https://github.com"


def iso(t: datetime | None) -> str | None:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def user(u: User | None, api: str) -> dict[str, Any] | None:
    if u is None:
        return None
    return {
        "login": u.login,
        "id": u.id,
        "node_id": f"U_{u.id}",
        "type": "User",
        "site_admin": False,
        "url": f"{api}/users/{u.login}",
        "html_url": f"{WEB}/{u.login}",
    }


def account(inst: Installation, api: str) -> dict[str, Any]:
    return {
        "login": inst.account_login,
        "id": inst.account_id,
        "node_id": f"O_{inst.account_id}",
        "type": inst.account_type,
        "url": f"{api}/orgs/{inst.account_login}",
        "html_url": f"{WEB}/{inst.account_login}",
    }


def installation(inst: Installation, api: str, app_id: str) -> dict[str, Any]:
    return {
        "id": inst.id,
        "account": account(inst, api),
        "app_id": int(app_id) if str(app_id).isdigit() else app_id,
        "target_id": inst.account_id,
        "target_type": inst.account_type,
        "repository_selection": "all",
        "access_tokens_url": f"{api}/app/installations/{inst.id}/access_tokens",
        "repositories_url": f"{api}/installation/repositories",
        "html_url": f"{WEB}/organizations/{inst.account_login}/settings/installations/{inst.id}",
        "permissions": {"contents": "read", "issues": "read", "pull_requests": "read"},
        "events": ["push", "pull_request", "issues", "issue_comment", "pull_request_review"],
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "suspended_at": None,
    }


def repository(repo: Repository, inst: Installation, api: str) -> dict[str, Any]:
    return {
        "id": repo.id,
        "node_id": f"R_{repo.id}",
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "owner": account(inst, api),
        "html_url": f"{WEB}/{repo.full_name}",
        "url": f"{api}/repos/{repo.full_name}",
        "default_branch": repo.default_branch,
        "archived": False,
        "disabled": False,
        "fork": False,
        "visibility": "private" if repo.private else "public",
        "created_at": iso(repo.created_at),
        "updated_at": iso(repo.created_at),
        "pushed_at": iso(repo.commits[0].committer_date) if repo.commits else None,
        "size": 0 if repo.empty else 100,
    }


def commit(c: Commit, repo: Repository, api: str) -> dict[str, Any]:
    return {
        "sha": c.sha,
        "node_id": f"C_{c.sha[:12]}",
        "url": f"{api}/repos/{repo.full_name}/commits/{c.sha}",
        "html_url": f"{WEB}/{repo.full_name}/commit/{c.sha}",
        "commit": {
            "author": {"name": c.author_name, "email": c.author_email, "date": iso(c.author_date)},
            "committer": {
                "name": c.author_name,
                "email": c.author_email,
                "date": iso(c.committer_date),
            },
            "message": c.message,
            "comment_count": 0,
        },
        "author": user(c.author, api),
        "committer": user(c.author, api),
        "parents": [],
    }


def _issue_common(item: Issue, repo: Repository, api: str) -> dict[str, Any]:
    return {
        "id": item.id,
        "node_id": f"I_{item.id}",
        "number": item.number,
        "title": item.title,
        "user": user(item.user, api),
        "state": item.state,
        "locked": False,
        "body": f"{item.title}.",
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "closed_at": iso(item.closed_at),
        "author_association": "MEMBER",
    }


def pull(item: Issue, repo: Repository, api: str) -> dict[str, Any]:
    body = _issue_common(item, repo, api)
    head_sha = item.commit_shas[-1] if item.commit_shas else None
    body.update(
        {
            "url": f"{api}/repos/{repo.full_name}/pulls/{item.number}",
            "html_url": f"{WEB}/{repo.full_name}/pull/{item.number}",
            "merged_at": iso(item.merged_at),
            "merge_commit_sha": head_sha if item.merged_at else None,
            "draft": False,
            "head": {"ref": f"topic-{item.number}", "sha": head_sha},
            "base": {"ref": repo.default_branch},
        }
    )
    return body


def issue(item: Issue, repo: Repository, api: str) -> dict[str, Any]:
    body = _issue_common(item, repo, api)
    kind = "pull" if item.is_pull_request else "issues"
    body.update(
        {
            "url": f"{api}/repos/{repo.full_name}/issues/{item.number}",
            "html_url": f"{WEB}/{repo.full_name}/{kind}/{item.number}",
            "comments": sum(1 for c in repo.comments if c.issue_number == item.number),
            "labels": [],
            "state_reason": ("completed" if item.closed_at else None),
        }
    )
    if item.is_pull_request:
        body["pull_request"] = {
            "url": f"{api}/repos/{repo.full_name}/pulls/{item.number}",
            "html_url": f"{WEB}/{repo.full_name}/pull/{item.number}",
            "merged_at": iso(item.merged_at),
        }
    return body


def review(r: Review, repo: Repository, api: str) -> dict[str, Any]:
    return {
        "id": r.id,
        "node_id": f"PRR_{r.id}",
        "user": user(r.user, api),
        "body": "",
        "state": r.state,
        "html_url": f"{WEB}/{repo.full_name}/pull/{r.pr_number}#pullrequestreview-{r.id}",
        "pull_request_url": f"{api}/repos/{repo.full_name}/pulls/{r.pr_number}",
        "submitted_at": iso(r.submitted_at),
        "commit_id": None,
        "author_association": "MEMBER",
    }


def comment(c: Comment, repo: Repository, api: str) -> dict[str, Any]:
    return {
        "id": c.id,
        "node_id": f"IC_{c.id}",
        "url": f"{api}/repos/{repo.full_name}/issues/comments/{c.id}",
        "html_url": f"{WEB}/{repo.full_name}/issues/{c.issue_number}#issuecomment-{c.id}",
        "issue_url": f"{api}/repos/{repo.full_name}/issues/{c.issue_number}",
        "user": user(c.user, api),
        "body": c.body,
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
        "author_association": "MEMBER",
    }
