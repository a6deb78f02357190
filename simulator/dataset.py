"""Deterministic GitHub data for the simulator: installations, repositories, activity.

`generate(seed, size)` gives the same data for the same seed, size and `now`. Special
cases a sync client must handle are built in (and switchable):

- authorless commits (`author: null` in the API, git name only);
- merged pull requests whose commits are dated long before the merge (only a
  `/pulls/{n}/commits` read finds them when the window starts after their dates);
- in every installation with >= 3 repositories, the last-but-one repository is empty
  (the commits list answers 409, no activity at all);
- review comments (comments on a pull request's diff) made with a commenting review,
  some edited later, read from `/pulls/comments`;
- installation 1003, when generated, has a deleted repository (its last one): listed by
  `/installation/repositories`, 404 on every repository endpoint;
- merged pull requests merge in GitHub's three ways, chosen deterministically per pull
  request (SPEC §11): a merge commit (two parents; the PR's SHAs join the default
  branch), a squash (one new commit; the PR's SHAs stay only on the PR) or a rebase
  (new SHAs, one per PR commit; the last is `merge_commit_sha`). Every commit has
  parents: the default branch is one line of direct commits and merge results, a PR's
  commits chain from its base (the newest default-branch commit older than them);
- `long_pr=True`: the first repository's first pull request is merged with 260
  commits (GitHub lists 250 of a pull request's commits);
- `busy=(B, N)`: sparse activity, as in a large organisation: the first B repositories
  of each installation get N events of each kind, every other one between 1 and the
  size's number (drawn per repository; at least one, so no repository is empty by
  accident: on GitHub one without commits answers 409).
"""

from __future__ import annotations

import bisect
import hashlib
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

SPAN = timedelta(days=60)
FIRST_INSTALLATION_ID = 1001
DELETED_REPO_INSTALLATION_ID = 1003
REVIEW_COMMENT_IDS = 3_000_000_000  # a range of their own, past every other id


@dataclass(frozen=True)
class User:
    login: str
    id: int


@dataclass
class Commit:
    sha: str
    message: str
    author_name: str
    author_email: str
    author_date: datetime
    committer_date: datetime
    author: User | None
    on_default_branch: bool
    pr_number: int | None = None
    # Parent SHAs, first parent first (two for a merge commit).
    parents: list[str] = field(default_factory=list)
    # The pull request whose merge wrote this commit (a merge commit, a squash commit
    # or a rebased copy): it is on the default branch's line.
    made_by: int | None = None
    # Order within one rebase (all its copies share the merge's committer date).
    seq: int = 0


@dataclass
class Review:
    id: int
    pr_number: int
    user: User
    state: str
    submitted_at: datetime


@dataclass
class Issue:
    """An issue or a pull request: they share one number sequence per repository."""

    number: int
    id: int
    title: str
    user: User
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    is_pull_request: bool = False
    merged_at: datetime | None = None
    commit_shas: list[str] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    merge_method: str | None = None  # "merge", "squash" or "rebase" once merged
    merge_commit_sha: str | None = None  # set once merged
    base_sha: str | None = None

    @property
    def state(self) -> str:
        return "closed" if self.closed_at else "open"


@dataclass
class Comment:
    id: int
    issue_number: int
    user: User
    body: str
    created_at: datetime
    updated_at: datetime


@dataclass
class ReviewComment:
    """A comment on a pull request's diff, made with one of its reviews."""

    id: int
    pr_number: int
    review_id: int
    user: User
    body: str
    path: str
    line: int
    commit_sha: str
    created_at: datetime
    updated_at: datetime


