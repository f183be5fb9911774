"""Screening tokens and the per-asset policy through the API: the secret once, revocation, validation, roles."""

from __future__ import annotations

from riskapp.screening.models import ScreeningPolicy, ScreeningToken
from riskapp.screening.services import _hash_token


def test_a_token_is_created_once_listed_without_secret_and_revoked(owner_api, screening_asset):
    response = owner_api.post("/api/v1/screening-tokens/", {"asset": screening_asset.pk, "name": "triage API"},
                              format="json")
    assert response.status_code == 201
    raw = response.json()["token"]
    token = ScreeningToken.objects.get(pk=response.json()["id"])
    assert token.key_hash == _hash_token(raw) and raw not in token.key_hash
    listed = owner_api.get("/api/v1/screening-tokens/").json()["results"]
    assert [row["id"] for row in listed] == [token.pk] and "token" not in listed[0]
    assert owner_api.delete(f"/api/v1/screening-tokens/{token.pk}/").status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_tokens_cannot_be_made_for_another_organizations_asset(outsider_api, screening_asset):
    response = outsider_api.post("/api/v1/screening-tokens/", {"asset": screening_asset.pk, "name": "x"}, format="json")
    assert response.status_code == 400
    assert not ScreeningToken.objects.exists()


def test_viewers_cannot_create_tokens(viewer_api, screening_asset):
    response = viewer_api.post("/api/v1/screening-tokens/", {"asset": screening_asset.pk, "name": "x"}, format="json")
    assert response.status_code == 403


def test_the_policy_reads_defaults_and_saves_valid_changes(owner_api, viewer_api, screening_asset):
    url = f"/api/v1/assets/{screening_asset.pk}/screening/policy/"
    defaults = owner_api.get(url).json()
    assert defaults["burst_rate"] == 0.2 and defaults["enabled"] is True
    response = owner_api.patch(url, {"burst_rate": 0.5, "extraction_min_queries": 100}, format="json")
    assert response.status_code == 200 and response.json()["burst_rate"] == 0.5
    assert ScreeningPolicy.objects.get(asset=screening_asset).extraction_min_queries == 100
    assert owner_api.patch(url, {"burst_rate": 1.5}, format="json").status_code == 400
    assert viewer_api.patch(url, {"burst_rate": 0.1}, format="json").status_code == 403
    assert ScreeningPolicy.objects.get(asset=screening_asset).burst_rate == 0.5
