"""Scenario 5b: hostile query strings on every page and API route a user can GET
(found by walking config.urls, the admin aside), by hypothesis: the known parameters
with any values (NUL, huge numbers, impossible dates, crafted pagination cursors) and
unknown ones. Never a 5xx: a bad parameter is a 400 or a 404."""

from __future__ import annotations

import base64
from collections import Counter
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.faults.figures import figure
from tests.faults.sweep import GITHUB_ID, World, routes

SCENARIO = "5b. Query-string fuzzing of pages and API (hypothesis)"
PARAMS = ["installation", "repository", "kind", "since", "cursor", "page_size", "format",
          "deep", "next", "page"]  # fmt: skip
NASTY = ["\x00", "", "-1", "0", str(2**63), str(2**80), "9999-12-31T23:59:59-05:00",
         "2024-02-30", "commit", "acme/repo-0", str(GITHUB_ID), "json", "api", "true",
         "%00", "٣", "../../etc/passwd", "x" * 3000]  # fmt: skip

pytestmark = pytest.mark.django_db

text = st.text(max_size=40) | st.sampled_from(NASTY)
position = st.one_of(
    st.sampled_from(NASTY), st.datetimes().map(str), st.text(max_size=30), st.none()
)


@st.composite
def cursors(draw: st.DrawFn) -> str:
    """A pagination cursor as DRF encodes one (base64 of o=&r=&p=), or garbage."""
    tokens: dict[str, Any] = {}
    if draw(st.booleans()):
        tokens["o"] = draw(st.integers(-5, 10**6) | text)
    if draw(st.booleans()):
        tokens["r"] = draw(st.sampled_from(["0", "1", "2", "x"]))
    value = draw(position)
    if value is not None:
        tokens["p"] = value
    raw = urlencode(tokens).encode()
    encoded = base64.b64encode(raw).decode()
    return draw(st.sampled_from([encoded, encoded, raw.decode(), "abc"]))


@st.composite
def queries(draw: st.DrawFn) -> dict[str, str]:
    keys = draw(st.lists(st.sampled_from(PARAMS) | st.text(max_size=8), max_size=4))
    query = {key: draw(text) for key in keys}
    if draw(st.booleans()):
        query["cursor"] = draw(cursors())
    return query


def _get_routes(world: World) -> list[str]:
    return [world.url(route) for route in routes() if not route.startswith("admin/")]


def _fuzz(examples: int, *, derandomize: bool) -> Counter[str]:
    world = World()
    urls = _get_routes(world)
    clients = {role: world.client(role) for role in ("anonymous", "viewer", "staff")}
    tally: Counter[str] = Counter()

    @hsettings(max_examples=examples, deadline=None, database=None, derandomize=derandomize,
               suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.sampled_from(urls), st.sampled_from(sorted(clients)), queries())
    def check(url: str, role: str, query: dict[str, str]) -> None:
        response = clients[role].get(url, query)
        tally["requests"] += 1
        tally["5xx"] += int(response.status_code >= 500)
        assert response.status_code < 500, (url, role, query, response.status_code)

    check()
    return tally


def test_fuzzed_query_strings_never_answer_500() -> None:
    _fuzz(300, derandomize=True)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_thousands_of_fuzzed_query_strings() -> None:
    tally: Counter[str] = Counter()
    done = False
    try:
        tally = _fuzz(3000, derandomize=False)
        done = True
    finally:
        figure(SCENARIO, "GET requests (routes x roles x query strings)", tally["requests"])
        figure(SCENARIO, "responses >= 500", tally["5xx"], required="0",
               ok=done and tally["5xx"] == 0)  # fmt: skip