@dataclass
class Repository:
    id: int
    owner: str
    name: str
    installation_id: int
    private: bool = True
    default_branch: str = "main"
    empty: bool = False
    deleted: bool = False
    created_at: datetime = field(default_factory=lambda: datetime(2020, 1, 1, tzinfo=UTC))
    commits: list[Commit] = field(default_factory=list)
    issues: dict[int, Issue] = field(default_factory=dict)
    comments: list[Comment] = field(default_factory=list)
    review_comments: list[ReviewComment] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def pulls(self) -> list[Issue]:
        return [i for i in self.issues.values() if i.is_pull_request]

    @property
    def plain_issues(self) -> list[Issue]:
        return [i for i in self.issues.values() if not i.is_pull_request]

    def default_branch_commits(self) -> list[Commit]:
        """Newest first by committer date, as the commits list answers."""
        return sorted(
            (c for c in self.commits if c.on_default_branch),
            key=lambda c: (c.committer_date, c.sha),
            reverse=True,
        )

    def commit(self, sha: str) -> Commit:
        return self._index()[sha]

    def _index(self) -> dict[str, Commit]:
        """SHA -> commit, rebuilt when commits were added (they are never removed)."""
        cached = self.__dict__.get("_commit_index")
        if cached is None or cached[0] != len(self.commits):
            cached = (len(self.commits), {c.sha: c for c in self.commits})
            self.__dict__["_commit_index"] = cached
        return cached[1]

    def line(self) -> list[Commit]:
        """The default branch's own line (direct commits and merge results), oldest
        first: each one's first parent is the one before it."""
        return sorted(
            (c for c in self.commits if c.on_default_branch and c.pr_number is None),
            key=lambda c: (c.committer_date, c.seq, c.sha),
        )

    def reachable(self, sha: str) -> list[Commit] | None:
        """Every commit reachable from `sha` (itself included), newest first by
        committer date, as `GET /commits?sha=` lists them; None for an unknown SHA."""
        index = self._index()
        if sha not in index:
            return None
        seen: dict[str, Commit] = {}
        todo = [sha]
        while todo:
            current = index.get(todo.pop())
            if current is None or current.sha in seen:
                continue
            seen[current.sha] = current
            todo.extend(current.parents)
        return sorted(seen.values(), key=lambda c: (c.committer_date, c.seq, c.sha), reverse=True)

    def next_number(self) -> int:
        return max(self.issues, default=0) + 1


@dataclass
class Installation:
    id: int
    account_login: str
    account_id: int
    repositories: list[Repository] = field(default_factory=list)
    account_type: str = "Organization"


@dataclass
class Dataset:
    seed: int
    size: tuple[int, int, int]
    now: datetime
    installations: dict[int, Installation]
    users: list[User]
    next_id: int = 10_000_000
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def new_id(self) -> int:
        with self.lock:
            self.next_id += 1
            return self.next_id

    def repositories(self, installation_id: int | None = None) -> list[Repository]:
        return [
            repo
            for inst in self.installations.values()
            if installation_id is None or inst.id == installation_id
            for repo in inst.repositories
        ]

    def repository(self, full_name: str) -> Repository | None:
        lowered = full_name.lower()
        return next((r for r in self.repositories() if r.full_name.lower() == lowered), None)

    def repository_by_id(self, repository_id: int) -> Repository | None:
        return next((r for r in self.repositories() if r.id == repository_id), None)

    def installation_of_account(self, login: str) -> Installation | None:
        lowered = login.lower()
        return next(
            (i for i in self.installations.values() if i.account_login.lower() == lowered), None
        )


def parse_size(size: str | tuple[int, int, int]) -> tuple[int, int, int]:
    """'IxRxE' -> (installations, repositories per installation, events per kind)."""
    if isinstance(size, str):
        parts = size.lower().split("x")
        if len(parts) != 3:
            raise ValueError(f"size must look like 3x5x40, not {size!r}")
        i, r, e = (int(p) for p in parts)
    else:
        i, r, e = size
    if i < 1 or r < 1 or e < 0:
        raise ValueError(f"size must be at least 1x1x0, not {size!r}")
    return i, r, e


def parse_busy(value: str | None) -> tuple[int, int] | None:
    """'B:N' (B busy repositories with N events of each kind) -> (B, N); None stays None."""
    if value is None:
        return None
    parts = value.split(":")
    if len(parts) != 2:
        raise ValueError(f"busy must look like 5:60, not {value!r}")
    repos, events = (int(p) for p in parts)
    if repos < 0 or events < 0:
        raise ValueError(f"busy must be at least 0:0, not {value!r}")
    return repos, events


def make_sha(*parts: object) -> str:
    return hashlib.sha1(":".join(str(p) for p in parts).encode(), usedforsecurity=False).hexdigest()


