"""An uploaded artifact can be downloaded as stored (same bytes, same SHA-256), by members only, and audited."""

from __future__ import annotations

import hashlib

from riskapp.assets.models import ModelVersion
from riskapp.assets.services import asset_create
from riskapp.audit.models import AuditEvent
from tests.assets.conftest import upload


def _uploaded(owner_api, organization, owner, digits_cnn_bytes):
    asset = asset_create(organization=organization, user=owner, name="Digits", task="image_classification")
    response = owner_api.post(f"/api/v1/assets/{asset.pk}/versions/", {
        "format": "torchscript", "artifact": upload("digits.pt", digits_cnn_bytes), "input_shape": "1,8,8",
        "nb_classes": 10, "label": "v1"}, format="multipart")
    assert response.status_code == 201, response.content
    return asset, ModelVersion.objects.get(pk=response.json()["id"])


def test_the_api_returns_the_exact_uploaded_bytes_and_audits_it(owner_api, organization, owner, digits_cnn_bytes):
    asset, version = _uploaded(owner_api, organization, owner, digits_cnn_bytes)
    response = owner_api.get(f"/api/v1/assets/{asset.pk}/versions/{version.pk}/artifact/")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body == digits_cnn_bytes and hashlib.sha256(body).hexdigest() == version.sha256
    assert 'filename="Digits-v1.pt"' in response["Content-Disposition"]
    assert AuditEvent.objects.filter(action="model_version.download", object_id=str(version.pk)).count() == 1


def test_the_version_table_links_a_download_for_viewers_too(owner_api, organization, owner, viewer, client,
                                                            digits_cnn_bytes):
    asset, version = _uploaded(owner_api, organization, owner, digits_cnn_bytes)
    client.force_login(viewer)
    viewer_client = client
    page = viewer_client.get(f"/assets/{asset.pk}/").content.decode()
    assert f"/assets/versions/{version.pk}/download/" in page
    response = viewer_client.get(f"/assets/versions/{version.pk}/download/")
    assert response.status_code == 200 and b"".join(response.streaming_content) == digits_cnn_bytes


def test_an_outsider_gets_404_and_nothing_is_audited(owner_api, organization, owner, outsider_api, outsider_client,
                                                     digits_cnn_bytes):
    asset, version = _uploaded(owner_api, organization, owner, digits_cnn_bytes)
    assert outsider_api.get(f"/api/v1/assets/{asset.pk}/versions/{version.pk}/artifact/").status_code == 404
    assert outsider_client.get(f"/assets/versions/{version.pk}/download/").status_code == 404
    assert not AuditEvent.objects.filter(action="model_version.download").exists()
