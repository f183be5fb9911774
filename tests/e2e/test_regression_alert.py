"""The monitoring journey, in a real browser with a real worker: add a webhook channel (a receiver on 127.0.0.1 that
this test runs) and a schedule, upload a weaker version; the alert badge appears without a reload, the alert page
shows what regressed, and the receiver got a body whose Standard Webhooks signature verifies."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import assessed_asset, chromium_required
from tests.monitoring.receiver import Receiver, verify_standard_webhook
from tests.worker import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, chromium_required]


@pytest.mark.django_db(transaction=True)
def test_weaker_version_raises_a_badge_an_alert_page_with_the_diff_and_a_signed_webhook(
        live_server, celery_worker_process, organization, owner, settings, e2e_profile, strong_cnn_path,
        weaker_cnn_path, browser_page, screenshots, sign_in):
    from riskapp.assessments.models import AssessmentRun
    from riskapp.monitoring.models import Alert, Channel, Schedule

    settings.RISKAPP_ENDPOINT_ALLOW_PRIVATE = True  # the receiver listens on 127.0.0.1
    asset, baseline = assessed_asset(organization, owner, model_path=strong_cnn_path, profile=e2e_profile)
    page = browser_page

    with Receiver(statuses=[200]) as receiver:
        celery_worker_process(extra_env={"RISKAPP_ENDPOINT_ALLOW_PRIVATE": "true"})
        sign_in(page, owner.username)

        # 1. A webhook channel, from the settings page; the signing secret is shown once.
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
        page.wait_for_url("**/settings/")
        page.get_by_text("Add a channel").click()
        channel_form = page.locator('form[action="/monitoring/channels/new/"]')
        channel_form.get_by_label("Name", exact=True).fill("SIEM")
        channel_form.get_by_label("Type").select_option("webhook")
        channel_form.get_by_label("Minimum severity").select_option("info")
        channel_form.get_by_label("Receiver URL").fill(receiver.url)
        screenshots(page, "channel-form")
        channel_form.get_by_role("button", name="Create channel").click()
        secret = page.get_by_test_id("new-webhook-secret").inner_text().strip()
        screenshots(page, "channel-created")
        assert Channel.objects.get(organization=organization, name="SIEM").url == receiver.url

        # 2. A schedule on the model's page, which also re-assesses every newly validated version.
        page.goto(f"{live_server.url}/assets/{asset.pk}/")
        schedules = page.locator("#schedules")
        schedules.get_by_label("Profile").select_option(str(e2e_profile.pk))
        schedules.get_by_role("button", name="Add schedule").click()
        page.wait_for_url(f"**/assets/{asset.pk}/**")
        schedule = Schedule.objects.get(asset=asset)
        assert schedule.profile == e2e_profile and schedule.run_on_new_version
        screenshots(page, "schedule-added")
        assert page.get_by_test_id("alert-badge").count() == 0

        # 3. The weaker version: validation, then the schedule's re-assessment, then the alert — no reload.
        page.get_by_role("link", name="Upload new version").first.click()
        page.wait_for_url("**/versions/new/")
        page.get_by_label("TorchScript (.pt)").check()
        page.get_by_label("Model file").set_input_files(str(weaker_cnn_path))
        page.get_by_label("Input shape per sample").fill("1,8,8")
        page.get_by_label("Number of classes").fill("10")
        screenshots(page, "version-form")
        page.get_by_role("button", name="Upload version").click()
        page.wait_for_url(f"**/assets/{asset.pk}/")
        screenshots(page, "version-validating")
        page.get_by_test_id("alert-badge").wait_for(timeout=300_000)
        screenshots(page, "alert-badge")

        alert = Alert.objects.get(asset=asset)
        current = AssessmentRun.objects.exclude(pk=baseline.pk).get(asset=asset)
        assert (alert.baseline_run, alert.current_run) == (baseline, current)
        assert current.trigger == "new_version" and current.version.label != "v1"

        # 4. The alert page shows the diff: each regressed metric with the two runs' numbers.
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
        page.wait_for_url("**/monitoring/**")
        screenshots(page, "alert-list")
        page.get_by_role("link", name=alert.title).first.click()
        page.wait_for_url(f"**/monitoring/alerts/{alert.pk}/")
        diff = page.get_by_test_id("alert-diff")
        assert alert.diff, "the alert has no diff rows"
        for row in alert.diff:
            line = diff.locator("tr", has_text=row["metric"]).first
            assert f"{row['baseline']:.4f}" in line.inner_text() and f"{row['current']:.4f}" in line.inner_text()
        screenshots(page, "alert-page")

        wait_for(lambda: receiver.requests, timeout=120, message="the webhook delivery")

    request = receiver.requests[0]
    assert verify_standard_webhook(secret, request.headers, request.body)
    payload = json.loads(request.body)
    assert payload["type"] == "alert.opened" and payload["data"]["id"] == alert.pk
    assert {row["key"] for row in payload["data"]["diff"]} == {row["key"] for row in alert.diff}
