"""API tokens: shown once, stored hashed, scoped to their organization, revocable; viewers cannot write."""

import hashlib

import pytest
from rest_framework.test import APIClient

from riskapp.accounts.models import ApiToken
from riskapp.accounts.services import api_token_create


def test_token_is_returned_once_and_only_its_hash_is_stored(owner_api, organization):
    response = owner_api.post("/api/v1/tokens/", {"name": "CI pipeline"}, format="json")
    assert response.status_code == 201
    raw = response.json()["token"]
    assert raw.startswith("rsk_")
    stored = ApiToken.objects.get(pk=response.json()["id"])
    assert stored.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(ApiToken.objects.filter(pk=stored.pk).values().get())
    listing = owner_api.get("/api/v1/tokens/").json()["results"]
    assert all("token" not in row for row in listing)


def test_bearer_token_authenticates_and_sees_only_its_organization(owner, organization, outsider):
    _token, raw = api_token_create(user=owner, organization=organization, name="ci")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.get("/api/v1/organizations/")
    assert response.status_code == 200
    assert [o["slug"] for o in response.json()["results"]] == ["acme-health"]


def test_revoked_or_wrong_token_is_rejected(owner, organization):
    token, raw = api_token_create(user=owner, organization=organization, name="ci")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}x")
    assert client.get("/api/v1/organizations/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/organizations/").status_code == 200
    token.revoked_at = token.created_at
    token.save()
    assert client.get("/api/v1/organizations/").status_code == 401


def test_anonymous_requests_are_refused():
    assert APIClient().get("/api/v1/organizations/").status_code in (401, 403)


@pytest.mark.django_db
def test_login_page_renders_and_demo_style_login_works(client, owner):
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and b"Sign in" in page.content
    response = client.post("/accounts/login/", {"username": "alice", "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_failed_logins_are_rate_limited(client, owner, settings):
    settings.LOGIN_RATE_LIMIT = 3
    for _ in range(3):
        assert client.post("/accounts/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    blocked = client.post("/accounts/login/", {"username": "alice", "password": "correct-horse-battery"})
    assert blocked.status_code == 429
    assert b"Too many failed sign-in attempts" in blocked.content
