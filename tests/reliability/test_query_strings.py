"""Hostile query strings: a NUL character (PostgreSQL refuses it in text) is a 400, never a 500, on every route."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/v1/controls/?ref_id=GOVERN%001.1", "/api/v1/frameworks/?slug=%00",
                                  "/api/v1/assets/?status=%00", "/api/v1/runs/?x%00=1"])
def test_nul_in_an_api_query_is_a_400(owner_api, path):
    response = owner_api.get(path)
    assert response.status_code == 400 and "NUL" in response.json()["detail"]


def test_nul_in_a_page_query_is_a_400(owner_client):
    assert owner_client.get("/assets/?q=%00").status_code == 400


def test_ordinary_queries_still_work(owner_api):
    assert owner_api.get("/api/v1/controls/?ref_id=GOVERN%201.1").status_code == 200
