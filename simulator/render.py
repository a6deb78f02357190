"""GitHub REST JSON shapes for dataset objects.

Complete enough that clients which validate every response against GitHub's OpenAPI
schema (githubkit's pydantic models) accept them: users, repositories, pull requests,
issues, commits and reviews carry every field GitHub marks required, with GitHub's
URL templates. That also keeps page sizes, and so parse costs, close to GitHub's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .dataset import (
    Comment,
    Commit,
    Installation,
    Issue,
    Repository,
    Review,
    ReviewComment,
    User,
    make_sha,
)

WEB = "https://github.com"


def iso(t: datetime | None) -> str | None:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def _simple_user(login: str, id_: int, node_id: str, kind: str, api: str) -> dict[str, Any]:
    """GitHub's `simple-user` schema."""
    base = f"{api}/users/{login}"
    return {
        "login": login,
        "id": id_,
        "node_id": node_id,
        "avatar_url": f"https://avatars.githubusercontent.com/u/{id_}?v=4",
        "gravatar_id": "",
        "url": base,
        "html_url": f"{WEB}/{login}",
        "followers_url": f"{base}/followers",
        "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}",
        "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions",
        "organizations_url": f"{base}/orgs",
        "repos_url": f"{base}/repos",
        "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events",
        "type": kind,
        "user_view_type": "public",
        "site_admin": False,
    }


def user(u: User | None, api: str) -> dict[str, Any] | None:
    if u is None:
        return None
    return _simple_user(u.login, u.id, f"U_{u.id}", "User", api)


def account(inst: Installation, api: str) -> dict[str, Any]:
    body = _simple_user(
        inst.account_login, inst.account_id, f"O_{inst.account_id}", inst.account_type, api
    )
    if inst.account_type == "Organization":
        body["url"] = f"{api}/orgs/{inst.account_login}"
    return body


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
        "events": [
            "push",
            "pull_request",
            "issues",
            "issue_comment",
            "pull_request_review",
            "pull_request_review_comment",
        ],
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "suspended_at": None,
    }


_REPO_URLS = {
    "forks_url": "/forks",
    "keys_url": "/keys{/key_id}",
    "collaborators_url": "/collaborators{/collaborator}",
    "teams_url": "/teams",
    "hooks_url": "/hooks",
    "issue_events_url": "/issues/events{/number}",
    "events_url": "/events",
    "assignees_url": "/assignees{/user}",
    "branches_url": "/branches{/branch}",
    "tags_url": "/tags",
    "blobs_url": "/git/blobs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "trees_url": "/git/trees{/sha}",
    "statuses_url": "/statuses/{sha}",
    "languages_url": "/languages",
    "stargazers_url": "/stargazers",
    "contributors_url": "/contributors",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "commits_url": "/commits{/sha}",
    "git_commits_url": "/git/commits{/sha}",
    "comments_url": "/comments{/number}",
    "issue_comment_url": "/issues/comments{/number}",
    "contents_url": "/contents/{+path}",
    "compare_url": "/compare/{base}...{head}",
    "merges_url": "/merges",
    "archive_url": "/{archive_format}{/ref}",
    "downloads_url": "/downloads",
    "issues_url": "/issues{/number}",
    "pulls_url": "/pulls{/number}",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "labels_url": "/labels{/name}",
    "releases_url": "/releases{/id}",
    "deployments_url": "/deployments",
}


def repository_updated_at(repo: Repository) -> datetime:
    """A repository's `updated_at` (and Last-Modified): its creation, in this dataset."""
    return repo.created_at


def newest_commit_date(repo: Repository) -> datetime | None:
    """The newest committer date on the default branch (the commits list's
    Last-Modified)."""
    return max((c.committer_date for c in repo.commits if c.on_default_branch), default=None)


def pushed_at(repo: Repository) -> datetime:
    """The last push: the newest commit on the default branch. An empty repository's is
    its creation, never null (SPEC §12; GitHub sets pushed_at when the repository is
    created, so "pushed_at is set" does not mean someone pushed)."""
    newest = newest_commit_date(repo)
    if repo.empty or newest is None:
        return repo.created_at
    return max(repo.created_at, newest)


