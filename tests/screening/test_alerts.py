"""Real-time monitoring: a burst of adversarial inputs opens exactly one alert, clean traffic none; extraction-like
query patterns raise their own alert (ATLAS AML.M0024 telemetry)."""

from __future__ import annotations

import numpy as np
import pytest
from rest_framework.test import APIClient

from riskapp.monitoring.models import Alert, AlertKind, AlertStatus, Channel, ChannelKind, Delivery
from riskapp.screening.services import policy_update, screening_token_create


def _client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _send(client, asset, x, batch: int = 50) -> list[dict]:
    results = []
    for start in range(0, len(x), batch):
        response = client.post(f"/api/v1/assets/{asset.pk}/screen", {"inputs": x[start:start + batch].tolist()},
                               format="json")
        assert response.status_code == 200, response.content
        results += response.json()["results"]
    return results


@pytest.fixture
def channel(organization):
    return Channel.objects.create(organization=organization, name="ops webhook", kind=ChannelKind.WEBHOOK,
                                  url="https://hooks.example.test/riskapp", secret="whsec_dGVzdA==")


@pytest.fixture
def clean_inputs(digits_data):
    # Evaluation and holdout digits: the kind of traffic the detector was calibrated on.
    return np.concatenate([digits_data[4], digits_data[2]])[:300]


def test_clean_traffic_opens_no_alert(detector, owner, clean_inputs, channel):
    raw = screening_token_create(asset=detector.asset, user=owner, name="svc")[1]
    results = _send(_client(raw), detector.asset, clean_inputs)
    flagged = sum(r["flagged"] for r in results)
    assert flagged / len(results) < 0.05  # about the calibrated false-alarm rate
    assert not Alert.objects.exists()
    assert not Delivery.objects.exists()


def test_a_burst_of_adversarial_inputs_opens_exactly_one_alert(detector, owner, clean_inputs, pgd_inputs, channel):
    raw = screening_token_create(asset=detector.asset, user=owner, name="svc")[1]
    client = _client(raw)
    _send(client, detector.asset, clean_inputs[:100])
    assert not Alert.objects.exists()
    _send(client, detector.asset, pgd_inputs, batch=20)  # six requests, each adding to the burst
    alerts = list(Alert.objects.all())
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.kind == AlertKind.SCREENING_BURST and alert.status == AlertStatus.OPEN
    assert alert.asset == detector.asset and alert.profile == detector.run.profile
    assert any("of the last" in reason for reason in alert.reasons)
    assert any("per 1,000 requests" in reason for reason in alert.reasons)
    # The organization's channel is told once, when the alert opens.
    assert list(Delivery.objects.values_list("alert_id", "event")) == [(alert.pk, "opened")]
    # More of the same burst keeps the one alert.
    _send(client, detector.asset, pgd_inputs[:40], batch=20)
    assert Alert.objects.count() == 1


def test_the_count_rule_fires_on_flags_within_the_window(detector, owner, pgd_inputs, clean_inputs):
    raw = screening_token_create(asset=detector.asset, user=owner, name="svc")[1]
    # The rate rule cannot fire here (20% of the last 1000 needs more traffic), the count rule can.
    policy_update(asset=detector.asset, user=owner, burst_last_n=1000, burst_count=10, burst_minutes=5)
    _send(_client(raw), detector.asset, np.concatenate([clean_inputs[:200], pgd_inputs[:15]]))
    alert = Alert.objects.get()
    assert any("in the last 5 minutes" in reason for reason in alert.reasons)


def test_extraction_like_queries_raise_their_alert(detector, owner, clean_inputs):
    policy_update(asset=detector.asset, user=owner, extraction_min_queries=200, extraction_minutes=30)
    thief = screening_token_create(asset=detector.asset, user=owner, name="partner integration")[1]
    honest = screening_token_create(asset=detector.asset, user=owner, name="triage service")[1]
    _send(_client(honest), detector.asset, clean_inputs[:250])
    assert not Alert.objects.filter(kind=AlertKind.EXTRACTION).exists()

    noise = np.random.default_rng(7).uniform(0.0, 1.0, size=(250, 1, 8, 8)).astype(np.float32)
    _send(_client(thief), detector.asset, noise)
    alert = Alert.objects.get(kind=AlertKind.EXTRACTION)
    assert "partner integration" in alert.title
    assert any("AML.M0024" in reason for reason in alert.reasons)
    # Opened when the 200-query rule was first met (the fourth batch of 50).
    assert any("sent 200 inputs in the last 30 minutes" in reason for reason in alert.reasons)


def test_high_volume_of_real_looking_queries_is_not_called_extraction(detector, owner, clean_inputs):
    policy_update(asset=detector.asset, user=owner, extraction_min_queries=200)
    raw = screening_token_create(asset=detector.asset, user=owner, name="busy service")[1]
    _send(_client(raw), detector.asset, clean_inputs)
    assert not Alert.objects.filter(kind=AlertKind.EXTRACTION).exists()
