"""The simulator's `POST /graphql`, over real HTTP, checked against its own REST answers.

Every query sent here validates against the vendored GitHub schema (the first test
proves it), so what passes here is a query GitHub would accept.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
import requests
from graphql import parse, validate

from integrations.github.client import GitHubApp, GitHubClient
from simulator.dataset import Commit, make_sha
from simulator.graphql.cost import price
from simulator.graphql.schema import github_schema
from simulator.testing import RunningSimulator

REPOSITORY = """
query Repository($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) {
    id databaseId nameWithOwner pushedAt updatedAt isEmpty isPrivate url
    defaultBranchRef { name target { ... on Commit { oid } } }
  }
}"""

HISTORY = """
query History($owner: String!, $name: String!, $since: GitTimestamp, $until: GitTimestamp,
              $after: String) {
  rateLimit { cost remaining }
  repository(owner: $owner, name: $name) {
    defaultBranchRef {
      target {
        ... on Commit {
          history(first: 7, since: $since, until: $until, after: $after) {
            totalCount
            pageInfo { hasNextPage endCursor }
            nodes {
              oid committedDate authoredDate message messageHeadline url
              parents { totalCount }
              author { name date user { login databaseId } }
            }
          }
        }
      }
    }
  }
}"""

PULLS = """
query Pulls($owner: String!, $name: String!, $after: String) {
  rateLimit { cost remaining nodeCount }
  repository(owner: $owner, name: $name) {
    pullRequests(first: 6, after: $after, orderBy: {field: UPDATED_AT, direction: DESC}) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes {
        id databaseId fullDatabaseId number title state createdAt updatedAt closedAt
        mergedAt merged mergeCommit { oid } url
        author { login ... on User { databaseId } }
        reviews(first: 100) {
          totalCount
          nodes { databaseId fullDatabaseId state submittedAt url author { login } }
        }
        commits(first: 100) { totalCount nodes { commit { oid } } }
        comments(first: 100) { totalCount nodes { databaseId fullDatabaseId updatedAt } }
      }
    }
  }
}"""

PULL_COMMITS = """
query PullCommits($owner: String!, $name: String!, $number: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      commits(first: 100, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        nodes { commit { oid } }
      }
    }
  }
}"""

ISSUES = """
query Issues($owner: String!, $name: String!, $since: DateTime, $after: String) {
  repository(owner: $owner, name: $name) {
    issues(first: 5, after: $after, filterBy: {since: $since}) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id databaseId number title state createdAt updatedAt closedAt url
        author { login }
        comments(first: 100) { nodes { id databaseId body createdAt updatedAt url } }
      }
    }
  }
}"""

NODE = """
query Node($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Repository { databaseId }
    ... on PullRequest { fullDatabaseId }
    ... on Issue { databaseId }
    ... on IssueComment { databaseId }
    ... on PullRequestReview { fullDatabaseId }
    ... on Commit { oid }
  }
}"""

NODES = """
query Nodes($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"""

RATE = """
query { rateLimit { cost limit remaining used resetAt nodeCount } }"""

DRY_RUN = """
query DryRun($owner: String!, $name: String!) {
  rateLimit(dryRun: true) { cost remaining nodeCount }
  repository(owner: $owner, name: $name) {
    pullRequests(first: 100) { nodes { reviews(first: 100) { nodes { databaseId } } } }
  }
}"""

NESTED_CONNECTIONS = """
query Nested($owner: String!, $name: String!) {
  rateLimit { cost nodeCount }
  repository(owner: $owner, name: $name) {
    pullRequests(first: 100) {
      nodes {
        reviews(first: 100) { nodes { databaseId } }
        commits(first: 100) { nodes { commit { oid } } }
        comments(first: 100) { nodes { databaseId } }
      }
    }
  }
}"""

TOO_MANY_NODES = """
query TooMany($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) {
    pullRequests(first: 100) {
      nodes {
        commits(first: 100) {
          nodes { commit { history(first: 100) { nodes { oid } } } }
        }
      }
    }
  }
}"""

# The docs' examples ("Rate limits and node limits for the GraphQL API", docs.github.com).
DOCS_COST_EXAMPLE = """
query {
  viewer {
    login
    repositories(first: 100) {
      edges { node { id issues(first: 50) {
        edges { node { id labels(first: 60) { edges { node { id name } } } } }
      } } }
    }
  }
}"""

DOCS_SIMPLE_NODES = """
query {
  viewer {
    repositories(first: 50) {
      edges { repository: node { name
        issues(first: 10) { totalCount edges { node { title bodyHTML } } }
      } }
    }
  }
}"""

DOCS_COMPLEX_NODES = """
query {
  viewer {
    repositories(first: 50) {
      edges { repository: node { name
        pullRequests(first: 20) { edges { pullRequest: node { title
          comments(first: 10) { edges { comment: node { bodyHTML } } }
        } } }
        issues(first: 20) { totalCount edges { issue: node { title bodyHTML
          comments(first: 10) { edges { comment: node { bodyHTML } } }
        } } }
      } }
    }
    followers(first: 10) { edges { follower: node { login } } }
  }
}"""

# A change check: what moved in up to 100 repositories, in one query.
CHANGE_CHECK = """
query ChangeCheck($ids: [ID!]!) {
  rateLimit { cost remaining }
  nodes(ids: $ids) {
    ... on Repository {
      databaseId pushedAt
      pullRequests(first: 1, orderBy: {field: UPDATED_AT, direction: DESC}) {
        nodes { updatedAt }
      }
    }
  }
}"""

QUERIES = {
    name: value
    for name, value in dict(globals()).items()
    if name.isupper() and isinstance(value, str) and "{" in value
}


def _with_first(args: str) -> str:
    return (
        '{ repository(owner: "org-1", name: "repo-1") { issues(ARGS) { nodes { id } } } }'.replace(
            "ARGS", args
        )
    )


BOUNDS = {
    "first: 101": "Requesting 101 records on the `issues` connection exceeds the `first` limit"
    " of 100 records.",
    "last: 150": "Requesting 150 records on the `issues` connection exceeds the `last` limit"
    " of 100 records.",
    "": "You must provide a `first` or `last` value to properly paginate the `issues` connection.",
}
QUERIES.update(
    {f"bounds {arg!r}": _with_first(arg) if arg else _with_first("states: OPEN") for arg in BOUNDS}
)


# ----------------------------------------------------------------------------- helpers


class GraphQL:
    """POST /graphql with an installation token, as a client would."""

    def __init__(self, sim: RunningSimulator, app: GitHubApp, installation_id: int = 1001):
        self.url = f"{sim.url}/graphql"
        # A fresh token: the client's cache is keyed by URL, and an earlier test's
        # simulator may have had this port.
        self.token = app.installation_token(installation_id, force_refresh=True)
        self.last: requests.Response | None = None

    def post(self, query: str, **variables: Any) -> dict[str, Any]:
        response = requests.post(
            self.url,
            json={"query": query, "variables": variables},
            headers={"Authorization": f"bearer {self.token}"},
            timeout=30,
        )
        self.last = response
        assert response.status_code == 200, response.text
        return dict(response.json())

    def data(self, query: str, **variables: Any) -> dict[str, Any]:
        body = self.post(query, **variables)
        assert "errors" not in body, body["errors"]
        return dict(body["data"])

    def pages(self, query: str, path: list[str], **variables: Any) -> list[dict[str, Any]]:
        """Every node of the connection at `path`, following `endCursor`."""
        nodes: list[dict[str, Any]] = []
        after = None
        while True:
            connection: Any = self.data(query, after=after, **variables)
            for key in path:
                connection = connection[key]
            nodes += connection["nodes"]
            if not connection["pageInfo"]["hasNextPage"]:
                return nodes
            after = connection["pageInfo"]["endCursor"]


@pytest.fixture
def gql(sim: RunningSimulator, app: GitHubApp) -> GraphQL:
    return GraphQL(sim, app)


def _rest(client: GitHubClient, path: str, **params: Any) -> list[dict[str, Any]]:
    return [
        item for page in client.paginate(path, {"per_page": 100, **params}) for item in page.items
    ]


def _control(sim: RunningSimulator, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(sim.url + path, data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


REPO = {"owner": "org-1", "name": "repo-1"}

# ----------------------------------------------------------------------------- schema


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_every_query_sent_here_validates_against_githubs_schema(name: str) -> None:
    assert validate(github_schema(), parse(QUERIES[name])) == []


def test_a_query_the_schema_refuses_is_answered_with_errors_and_no_data(gql: GraphQL) -> None:
    query = '{ repository(owner: "org-1", name: "repo-1") { databaseId starCount } }'
    assert validate(github_schema(), parse(query)) != []

    body = gql.post(query)

    assert "data" not in body
    assert "starCount" in body["errors"][0]["message"]


# ----------------------------------------------------------------------------- same as REST


def test_repositories_answer_what_rest_answers(gql: GraphQL, client: GitHubClient) -> None:
    for name in ("repo-1", "repo-2", "repo-3"):
        rest = client.get_page(f"/repos/org-1/{name}").items[0]
        repo = gql.data(REPOSITORY, owner="org-1", name=name)["repository"]

        assert repo["databaseId"] == rest["id"]
        assert repo["id"] == rest["node_id"]
        assert repo["nameWithOwner"] == rest["full_name"]
        assert repo["pushedAt"] == rest["pushed_at"]
        assert repo["updatedAt"] == rest["updated_at"]
        assert repo["isPrivate"] == rest["private"]
        assert repo["url"] == rest["html_url"]
        assert repo["isEmpty"] == (rest["size"] == 0)
        if repo["isEmpty"]:
            assert repo["defaultBranchRef"] is None
        else:
            assert repo["defaultBranchRef"]["name"] == rest["default_branch"]
            newest = client.get_page(f"/repos/org-1/{name}/commits").items[0]
            assert repo["defaultBranchRef"]["target"]["oid"] == newest["sha"]
    assert any(
        gql.data(REPOSITORY, owner="org-1", name=n)["repository"]["isEmpty"]
        for n in ("repo-1", "repo-2", "repo-3")
    )


def test_an_unknown_or_foreign_repository_is_null_with_not_found(gql: GraphQL) -> None:
    for owner, name in (("org-1", "no-such-repo"), ("org-2", "repo-1")):
        body = gql.post(REPOSITORY, owner=owner, name=name)

        assert body["data"] == {"repository": None}
        assert body["errors"][0]["type"] == "NOT_FOUND"
        assert body["errors"][0]["path"] == ["repository"]
        assert f"'{owner}/{name}'" in body["errors"][0]["message"]


def test_a_deleted_repository_is_not_found_as_on_rest(
    sim: RunningSimulator, app: GitHubApp, make_client: Any
) -> None:
    deleted = next(r for r in sim.dataset.repositories(1003) if r.deleted)
    gql = GraphQL(sim, app, installation_id=1003)
    rest = make_client(1003)

    body = gql.post(REPOSITORY, owner=deleted.owner, name=deleted.name)

    assert body["data"] == {"repository": None}
    assert body["errors"][0]["type"] == "NOT_FOUND"
    assert deleted.full_name in {r["full_name"] for r in rest.installation_repositories()}
    assert gql.data(NODES, ids=[f"R_{deleted.id}"])["nodes"] == [None]


def test_default_branch_history_is_the_rest_commits_list(
    gql: GraphQL, client: GitHubClient
) -> None:
    window = {"since": "2026-01-01T00:00:00Z", "until": "2099-01-01T00:00:00Z"}
    nodes = gql.pages(
        HISTORY, ["repository", "defaultBranchRef", "target", "history"], **REPO, **window
    )
    rest = _rest(client, "/repos/org-1/repo-1/commits", **window)

    assert len(nodes) == len(rest) > 7
    for node, item in zip(nodes, rest, strict=True):
        assert node["oid"] == item["sha"]
        assert node["committedDate"] == item["commit"]["committer"]["date"]
        assert node["authoredDate"] == item["commit"]["author"]["date"]
        assert node["message"] == item["commit"]["message"]
        assert node["messageHeadline"] == item["commit"]["message"].splitlines()[0]
        assert node["url"] == item["html_url"]
        assert node["parents"]["totalCount"] == len(item["parents"])
        assert node["author"]["name"] == item["commit"]["author"]["name"]
        user = node["author"]["user"]
        if item["author"] is None:
            assert user is None
        else:
            assert (user["login"], user["databaseId"]) == (
                item["author"]["login"],
                item["author"]["id"],
            )
    assert any(node["author"]["user"] is None for node in nodes)  # authorless commits


def test_history_since_and_until_filter_on_the_commit_date_like_rest(
    gql: GraphQL, client: GitHubClient
) -> None:
    rest_all = _rest(client, "/repos/org-1/repo-1/commits")
    dates = sorted(item["commit"]["committer"]["date"] for item in rest_all)
    since, until = dates[3], dates[-4]
    nodes = gql.pages(
        HISTORY,
        ["repository", "defaultBranchRef", "target", "history"],
        **REPO,
        since=since,
        until=until,
    )
    rest = _rest(client, "/repos/org-1/repo-1/commits", since=since, until=until)

    assert [n["oid"] for n in nodes] == [item["sha"] for item in rest]
    assert 0 < len(nodes) < len(rest_all)


def test_pull_requests_with_reviews_commits_and_comments_are_what_rest_lists(
    gql: GraphQL, client: GitHubClient
) -> None:
    pulls = gql.pages(PULLS, ["repository", "pullRequests"], **REPO)
    rest = {p["number"]: p for p in _rest(client, "/repos/org-1/repo-1/pulls", state="all")}
    rest_comments = _rest(client, "/repos/org-1/repo-1/issues/comments")

    assert sorted(p["number"] for p in pulls) == sorted(rest)
    updated = [p["updatedAt"] for p in pulls]
    assert updated == sorted(updated, reverse=True)  # orderBy UPDATED_AT DESC
    states = set()
    for pull in pulls:
        item = rest[pull["number"]]
        states.add(pull["state"])
        assert pull["databaseId"] == int(pull["fullDatabaseId"]) == item["id"]
        assert pull["id"] == item["node_id"]
        assert pull["title"] == item["title"]
        assert pull["url"] == item["html_url"]
        assert pull["author"] == {"login": item["user"]["login"], "databaseId": item["user"]["id"]}
        for key, rest_key in (
            ("createdAt", "created_at"),
            ("updatedAt", "updated_at"),
            ("closedAt", "closed_at"),
            ("mergedAt", "merged_at"),
        ):
            assert pull[key] == item[rest_key]
        assert pull["merged"] == (item["merged_at"] is not None)
        expected_state = (
            "MERGED" if item["merged_at"] else "CLOSED" if item["state"] == "closed" else "OPEN"
        )
        assert pull["state"] == expected_state
        if pull["merged"]:
            assert pull["mergeCommit"] == {"oid": item["merge_commit_sha"]}
        else:
            assert pull["mergeCommit"] is None

        reviews = _rest(client, f"/repos/org-1/repo-1/pulls/{pull['number']}/reviews")
        assert pull["reviews"]["totalCount"] == len(reviews)
        assert [
            (r["databaseId"], int(r["fullDatabaseId"]), r["state"], r["submittedAt"], r["url"])
            for r in pull["reviews"]["nodes"]
        ] == [(r["id"], r["id"], r["state"], r["submitted_at"], r["html_url"]) for r in reviews]
        assert [r["author"]["login"] for r in pull["reviews"]["nodes"]] == [
            r["user"]["login"] for r in reviews
        ]

        commits = _rest(client, f"/repos/org-1/repo-1/pulls/{pull['number']}/commits")
        assert [n["commit"]["oid"] for n in pull["commits"]["nodes"]] == [c["sha"] for c in commits]

        on_this = [c for c in rest_comments if c["issue_url"].endswith(f"/{pull['number']}")]
        assert [
            (c["databaseId"], int(c["fullDatabaseId"]), c["updatedAt"])
            for c in pull["comments"]["nodes"]
        ] == [(c["id"], c["id"], c["updated_at"]) for c in on_this]
    assert states == {"OPEN", "CLOSED", "MERGED"}
    assert any(p["reviews"]["nodes"] for p in pulls)
    assert any(p["comments"]["nodes"] for p in pulls)


def test_issues_since_are_rest_issues_without_pull_requests(
    gql: GraphQL, client: GitHubClient
) -> None:
    all_issues = [
        i
        for i in _rest(client, "/repos/org-1/repo-1/issues", state="all")
        if "pull_request" not in i
    ]
    since = sorted(i["updated_at"] for i in all_issues)[len(all_issues) // 2]
    issues = gql.pages(ISSUES, ["repository", "issues"], **REPO, since=since)
    rest = {
        i["number"]: i
        for i in _rest(client, "/repos/org-1/repo-1/issues", state="all", since=since)
        if "pull_request" not in i
    }
    rest_comments = _rest(client, "/repos/org-1/repo-1/issues/comments")

    assert sorted(i["number"] for i in issues) == sorted(rest)
    assert 0 < len(rest) < len(all_issues)
    for issue in issues:
        item = rest[issue["number"]]
        assert (issue["databaseId"], issue["id"], issue["url"]) == (
            item["id"],
            item["node_id"],
            item["html_url"],
        )
        assert issue["state"] == item["state"].upper()
        assert (issue["createdAt"], issue["updatedAt"], issue["closedAt"]) == (
            item["created_at"],
            item["updated_at"],
            item["closed_at"],
        )
        assert issue["author"]["login"] == item["user"]["login"]
        on_this = [c for c in rest_comments if c["issue_url"].endswith(f"/{issue['number']}")]
        assert [
            (c["databaseId"], c["id"], c["body"], c["createdAt"], c["updatedAt"], c["url"])
            for c in issue["comments"]["nodes"]
        ] == [
            (c["id"], c["node_id"], c["body"], c["created_at"], c["updated_at"], c["html_url"])
            for c in on_this
        ]


def test_a_pull_requests_commits_stop_at_250_like_rest(sim: RunningSimulator, gql: GraphQL) -> None:
    repo = sim.dataset.repository("org-1/repo-1")
    assert repo is not None
    pull = repo.pulls[0]
    with sim.dataset.lock:
        for k in range(260 - len(pull.commit_shas)):
            sha = make_sha("long-pr", k)
            first = repo.commit(pull.commit_shas[0])
            repo.commits.append(
                Commit(
                    sha,
                    f"Step {k}",
                    "A",
                    "a@example.invalid",
                    first.author_date,
                    first.committer_date,
                    first.author,
                    False,
                    pull.number,
                )
            )
            pull.commit_shas.append(sha)
    variables = {**REPO, "number": pull.number}

    nodes = gql.pages(PULL_COMMITS, ["repository", "pullRequest", "commits"], **variables)

    assert [n["commit"]["oid"] for n in nodes] == pull.commit_shas[:250]
    total = gql.data(PULL_COMMITS, **variables)["repository"]["pullRequest"]["commits"]
    assert total["totalCount"] == 260


def test_node_and_nodes_find_objects_by_their_rest_node_id(
    gql: GraphQL, client: GitHubClient
) -> None:
    repo = client.get_page("/repos/org-1/repo-1").items[0]
    pull = next(p for p in _rest(client, "/repos/org-1/repo-1/pulls", state="all"))
    reviewed = next(
        r
        for p in _rest(client, "/repos/org-1/repo-1/pulls", state="all")
        for r in _rest(client, f"/repos/org-1/repo-1/pulls/{p['number']}/reviews")
    )
    issue = next(
        i
        for i in _rest(client, "/repos/org-1/repo-1/issues", state="all")
        if "pull_request" not in i
    )
    comment = _rest(client, "/repos/org-1/repo-1/issues/comments")[0]
    commit = client.get_page("/repos/org-1/repo-1/commits").items[0]
    cases = [
        (repo["node_id"], "Repository", "databaseId", repo["id"]),
        (pull["node_id"], "PullRequest", "fullDatabaseId", str(pull["id"])),
        (issue["node_id"], "Issue", "databaseId", issue["id"]),
        (comment["node_id"], "IssueComment", "databaseId", comment["id"]),
        (reviewed["node_id"], "PullRequestReview", "fullDatabaseId", str(reviewed["id"])),
        (commit["node_id"], "Commit", "oid", commit["sha"]),
    ]
    for node_id, typename, key, value in cases:
        node = gql.data(NODE, id=node_id)["node"]
        assert (node["__typename"], node["id"], node[key]) == (typename, node_id, value)

    ids = [c[0] for c in cases]
    assert [n["id"] for n in gql.data(NODES, ids=ids)["nodes"]] == ids
    repositories = gql.data(CHANGE_CHECK, ids=[repo["node_id"]])["nodes"]
    assert repositories[0]["databaseId"] == repo["id"]
    assert repositories[0]["pushedAt"] == repo["pushed_at"]


def test_a_node_of_another_installation_is_not_found(
    sim: RunningSimulator, app: GitHubApp, gql: GraphQL
) -> None:
    other = GraphQL(sim, app, installation_id=1002)
    foreign = other.data(REPOSITORY, owner="org-2", name="repo-1")["repository"]["id"]

    body = gql.post(NODE, id=foreign)

    assert body["data"] == {"node": None}
    assert body["errors"][0]["type"] == "NOT_FOUND"
    assert gql.data(NODES, ids=[foreign])["nodes"] == [None]


# ----------------------------------------------------------------------------- limits


@pytest.mark.parametrize("arg", sorted(BOUNDS))
def test_page_sizes_outside_1_to_100_are_refused_as_github_words_it(
    sim: RunningSimulator, gql: GraphQL, arg: str
) -> None:
    query = QUERIES[f"bounds {arg!r}"]

    body = gql.post(query)

    assert "data" not in body
    assert body["errors"][0]["message"] == BOUNDS[arg]
    assert body["errors"][0]["path"] == ["repository", "issues"]
    assert sim.server.stats()["graphql_points_spent"].get(1001, 0) == 0


def test_more_than_100_ids_in_nodes_are_refused(sim: RunningSimulator, gql: GraphQL) -> None:
    body = gql.post(NODES, ids=[f"R_{n}" for n in range(101)])

    assert "data" not in body
    assert body["errors"][0]["message"] == "You may not request more than 100 nodes at once."
    assert sim.server.stats()["graphql_points_spent"].get(1001, 0) == 0


def test_a_query_over_500000_nodes_is_refused_before_it_runs(
    sim: RunningSimulator, gql: GraphQL
) -> None:
    body = gql.post(TOO_MANY_NODES, **REPO)

    assert "data" not in body
    assert body["errors"] == [
        {
            "type": "MAX_NODE_LIMIT_EXCEEDED",
            "message": "This query requests up to 1,010,100 possible nodes which exceeds the"
            " maximum limit of 500,000.",
        }
    ]
    assert sim.server.stats()["graphql_points_spent"].get(1001, 0) == 0


# ----------------------------------------------------------------------------- cost


@pytest.mark.parametrize(
    ("query", "requests_needed", "nodes", "cost"),
    [
        (CHANGE_CHECK, 100, 100, 1),  # 100 repositories x 1 connection (with 100 ids)
        # "This query requires 5,101 requests to fulfill" ... 51 points.
        (DOCS_COST_EXAMPLE, 1 + 100 + 5_000, 100 + 5_000 + 300_000, 51),
        (DOCS_SIMPLE_NODES, 1 + 50, 550, 1),
        (DOCS_COMPLEX_NODES, 1 + 50 + 1_000 + 50 + 1_000 + 1, 22_060, 21),
        (RATE, 0, 0, 1),  # the minimum is one point
    ],
)
def test_cost_and_node_count_follow_githubs_documented_examples(
    query: str, requests_needed: int, nodes: int, cost: int
) -> None:
    ids = [f"R_{n}" for n in range(100)]
    priced = price(github_schema(), parse(query), {"ids": ids})

    assert (priced.requests, priced.nodes, priced.cost) == (requests_needed, nodes, cost)


def test_rate_limit_reports_the_cost_charged_to_the_graphql_budget(gql: GraphQL) -> None:
    before = gql.data(RATE)["rateLimit"]
    assert before["cost"] == 1
    assert before["remaining"] == before["limit"] - before["used"] == 4999

    # 1 request for the pull requests + 100 pull requests x 3 nested connections.
    data = gql.data(NESTED_CONNECTIONS, **REPO)

    assert data["rateLimit"]["cost"] == round((1 + 300) / 100) == 3
    assert data["rateLimit"]["nodeCount"] == 100 + 3 * 100 * 100
    assert gql.last is not None
    assert gql.last.headers["x-ratelimit-resource"] == "graphql"
    assert gql.last.headers["x-ratelimit-remaining"] == str(4999 - 3)
    assert gql.last.headers["x-ratelimit-used"] == "4"
    after = gql.data(RATE)["rateLimit"]
    assert after["remaining"] == 4999 - 3 - 1
    assert after["resetAt"] == before["resetAt"]


def test_a_dry_run_prices_the_query_without_running_or_charging_it(gql: GraphQL) -> None:
    data = gql.data(DRY_RUN, **REPO)

    assert data["rateLimit"] == {"cost": 1, "remaining": 5000, "nodeCount": 100 + 100 * 100}
    assert data["repository"] is None
    assert gql.data(RATE)["rateLimit"]["remaining"] == 4999


def test_an_exhausted_graphql_budget_is_rate_limited_with_http_200(
    sim: RunningSimulator, gql: GraphQL, client: GitHubClient
) -> None:
    gql.data(RATE)  # the schema is loaded before the short window starts
    _control(
        sim,
        "/_sim/config",
        {"graphql_budget": {"installation_id": 1001, "remaining": 2, "reset_in": 2}},
    )

    body = gql.post(NESTED_CONNECTIONS, **REPO)  # costs 3

    assert "data" not in body
    assert body["errors"][0]["type"] == "RATE_LIMITED"
    assert body["errors"][0]["message"] == (
        "API rate limit already exceeded for installation ID 1001."
    )
    assert gql.last is not None
    assert gql.last.headers["x-ratelimit-remaining"] == "2"
    reset = int(gql.last.headers["x-ratelimit-reset"])
    assert gql.last.headers["x-ratelimit-resource"] == "graphql"
    assert gql.data(RATE)["rateLimit"]["remaining"] == 1  # a cheaper query still runs
    # REST is untouched by the GraphQL budget.
    page = client.get_page("/repos/org-1/repo-1")
    assert page.status == 200
    assert page.rate_limit is not None and page.rate_limit.remaining == 4999
    stats = _control(sim, "/_sim/stats")
    assert stats["graphql_rate_limited"] == {"1001": 1}
    # The window resets like REST's.
    time.sleep(max(0.0, reset - time.time()) + 0.1)
    assert gql.data(NESTED_CONNECTIONS, **REPO)["rateLimit"]["cost"] == 3
    assert gql.last.headers["x-ratelimit-remaining"] == str(5000 - 3)


def test_rest_and_graphql_budgets_and_counters_are_kept_apart(
    sim: RunningSimulator, gql: GraphQL, client: GitHubClient
) -> None:
    gql.data(NESTED_CONNECTIONS, **REPO)
    gql.data(RATE)
    client.get_page("/repos/org-1/repo-1")
    client.get_page("/repos/org-1/repo-1/pulls")

    stats = _control(sim, "/_sim/stats")
    limits = client.get_page("/rate_limit").items[0]["resources"]

    assert stats["graphql_points_spent"] == {"1001": 4}
    assert stats["graphql_requests_by_installation"] == {"1001": 2}
    assert stats["budget_spent"] == {"1001": 2}
    assert stats["requests_by_endpoint"]["POST /graphql"] == 2
    # What the charged queries asked for, so a benchmark can tell which streams were read.
    assert stats["graphql_operations"] == {"Nested": 1, "(anonymous)": 1}
    assert stats["graphql_connections"] == {
        "pullRequests": 1,
        "reviews": 1,
        "commits": 1,
        "comments": 1,
    }
    assert limits["core"]["remaining"] == 4998
    assert limits["graphql"] == {
        "limit": 5000,
        "remaining": 4996,
        "used": 4,
        "reset": limits["graphql"]["reset"],
        "resource": "graphql",
    }


def test_graphql_without_a_token_is_401(sim: RunningSimulator) -> None:
    response = requests.post(f"{sim.url}/graphql", json={"query": RATE}, timeout=30)

    assert response.status_code == 401


def test_graphql_answers_the_injected_faults_like_rest(sim: RunningSimulator, gql: GraphQL) -> None:
    _control(sim, "/_sim/config", {"faults": {"fail_next": 1}})
    response = requests.post(
        gql.url,
        json={"query": RATE},
        headers={"Authorization": f"bearer {gql.token}"},
        timeout=30,
    )

    assert response.status_code == 502
    assert gql.data(RATE)["rateLimit"]["remaining"] == 4999  # the failed request cost nothing


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "A query attribute must be specified and must be a string."),
        ({"query": "{ rateLimit { cost }"}, "Syntax Error"),
    ],
)
def test_a_request_without_a_runnable_query_is_errors_only_and_free(
    sim: RunningSimulator, gql: GraphQL, payload: dict[str, Any], message: str
) -> None:
    response = requests.post(
        gql.url, json=payload, headers={"Authorization": f"bearer {gql.token}"}, timeout=30
    )

    assert response.status_code == 200
    assert list(response.json()) == ["errors"]
    assert message in response.json()["errors"][0]["message"]
    assert response.headers["x-ratelimit-remaining"] == "5000"
