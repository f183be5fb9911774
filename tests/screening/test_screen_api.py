"""POST /api/v1/assets/{id}/screen: scores for a batch, per-asset tokens, 404 across organizations and assets, input checks."""

from __future__ import annotations

import io

import numpy as np
import pytest
from rest_framework.test import APIClient

from riskapp.accounts.services import api_token_create
from riskapp.screening import runtime
from riskapp.screening.models import ScreeningEvent, ScreeningRequest
from riskapp.screening.services import screening_token_create, screening_token_revoke
from tests.screening.factories import digits_asset


def _bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _url(asset) -> str:
    return f"/api/v1/assets/{asset.pk}/screen"


@pytest.fixture
def token(detector, owner):
    return screening_token_create(asset=detector.asset, user=owner, name="triage service")[1]


def test_screening_token_gets_scores_for_a_batch(detector, token, digits_data):
    x = digits_data[4][:5]
    response = _bearer(token).post(_url(detector.asset), {"inputs": x.tolist()}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["input_count"] == 5 and len(body["results"]) == 5
    assert body["detector"] == detector.pk
    assert body["expected_false_alarms_per_1000"] == pytest.approx(1000 * detector.either_false_positive_rate)
    first = body["results"][0]
    assert set(first) == {"index", "input_sha256", "prediction", "adversarial_score", "anomaly_score", "flags", "flagged"}
    assert len(first["prediction"]["probabilities"]) == 10
    assert sum(first["prediction"]["probabilities"]) == pytest.approx(1.0, abs=1e-4)
    # The prediction is the model's own, and the scores are the detector's.
    loaded = runtime.loaded_screen(detector)
    assert [r["prediction"]["label"] for r in body["results"]] == loaded.model.predict_labels(x).tolist()
    adversarial, anomaly, _ = loaded.detector.score(x)
    assert np.allclose([r["adversarial_score"] for r in body["results"]], adversarial)
    assert np.allclose([r["anomaly_score"] for r in body["results"]], anomaly)
    request = ScreeningRequest.objects.get()
    assert request.input_count == 5 and request.caller.startswith("screening-token:")


def test_npz_upload_is_screened_like_json(detector, token, digits_data):
    x = digits_data[4][:3]
    buffer = io.BytesIO()
    np.savez(buffer, x=x)
    buffer.seek(0)
    buffer.name = "batch.npz"
    npz = _bearer(token).post(_url(detector.asset), {"file": buffer}, format="multipart").json()
    as_json = _bearer(token).post(_url(detector.asset), {"inputs": x.tolist()}, format="json").json()
    assert [r["adversarial_score"] for r in npz["results"]] == [r["adversarial_score"] for r in as_json["results"]]
    assert [r["input_sha256"] for r in npz["results"]] == [r["input_sha256"] for r in as_json["results"]]


def test_flagged_inputs_become_events_with_hashes_only(detector, token, pgd_inputs):
    response = _bearer(token).post(_url(detector.asset), {"inputs": pgd_inputs[:10].tolist()}, format="json")
    body = response.json()
    flagged = [r for r in body["results"] if r["flagged"]]
    assert flagged, "PGD inputs should be flagged by a detector that catches PGD"
    events = ScreeningEvent.objects.filter(asset=detector.asset)
    assert sorted(e.input_sha256 for e in events) == sorted(r["input_sha256"] for r in flagged)
    assert all(e.input is None for e in events)  # the organization does not allow storing inputs


def test_inputs_are_stored_when_the_organization_allows_it(detector, token, pgd_inputs):
    organization = detector.organization
    organization.store_screened_inputs = True
    organization.save()
    from riskapp.screening.services import input_hashes

    _bearer(token).post(_url(detector.asset), {"inputs": pgd_inputs[:5].tolist()}, format="json")
    events = list(ScreeningEvent.objects.filter(asset=detector.asset))
    assert events
    by_hash = dict(zip(input_hashes(pgd_inputs[:5]), pgd_inputs[:5]))
    for event in events:
        assert np.array_equal(np.asarray(event.input, dtype=np.float32), by_hash[event.input_sha256])


def test_a_token_of_another_asset_gets_404(detector, owner, organization, digits_data):
    other_asset = digits_asset(organization, name="Another model", user=owner)
    raw = screening_token_create(asset=other_asset, user=owner, name="other service")[1]
    response = _bearer(raw).post(_url(detector.asset), {"inputs": digits_data[4][:2].tolist()}, format="json")
    assert response.status_code == 404
    assert not ScreeningRequest.objects.exists()


def test_a_token_of_another_organization_gets_404(detector, outsider, other_organization, digits_data):
    foreign_asset = digits_asset(other_organization, name="Globex model", user=outsider)
    screening_raw = screening_token_create(asset=foreign_asset, user=outsider, name="globex service")[1]
    api_raw = api_token_create(user=outsider, organization=other_organization, name="globex ci")[1]
    for raw in (screening_raw, api_raw):
        response = _bearer(raw).post(_url(detector.asset), {"inputs": digits_data[4][:2].tolist()}, format="json")
        assert response.status_code == 404, raw[:4]
    # An empty body changes nothing: the asset is looked up first.
    assert _bearer(api_raw).post(_url(detector.asset), {}, format="json").status_code == 404


def test_a_revoked_token_is_refused(detector, owner, digits_data):
    token, raw = screening_token_create(asset=detector.asset, user=owner, name="old service")
    screening_token_revoke(token=token, user=owner)
    response = _bearer(raw).post(_url(detector.asset), {"inputs": digits_data[4][:1].tolist()}, format="json")
    assert response.status_code == 401


def test_an_analysts_api_token_may_screen_a_viewer_may_not(detector, member, viewer, organization, digits_data):
    inputs = {"inputs": digits_data[4][:2].tolist()}
    member_raw = api_token_create(user=member, organization=organization, name="bob")[1]
    assert _bearer(member_raw).post(_url(detector.asset), inputs, format="json").status_code == 200
    viewer_raw = api_token_create(user=viewer, organization=organization, name="victor")[1]
    assert _bearer(viewer_raw).post(_url(detector.asset), inputs, format="json").status_code == 403


@pytest.mark.parametrize("inputs, message", [
    ([[[0.0] * 8] * 7], "shape [1, 8, 8]"),
    ([[[["a"] * 8] * 8]], "numbers"),
    ([], "empty"),
    ([[[[0.0] * 8] * 8], [[[0.0] * 8] * 7]], "ragged"),
    ("not a list", "list of inputs"),
])
def test_malformed_batches_get_400_with_a_clear_message(detector, token, inputs, message):
    response = _bearer(token).post(_url(detector.asset), {"inputs": inputs}, format="json")
    assert response.status_code == 400
    assert message in response.content.decode()


def test_infinite_values_and_oversized_batches_get_400(detector, token, owner):
    from riskapp.screening.services import policy_update

    x = np.zeros((3, 1, 8, 8))
    x[1, 0, 2, 2] = 1e39  # beyond float32
    assert "too large" in _bearer(token).post(_url(detector.asset), {"inputs": x.tolist()},
                                              format="json").content.decode()
    policy_update(asset=detector.asset, user=owner, max_batch=2)
    response = _bearer(token).post(_url(detector.asset), {"inputs": np.zeros((3, 1, 8, 8)).tolist()}, format="json")
    assert response.status_code == 400 and "at most 2" in response.content.decode()


def _npz(x) -> io.BytesIO:
    buffer = io.BytesIO()
    np.savez(buffer, x=x)
    buffer.seek(0)
    buffer.name = "batch.npz"
    return buffer


def test_nan_inputs_get_400_as_json_or_npz(detector, token):
    x = np.zeros((2, 1, 8, 8), dtype=np.float32)
    x[1, 0, 3, 3] = np.nan
    response = _bearer(token).post(_url(detector.asset), {"file": _npz(x)}, format="multipart")
    assert response.status_code == 400 and "Inputs [1] contain NaN or infinite values" in response.content.decode()
    x[1, 0, 3, 3] = np.inf
    response = _bearer(token).post(_url(detector.asset), {"file": _npz(x)}, format="multipart")
    assert response.status_code == 400 and "NaN or infinite" in response.content.decode()
    # JSON has no NaN: a body that spells it is refused by the parser before it reaches the model.
    body = '{"inputs": [[[' + ", ".join(["[" + ", ".join(["NaN"] * 8) + "]"] * 8) + ']]]}'
    response = _bearer(token).generic("POST", _url(detector.asset), body, content_type="application/json")
    assert response.status_code == 400


def test_an_npz_that_needs_pickle_is_refused(detector, token):
    buffer = io.BytesIO()
    np.savez(buffer, x=np.array([{"evil": 1}], dtype=object))
    buffer.seek(0)
    buffer.name = "batch.npz"
    response = _bearer(token).post(_url(detector.asset), {"file": buffer}, format="multipart")
    assert response.status_code == 400 and "safely" in response.content.decode()


def test_no_detector_or_screening_off_answers_409(screening_asset, owner, digits_data, detector):
    from riskapp.screening.services import policy_update

    raw = screening_token_create(asset=screening_asset, user=owner, name="svc")[1]
    policy_update(asset=screening_asset, user=owner, enabled=False)
    response = _bearer(raw).post(_url(screening_asset), {"inputs": digits_data[4][:1].tolist()}, format="json")
    assert response.status_code == 409 and "turned off" in response.json()["detail"]
    policy_update(asset=screening_asset, user=owner, enabled=True)
    detector.delete()
    response = _bearer(raw).post(_url(screening_asset), {"inputs": digits_data[4][:1].tolist()}, format="json")
    assert response.status_code == 409 and "No screening detector" in response.json()["detail"]


def test_model_and_detector_are_loaded_once_and_replaced_with_a_new_detector(detector, token, digits_data,
                                                                              trained_detector):
    from riskapp.screening.services import detector_store_from_run
    from tests.screening.factories import finished_run

    inputs = {"inputs": digits_data[4][:2].tolist()}
    _bearer(token).post(_url(detector.asset), inputs, format="json")
    first = runtime.loaded_screen(detector)
    _bearer(token).post(_url(detector.asset), inputs, format="json")
    assert runtime.loaded_screen(detector) is first and runtime.cache_size() == 1

    result, directory = trained_detector
    newer = detector_store_from_run(run=finished_run(detector.asset, suite={**detector.run.profile_snapshot,
                                                                            "name": "retrained"}),
                                    artifact_dir=directory, result=result)
    body = _bearer(token).post(_url(detector.asset), inputs, format="json").json()
    assert body["detector"] == newer.pk
    assert runtime.cache_size() == 1  # the old detector's entry was dropped
    assert runtime.loaded_screen(newer) is not first


def test_a_tampered_detector_file_is_refused(detector, token, digits_data):
    from django.core.files.storage import default_storage

    path = default_storage.path(f"{detector.storage_prefix}/adversarial_detector.safetensors")
    with open(path, "r+b") as handle:
        handle.seek(-1, 2)
        handle.write(b"\x01")
    response = _bearer(token).post(_url(detector.asset), {"inputs": digits_data[4][:1].tolist()}, format="json")
    assert response.status_code == 409 and "hash" in response.json()["detail"]
