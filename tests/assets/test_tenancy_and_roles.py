"""The outsider cannot see or upload to another organization's asset; a viewer reads but cannot write."""

from __future__ import annotations

import pytest

from riskapp.assets.models import Dataset, ModelAsset, ModelVersion
from riskapp.assets.services import asset_create
from tests.assets.conftest import upload


@pytest.fixture
def asset(organization, owner):
    return asset_create(organization=organization, user=owner, name="Triage", task="tabular_classification",
                        risk_tier="high", sector="healthcare")


def test_outsider_gets_404_on_the_asset_its_versions_and_upload(outsider_api, asset, digits_cnn_bytes):
    assert outsider_api.get(f"/api/v1/assets/{asset.pk}/").status_code == 404
    assert outsider_api.patch(f"/api/v1/assets/{asset.pk}/", {"name": "mine"}, format="json").status_code == 404
    assert outsider_api.delete(f"/api/v1/assets/{asset.pk}/").status_code == 404
    assert outsider_api.get(f"/api/v1/assets/{asset.pk}/versions/").status_code == 404
    response = outsider_api.post(f"/api/v1/assets/{asset.pk}/versions/", {
        "format": "torchscript", "artifact": upload("m.pt", digits_cnn_bytes), "input_shape": "1,8,8",
        "nb_classes": 10}, format="multipart")
    assert response.status_code == 404
    assert not ModelVersion.objects.exists()
    assert outsider_api.get("/api/v1/assets/").json()["results"] == []
    ModelAsset.objects.get(pk=asset.pk, name="Triage")


def test_outsider_cannot_link_another_organizations_dataset(outsider_api, outsider, other_organization, organization):
    theirs = Dataset.objects.create(organization=organization, name="secret data", source="builtin",
                                    builtin_name="digits", status="validated", shape=[1, 8, 8], nb_classes=10)
    response = outsider_api.post("/api/v1/assets/", {"name": "Mine", "task": "image_classification",
                                                     "evaluation_dataset": theirs.pk}, format="json")
    assert response.status_code == 400
    assert "evaluation_dataset" in response.json()
    assert outsider_api.get(f"/api/v1/datasets/{theirs.pk}/").status_code == 404


def test_outsider_web_pages_are_404(outsider_client, asset):
    version = ModelVersion.objects.create(asset=asset, label="v1", format="onnx", input_shape=[30], nb_classes=2)
    assert outsider_client.get(f"/assets/{asset.pk}/").status_code == 404
    assert outsider_client.get(f"/assets/{asset.pk}/versions/new/").status_code == 404
    assert outsider_client.get(f"/assets/versions/{version.pk}/status/").status_code == 404
    assert outsider_client.post(f"/assets/versions/{version.pk}/make-current/").status_code == 404
    dataset = Dataset.objects.create(organization=asset.organization, name="d", source="builtin",
                                     builtin_name="digits")
    assert outsider_client.get(f"/assets/datasets/{dataset.pk}/status/").status_code == 404
    assert b"Triage" not in outsider_client.get("/assets/").content


def test_viewer_reads_but_cannot_write(viewer_api, viewer, client, asset, digits_cnn_bytes):
    assert viewer_api.get(f"/api/v1/assets/{asset.pk}/").status_code == 200
    assert viewer_api.patch(f"/api/v1/assets/{asset.pk}/", {"name": "x"}, format="json").status_code == 403
    assert viewer_api.post("/api/v1/assets/", {"name": "New", "task": "image_classification"},
                           format="json").status_code == 403
    response = viewer_api.post(f"/api/v1/assets/{asset.pk}/versions/", {
        "format": "torchscript", "artifact": upload("m.pt", digits_cnn_bytes), "input_shape": "1,8,8",
        "nb_classes": 10}, format="multipart")
    assert response.status_code == 403
    assert viewer_api.post("/api/v1/datasets/", {"name": "d", "builtin_name": "digits"},
                           format="json").status_code == 403
    assert not ModelVersion.objects.exists() and not Dataset.objects.exists()

    client.force_login(viewer)
    assert client.get("/assets/register/").status_code == 403
    assert client.get(f"/assets/{asset.pk}/versions/new/").status_code == 403
    page = client.get(f"/assets/{asset.pk}/").content.decode()
    assert "Upload new version" not in page
