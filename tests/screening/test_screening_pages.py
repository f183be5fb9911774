"""Screening on the asset page: enable it, read the calibration and false alarms per 1,000, manage tokens; 404 outside."""

from __future__ import annotations

from riskapp.assessments.models import AssessmentRun
from riskapp.screening.models import ScreeningPolicy, ScreeningToken
from tests.factories import MembershipFactory, UserFactory


def test_the_asset_page_offers_to_enable_screening(client, owner, screening_asset):
    client.force_login(owner)
    page = client.get(f"/assets/{screening_asset.pk}/").content.decode()
    assert "Runtime screening" in page and "Enable screening" in page


def test_enabling_screening_starts_a_run_with_the_screening_profile(client, owner, screening_asset):
    client.force_login(owner)
    response = client.post(f"/screening/assets/{screening_asset.pk}/enable/")
    assert response.status_code == 302
    run = AssessmentRun.objects.get(asset=screening_asset)
    assert run.profile.slug == "screening" and run.profile.organization is None
    assert [c["kind"] for c in run.profile_snapshot["checks"]] == ["detection.train"]
    assert ScreeningPolicy.objects.get(asset=screening_asset).enabled
    page = client.get(f"/assets/{screening_asset.pk}/").content.decode()
    assert f"#{run.pk}</a> is training screening detectors" in page
    assert "Enable screening" not in page  # not twice while the first run trains


def test_enable_through_the_api_answers_202_with_the_run(owner_api, screening_asset):
    response = owner_api.post(f"/api/v1/assets/{screening_asset.pk}/screening/enable/")
    assert response.status_code == 202
    assert AssessmentRun.objects.get(pk=response.json()["run"]).profile.slug == "screening"


def test_the_page_shows_calibration_and_expected_false_alarms(client, owner, detector):
    client.force_login(owner)
    page = client.get(f"/assets/{detector.asset.pk}/").content.decode()
    assert "Expected false alarms per 1,000" in page
    assert f"{detector.expected_false_alarms_per_1000:.1f}" in page
    assert f"{100 * detector.false_positive_rate:.1f}%" in page  # measured, next to the 1.0% target
    assert 'data-testid="adaptive-row"' in page and "PGD" in page and "FGSM" in page
    assert "Flagged share of screened inputs per hour" in page


def test_screening_tokens_are_shown_once_and_revocable(client, owner, detector):
    client.force_login(owner)
    response = client.post(f"/screening/assets/{detector.asset.pk}/tokens/", {"name": "triage API"})
    raw = response.context["raw_token"]
    assert raw.startswith("rss_") and raw in response.content.decode()
    token = ScreeningToken.objects.get(name="triage API")
    assert raw not in client.get(f"/screening/assets/{detector.asset.pk}/").content.decode()
    client.post(f"/screening/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_policy_form_saves_and_rejects_nonsense(client, owner, detector):
    client.force_login(owner)
    url = f"/screening/assets/{detector.asset.pk}/policy/"
    fields = {"enabled": "on", "burst_rate": "0.3", "burst_last_n": "50", "burst_count": "20", "burst_minutes": "5",
              "extraction_minutes": "60", "extraction_min_queries": "300", "extraction_anomalous_share": "0.5",
              "extraction_min_entropy": "0.85", "max_batch": "512"}
    assert client.post(url, fields).status_code == 302
    assert ScreeningPolicy.objects.get(asset=detector.asset).burst_rate == 0.3
    response = client.post(url, {**fields, "burst_rate": "3"})
    assert response.status_code == 400 and "less than or equal to 1" in response.content.decode()


def test_outsiders_get_404_and_viewers_cannot_change_anything(client, outsider, organization, detector):
    client.force_login(outsider)
    asset = detector.asset
    assert client.get(f"/screening/assets/{asset.pk}/").status_code == 404
    assert client.post(f"/screening/assets/{asset.pk}/enable/").status_code == 404
    viewer = MembershipFactory(user=UserFactory(username="vera"), organization=organization, role="viewer").user
    client.force_login(viewer)
    page = client.get(f"/screening/assets/{asset.pk}/").content.decode()
    assert "Create screening token" not in page
    assert client.post(f"/screening/assets/{asset.pk}/tokens/", {"name": "x"}).status_code == 404
    assert not ScreeningToken.objects.exists()


def test_an_admin_decides_whether_flagged_inputs_are_stored(client, owner, member, organization):
    client.force_login(owner)
    assert "Store flagged inputs with their events" in client.get("/settings/").content.decode()
    client.post("/screening/settings/store-inputs/", {"store_screened_inputs": "on"})
    organization.refresh_from_db()
    assert organization.store_screened_inputs
    client.force_login(member)  # an analyst may not change the privacy setting
    assert client.post("/screening/settings/store-inputs/", {}).status_code == 404
    organization.refresh_from_db()
    assert organization.store_screened_inputs
