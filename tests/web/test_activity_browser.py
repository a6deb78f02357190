"""The Activity page in a real browser (Playwright driving Debian's Chromium against
pytest-django's live server) on demo-like data: screenshots into var/screenshots/, no
JavaScript console errors, and axe-core (vendored, injected from tests/web/vendor/)
finding no serious or critical accessibility violation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from tests.factories import make_installation, make_user
from tests.web.activity_data import add_bulk_events
from tests.web.browsing import PASSWORD, shoot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"


def serious_violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_activity_page_screenshots_console_and_accessibility(
    page: Any,
    live_server: Any,
) -> None:
    base = live_server.url
    alice = make_user("alice", password=PASSWORD)
    acme = make_installation(
        github_id=4242, account_login="acme", repos=4, owner=alice, last_synced_at=timezone.now()
    )
    add_bulk_events(acme, 900, end=timezone.now(), days=30)

    sign_in(page, base, "alice")
    page.get_by_role("link", name="Activity").first.click()
    page.wait_for_url(f"{base}/installations/4242/activity/")
    assert page.locator("svg[role=img]").count() == 3
    assert "Most active people" in page.inner_text("main")
    shoot(page, "activity-01-installation")
    assert serious_violations(page) == []

    page.get_by_text("Events per day as a table").click()
    assert page.locator("details[open] table").first.is_visible()
    page.select_option("#f-repository", "acme/repo-1")
    page.get_by_label("Commit").check()
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**repository=acme%2Frepo-1**")
    assert "acme/repo-1" in page.inner_text("h1")
    events = page.locator(".events .event")
    assert events.count() > 0
    assert all(text.strip() == "Commit" for text in page.locator(".events .kind").all_inner_texts())
    for link in page.locator(".events a").all():
        assert (link.get_attribute("href") or "").startswith("https://github.com/acme/repo-1/")
    shoot(page, "activity-02-repository-commits")
    assert serious_violations(page) == []

    page.goto(f"{base}/installations/4242/activity/?page=2")
    page.get_by_role("link", name="Newer").wait_for()
    page.goto(f"{base}/installations/4242/activity/?since=tomorrow")
    assert page.get_by_role("alert").is_visible()
    shoot(page, "activity-03-bad-filter")
    assert serious_violations(page) == []
    assert page.console_errors == [], json.dumps(page.console_errors)


def test_api_docs_load_every_asset_from_the_app(
    page: Any,
    live_server: Any,
) -> None:
    make_user("alice", password=PASSWORD)
    base = live_server.url
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
    sign_in(page, base, "alice")
    page.goto(f"{base}/api/docs/")
    page.locator(".swagger-ui .info").wait_for()
    page.get_by_text("/api/events/").first.wait_for()
    shoot(page, "api-docs")
    assert hosts == {base.split("/")[2]}
    assert page.console_errors == [], json.dumps(page.console_errors)
