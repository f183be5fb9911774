"""Monitoring on other apps' pages: schedules on the asset page, channels in organization settings."""

from __future__ import annotations

from riskapp.monitoring.models import Channel, Schedule
from riskapp.monitoring.services import schedule_create
from tests.monitoring.factories import make_asset, make_profile


def test_the_asset_page_shows_its_schedules_with_the_next_run_and_a_form(organization, owner, owner_client):
    asset = make_asset(organization)
    schedule_create(organization=organization, asset=asset, profile=make_profile(organization), user=owner,
                    cron="30 2 * * 1")
    html = owner_client.get(f"/assets/{asset.pk}/").content.decode()
    assert 'id="monitoring-schedules"' in html
    assert "cron 30 2 * * 1" in html and "02:30 UTC" in html  # the next Monday 02:30
    assert f'action="/monitoring/schedules/new/{asset.pk}/"' in html


def test_a_schedule_added_on_the_asset_page_returns_there(organization, owner_client):
    asset = make_asset(organization)
    profile = make_profile(organization)
    response = owner_client.post(f"/monitoring/schedules/new/{asset.pk}/", {
        "profile": profile.pk, "kind": "cron", "cron": "0 3 * * *", "interval_unit": "days",
        "next": f"/assets/{asset.pk}/#schedules"})
    assert response.status_code == 302 and response["Location"] == f"/assets/{asset.pk}/#schedules"
    assert Schedule.objects.get().run_on_new_version is False  # an unticked checkbox means no


def test_a_bad_cron_shows_the_form_again_with_the_error(organization, owner_client):
    asset = make_asset(organization)
    response = owner_client.post(f"/monitoring/schedules/new/{asset.pk}/", {
        "profile": make_profile(organization).pk, "kind": "cron", "cron": "every morning"})
    assert response.status_code == 400
    assert "five fields" in response.content.decode()
    assert not Schedule.objects.exists()


def test_a_webhook_created_in_settings_shows_its_secret_once(organization, owner_client, settings):
    settings.RISKAPP_ENDPOINT_ALLOW_PRIVATE = True
    response = owner_client.post("/monitoring/channels/new/", {
        "name": "SIEM", "kind": "webhook", "url": "https://siem.example.test/hook", "min_severity": "warning",
        "all_assets": "on"})
    assert response.status_code == 302
    secret = Channel.objects.get().secret
    first = owner_client.get("/settings/").content.decode()
    assert secret in first and 'data-testid="new-webhook-secret"' in first
    second = owner_client.get("/settings/").content.decode()
    assert secret not in second and "SIEM" in second


def test_only_admins_manage_channels(organization, member, client):
    client.force_login(member)
    response = client.post("/monitoring/channels/new/", {"name": "x", "kind": "email",
                                                          "email_recipients": "a@example.test", "all_assets": "on"})
    assert response.status_code == 403
    assert not Channel.objects.exists()
