"""The REST endpoints: request -> (status, JSON) from the dataset, with GitHub's paging.

Pure functions over the dataset; authentication, budgets, faults and ETags live in
`server.py`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from . import render
from .dataset import Dataset, Installation, Repository

PULL_COMMITS_CAP = 250
NOT_FOUND = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}


@dataclass
class Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    base: str  # "http://host:port" as the client addressed us
    api: str  # the same, used in rendered URLs
    installation: Installation | None = None
    app_id: str = ""
    # Where this list's Link headers point: GitHub's own links for a repository's lists
    # use `/repositories/{id}/…` (set by `_repo`), whichever path was asked.
    link_path: str | None = None

    def arg(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return default


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    free: bool = False  # never spends budget (/rate_limit)
    # A fault: "reset" drops the connection after half the promised body; "truncate"
    # sends half the body as if it were all of it (Content-Length of the half).
    cut: str | None = None
    # GitHub's Last-Modified for this resource, on the three endpoints that send it
    # (the commits list, a pull request's commits, a repository); None elsewhere.
    last_modified: datetime | None = None


class BadRequest(Exception):
    pass


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"Invalid time {value!r}") from exc
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _per_page(req: Request) -> int:
    try:
        return max(1, min(100, int(req.arg("per_page") or 30)))
    except ValueError:
        return 30


def _link(req: Request, **replace: str | None) -> str:
    query = [(k, v) for k, v in req.query if k not in replace]
    query += [(k, v) for k, v in replace.items() if v is not None]
    return f"{req.base}{req.link_path or req.path}?{urlencode(query)}"


def paged(req: Request, items: Sequence[Any]) -> Reply:
    """A page of `items` by `page`/`per_page`, with GitHub's Link header."""
    per_page = _per_page(req)
    try:
        page = max(1, int(req.arg("page") or 1))
    except ValueError:
        page = 1
    last = max(1, -(-len(items) // per_page))
    chunk = list(items[(page - 1) * per_page : page * per_page])
    links = []
    if page < last:
        links.append(f'<{_link(req, page=str(page + 1))}>; rel="next"')
        links.append(f'<{_link(req, page=str(last))}>; rel="last"')
    if page > 1:
        links.append(f'<{_link(req, page=str(page - 1))}>; rel="prev"')
        links.append(f'<{_link(req, page="1")}>; rel="first"')
    headers = {"Link": ", ".join(links)} if links else {}
    return Reply(200, chunk, headers)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"cursor:v2:{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str) -> int:
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        return max(0, int(base64.urlsafe_b64decode(padded).decode().rsplit(":", 1)[1]))
    except (ValueError, IndexError) as exc:
        raise BadRequest("Invalid cursor") from exc


def cursor_paged(req: Request, items: Sequence[Any]) -> Reply:
    """A page by `after=<cursor>` (as GitHub's issues list), Link rel="next" only."""
    if req.arg("page") and not req.arg("after"):
        return paged(req, items)
    per_page = _per_page(req)
    after = req.arg("after")
    offset = _offset(after) if after else 0
    chunk = list(items[offset : offset + per_page])
    headers = {}
    if offset + per_page < len(items):
        headers["Link"] = f'<{_link(req, after=_cursor(offset + per_page), page=None)}>; rel="next"'
    return Reply(200, chunk, headers)


# --------------------------------------------------------------------------- handlers


def _repo(ds: Dataset, req: Request, owner: str, name: str) -> Repository | Reply:
    repo = ds.repository(f"{owner}/{name}")
    if repo is None or repo.deleted or req.installation is None:
        return Reply(404, NOT_FOUND)
    if repo.installation_id != req.installation.id:
        return Reply(404, NOT_FOUND)
    prefix = f"/repos/{owner}/{name}"
    if req.path.lower().startswith(prefix.lower()):
        req.link_path = f"/repositories/{repo.id}{req.path[len(prefix) :]}"
    return repo


def _sorted(items: list[Any], req: Request, default_sort: str, default_dir: str) -> list[Any]:
    sort = req.arg("sort", default_sort)
    key_attr = {"created": "created_at", "updated": "updated_at"}.get(sort or "", "created_at")
    direction = req.arg("direction", default_dir)
    return sorted(items, key=lambda it: (getattr(it, key_attr), it.id), reverse=direction != "asc")


def _state_filter(items: list[Any], req: Request) -> list[Any]:
    state = req.arg("state", "open")
    if state == "all":
        return items
    return [it for it in items if it.state == state]


def installation_repositories(ds: Dataset, req: Request) -> Reply:
    assert req.installation is not None
    inst = req.installation
    repos = [render.repository(r, inst, req.api) for r in inst.repositories]
    reply = paged(req, repos)
    reply.body = {
        "total_count": len(repos),
        "repository_selection": "all",
        "repositories": reply.body,
    }
    return reply


def org_repos(ds: Dataset, req: Request, org: str) -> Reply:
    inst = ds.installation_of_account(org)
    if inst is None or req.installation is None or inst.id != req.installation.id:
        return Reply(404, NOT_FOUND)
    return paged(
        req, [render.repository(r, inst, req.api) for r in inst.repositories if not r.deleted]
    )


def repo_detail(ds: Dataset, req: Request, owner: str, name: str) -> Reply:
    repo = _repo(ds, req, owner, name)
    if isinstance(repo, Reply):
        return repo
    assert req.installation is not None
    reply = Reply(200, render.repository(repo, req.installation, req.api))
    reply.last_modified = render.repository_updated_at(repo)
    return reply


def commits(ds: Dataset, req: Request, owner: str, name: str) -> Reply:
    repo = _repo(ds, req, owner, name)
    if isinstance(repo, Reply):
        return repo
    if repo.empty:
        return Reply(409, {"message": "Git Repository is empty."})
    since, until = parse_time(req.arg("since")), parse_time(req.arg("until"))
    sha = req.arg("sha")
    # `?sha=`: the commits reachable from that SHA (GitHub's documented way past a pull
    # request's 250-commit list); else the default branch.
    listed = repo.reachable(sha) if sha else repo.default_branch_commits()
    if listed is None:
        return Reply(
            404,
            {
                "message": f"No commit found for SHA: {sha}",
                "documentation_url": NOT_FOUND["documentation_url"],
            },
        )
    items = [
        render.commit(c, repo, req.api)
        for c in listed
        if (since is None or c.committer_date >= since)
        and (until is None or c.committer_date <= until)
    ]
    reply = paged(req, items)
    reply.last_modified = render.newest_commit_date(repo)
    return reply


def pulls(ds: Dataset, req: Request, owner: str, name: str) -> Reply:
    repo = _repo(ds, req, owner, name)
    if isinstance(repo, Reply):
        return repo
    items = _sorted(_state_filter(repo.pulls, req), req, "created", "desc")
    inst = req.installation
    body = render.repository(repo, inst, req.api) if inst is not None else None
    return paged(req, [render.pull(p, repo, req.api, inst, body) for p in items])


def _pull(ds: Dataset, req: Request, owner: str, name: str, number: str) -> Any:
    """(repository, pull request), or the Reply (404) when either does not exist."""
    repo = _repo(ds, req, owner, name)
    if isinstance(repo, Reply):
        return repo
    item = repo.issues.get(int(number))
    if item is None or not item.is_pull_request:
        return Reply(404, NOT_FOUND)
    return repo, item


def pull_detail(ds: Dataset, req: Request, owner: str, name: str, number: str) -> Reply:
    found = _pull(ds, req, owner, name, number)
    if isinstance(found, Reply):
        return found
    repo, pr = found
    return Reply(200, render.pull(pr, repo, req.api, req.installation))


def pull_reviews(ds: Dataset, req: Request, owner: str, name: str, number: str) -> Reply:
    found = _pull(ds, req, owner, name, number)
    if isinstance(found, Reply):
        return found
    repo, pr = found
    return paged(req, [render.review(r, repo, req.api) for r in pr.reviews])


def pull_commits(ds: Dataset, req: Request, owner: str, name: str, number: str) -> Reply:
    found = _pull(ds, req, owner, name, number)
    if isinstance(found, Reply):
        return found
    repo, pr = found
    # GitHub lists at most 250 commits of a pull request (SPEC §12).
    shas = pr.commit_shas[:PULL_COMMITS_CAP]
    reply = paged(req, [render.commit(repo.commit(sha), repo, req.api) for sha in shas])
    reply.last_modified = pr.updated_at
    return reply


def issues(ds: Dataset, req: Request, owner: str, name: str) -> Reply:
    repo = _repo(ds, req, owner, name)
    if isinstance(repo, Reply):
        return repo
    since = parse_time(req.arg("since"))
    items = [i for i in repo.issues.values() if since is None or i.updated_at >= since]
    items = _sorted(_state_filter(items, req), req, "created", "desc")
    return cursor_paged(req, [render.issue(i, repo, req.api) for i in items])


def issue_detail(ds: Dataset, req: Request, owner: str, name: str, number: str) -> Reply:
    repo = _repo(ds, req, owner, name)
    if isinstance(repo, Reply):
        return repo
    item = repo.issues.get(int(number))
    return Reply(200, render.issue(item, repo, req.api)) if item else Reply(404, NOT_FOUND)


def issue_comments(ds: Dataset, req: Request, owner: str, name: str) -> Reply:
    repo = _repo(ds, req, owner, name)
    if isinstance(repo, Reply):
        return repo
    since = parse_time(req.arg("since"))
    items = [c for c in repo.comments if since is None or c.updated_at >= since]
    if req.arg("sort"):
        items = _sorted(items, req, "created", "desc")
    else:
        items = sorted(items, key=lambda c: (c.created_at, c.id))
    return paged(req, [render.comment(c, repo, req.api) for c in items])


def pull_review_comments(ds: Dataset, req: Request, owner: str, name: str) -> Reply:
    """`/pulls/comments`: ascending by id by default; `sort` (created, updated) with
    `direction` (desc unless asc); `since` keeps comments updated at or after it."""
    repo = _repo(ds, req, owner, name)
    if isinstance(repo, Reply):
        return repo
    since = parse_time(req.arg("since"))
    items = [c for c in repo.review_comments if since is None or c.updated_at >= since]
    if req.arg("sort"):
        items = _sorted(items, req, "created", "desc")
    else:
        items = sorted(items, key=lambda c: c.id)
    return paged(req, [render.review_comment(c, repo, req.api) for c in items])


def app_installations(ds: Dataset, req: Request) -> Reply:
    insts = [render.installation(i, req.api, req.app_id) for i in ds.installations.values()]
    return paged(req, insts)


def app_installation(ds: Dataset, req: Request, installation_id: str) -> Reply:
    inst = ds.installations.get(int(installation_id))
    if inst is None:
        return Reply(404, NOT_FOUND)
    return Reply(200, render.installation(inst, req.api, req.app_id))


Handler = Callable[..., Reply]

# (method, path template, auth, handler): auth is "jwt" (App) or "token" (installation);
# a None handler is answered by the server itself (token creation, /rate_limit).
_TABLE: list[tuple[str, str, str, Handler | None]] = [
    ("POST", "/app/installations/{id}/access_tokens", "jwt", None),
    ("GET", "/app/installations", "jwt", app_installations),
    ("GET", "/app/installations/{id}", "jwt", app_installation),
    ("GET", "/installation/repositories", "token", installation_repositories),
    ("GET", "/rate_limit", "token", None),
    ("GET", "/orgs/{org}/repos", "token", org_repos),
    ("GET", "/repos/{owner}/{repo}", "token", repo_detail),
    ("GET", "/repos/{owner}/{repo}/commits", "token", commits),
    ("GET", "/repos/{owner}/{repo}/pulls", "token", pulls),
    ("GET", "/repos/{owner}/{repo}/pulls/comments", "token", pull_review_comments),
    ("GET", "/repos/{owner}/{repo}/pulls/{number}", "token", pull_detail),
    ("GET", "/repos/{owner}/{repo}/pulls/{number}/reviews", "token", pull_reviews),
    ("GET", "/repos/{owner}/{repo}/pulls/{number}/commits", "token", pull_commits),
    ("GET", "/repos/{owner}/{repo}/issues", "token", issues),
    ("GET", "/repos/{owner}/{repo}/issues/comments", "token", issue_comments),
    ("GET", "/repos/{owner}/{repo}/issues/{number}", "token", issue_detail),
]


def _regex(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\{(id|number)\}", r"(\\d+)", template)
    pattern = re.sub(r"\{\w+\}", r"([^/]+)", pattern)
    return re.compile(f"^{pattern}$")


ROUTES = [(m, _regex(t), f"{m} {t}", auth, fn) for m, t, auth, fn in _TABLE]


_BY_ID = re.compile(r"^/repositories/(\d+)(/.*)?$")


def canonical_path(ds: Dataset, path: str) -> str:
    """`/repositories/{id}/…` (where GitHub's Link headers point) as the
    `/repos/{owner}/{repo}/…` route it is an alias of; other paths unchanged."""
    found = _BY_ID.match(path)
    if found is None:
        return path
    repo = ds.repository_by_id(int(found[1]))
    if repo is None:
        return path
    return f"/repos/{repo.full_name}{found[2] or ''}"


def match(method: str, path: str) -> tuple[str, str, Handler | None, tuple[str, ...]] | None:
    """(template, auth, handler, path args) of the route, or None."""
    for m, rx, tpl, auth, fn in ROUTES:
        found = rx.match(path)
        if found and m == method:
            return tpl, auth, fn, found.groups()
    return None
