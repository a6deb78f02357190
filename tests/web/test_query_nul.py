"""A NUL character in a query string is a 400 everywhere, the admin's filters included
(PostgreSQL refuses it in a lookup, which would be a 500)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.factories import make_installation, make_user


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/admin/integrations/installation/?status__exact=%00",
        "/admin/integrations/installation/?q=a%00b",
        "/admin/integrations/installation/?%00=1",
        "/api/events/?kind=%00",
    ],
)
def test_nul_in_the_query_is_a_400_not_a_500(client: Client, url: str, settings: Any) -> None:
    staff = make_user(is_staff=True, is_superuser=True)
    make_installation(owner=staff)
    client.force_login(staff)
    response = client.get(url)
    assert response.status_code == 400


@pytest.mark.django_db
def test_an_ordinary_admin_filter_still_works(client: Client) -> None:
    staff = make_user(is_staff=True, is_superuser=True)
    client.force_login(staff)
    assert client.get("/admin/integrations/installation/?status__exact=active").status_code == 200
