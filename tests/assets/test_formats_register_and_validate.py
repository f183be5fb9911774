"""Each supported format registers through the API and validates: TorchScript, skops, ONNX and an HTTP endpoint."""

from __future__ import annotations

import hashlib

import pytest

from riskapp.assets.models import ModelAsset, ModelVersion
from riskapp.assets.services import asset_create, dataset_create, model_version_validate
from riskapp.audit.models import AuditEvent
from tests.assets.conftest import upload


def _asset(organization, owner, *, name, task, builtin):
    asset = asset_create(organization=organization, user=owner, name=name, task=task)
    asset.evaluation_dataset = dataset_create(organization=organization, user=owner, name=f"{builtin} eval",
                                              role="evaluation", builtin_name=builtin)
    asset.save()
    return asset


def _register(api, asset, data):
    return api.post(f"/api/v1/assets/{asset.pk}/versions/", data, format="multipart")


def test_torchscript_version_registers_then_validates_and_becomes_current(owner_api, organization, owner, digits_cnn_bytes):
    asset = _asset(organization, owner, name="Digits", task="image_classification", builtin="digits")
    response = _register(owner_api, asset, {"format": "torchscript", "artifact": upload("model.pt", digits_cnn_bytes),
                                            "input_shape": "1,8,8", "nb_classes": 10, "label": "v1"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "pending"
    assert body["sha256"] == hashlib.sha256(digits_cnn_bytes).hexdigest()
    assert body["size_bytes"] == len(digits_cnn_bytes)

    version = model_version_validate(version_id=body["id"])
    assert version.status == "validated", version.status_reason
    assert version.white_box is True
    asset.refresh_from_db()
    assert asset.current_version_id == version.pk
    detail = owner_api.get(f"/api/v1/assets/{asset.pk}/versions/{version.pk}/").json()
    assert detail["status"] == "validated" and detail["is_current"] is True
    assert AuditEvent.objects.filter(action="model_version.validate", object_id=str(version.pk)).exists()


def test_skops_version_validates(owner_api, organization, owner, cancer_logreg_bytes):
    asset = _asset(organization, owner, name="Cancer", task="tabular_classification", builtin="breast_cancer")
    response = _register(owner_api, asset, {"format": "sklearn-skops", "artifact": upload("m.skops", cancer_logreg_bytes),
                                            "input_shape": "30", "nb_classes": 2})
    assert response.status_code == 201, response.json()
    assert response.json()["label"] == "v1"
    version = model_version_validate(version_id=response.json()["id"])
    assert version.status == "validated", version.status_reason


def test_onnx_version_validates_as_black_box(owner_api, organization, owner, cancer_onnx_bytes):
    asset = _asset(organization, owner, name="Cancer ONNX", task="tabular_classification", builtin="breast_cancer")
    response = _register(owner_api, asset, {"format": "onnx", "artifact": upload("m.onnx", cancer_onnx_bytes),
                                            "input_shape": "30", "nb_classes": 2})
    assert response.status_code == 201, response.json()
    version = model_version_validate(version_id=response.json()["id"])
    assert version.status == "validated", version.status_reason
    assert version.white_box is False


def test_endpoint_version_validates_against_a_served_model_and_never_shows_its_secret(
        owner_api, organization, owner, digits_model_server, settings):
    settings.RISKAPP_ENDPOINT_ALLOW_PRIVATE = True  # the test server listens on 127.0.0.1
    url, seen_auth = digits_model_server
    secret = "Bearer super-secret-token-123"
    asset = _asset(organization, owner, name="Digits API", task="image_classification", builtin="digits")
    response = owner_api.post(f"/api/v1/assets/{asset.pk}/versions/", {
        "format": "endpoint", "input_shape": [1, 8, 8], "nb_classes": 10, "endpoint_url": url,
        "endpoint_auth_header_value": secret}, format="json")
    assert response.status_code == 201, response.json()
    assert secret not in response.content.decode()
    assert response.json()["endpoint"]["has_auth_header"] is True

    version = model_version_validate(version_id=response.json()["id"])
    assert version.status == "validated", version.status_reason
    assert seen_auth and all(header == secret for header in seen_auth)

    listing = owner_api.get(f"/api/v1/assets/{asset.pk}/versions/").content.decode()
    assert secret not in listing
    assert not any(secret in str(event.details) for event in AuditEvent.objects.all())


def test_endpoint_on_a_private_address_is_refused_unless_allowed(owner_api, organization, owner, settings):
    settings.RISKAPP_ENDPOINT_ALLOW_PRIVATE = False
    asset = asset_create(organization=organization, user=owner, name="Internal", task="tabular_classification")
    for url in ("http://127.0.0.1:8080/predict", "http://169.254.169.254/latest/meta-data", "http://10.0.0.5/p"):
        response = owner_api.post(f"/api/v1/assets/{asset.pk}/versions/", {
            "format": "endpoint", "input_shape": "30", "nb_classes": 2, "endpoint_url": url}, format="json")
        assert response.status_code == 400, url
        assert "non-public address" in response.json()["endpoint_url"][0]
    assert not ModelVersion.objects.filter(asset=asset).exists()


@pytest.mark.parametrize("make_current", [False])
def test_a_candidate_version_validates_without_replacing_the_current_one(
        owner_api, organization, owner, digits_cnn_bytes, make_current):
    asset = _asset(organization, owner, name="Digits", task="image_classification", builtin="digits")
    first = _register(owner_api, asset, {"format": "torchscript", "artifact": upload("a.pt", digits_cnn_bytes),
                                         "input_shape": "1,8,8", "nb_classes": 10}).json()
    model_version_validate(version_id=first["id"])
    candidate = _register(owner_api, asset, {"format": "torchscript", "artifact": upload("b.pt", digits_cnn_bytes),
                                             "input_shape": "1,8,8", "nb_classes": 10, "label": "v2-candidate",
                                             "make_current": make_current}).json()
    assert model_version_validate(version_id=candidate["id"]).status == "validated"
    assert ModelAsset.objects.get(pk=asset.pk).current_version_id == first["id"]

    swapped = owner_api.post(f"/api/v1/assets/{asset.pk}/versions/{candidate['id']}/make-current/")
    assert swapped.status_code == 200 and swapped.json()["is_current"] is True
    assert ModelAsset.objects.get(pk=asset.pk).current_version_id == candidate["id"]


def test_rotating_an_endpoints_auth_header_revalidates_without_showing_it(
        owner_api, organization, owner, digits_model_server, settings):
    settings.RISKAPP_ENDPOINT_ALLOW_PRIVATE = True
    url, seen_auth = digits_model_server
    asset = _asset(organization, owner, name="Digits API", task="image_classification", builtin="digits")
    created = owner_api.post(f"/api/v1/assets/{asset.pk}/versions/", {
        "format": "endpoint", "input_shape": "1,8,8", "nb_classes": 10, "endpoint_url": url,
        "endpoint_auth_header_value": "Bearer old"}, format="json").json()
    model_version_validate(version_id=created["id"])

    response = owner_api.post(f"/api/v1/assets/{asset.pk}/versions/{created['id']}/endpoint/",
                              {"auth_header_value": "Bearer rotated-secret"}, format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "pending" and "rotated-secret" not in response.content.decode()
    assert model_version_validate(version_id=created["id"]).status == "validated"
    assert seen_auth[-1] == "Bearer rotated-secret"

    kept = owner_api.post(f"/api/v1/assets/{asset.pk}/versions/{created['id']}/endpoint/", {"timeout_s": 5},
                          format="json")
    assert kept.status_code == 202
    model_version_validate(version_id=created["id"])
    assert seen_auth[-1] == "Bearer rotated-secret"
