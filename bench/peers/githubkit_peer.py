"""The script a githubkit (0.16.1, hishel < 2) user writes to list an installation's activity.

Runs under its own virtualenv. One `GitHub` client as the installation, used inside
`with` so its HTTP connection (and the hishel cache) is reused; lists the
installation's repositories, then for each: commits since the window start, pull
requests (newest update first, stopping below the window) with their reviews, and
issues since the window start. Writes one JSON line per object to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from githubkit import AppInstallationAuthStrategy, GitHub
from githubkit.exception import RequestFailed


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--private-key-path", required=True)
    parser.add_argument("--installation-id", type=int, required=True)
    parser.add_argument("--since", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    since = datetime.fromisoformat(args.since)
    auth = AppInstallationAuthStrategy(
        args.app_id, Path(args.private_key_path).read_text(), args.installation_id
    )

    with GitHub(auth, base_url=args.api) as gh, open(args.out, "w") as out:

        def write(stream: str, record: dict[str, Any]) -> None:
            out.write(json.dumps({"stream": stream, "record": record}) + "\n")

        repos = gh.rest.paginate(
            gh.rest.apps.list_repos_accessible_to_installation,
            map_func=lambda r: r.parsed_data.repositories,
            per_page=100,
        )
        for repo in repos:
            owner, name = repo.owner.login, repo.name
            try:
                for commit in gh.rest.paginate(
                    gh.rest.repos.list_commits, owner=owner, repo=name, since=since, per_page=100
                ):
                    committer = commit.commit.committer
                    write(
                        "commits",
                        {
                            "url": commit.url,
                            "sha": commit.sha,
                            "committed_at": _iso(committer.date) if committer else None,
                            "author": commit.author.login if commit.author else None,
                            "message": commit.commit.message,
                        },
                    )
            except RequestFailed as exc:
                if exc.response.status_code != 409:  # 409: an empty repository
                    raise
            pulls = gh.rest.paginate(
                gh.rest.pulls.list,
                owner=owner,
                repo=name,
                state="all",
                sort="updated",
                direction="desc",
                per_page=100,
            )
            for pr in pulls:
                if pr.updated_at < since:
                    break
                write(
                    "pulls",
                    {
                        "url": pr.url,
                        "number": pr.number,
                        "title": pr.title,
                        "created_at": _iso(pr.created_at),
                        "merged_at": _iso(pr.merged_at),
                        "closed_at": _iso(pr.closed_at),
                    },
                )
                for review in gh.rest.paginate(
                    gh.rest.pulls.list_reviews,
                    owner=owner,
                    repo=name,
                    pull_number=pr.number,
                    per_page=100,
                ):
                    write(
                        "reviews",
                        {
                            "id": review.id,
                            "pull_request_url": review.pull_request_url,
                            "state": review.state,
                            "submitted_at": _iso(review.submitted_at or None),
                        },
                    )
            issues = gh.rest.paginate(
                gh.rest.issues.list_for_repo,
                owner=owner,
                repo=name,
                state="all",
                since=since,
                per_page=100,
            )
            for issue in issues:
                if issue.pull_request:
                    continue
                write(
                    "issues",
                    {
                        "url": issue.url,
                        "number": issue.number,
                        "title": issue.title,
                        "created_at": _iso(issue.created_at),
                        "closed_at": _iso(issue.closed_at),
                    },
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
