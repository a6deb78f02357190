"""GitHub's GraphQL API as ghsync reads it: the endpoint's address, the queries, what an
answer means (data, errors, the points budget), and its nodes in the REST shapes the
event mapping already knows.

GitHub's rules (docs.github.com, "Rate limits and node limits for the GraphQL API",
"Using pagination in the GraphQL API"; SPEC §5a):

- one endpoint, `POST {api}/graphql` on api.github.com and `https://HOST/api/graphql` on
  GitHub Enterprise Server (whose REST lives under `/api/v3`);
- a rate limit is HTTP 200 with `errors[].type == "RATE_LIMITED"` (some answers say
  `code: graphql_rate_limit`), a secondary limit 403/429 like REST; the points budget
  comes in `x-ratelimit-*` headers with `x-ratelimit-resource: graphql` and in
  `rateLimit { cost remaining resetAt }`, which every query here asks for;
- cost: connection requests ÷ 100, at least 1, every page assumed full. A connection
  nested under a page of N parents counts N requests, so each query nests one level
  only (a pull request's reviews, comments and commits; an issue's comments), never a
  connection per commit (a commit's `parents` under a pull request's commits would
  cost a point per pull request, what REST costs);
- ids: `databaseId` is the REST `id` (for pull requests, reviews and review comments
  it is deprecated for 64-bit ids: `fullDatabaseId`, a BigInt string); `oid` is the SHA.

Nodes come back as the REST items of the same objects (`rest_*`), so both paths go
through one event mapping and store the same rows with the same natural keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "CHANGES_PER_QUERY",
    "HISTORY",
    "ISSUES",
    "PULL_REQUESTS",
    "GraphQLResult",
    "changes_query",
    "graphql_url",
    "rate_limit_error",
    "rest_comment",
    "rest_commit",
    "rest_issue",
    "rest_pull",
    "rest_review",
]

CHANGES_PER_QUERY = 100  # repositories per change check (GitHub's page limit)

_RATE = "rateLimit { cost limit remaining resetAt }"
_ACTOR = "login ... on User { databaseId } ... on Bot { databaseId }"
_COMMENT = f"fullDatabaseId body createdAt updatedAt url author {{ {_ACTOR} }}"
_COMMIT = (
    "oid message url committedDate authoredDate"
    " author { name email date user { login databaseId } }"
)

# The default branch's history since a date (GitHub filters on the committer date, as
# the REST `since` does), with each commit's parents counted: one nested connection
# per commit, 101 requests for a page of 100, one point.
HISTORY = f"""
query History($owner: String!, $name: String!, $since: GitTimestamp!, $first: Int!,
              $after: String) {{
  {_RATE}
  repository(owner: $owner, name: $name) {{
    pushedAt
    defaultBranchRef {{
      target {{
        ... on Commit {{
          history(since: $since, first: $first, after: $after) {{
            pageInfo {{ hasNextPage endCursor }}
            nodes {{ {_COMMIT} parents(first: 1) {{ totalCount }} }}
          }}
        }}
      }}
    }}
  }}
}}
"""

# Pull requests, newest update first, with their reviews, comments and commits: three
# connections per pull request, so a page of 49 costs 1 point and one of 100 costs 3
# (REST: a request for the page, then one per pull request for its reviews and one for
# its commits).
PULL_REQUESTS = f"""
query PullRequests($owner: String!, $name: String!, $first: Int!, $after: String) {{
  {_RATE}
  repository(owner: $owner, name: $name) {{
    pullRequests(first: $first, after: $after,
                 orderBy: {{field: UPDATED_AT, direction: DESC}}) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{
        fullDatabaseId number title url createdAt updatedAt closedAt mergedAt
        headRefOid baseRefOid
        author {{ {_ACTOR} }}
        mergeCommit {{ oid }}
        reviews(first: 100) {{
          pageInfo {{ hasNextPage }}
          nodes {{ fullDatabaseId state submittedAt url author {{ {_ACTOR} }} }}
        }}
        comments(first: 100) {{
          pageInfo {{ hasNextPage }}
          nodes {{ {_COMMENT} }}
        }}
        commits(first: 100) {{
          totalCount
          pageInfo {{ hasNextPage }}
          nodes {{ commit {{ {_COMMIT} }} }}
        }}
      }}
    }}
  }}
}}
"""

# Issues updated since a date (GitHub's `issues` holds no pull requests), newest update
# first, with their comments: 101 requests for a page of 100, one point.
ISSUES = f"""
query Issues($owner: String!, $name: String!, $since: DateTime!, $first: Int!,
             $after: String) {{
  {_RATE}
  repository(owner: $owner, name: $name) {{
    issues(first: $first, after: $after, filterBy: {{since: $since}},
           orderBy: {{field: UPDATED_AT, direction: DESC}}) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{
        databaseId number title url createdAt updatedAt closedAt stateReason
        author {{ {_ACTOR} }}
        comments(first: 100) {{
          pageInfo {{ hasNextPage }}
          nodes {{ {_COMMENT} }}
        }}
      }}
    }}
  }}
}}
"""

_CHANGE_FIELDS = (
    "databaseId pushedAt isEmpty"
    " pullRequests(first: 1, orderBy: {field: UPDATED_AT, direction: DESC})"
    " { nodes { updatedAt } }"
    " issues(first: 1, orderBy: {field: UPDATED_AT, direction: DESC})"
    " { nodes { updatedAt } }"
)


def changes_query(full_names: Sequence[str]) -> str:
    """What changed in up to 100 repositories: the last push, the newest pull request
    update and the newest issue update (a new comment or review updates its issue or
    pull request). Two one-item connections per repository: 2 points per 100."""
    if not 0 < len(full_names) <= CHANGES_PER_QUERY:
        raise ValueError(f"a change check covers 1 to {CHANGES_PER_QUERY} repositories")
    parts = []
    for index, full_name in enumerate(full_names):
        owner, _, name = full_name.partition("/")
        parts.append(
            f"r{index}: repository(owner: {json.dumps(owner)}, name: {json.dumps(name)})"
            f" {{ {_CHANGE_FIELDS} }}"
        )
    return "query Changes {\n  " + _RATE + "\n  " + "\n  ".join(parts) + "\n}\n"


def graphql_url(api_url: str) -> str:
    """GitHub's GraphQL endpoint for a REST base URL: `{api}/graphql`, or for GitHub
    Enterprise Server (`https://HOST/api/v3`) `https://HOST/api/graphql`."""
    base = api_url.rstrip("/")
    parts = urlsplit(base)
    if parts.path.endswith("/api/v3"):
        path = parts.path[: -len("/v3")] + "/graphql"
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    return f"{base}/graphql"


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class GraphQLResult:
    data: dict[str, Any]
    errors: list[dict[str, Any]]
    cost: int  # points charged: `rateLimit.cost` when the query asks, else 1

    def error_at(self, alias: str) -> dict[str, Any] | None:
        """The error whose path starts at `alias` (a repository that can't be read)."""
        for error in self.errors:
            path = error.get("path") or []
            if path and path[0] == alias:
                return error
        return None


def rate_limit_error(body: Any) -> bool:
    """An answer that says the points budget is spent (HTTP 200, SPEC §5a)."""
    if not isinstance(body, Mapping):
        return False
    for error in body.get("errors") or []:
        if isinstance(error, Mapping) and (
            error.get("type") == "RATE_LIMITED" or error.get("code") == "graphql_rate_limit"
        ):
            return True
    return False


def result_of(body: Any) -> GraphQLResult:
    """An answer's data, errors and cost (the caller has ruled out rate limits)."""
    if not isinstance(body, Mapping):
        raise ValueError("a GraphQL answer is a JSON object")
    data = body.get("data") or {}
    errors = [e for e in body.get("errors") or [] if isinstance(e, Mapping)]
    rate = data.get("rateLimit") if isinstance(data, Mapping) else None
    cost = int(rate.get("cost") or 1) if isinstance(rate, Mapping) else 1
    return GraphQLResult(dict(data), [dict(e) for e in errors], cost)


# --------------------------------------------------------------------------- REST shapes


def _id(node: Mapping[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = node.get(key)
        if value is not None:
            return int(value)
    return None


def _user(actor: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A GraphQL Actor as the REST `user`; a deleted account (`author: null`) stays None."""
    if not actor:
        return None
    return {"login": actor.get("login"), "id": actor.get("databaseId")}


def rest_commit(node: Mapping[str, Any]) -> dict[str, Any]:
    """A `Commit` as a REST commit item (`parents` only when the query counted them)."""
    author = node.get("author") or {}
    user = author.get("user")
    item: dict[str, Any] = {
        "sha": node["oid"],
        "html_url": node.get("url"),
        "author": _user(user),
        "commit": {
            "message": node.get("message") or "",
            "author": {
                "name": author.get("name"),
                "email": author.get("email"),
                "date": node.get("authoredDate") or author.get("date"),
            },
            "committer": {"date": node.get("committedDate")},
        },
    }
    parents = node.get("parents")
    if isinstance(parents, Mapping) and parents.get("totalCount") is not None:
        item["parents"] = [{} for _ in range(int(parents["totalCount"]))]
    return item


def _rest_numbered(node: Mapping[str, Any]) -> dict[str, Any]:
    """What a pull request's and an issue's REST items share."""
    return {
        "id": _id(node, "fullDatabaseId", "databaseId"),
        "number": int(node["number"]),
        "title": node.get("title"),
        "html_url": node.get("url"),
        "user": _user(node.get("author")),
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "closed_at": node.get("closedAt"),
    }


def rest_pull(node: Mapping[str, Any]) -> dict[str, Any]:
    """A `PullRequest` as an item of the REST pulls list (no `merged_by`: the list has
    none either)."""
    merged = node.get("mergedAt")
    return {
        **_rest_numbered(node),
        "merged_at": merged,
        "merge_commit_sha": (node.get("mergeCommit") or {}).get("oid") if merged else None,
        "head": {"sha": node.get("headRefOid")},
        "base": {"sha": node.get("baseRefOid")},
    }


def rest_review(node: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": _id(node, "fullDatabaseId", "databaseId"),
        "user": _user(node.get("author")),
        "state": node.get("state"),
        "submitted_at": node.get("submittedAt"),
        "html_url": node.get("url"),
    }


def rest_issue(node: Mapping[str, Any]) -> dict[str, Any]:
    reason = node.get("stateReason")
    return {**_rest_numbered(node), "state_reason": str(reason).lower() if reason else None}


def rest_comment(node: Mapping[str, Any]) -> dict[str, Any]:
    """An `IssueComment` as a REST issue comment (its number comes from its URL)."""
    return {
        "id": _id(node, "fullDatabaseId", "databaseId"),
        "user": _user(node.get("author")),
        "body": node.get("body"),
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "html_url": node.get("url"),
    }