def generate(
    seed: int,
    size: str | tuple[int, int, int],
    *,
    now: datetime | None = None,
    empty_repos: bool = True,
    deleted_repo: bool = True,
    authorless_commits: bool = True,
    old_pr_commits: bool = True,
    long_pr: bool = False,
    busy: tuple[int, int] | None = None,
) -> Dataset:
    """Deterministic data: same seed, size, `busy` and `now` -> the same dataset."""
    n_inst, n_repos, n_events = parse_size(size)
    if busy is not None and (busy[0] < 0 or busy[1] < 0):
        raise ValueError(f"busy must be (repositories, events) >= 0, not {busy!r}")
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    rng = random.Random(seed)
    users = [User(f"user-{k}", 5000 + k) for k in range(1, 13)]
    dataset = Dataset(seed, (n_inst, n_repos, n_events), now, {}, users)
    repo_id = 100_000
    for i in range(n_inst):
        inst = Installation(FIRST_INSTALLATION_ID + i, f"org-{i + 1}", 9001 + i)
        dataset.installations[inst.id] = inst
        for j in range(n_repos):
            repo_id += 1
            repo = Repository(repo_id, inst.account_login, f"repo-{j + 1}", inst.id)
            repo.private = j % 2 == 0
            inst.repositories.append(repo)
            if empty_repos and n_repos >= 3 and j == n_repos - 2:
                repo.empty = True
                continue
            deleted = inst.id == DELETED_REPO_INSTALLATION_ID and n_repos >= 2
            if deleted_repo and deleted and j == n_repos - 1:
                repo.deleted = True
                continue
            long = long_pr and not any(r.commits for r in dataset.repositories())
            events = n_events
            if busy is not None:
                events = busy[1] if j < busy[0] else rng.randint(min(1, n_events), n_events)
            _fill_repository(dataset, repo, rng, events, authorless_commits, old_pr_commits, long)
    return dataset


LONG_PR_COMMITS = 260
MERGE_METHODS = ("merge", "squash", "rebase")


def _base_of(line: list[Commit], dates: list[datetime], before: datetime) -> Commit | None:
    """The newest commit of the line (oldest first; `dates` its committer dates) dated
    before `before`."""
    at = bisect.bisect_left(dates, before)
    return line[at - 1] if at else None


def link_parents(repo: Repository) -> None:
    """Parents for a whole repository: the default branch's line one after the other
    (a merge commit keeps the PR's head as its second parent), each pull request's
    commits chained from its base."""
    line = repo.line()
    dates = [c.committer_date for c in line]
    previous: Commit | None = None
    for c in line:
        first = [previous.sha] if previous else []
        c.parents = first + c.parents[1:] if c.parents else first
        previous = c
    for pr in repo.pulls:
        if not pr.commit_shas:
            continue
        chain = [repo.commit(sha) for sha in pr.commit_shas]
        base = _base_of(line, dates, chain[0].committer_date)
        pr.base_sha = base.sha if base else None
        for i, c in enumerate(chain):
            c.parents = [chain[i - 1].sha] if i else ([base.sha] if base else [])


def merge_pull(
    ds: Dataset, repo: Repository, pr: Issue, method: str, *, link: bool = True
) -> list[str]:
    """Merge `pr` (its `merged_at` set) the way GitHub does with `method`; returns the
    SHAs the merge added to the default branch (the PR's own for a merge commit, plus
    the merge commit; the squash commit; the rebased copies). `link` sets the new
    commits' first parents at once (at runtime: the default branch's newest commit)."""
    assert pr.merged_at is not None
    at = pr.merged_at
    head = repo.line()[-1] if link and repo.line() else None
    chain = [repo.commit(sha) for sha in pr.commit_shas]
    made: list[Commit] = []
    name = pr.user.login
    email = f"{pr.user.login}@users.example"
    if method == "merge":
        for c in chain:
            c.on_default_branch = True
        sha = make_sha(ds.seed, repo.id, "merge", pr.number, pr.id)
        made.append(
            Commit(sha, f"Merge pull request #{pr.number}", name, email, at, at, pr.user,
                   True, parents=["", chain[-1].sha] if chain else [""])
        )  # fmt: skip
    elif method == "squash":
        sha = make_sha(ds.seed, repo.id, "squash", pr.number, pr.id)
        made.append(
            Commit(sha, f"{pr.title} (#{pr.number})", name, email, at, at, pr.user, True)
        )  # fmt: skip
    else:
        for i, c in enumerate(chain):
            sha = make_sha(ds.seed, repo.id, "rebase", pr.number, pr.id, i)
            made.append(
                Commit(sha, c.message, c.author_name, c.author_email, c.author_date, at,
                       c.author, True, seq=i)
            )  # fmt: skip
    for c in made:
        c.made_by = pr.number
    if link:
        for c in made:
            c.parents = [head.sha if head else "", *c.parents[1:]]
            if not c.parents[0]:
                c.parents = c.parents[1:]
            head = c
    repo.commits.extend(made)
    pr.merge_method = method
    pr.merge_commit_sha = made[-1].sha if made else None
    return [c.sha for c in chain if method == "merge"] + [c.sha for c in made]


