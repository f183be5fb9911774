"""The assets and datasets API: CRUD through services, filters, default datasets, storage through Django's API."""

from __future__ import annotations

from riskapp.assets.models import ModelAsset, ModelVersion
from riskapp.assets.services import asset_create, model_version_validate
from riskapp.audit.models import AuditEvent
from tests.assets.conftest import upload


def test_create_update_and_delete_an_asset(member_api, organization):
    response = member_api.post("/api/v1/assets/", {
        "name": "Triage", "task": "tabular_classification", "risk_tier": "high", "sector": "healthcare",
        "intended_use": "Rank referrals", "tags": ["pilot", "triage"]}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["organization"] == organization.pk and body["owner"] == "bob" and body["latest_status"] == "none"
    assert body["tags"] == ["pilot", "triage"]

    duplicate = member_api.post("/api/v1/assets/", {"name": "Triage", "task": "image_classification"}, format="json")
    assert duplicate.status_code == 400 and "already has a model named 'Triage'" in duplicate.json()["name"][0]

    patched = member_api.patch(f"/api/v1/assets/{body['id']}/", {"risk_tier": "limited"}, format="json")
    assert patched.status_code == 200 and patched.json()["risk_tier"] == "limited"
    assert member_api.delete(f"/api/v1/assets/{body['id']}/").status_code == 204
    assert not ModelAsset.objects.exists()
    assert list(AuditEvent.objects.filter(action__startswith="asset.").values_list("action", flat=True)
                .order_by("pk")) == ["asset.create", "asset.update", "asset.delete"]


def test_list_filters_by_tier_sector_and_validation_status(owner_api, organization, owner, digits_cnn_bytes):
    high = asset_create(organization=organization, user=owner, name="High", task="image_classification",
                        risk_tier="high", sector="healthcare")
    asset_create(organization=organization, user=owner, name="Low", task="image_classification",
                 risk_tier="minimal", sector="finance")
    version = owner_api.post(f"/api/v1/assets/{high.pk}/versions/", {
        "format": "torchscript", "artifact": upload("m.pt", digits_cnn_bytes), "input_shape": "1,8,8",
        "nb_classes": 10}, format="multipart").json()

    def names(query):
        return [row["name"] for row in owner_api.get(f"/api/v1/assets/?{query}").json()["results"]]

    assert names("risk_tier=high") == ["High"]
    assert names("sector=finance") == ["Low"]
    assert names("status=pending") == ["High"]
    assert names("status=none") == ["Low"]
    model_version_validate(version_id=version["id"])
    assert names("status=validated") == ["High"]
    assert owner_api.get(f"/api/v1/assets/{high.pk}/").json()["current_version"]["id"] == version["id"]


def test_builtin_dataset_is_validated_at_once_and_links_as_a_default(owner_api, organization, owner):
    response = owner_api.post("/api/v1/datasets/", {"name": "Digits evaluation", "role": "evaluation",
                                                    "builtin_name": "digits"}, format="json")
    assert response.status_code == 201, response.json()
    dataset = response.json()
    assert dataset["status"] == "validated" and dataset["shape"] == [1, 8, 8] and dataset["nb_classes"] == 10
    assert dataset["sample_count"] == 360 and len(dataset["content_sha256"]) == 64
    asset = asset_create(organization=organization, user=owner, name="Digits", task="image_classification")
    linked = owner_api.patch(f"/api/v1/assets/{asset.pk}/", {"evaluation_dataset": dataset["id"]}, format="json")
    assert linked.status_code == 200 and linked.json()["evaluation_dataset"] == dataset["id"]


def test_linking_data_that_does_not_fit_the_current_version_is_a_400(owner_api, organization, owner):
    asset = asset_create(organization=organization, user=owner, name="Digits", task="image_classification")
    asset.current_version = ModelVersion.objects.create(asset=asset, label="v1", format="torchscript",
                                                        input_shape=[1, 8, 8], nb_classes=10, status="validated")
    asset.save()
    cancer = owner_api.post("/api/v1/datasets/", {"name": "Cancer", "builtin_name": "breast_cancer"},
                            format="json").json()
    response = owner_api.patch(f"/api/v1/assets/{asset.pk}/", {"evaluation_dataset": cancer["id"]}, format="json")
    assert response.status_code == 400
    assert "shape (30,)" in response.json()["evaluation_dataset"][0]


def test_uploaded_npz_dataset_is_pending_until_validated(owner_api, digits_npz_bytes):
    from riskapp.assets.services import dataset_validate

    response = owner_api.post("/api/v1/datasets/", {"name": "Eval", "role": "evaluation",
                                                    "file": upload("eval.npz", digits_npz_bytes)}, format="multipart")
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "pending" and response.json()["sample_count"] == 360
    assert dataset_validate(dataset_id=response.json()["id"]).status == "validated"


def test_a_rejected_version_can_be_queued_again(owner_api, organization, owner, django_capture_on_commit_callbacks,
                                                 settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    asset = asset_create(organization=organization, user=owner, name="Remote", task="tabular_classification")
    version = ModelVersion.objects.create(asset=asset, label="v1", format="endpoint", input_shape=[30], nb_classes=2,
                                          status="rejected", status_reason="endpoint request failed")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = owner_api.post(f"/api/v1/assets/{asset.pk}/versions/{version.pk}/revalidate/")
    assert response.status_code == 202 and len(callbacks) == 1
    version.refresh_from_db()
    # The eager task ran validation at once: without endpoint settings it is rejected again, with the reason.
    assert version.status == "rejected" and "endpoint settings are missing" in version.status_reason


def test_versions_and_datasets_use_djangos_storage_api(owner_api, organization, owner, settings, digits_cnn_bytes):
    """With a storage that has no local paths (like S3), intake and validation still work."""
    settings.STORAGES = {**settings.STORAGES,
                         "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    asset = asset_create(organization=organization, user=owner, name="Digits", task="image_classification")
    created = owner_api.post(f"/api/v1/assets/{asset.pk}/versions/", {
        "format": "torchscript", "artifact": upload("m.pt", digits_cnn_bytes), "input_shape": "1,8,8",
        "nb_classes": 10}, format="multipart")
    assert created.status_code == 201, created.json()
    version = ModelVersion.objects.get(pk=created.json()["id"])
    from django.core.files.storage import InMemoryStorage

    assert isinstance(version.artifact.storage, InMemoryStorage)
    assert model_version_validate(version_id=version.pk).status == "validated"
    assert not (settings.MEDIA_ROOT.exists() and any(settings.MEDIA_ROOT.rglob("*")))


def test_openapi_documents_the_registry_with_examples(owner_client):
    import yaml

    schema = yaml.safe_load(owner_client.get("/api/schema/").content)
    create = schema["paths"]["/api/v1/assets/{asset_pk}/versions/"]["post"]
    assert "multipart/form-data" in create["requestBody"]["content"]
    assert "examples" in create["requestBody"]["content"]["multipart/form-data"]
    assert "examples" in schema["paths"]["/api/v1/datasets/"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert "/api/v1/assets/{id}/" in schema["paths"]
    version_fields = schema["components"]["schemas"]["ModelVersion"]["properties"]
    assert "endpoint_auth_header_value" not in str(version_fields)


def test_a_dataset_uploaded_through_the_api_attaches_to_its_asset_by_role(owner_api, organization, owner,
                                                                          digits_cnn_bytes, digits_npz_bytes):
    asset = asset_create(organization=organization, user=owner, name="Reader", task="image_classification")
    for role in ("evaluation", "training", "holdout"):
        response = owner_api.post("/api/v1/datasets/", {
            "name": f"Reader {role}", "role": role, "asset": asset.pk, "file": upload(f"{role}.npz", digits_npz_bytes)},
            format="multipart")
        assert response.status_code == 201, response.content
    asset.refresh_from_db()
    assert (asset.evaluation_dataset.name, asset.training_dataset.name, asset.holdout_dataset.name) == (
        "Reader evaluation", "Reader training", "Reader holdout")


def test_attaching_to_an_outsiders_asset_is_refused_and_stores_nothing(owner_api, outsider, other_organization,
                                                                       digits_npz_bytes):
    from riskapp.assets.models import Dataset

    foreign = asset_create(organization=other_organization, user=outsider, name="Theirs", task="image_classification")
    response = owner_api.post("/api/v1/datasets/", {
        "name": "Sneaky", "role": "evaluation", "asset": foreign.pk, "file": upload("e.npz", digits_npz_bytes)},
        format="multipart")
    assert response.status_code == 400 and "asset" in response.json()
    foreign.refresh_from_db()
    assert foreign.evaluation_dataset is None and not Dataset.objects.filter(name="Sneaky").exists()


def test_data_that_does_not_fit_the_asset_is_refused_whole(owner_api, organization, owner, digits_cnn_bytes,
                                                           tmp_path, settings):
    import numpy as np

    from riskapp.assets.models import Dataset
    from tests.assets.conftest import npz_bytes

    asset = asset_create(organization=organization, user=owner, name="Reader", task="image_classification")
    owner_api.post(f"/api/v1/assets/{asset.pk}/versions/", {
        "format": "torchscript", "artifact": upload("m.pt", digits_cnn_bytes), "input_shape": "1,8,8",
        "nb_classes": 10}, format="multipart")
    asset.refresh_from_db()
    if asset.current_version is None:  # validation is queued; make the uploaded version current as validation would
        version = ModelVersion.objects.get(asset=asset)
        model_version_validate(version_id=version.pk)
        asset.refresh_from_db()
    wrong = npz_bytes(x=np.zeros((20, 30), dtype=np.float32), y=np.zeros(20, dtype=np.int64))
    response = owner_api.post("/api/v1/datasets/", {
        "name": "Tabular", "role": "evaluation", "asset": asset.pk, "file": upload("t.npz", wrong)}, format="multipart")
    assert response.status_code == 400, response.content
    assert not Dataset.objects.filter(name="Tabular").exists()
    media = settings.MEDIA_ROOT
    assert not media.exists() or not any(p.name == "t.npz" for p in media.rglob("*"))
