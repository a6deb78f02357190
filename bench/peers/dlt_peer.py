"""The pipeline a dlt (1.31.0) user writes with the built-in `rest_api` source.

Runs under its own virtualenv. The installation's repositories, then for each
repository its commits (incremental on the committer date, `since`), pull requests
(newest update first; incremental on `updated_at` read in descending order, so the
listing stops below the window), each pull request's reviews, and issues
(incremental, `since`), merged into DuckDB on their primary keys. The installation
token is given (a dlt user gets it from their App setup; `rest_api` has no App auth).

`--export FILE` (not timed) dumps what the DuckDB holds as JSON lines for the bench.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import dlt
from dlt.sources.rest_api import rest_api_source

PIPELINE = "github_activity"
DATASET = "github"


def source(api: str, token: str, since: str) -> Any:
    return rest_api_source(
        {
            "client": {
                "base_url": api,
                "auth": {"type": "bearer", "token": token},
                "paginator": {"type": "header_link"},
            },
            "resource_defaults": {
                "primary_key": "id",
                "write_disposition": "merge",
                "endpoint": {"params": {"per_page": 100}},
            },
            "resources": [
                {
                    "name": "repositories",
                    "endpoint": {
                        "path": "installation/repositories",
                        "data_selector": "repositories",
                    },
                },
                {
                    "name": "commits",
                    "primary_key": "sha",
                    "endpoint": {
                        "path": "repos/{resources.repositories.full_name}/commits",
                        "params": {
                            "since": {
                                "type": "incremental",
                                "cursor_path": "commit.committer.date",
                                "initial_value": since,
                            },
                        },
                        # an empty repository answers 409
                        "response_actions": [{"status_code": 409, "action": "ignore"}],
                    },
                },
                {
                    "name": "pulls",
                    "include_from_parent": ["full_name"],
                    "endpoint": {
                        "path": "repos/{resources.repositories.full_name}/pulls",
                        "params": {"state": "all", "sort": "updated", "direction": "desc"},
                        "incremental": {
                            "cursor_path": "updated_at",
                            "initial_value": since,
                            "row_order": "desc",
                        },
                    },
                },
                {
                    "name": "reviews",
                    "endpoint": {
                        "path": "repos/{resources.pulls._repositories_full_name}"
                        "/pulls/{resources.pulls.number}/reviews",
                    },
                },
                {
                    "name": "issues",
                    "endpoint": {
                        "path": "repos/{resources.repositories.full_name}/issues",
                        "params": {
                            "state": "all",
                            "since": {
                                "type": "incremental",
                                "cursor_path": "updated_at",
                                "initial_value": since,
                            },
                        },
                    },
                },
            ],
        }
    )


def pipeline(workdir: Path) -> Any:
    return dlt.pipeline(
        pipeline_name=PIPELINE,
        pipelines_dir=str(workdir / "pipelines"),
        destination=dlt.destinations.duckdb(str(workdir / "activity.duckdb")),
        dataset_name=DATASET,
    )


def export(workdir: Path, out: Path) -> None:
    import duckdb

    queries = {
        "commits": "select url, sha from commits",
        "pulls": "select url, number, created_at, merged_at, closed_at from pulls",
        "reviews": "select id, pull_request_url, submitted_at from reviews",
        "issues": "select url, number, created_at, closed_at, pull_request__url from issues",
    }
    con = duckdb.connect(str(workdir / "activity.duckdb"), read_only=True)
    with out.open("w") as fh:
        for stream, sql in queries.items():
            try:
                cursor = con.execute(sql.replace(" from ", f" from {DATASET}."))
            except duckdb.CatalogException:
                continue  # nothing loaded into that table
            names = [d[0] for d in cursor.description]
            for row in cursor.fetchall():
                record = {
                    k: (v.isoformat() if hasattr(v, "isoformat") else v)
                    for k, v in zip(names, row, strict=True)
                }
                if stream == "issues":
                    record["pull_request"] = record.pop("pull_request__url")
                fh.write(json.dumps({"stream": stream, "record": record}) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api")
    parser.add_argument("--token")
    parser.add_argument("--since")
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--export", type=Path)
    args = parser.parse_args()
    if args.export:
        export(args.workdir, args.export)
        return 0
    info = pipeline(args.workdir).run(source(args.api, args.token, args.since))
    print(info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