def _when(rng: random.Random, now: datetime, lo: timedelta = timedelta(0)) -> datetime:
    """A second in the last SPAN, at least `lo` before now."""
    seconds = rng.randint(int(lo.total_seconds()), int(SPAN.total_seconds()))
    return now - timedelta(seconds=seconds)


def _fill_repository(
    ds: Dataset,
    repo: Repository,
    rng: random.Random,
    n: int,
    authorless: bool,
    old_pr_commits: bool,
    long_pr: bool = False,
) -> None:
    now = ds.now
    users = ds.users
    # Direct commits on the default branch.
    for k in range(n):
        committed = _when(rng, now)
        user = None if authorless and k % 7 == 3 else rng.choice(users)
        name = user.login.replace("-", " ").title() if user else f"Ghost Writer {k}"
        repo.commits.append(
            Commit(
                sha=make_sha(ds.seed, repo.id, "c", k),
                message=f"Change {k} in {repo.name}",
                author_name=name,
                author_email=f"{user.login}@users.example" if user else "ghost@example.invalid",
                author_date=committed - timedelta(seconds=rng.randint(0, 3 * 86400)),
                committer_date=committed,
                author=user,
                on_default_branch=True,
            )
        )
    items: list[Issue] = []
    # Pull requests: a third merged, a third closed without merge, a third open.
    for k in range(n):
        created = _when(rng, now, timedelta(hours=2))
        pr = Issue(0, ds.new_id(), f"PR {k} for {repo.name}", rng.choice(users), created, created)
        pr.is_pull_request = True
        outcome = k % 3
        old_dated = old_pr_commits and k % 6 == 0
        if old_dated:
            # Merged recently, but its commits were written 40-55 days ago.
            pr.created_at = now - timedelta(days=40 + rng.randint(0, 15))
            pr.merged_at = now - timedelta(days=rng.randint(1, 10), seconds=rng.randint(0, 9999))
            pr.closed_at = pr.merged_at
        elif outcome == 0:
            pr.merged_at = min(now, created + timedelta(seconds=rng.randint(3600, 5 * 86400)))
            pr.closed_at = pr.merged_at
        elif outcome == 1:
            pr.closed_at = min(now, created + timedelta(seconds=rng.randint(3600, 5 * 86400)))
        count = LONG_PR_COMMITS if long_pr and k == 0 else 1 + k % 3
        if long_pr and k == 0 and pr.merged_at is None:
            pr.merged_at = pr.closed_at = min(now, created + timedelta(hours=1))
        dates = sorted(
            pr.created_at - timedelta(seconds=rng.randint(60, 86400) if c < 3 else 86400 + c)
            for c in range(count)
        )
        for c in range(count):
            committed = dates[c]
            user = None if authorless and c == 2 else pr.user
            sha = make_sha(ds.seed, repo.id, "p", k, c)
            repo.commits.append(
                Commit(
                    sha=sha,
                    message=f"Work {c} on PR {k}",
                    author_name=user.login if user else "Detached Author",
                    author_email=f"{user.login}@users.example"
                    if user
                    else "nobody@example.invalid",
                    author_date=committed,
                    committer_date=committed,
                    author=user,
                    on_default_branch=False,
                )
            )
            pr.commit_shas.append(sha)
        end = pr.closed_at or now
        for _ in range(k % 3):
            span = max(1, int((end - pr.created_at).total_seconds()))
            submitted = pr.created_at + timedelta(seconds=rng.randint(1, span))
            state = rng.choice(["APPROVED", "COMMENTED", "CHANGES_REQUESTED"])
            reviewer = rng.choice(users)
            pr.reviews.append(Review(ds.new_id(), 0, reviewer, state, submitted))
        pr.reviews.sort(key=lambda r: (r.submitted_at, r.id))
        pr.updated_at = max(
            [pr.created_at, pr.closed_at or pr.created_at] + [r.submitted_at for r in pr.reviews]
        )
        items.append(pr)
    # Issues: half of them closed.
    for k in range(n):
        created = _when(rng, now, timedelta(hours=1))
        issue = Issue(
            0, ds.new_id(), f"Issue {k} in {repo.name}", rng.choice(users), created, created
        )
        if k % 2 == 0:
            issue.closed_at = min(now, created + timedelta(seconds=rng.randint(600, 10 * 86400)))
            issue.updated_at = issue.closed_at
        items.append(issue)
    # Issues and pull requests share one number sequence, in creation order.
    items.sort(key=lambda it: (it.created_at, it.id))
    for number, item in enumerate(items, start=1):
        item.number = number
        for review in item.reviews:
            review.pr_number = number
        for sha in item.commit_shas:
            repo.commit(sha).pr_number = number
        repo.issues[number] = item
    # Merges, in merge order, then every commit's parents.
    merged = sorted((p for p in repo.pulls if p.merged_at), key=lambda p: (p.merged_at, p.number))
    for ordinal, pr in enumerate(merged):
        merge_pull(ds, repo, pr, MERGE_METHODS[(repo.id + ordinal) % 3], link=False)
    link_parents(repo)
    # Comments on issues and pull requests; a quarter of them edited later.
    if items:
        for k in range(n):
            target = rng.choice(items)
            span = max(1, int((now - target.created_at).total_seconds()))
            created = target.created_at + timedelta(seconds=rng.randint(1, span))
            updated = created
            if k % 4 == 0:
                updated = min(now, created + timedelta(seconds=rng.randint(60, 20 * 86400)))
            comment = Comment(
                ds.new_id(), target.number, rng.choice(users), f"Comment {k}", created, updated
            )
            repo.comments.append(comment)
            target.updated_at = max(target.updated_at, updated)
        repo.comments.sort(key=lambda c: (c.created_at, c.id))
    _add_review_comments(ds, repo)


