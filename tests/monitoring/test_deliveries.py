"""Alert deliveries: one row per attempt, retries on transient failures, a 4xx disables the channel, signatures verify."""

from __future__ import annotations

import json

import pytest
from django.core import mail

from riskapp.monitoring import http
from riskapp.monitoring.models import Channel, Delivery, DeliveryStatus
from riskapp.monitoring.services import channel_create, channel_send_test, delivery_attempt
from tests.monitoring.factories import make_alert, make_asset
from tests.monitoring.receiver import Receiver, verify_standard_webhook


@pytest.fixture
def eager(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.RISKAPP_ENDPOINT_ALLOW_PRIVATE = True
    settings.RISKAPP_ALERT_RETRY_BASE_S = 0
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return settings


def _webhook(organization, owner, url):
    return channel_create(organization=organization, user=owner, name="hook", kind="webhook", url=url,
                          min_severity="info")


def test_receiver_answering_500_then_200_gets_the_delivery_on_retry(eager, organization, owner,
                                                                    django_capture_on_commit_callbacks):
    with Receiver(statuses=[500, 200]) as receiver:
        channel, secret = _webhook(organization, owner, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            alert = make_alert(organization, owner)
        assert len(receiver.requests) == 2
    attempts = list(Delivery.objects.filter(alert=alert).order_by("attempt"))
    assert [(d.attempt, d.status, d.response_status) for d in attempts] == [
        (1, DeliveryStatus.RETRYING, 500), (2, DeliveryStatus.SENT, None)]
    assert "HTTP 500" in attempts[0].error
    assert attempts[1].previous == attempts[0]
    # Both attempts carry the same webhook-id so the receiver can deduplicate.
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    channel.refresh_from_db()
    assert channel.enabled


def test_receiver_answering_404_disables_the_channel_with_the_reason_shown(eager, organization, owner, owner_client,
                                                                           django_capture_on_commit_callbacks):
    with Receiver(statuses=[404]) as receiver:
        channel, _ = _webhook(organization, owner, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            make_alert(organization, owner)
        assert len(receiver.requests) == 1  # a permanent failure is not retried
    channel.refresh_from_db()
    assert not channel.enabled
    assert "HTTP 404" in channel.disabled_reason
    [delivery] = Delivery.objects.filter(channel=channel)
    assert delivery.status == DeliveryStatus.FAILED and delivery.response_status == 404
    page = owner_client.get("/settings/").content.decode()
    assert "Disabled" in page and "HTTP 404" in page


def test_webhook_body_is_signed_per_standard_webhooks(eager, organization, owner, django_capture_on_commit_callbacks):
    with Receiver() as receiver:
        _channel, secret = _webhook(organization, owner, receiver.url)
        assert secret.startswith("whsec_")
        with django_capture_on_commit_callbacks(execute=True):
            alert = make_alert(organization, owner)
    [request] = receiver.requests
    assert verify_standard_webhook(secret, request.headers, request.body)
    assert not verify_standard_webhook("whsec_" + "A" * 44, request.headers, request.body)
    payload = json.loads(request.body)
    assert payload["type"] == "alert.opened"
    assert payload["data"]["id"] == alert.pk
    assert {row["key"] for row in payload["data"]["diff"]} == {row["key"] for row in alert.diff}
    assert payload["data"]["baseline_run"]["id"] == alert.baseline_run_id


def test_transport_errors_are_retried_and_give_up_after_the_attempt_limit(eager, organization, owner, monkeypatch,
                                                                          django_capture_on_commit_callbacks):
    eager.RISKAPP_ALERT_MAX_ATTEMPTS = 3
    calls = []

    def refuse(url, body, headers, timeout):
        calls.append(url)
        raise http.TransportError("ConnectionError: connection refused")

    monkeypatch.setattr(http, "post_json", refuse)
    channel, _ = _webhook(organization, owner, "http://127.0.0.1:9/hook")
    with django_capture_on_commit_callbacks(execute=True):
        make_alert(organization, owner)
    assert len(calls) == 3
    statuses = list(Delivery.objects.filter(channel=channel).order_by("attempt").values_list("status", flat=True))
    assert statuses == [DeliveryStatus.RETRYING, DeliveryStatus.RETRYING, DeliveryStatus.FAILED]
    channel.refresh_from_db()
    assert channel.enabled  # an unreachable receiver is not proof the address is wrong


def test_slack_channel_posts_text_with_the_regressed_metrics(eager, organization, owner, monkeypatch,
                                                             django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(http, "post_json",
                        lambda url, body, headers, timeout: sent.append(json.loads(body)) or http.HttpResponse(200, "ok"))
    channel_create(organization=organization, user=owner, name="slack", kind="slack",
                   url="https://hooks.slack.example/services/T0/B0/x", min_severity="warning")
    with django_capture_on_commit_callbacks(execute=True):
        make_alert(organization, owner)
    [message] = sent
    assert "robust accuracy" in message["text"] and "0.6" in message["text"] and "0.3" in message["text"]


def test_email_channel_sends_the_diff(eager, organization, owner, django_capture_on_commit_callbacks):
    channel_create(organization=organization, user=owner, name="ops", kind="email",
                   email_recipients="ops@example.test, lead@example.test")
    with django_capture_on_commit_callbacks(execute=True):
        alert = make_alert(organization, owner)
    [message] = mail.outbox
    assert message.to == ["ops@example.test", "lead@example.test"]
    assert alert.title in message.subject
    assert "0.6000 → 0.3000" in message.body
    assert f"/monitoring/alerts/{alert.pk}/" in message.body


def test_channel_rules_filter_by_severity_and_asset(eager, organization, owner, django_capture_on_commit_callbacks):
    other_asset = make_asset(organization)
    channel_create(organization=organization, user=owner, name="only other", kind="email",
                   email_recipients=["a@example.test"], all_assets=False, assets=[other_asset], min_severity="info")
    channel_create(organization=organization, user=owner, name="critical only", kind="email",
                   email_recipients=["b@example.test"], min_severity="critical")
    with django_capture_on_commit_callbacks(execute=True):
        alert = make_alert(organization, owner)  # a critical regression of a new asset
    assert alert.severity == "critical"
    assert [m.to for m in mail.outbox] == [["b@example.test"]]


def test_send_test_reaches_a_disabled_channel_and_reports(eager, organization, owner,
                                                          django_capture_on_commit_callbacks):
    with Receiver(statuses=[200]) as receiver:
        channel, secret = _webhook(organization, owner, receiver.url)
        Channel.objects.filter(pk=channel.pk).update(enabled=False, disabled_reason="earlier 404")
        channel.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            delivery = channel_send_test(channel=channel, user=owner)
        [request] = receiver.requests
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert json.loads(request.body)["type"] == "channel.test"
    assert verify_standard_webhook(secret, request.headers, request.body)


def test_private_webhook_addresses_are_refused_unless_allowed(settings, organization, owner):
    from django.core.exceptions import ValidationError

    settings.RISKAPP_ENDPOINT_ALLOW_PRIVATE = False
    for url in ("http://127.0.0.1:8000/hook", "http://10.0.0.5/hook", "http://[::1]/hook"):
        with pytest.raises(ValidationError) as excinfo:
            channel_create(organization=organization, user=owner, name="x", kind="webhook", url=url)
        assert "non-public address" in str(excinfo.value)


def test_a_redelivered_task_does_not_send_twice(eager, organization, owner, monkeypatch):
    sent = []
    monkeypatch.setattr(http, "post_json",
                        lambda url, body, headers, timeout: sent.append(url) or http.HttpResponse(204, ""))
    channel, _ = _webhook(organization, owner, "https://hooks.example.test/x")
    delivery = Delivery.objects.create(organization=organization, channel=channel, event="test", message_id="msg_1")
    assert delivery_attempt(delivery_id=delivery.pk) is None
    assert delivery_attempt(delivery_id=delivery.pk) is None
    assert len(sent) == 1


def test_the_secret_is_never_shown_again(organization, owner, owner_api, settings):
    settings.RISKAPP_ENDPOINT_ALLOW_PRIVATE = True
    response = owner_api.post("/api/v1/channels/", {"name": "hook", "kind": "webhook",
                                                    "url": "https://hooks.example.test/x"}, format="json")
    assert response.status_code == 201, response.content
    secret = response.json()["secret"]
    assert secret.startswith("whsec_")
    channel_id = response.json()["id"]
    assert secret not in owner_api.get(f"/api/v1/channels/{channel_id}/").content.decode()
    assert secret not in owner_api.get("/api/v1/channels/").content.decode()


def test_recovery_and_new_metrics_notify_but_a_repeat_does_not(eager, organization, owner, monkeypatch,
                                                               django_capture_on_commit_callbacks):
    from riskapp.monitoring.models import AlertStatus
    from riskapp.monitoring.services import alert_acknowledge, regression_check
    from tests.monitoring.factories import make_profile, make_run, whitebox_metrics

    events = []
    monkeypatch.setattr(http, "post_json", lambda url, body, headers, timeout:
                        events.append(json.loads(body)["type"]) or http.HttpResponse(200, ""))
    _webhook(organization, owner, "https://hooks.example.test/x")
    asset, profile = make_asset(organization), make_profile(organization)
    good = {"evasion.whitebox": whitebox_metrics(clean=0.95, robust={0.05: 0.9, 0.1: 0.6})}
    weak = {"evasion.whitebox": whitebox_metrics(clean=0.95, robust={0.05: 0.9, 0.1: 0.4})}
    weaker = {"evasion.whitebox": whitebox_metrics(clean=0.95, robust={0.05: 0.7, 0.1: 0.4})}
    with django_capture_on_commit_callbacks(execute=True):
        regression_check(run=make_run(asset, profile, checks=good, minutes_ago=40))
        [alert] = regression_check(run=make_run(asset, profile, checks=weak, minutes_ago=30))
        regression_check(run=make_run(asset, profile, checks=weak, minutes_ago=20))  # the same regression again
    assert events == ["alert.opened"]
    alert_acknowledge(alert=alert, user=owner, comment="known")
    with django_capture_on_commit_callbacks(execute=True):
        regression_check(run=make_run(asset, profile, checks=weaker, minutes_ago=10))  # ε=0.05 regresses too
    alert.refresh_from_db()
    assert events == ["alert.opened", "alert.escalated"]
    assert alert.status == AlertStatus.OPEN  # something new went wrong since it was acknowledged
    with django_capture_on_commit_callbacks(execute=True):
        regression_check(run=make_run(asset, profile, checks=good))
    assert events == ["alert.opened", "alert.escalated", "alert.resolved"]


def test_a_slack_url_is_never_shown_back_whole(organization, owner, owner_api, owner_client, settings):
    settings.RISKAPP_ENDPOINT_ALLOW_PRIVATE = True  # no DNS lookup for the made-up host
    channel, _ = channel_create(organization=organization, user=owner, name="slack", kind="slack",
                                url="https://hooks.slack.example/services/T000/B000/tokentokentoken")
    body = owner_api.get(f"/api/v1/channels/{channel.pk}/").json()
    assert "url" not in body and body["url_display"] == "https://hooks.slack.example/services/…"
    assert "tokentokentoken" not in owner_client.get("/settings/").content.decode()