def repository(repo: Repository, inst: Installation, api: str) -> dict[str, Any]:
    """GitHub's `repository` schema (as /installation/repositories lists it)."""
    url = f"{api}/repos/{repo.full_name}"
    body: dict[str, Any] = {
        "id": repo.id,
        "node_id": f"R_{repo.id}",
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "owner": account(inst, api),
        "html_url": f"{WEB}/{repo.full_name}",
        "description": None,
        "fork": False,
        "url": url,
    }
    body.update({key: url + suffix for key, suffix in _REPO_URLS.items()})
    body.update(
        {
            "git_url": f"git://github.com/{repo.full_name}.git",
            "ssh_url": f"git@github.com:{repo.full_name}.git",
            "clone_url": f"{WEB}/{repo.full_name}.git",
            "svn_url": f"{WEB}/{repo.full_name}",
            "mirror_url": None,
            "homepage": None,
            "language": "Python",
            "forks_count": 0,
            "forks": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "watchers": 0,
            "size": 0 if repo.empty else 100,
            "default_branch": repo.default_branch,
            "open_issues_count": sum(1 for i in repo.issues.values() if not i.closed_at),
            "open_issues": sum(1 for i in repo.issues.values() if not i.closed_at),
            "is_template": False,
            "topics": [],
            "has_issues": True,
            "has_projects": False,
            "has_wiki": False,
            "has_pages": False,
            "has_downloads": True,
            "has_discussions": False,
            "archived": False,
            "disabled": False,
            "visibility": "private" if repo.private else "public",
            "license": None,
            "allow_forking": True,
            "web_commit_signoff_required": False,
            "pushed_at": iso(pushed_at(repo)),
            "created_at": iso(repo.created_at),
            "updated_at": iso(repository_updated_at(repo)),
        }
    )
    return body


def commit(c: Commit, repo: Repository, api: str) -> dict[str, Any]:
    return {
        "sha": c.sha,
        "node_id": f"C_{c.sha[:12]}",
        "url": f"{api}/repos/{repo.full_name}/commits/{c.sha}",
        "html_url": f"{WEB}/{repo.full_name}/commit/{c.sha}",
        "comments_url": f"{api}/repos/{repo.full_name}/commits/{c.sha}/comments",
        "commit": {
            "url": f"{api}/repos/{repo.full_name}/git/commits/{c.sha}",
            "author": {"name": c.author_name, "email": c.author_email, "date": iso(c.author_date)},
            "committer": {
                "name": c.author_name,
                "email": c.author_email,
                "date": iso(c.committer_date),
            },
            "message": c.message,
            "tree": {
                "sha": make_sha("tree", c.sha),
                "url": f"{api}/repos/{repo.full_name}/git/trees/{make_sha('tree', c.sha)}",
            },
            "comment_count": 0,
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        },
        "author": user(c.author, api),
        "committer": user(c.author, api),
        "parents": [
            {
                "sha": p,
                "url": f"{api}/repos/{repo.full_name}/commits/{p}",
                "html_url": f"{WEB}/{repo.full_name}/commit/{p}",
            }
            for p in c.parents
        ],
    }


def _issue_common(item: Issue, repo: Repository, api: str) -> dict[str, Any]:
    issue_url = f"{api}/repos/{repo.full_name}/issues/{item.number}"
    return {
        "id": item.id,
        "node_id": f"{'PR' if item.is_pull_request else 'I'}_{item.id}",
        "number": item.number,
        "title": item.title,
        "user": user(item.user, api),
        "labels": [],
        "state": item.state,
        "locked": False,
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "body": f"{item.title}.",
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "closed_at": iso(item.closed_at),
        "author_association": "MEMBER",
        "active_lock_reason": None,
        "comments_url": f"{issue_url}/comments",
    }


