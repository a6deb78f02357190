"""The script a PyGithub (2.10.0) user writes to list an installation's activity.

Runs under its own virtualenv. Authenticates as the App, lists the installation's
repositories, then for each: commits since the window start, pull requests (newest
update first, stopping below the window) with their reviews, and issues since the
window start. Writes one JSON line per object to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from github import Auth, GithubException, GithubIntegration, GithubRetry


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


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

    auth = Auth.AppAuth(args.app_id, Path(args.private_key_path).read_text())
    integration = GithubIntegration(
        auth=auth, base_url=args.api, retry=GithubRetry(), seconds_between_requests=0
    )
    installation = integration.get_app_installation(args.installation_id)

    with open(args.out, "w") as out:

        def write(stream: str, record: dict[str, Any]) -> None:
            out.write(json.dumps({"stream": stream, "record": record}) + "\n")

        for repo in installation.get_repos():
            try:
                for commit in repo.get_commits(since=since):
                    write(
                        "commits",
                        {
                            "url": commit.url,
                            "sha": commit.sha,
                            "committed_at": _iso(commit.commit.committer.date),
                            "author": commit.author.login if commit.author else None,
                            "message": commit.commit.message,
                        },
                    )
            except GithubException as exc:
                if exc.status != 409:  # 409: an empty repository
                    raise
            for pr in repo.get_pulls(state="all", sort="updated", direction="desc"):
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
                for review in pr.get_reviews():
                    write(
                        "reviews",
                        {
                            "id": review.id,
                            "pull_request_url": review.pull_request_url,
                            "state": review.state,
                            "submitted_at": _iso(review.submitted_at),
                        },
                    )
            for issue in repo.get_issues(state="all", since=since):
                if issue.pull_request is not None:
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