def _add_review_comments(ds: Dataset, repo: Repository) -> None:
    """Comments on the diff of pull requests, made with their `COMMENTED` and
    `CHANGES_REQUESTED` reviews (created when the review was submitted); some edited
    before the pull request's last update, so no pull request changes its `updated_at`.

    Drawn from a generator and an id range of their own (above 2**31, as GitHub's
    review comment ids are today), so the rest of the dataset is the same with or
    without them."""
    rng = random.Random(f"{ds.seed}:{repo.id}:review-comments")
    next_id = REVIEW_COMMENT_IDS + (repo.id - 100_000) * 1_000_000
    for pr in repo.pulls:
        for review in pr.reviews:
            if review.state == "APPROVED":
                continue
            for k in range(rng.randint(0, 2)):
                created = review.submitted_at
                updated = created
                room = int((pr.updated_at - created).total_seconds())
                if room >= 60 and rng.random() < 0.3:
                    updated = created + timedelta(seconds=rng.randint(60, room))
                sha = pr.commit_shas[-1] if pr.commit_shas else make_sha(ds.seed, pr.number)
                repo.review_comments.append(
                    ReviewComment(
                        id=next_id + len(repo.review_comments),
                        pr_number=pr.number,
                        review_id=review.id,
                        user=review.user,
                        body=f"Review note {k} on #{pr.number}",
                        path=f"src/module_{rng.randint(1, 9)}.py",
                        line=rng.randint(1, 200),
                        commit_sha=sha,
                        created_at=created,
                        updated_at=updated,
                    )
                )
    repo.review_comments.sort(key=lambda c: c.id)