def pull(
    item: Issue,
    repo: Repository,
    api: str,
    inst: Installation | None = None,
    repo_body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """GitHub's `pull-request-simple` schema (the list's items); `inst` renders the
    head and base repositories in full, as GitHub does (`repo_body`: that rendering,
    made once for a whole list)."""
    body = _issue_common(item, repo, api)
    head_sha = item.commit_shas[-1] if item.commit_shas else make_sha("empty", item.id)
    base_sha = item.base_sha or make_sha("base", repo.id, item.number)
    url = f"{api}/repos/{repo.full_name}/pulls/{item.number}"
    issue_url = f"{api}/repos/{repo.full_name}/issues/{item.number}"
    if repo_body is None and inst is not None:
        repo_body = repository(repo, inst, api)
    owner = repo_body["owner"] if repo_body else None
    body.update(
        {
            "url": url,
            "html_url": f"{WEB}/{repo.full_name}/pull/{item.number}",
            "diff_url": f"{WEB}/{repo.full_name}/pull/{item.number}.diff",
            "patch_url": f"{WEB}/{repo.full_name}/pull/{item.number}.patch",
            "issue_url": issue_url,
            "commits_url": f"{url}/commits",
            "review_comments_url": f"{url}/comments",
            "review_comment_url": f"{api}/repos/{repo.full_name}/pulls/comments{{/number}}",
            "comments_url": f"{issue_url}/comments",
            "statuses_url": f"{api}/repos/{repo.full_name}/statuses/{head_sha}",
            "merged_at": iso(item.merged_at),
            # Non-null on unmerged pull requests too: GitHub's test merge (SPEC §12).
            "merge_commit_sha": (
                item.merge_commit_sha or head_sha
                if item.merged_at
                else make_sha("test-merge", repo.id, item.number)
            ),
            "requested_reviewers": [],
            "requested_teams": [],
            "draft": False,
            "head": {
                "label": f"{repo.owner}:topic-{item.number}",
                "ref": f"topic-{item.number}",
                "sha": head_sha,
                "user": owner,
                "repo": repo_body,
            },
            "base": {
                "label": f"{repo.owner}:{repo.default_branch}",
                "ref": repo.default_branch,
                "sha": base_sha,
                "user": owner,
                "repo": repo_body,
            },
            "_links": {
                "self": {"href": url},
                "html": {"href": f"{WEB}/{repo.full_name}/pull/{item.number}"},
                "issue": {"href": issue_url},
                "comments": {"href": f"{issue_url}/comments"},
                "review_comments": {"href": f"{url}/comments"},
                "review_comment": {
                    "href": f"{api}/repos/{repo.full_name}/pulls/comments{{/number}}"
                },
                "commits": {"href": f"{url}/commits"},
                "statuses": {"href": f"{api}/repos/{repo.full_name}/statuses/{head_sha}"},
            },
            "auto_merge": None,
        }
    )
    return body


def issue(item: Issue, repo: Repository, api: str) -> dict[str, Any]:
    body = _issue_common(item, repo, api)
    kind = "pull" if item.is_pull_request else "issues"
    body.update(
        {
            "url": f"{api}/repos/{repo.full_name}/issues/{item.number}",
            "repository_url": f"{api}/repos/{repo.full_name}",
            "labels_url": f"{api}/repos/{repo.full_name}/issues/{item.number}/labels{{/name}}",
            "events_url": f"{api}/repos/{repo.full_name}/issues/{item.number}/events",
            "html_url": f"{WEB}/{repo.full_name}/{kind}/{item.number}",
            "comments": sum(1 for c in repo.comments if c.issue_number == item.number),
            "state_reason": ("completed" if item.closed_at else None),
            "type": None,  # GitHub's issue type; tap-github reads it unconditionally
        }
    )
    if item.is_pull_request:
        body["pull_request"] = {
            "url": f"{api}/repos/{repo.full_name}/pulls/{item.number}",
            "html_url": f"{WEB}/{repo.full_name}/pull/{item.number}",
            "diff_url": f"{WEB}/{repo.full_name}/pull/{item.number}.diff",
            "patch_url": f"{WEB}/{repo.full_name}/pull/{item.number}.patch",
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
        "_links": {
            "html": {"href": f"{WEB}/{repo.full_name}/pull/{r.pr_number}#pullrequestreview-{r.id}"},
            "pull_request": {"href": f"{api}/repos/{repo.full_name}/pulls/{r.pr_number}"},
        },
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


def review_comment(c: ReviewComment, repo: Repository, api: str) -> dict[str, Any]:
    """GitHub's `pull-request-review-comment` (every field its schema requires)."""
    base = f"{api}/repos/{repo.full_name}/pulls"
    html = f"{WEB}/{repo.full_name}/pull/{c.pr_number}#discussion_r{c.id}"
    return {
        "url": f"{base}/comments/{c.id}",
        "pull_request_review_id": c.review_id,
        "id": c.id,
        "node_id": f"PRRC_{c.id}",
        "diff_hunk": f"@@ -{c.line},3 +{c.line},4 @@",
        "path": c.path,
        "position": 1,
        "original_position": 1,
        "commit_id": c.commit_sha,
        "original_commit_id": c.commit_sha,
        "user": user(c.user, api),
        "body": c.body,
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
        "html_url": html,
        "pull_request_url": f"{base}/{c.pr_number}",
        "author_association": "MEMBER",
        "_links": {
            "self": {"href": f"{base}/comments/{c.id}"},
            "html": {"href": html},
            "pull_request": {"href": f"{base}/{c.pr_number}"},
        },
        "start_line": None,
        "original_start_line": None,
        "start_side": None,
        "line": c.line,
        "original_line": c.line,
        "side": "RIGHT",
        "subject_type": "line",
    }
