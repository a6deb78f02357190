"""Scenario 7: the authorization sweep. Every URL pattern of config.urls (walked from
the resolver, so a new route cannot be forgotten: it fails here until it has a row in
the table) is requested with GET and POST as anonymous, a non-member (a member of
another installation), a viewer, an owner, staff (a superuser who is no member) and
bare staff (is_staff without a single permission: sees the admin's index and nothing
in it, and cannot run "Sync now"), and the status must be the table's. Installation
ids that are not ids (unicode digits, thousands of digits) are a 4xx on every route
that takes one. Then CSRF: with the checks enforced, a POST
without the token is refused on every route that is not exempt on purpose, and every
form the pages render carries the token (and works with it)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.faults.figures import figure
from tests.faults.sweep import GITHUB_ID, ODD_IDS, ROLES, World, routes

SCENARIO = "7. Authorization sweep"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def webhook_secret(settings: Any) -> None:
    settings.GITHUB_WEBHOOK_SECRET = "authorization-sweep-secret"


# --------------------------------------------------------------------------- the table
# route pattern -> {method: statuses for (anonymous, non-member, viewer, owner, staff,
# bare staff)}. 302 from a page is the redirect to the login page; 404 is "no such
# installation", which a non-member and staff (membership rules pages and API for
# superusers too) get for an installation they are not a member of. Outside the admin,
# bare staff are a signed-in user who is no member: the non-member's column.

_PAGES: dict[str, dict[str, tuple[int, ...]]] = {
    "": {"GET": (302, 200, 200, 200, 200), "POST": (405, 405, 405, 405, 405)},
    "installations/<int:github_id>/": {
        "GET": (302, 404, 200, 200, 404), "POST": (405, 405, 405, 405, 405)},
    "installations/<int:github_id>/activity/": {
        "GET": (302, 404, 200, 200, 404), "POST": (405, 405, 405, 405, 405)},
    "installations/<int:github_id>/sync": {
        "GET": (405, 405, 405, 405, 405), "POST": (302, 404, 302, 302, 404)},
    "status/live/": {"GET": (302, 200, 200, 200, 200), "POST": (405, 405, 405, 405, 405)},
    "status/live/?installation=<github_id>": {
        "GET": (302, 404, 200, 200, 404), "POST": (405, 405, 405, 405, 405)},
    "webhooks/github/": {"GET": (405, 405, 405, 405, 405), "POST": (400, 400, 400, 400, 400)},
    "api/^health/?$": {"GET": (200, 200, 200, 200, 200), "POST": (200, 200, 200, 200, 200)},
    "api/^sync/status/?$": {"GET": (403, 200, 200, 200, 200), "POST": (403, 405, 405, 405, 405)},
    "api/^installations/(?P<github_id>[0-9]+)/status/?$": {
        "GET": (403, 404, 200, 200, 404), "POST": (403, 405, 405, 405, 405)},
    "api/^installations/(?P<github_id>[0-9]+)/sync/?$": {
        "GET": (403, 405, 405, 405, 405), "POST": (403, 404, 202, 200, 404)},
    "api/^events/?$": {"GET": (403, 200, 200, 200, 200), "POST": (403, 405, 405, 405, 405)},
    "api/^events/?$?installation=<github_id>": {
        "GET": (403, 404, 200, 200, 404), "POST": (403, 405, 405, 405, 405)},
    "api/^activity/?$": {"GET": (403, 200, 200, 200, 200), "POST": (403, 405, 405, 405, 405)},
    "api/^activity/?$?installation=<github_id>": {
        "GET": (403, 404, 200, 200, 404), "POST": (403, 405, 405, 405, 405)},
    "api/schema/": {"GET": (200, 200, 200, 200, 200), "POST": (405, 405, 405, 405, 405)},
    "api/docs/": {"GET": (200, 200, 200, 200, 200), "POST": (405, 405, 405, 405, 405)},
    "accounts/login/": {"GET": (200, 200, 200, 200, 200), "POST": (200, 200, 200, 200, 200)},
    "accounts/logout/": {"GET": (405, 405, 405, 405, 405), "POST": (302, 302, 302, 302, 302)},
    "accounts/password_change/": {
        "GET": (302, 200, 200, 200, 200), "POST": (302, 200, 200, 200, 200)},
    "accounts/password_change/done/": {
        "GET": (302, 200, 200, 200, 200), "POST": (302, 405, 405, 405, 405)},
    "accounts/password_reset/": {
        "GET": (200, 200, 200, 200, 200), "POST": (200, 200, 200, 200, 200)},
    "accounts/password_reset/done/": {
        "GET": (200, 200, 200, 200, 200), "POST": (405, 405, 405, 405, 405)},
    "accounts/reset/<uidb64>/<token>/": {
        "GET": (200, 200, 200, 200, 200), "POST": (200, 200, 200, 200, 200)},
    "accounts/reset/done/": {"GET": (200, 200, 200, 200, 200), "POST": (405, 405, 405, 405, 405)},
    # Prometheus: loopback without METRICS_TOKEN (the test client is 127.0.0.1).
    "metrics": {"GET": (200, 200, 200, 200, 200), "POST": (405, 405, 405, 405, 405)},
}  # fmt: skip
PAGES = {
    route: {method: (*codes, codes[1]) for method, codes in methods.items()}
    for route, methods in _PAGES.items()
}

# Every route that takes an installation id, with each id that is no id: never a 500.
# Page URLs: their <int:> converter refuses non-ASCII digits and more than 4,300 digits
# (404 for everyone); a number past BIGINT reaches the view, which finds nothing. The
# API's [0-9]+ matches ASCII digits only; then anonymous is refused (403) and the rest
# find nothing (404), as with any installation they are not a member of.
NONE_404 = (404,) * 6
PAGE_404 = (302, *(404,) * 5)
API_404 = (403, *(404,) * 5)
API_405 = (403, *(405,) * 5)
ODD_INPUTS: dict[str, dict[str, tuple[int, ...]]] = {}


def _int_takes(value: str) -> bool:
    try:
        int(value)
    except ValueError:
        return False
    return True


for _odd, _value in ODD_IDS.items():
    _routed = _value.isascii() and len(_value) <= 4300  # the URL converters take it
    _api = _value.isascii()
    ODD_INPUTS.update({
        f"status/live/?installation={_odd}": {"GET": PAGE_404, "POST": (405,) * 6},
        f"installations/{_odd}/": {
            "GET": PAGE_404 if _routed else NONE_404,
            "POST": (405,) * 6 if _routed else NONE_404},
        f"installations/{_odd}/sync": {
            "GET": (405,) * 6 if _routed else NONE_404,
            "POST": PAGE_404 if _routed else NONE_404},
        f"api/installations/{_odd}/status": {
            "GET": API_404 if _api else NONE_404, "POST": API_405 if _api else NONE_404},
        f"api/installations/{_odd}/sync": {
            "GET": API_405 if _api else NONE_404, "POST": API_404 if _api else NONE_404},
        # The events filter is a DRF IntegerField: what int() refuses is a 400; what
        # it takes (Unicode digits are digits to int()) is an id the user lacks: 404.
        f"api/events/?installation={_odd}": {
            "GET": API_404 if _int_takes(_value) else (403, *(400,) * 5), "POST": API_405},
    })  # fmt: skip

# The admin: anyone but staff is sent to the admin login (302); staff (a superuser) see
# everything; bare staff reach the admin's own pages and none of its models (403; an
# app's index lists nothing they may see: 404).
NOT_STAFF = (302, 302, 302, 302)
ADMIN_SITE: dict[str, dict[str, tuple[int, ...]]] = {
    "admin/": {"GET": (*NOT_STAFF, 200, 200), "POST": (*NOT_STAFF, 200, 200)},
    "admin/login/": {"GET": (200, 200, 200, 200, 302, 302), "POST": (200,) * 6},
    "admin/logout/": {"GET": (*NOT_STAFF, 405, 405), "POST": (*NOT_STAFF, 302, 302)},
    "admin/password_change/": {"GET": (*NOT_STAFF, 200, 200), "POST": (*NOT_STAFF, 200, 200)},
    "admin/password_change/done/": {"GET": (*NOT_STAFF, 200, 200), "POST": (*NOT_STAFF, 405, 405)},
    "admin/autocomplete/": {"GET": (*NOT_STAFF, 403, 403), "POST": (*NOT_STAFF, 405, 405)},
    "admin/jsi18n/": {"GET": (*NOT_STAFF, 200, 200), "POST": (*NOT_STAFF, 405, 405)},
    "admin/r/<path:content_type_id>/<path:object_id>/": {
        "GET": (*NOT_STAFF, 404, 404), "POST": (*NOT_STAFF, 404, 404)},
    "admin/^(?P<app_label>auth|knox|django_celery_beat|integrations|sync)/$": {
        "GET": (*NOT_STAFF, 200, 404), "POST": (*NOT_STAFF, 200, 404)},
    "admin/(?P<url>.*)$": {"GET": (*NOT_STAFF, 404, 404), "POST": (*NOT_STAFF, 404, 404)},
    "admin/auth/user/<id>/password/": {
        "GET": (*NOT_STAFF, 200, 403), "POST": (*NOT_STAFF, 200, 403)},
}  # fmt: skip

# Every model in the admin: read-only ones refuse add, change (POST) and delete (403);
# an installation's change page is read-only too but hosts the editable member inline.
ADMIN_MODELS: dict[str, str] = {
    "auth/group": "editable",
    "auth/user": "editable",
    "knox/authtoken": "editable",
    "django_celery_beat/periodictask": "editable",
    "django_celery_beat/clockedschedule": "editable",
    "django_celery_beat/crontabschedule": "editable",
    "django_celery_beat/solarschedule": "editable",
    "django_celery_beat/intervalschedule": "editable",
    "integrations/installation": "members inline",
    "integrations/repository": "read-only",
    "integrations/event": "read-only",
    "integrations/webhookdelivery": "read-only",
    "integrations/installationmember": "editable",
    "integrations/githubprofile": "editable",
    "sync/ingestionjob": "read-only",
}


def _admin_model_rows() -> dict[str, dict[str, tuple[int, ...]]]:
    rows: dict[str, dict[str, tuple[int, ...]]] = {}
    for model, kind in ADMIN_MODELS.items():
        read_only = kind != "editable"
        base = f"admin/{model}/"
        rows[base] = {"GET": (*NOT_STAFF, 200, 403), "POST": (*NOT_STAFF, 200, 403)}
        rows[f"{base}add/"] = {
            "GET": (*NOT_STAFF, 403 if read_only else 200, 403),
            "POST": (*NOT_STAFF, 403 if read_only else 200, 403),
        }
        rows[f"{base}<path:object_id>/history/"] = {
            "GET": (*NOT_STAFF, 200, 403), "POST": (*NOT_STAFF, 200, 403)}  # fmt: skip
        rows[f"{base}<path:object_id>/delete/"] = {
            "GET": (*NOT_STAFF, 403 if read_only else 200, 403),
            "POST": (*NOT_STAFF, 403 if read_only else 200, 403),
        }
        rows[f"{base}<path:object_id>/change/"] = {
            "GET": (*NOT_STAFF, 200, 403),
            "POST": (*NOT_STAFF, 403 if kind == "read-only" else 200, 403),
        }
        rows[f"{base}<path:object_id>/"] = {
            "GET": (*NOT_STAFF, 302, 302), "POST": (*NOT_STAFF, 302, 302)}  # fmt: skip
    return rows


EXPECTED = {**PAGES, **ADMIN_SITE, **_admin_model_rows(), **ODD_INPUTS}

# POSTs that need no CSRF token, on purpose: GitHub signs its webhooks instead, the
# health check touches nothing, and the API refuses anonymous callers anyway.
CSRF_EXEMPT = {"webhooks/github/", "api/^health/?$"}


def _sweep_rows() -> list[str]:
    """The walked routes, plus the query-string variants the table lists."""
    walked = list(routes())
    extra = [key for key in PAGES if "?" in key.split("$")[-1] or "?installation" in key]
    return walked + extra + list(ODD_INPUTS)


def _observe(world: World) -> dict[str, dict[str, tuple[int, ...]]]:
    observed: dict[str, dict[str, tuple[int, ...]]] = {}
    for route in _sweep_rows():
        url = world.url(route)
        observed[route] = {}
        for method in ("GET", "POST"):
            statuses = []
            for role in ROLES:
                client = world.client(role)
                response = client.get(url) if method == "GET" else client.post(url)
                statuses.append(response.status_code)
            observed[route][method] = tuple(statuses)
    return observed


def test_every_route_is_in_the_table() -> None:
    walked = set(routes())
    assert walked - set(EXPECTED) == set(), "new routes: add them to the table"
    listed = {key for key in EXPECTED if "?installation" not in key and key not in ODD_INPUTS}
    assert listed - walked == set(), "routes in the table that no longer exist"


def test_every_route_answers_each_role_as_the_table_says() -> None:
    world = World()
    observed = _observe(world)
    wrong = {
        route: {method: (observed[route][method], "expected", EXPECTED[route][method])
                for method in ("GET", "POST")
                if observed[route][method] != EXPECTED[route][method]}
        for route in observed
    }  # fmt: skip
    wrong = {route: methods for route, methods in wrong.items() if methods}
    errors = sum(
        1 for statuses in observed.values() for codes in statuses.values() for c in codes
        if c >= 500
    )  # fmt: skip
    requests = sum(len(codes) for statuses in observed.values() for codes in statuses.values())
    figure(SCENARIO, "routes swept x methods x roles", f"{len(observed)} x 2 x {len(ROLES)}")
    figure(SCENARIO, "responses not as the table says", len(wrong), required="0")
    figure(SCENARIO, "responses >= 500", errors, required="0")
    assert wrong == {}, "\n".join(f"{r}: {m}" for r, m in wrong.items())
    assert requests == len(observed) * 2 * len(ROLES)


def test_every_post_without_a_csrf_token_is_refused_unless_exempt_on_purpose() -> None:
    world = World()
    unprotected: list[tuple[str, str, int]] = []
    for route in _sweep_rows():
        if route in ODD_INPUTS:  # no view answers them: nothing for CSRF to protect
            continue
        if route in CSRF_EXEMPT:
            continue
        url = world.url(route)
        for role in ("non-member", "viewer", "owner", "staff", "bare staff"):
            response = world.client(role, enforce_csrf_checks=True).post(url)
            if response.status_code != 403:
                unprotected.append((route, role, response.status_code))
    anonymous_posts = [
        (route, world.client("anonymous", enforce_csrf_checks=True).post(world.url(route)))
        for route in ("accounts/login/", "accounts/password_reset/", "admin/login/")
    ]
    unprotected += [(r, "anonymous", p.status_code) for r, p in anonymous_posts
                    if p.status_code != 403]  # fmt: skip
    figure(SCENARIO, "POST routes accepting a request without CSRF token", len(unprotected),
           required="0")  # fmt: skip
    assert unprotected == []


FORM = re.compile(r"<form\b[^>]*method=\"post\"[^>]*>(.*?)</form>", re.S | re.I)


def test_every_form_on_the_pages_carries_a_csrf_token_and_works_with_it() -> None:
    world = World()
    client = world.client("owner", enforce_csrf_checks=True)
    pages = ["/", f"/installations/{GITHUB_ID}/", "/status/live/"]
    forms = 0
    for page in pages:
        html = client.get(page).content.decode()
        for body in FORM.findall(html):
            forms += 1
            assert 'name="csrfmiddlewaretoken"' in body, (page, body[:200])
    anonymous = world.client("anonymous", enforce_csrf_checks=True)
    login_html = anonymous.get("/accounts/login/").content.decode()
    assert all('name="csrfmiddlewaretoken"' in f for f in FORM.findall(login_html))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert token is not None
    response = client.post(
        f"/installations/{GITHUB_ID}/sync", {"csrfmiddlewaretoken": token.group(1)}
    )
    figure(SCENARIO, "forms on the pages / without CSRF token", f"{forms} / 0")
    assert forms >= 2
    assert response.status_code == 302
