"""The registry's pages: list with filters and empty state, the register form, live version status, sections."""

from __future__ import annotations

import pytest

from riskapp.assets import views
from riskapp.assets.models import ModelAsset, ModelVersion
from riskapp.assets.services import asset_create, model_version_validate
from tests.assets.conftest import upload


def test_empty_list_says_what_to_do_next(owner_client):
    page = owner_client.get("/assets/").content.decode()
    assert "No models yet — Register a model" in page
    assert 'href="/assets/register/"' in page


def test_list_filters_by_tier_sector_and_status(owner_client, organization, owner):
    asset_create(organization=organization, user=owner, name="Triage", task="tabular_classification",
                 risk_tier="high", sector="healthcare")
    asset_create(organization=organization, user=owner, name="Fraud", task="tabular_classification",
                 risk_tier="limited", sector="finance")
    page = owner_client.get("/assets/?risk_tier=high").content.decode()
    assert "Triage" in page and "Fraud" not in page
    page = owner_client.get("/assets/?sector=finance").content.decode()
    assert "Fraud" in page and "Triage" not in page
    page = owner_client.get("/assets/?status=validated").content.decode()
    assert "No models match these filters." in page
    page = owner_client.get("/assets/?status=none").content.decode()
    assert "Fraud" in page and "Triage" in page


def _form(**overrides):
    data = {"name": "Digits reader", "task": "image_classification", "risk_tier": "high", "sector": "other",
            "format": "torchscript", "input_shape": "1,8,8", "nb_classes": "10", "clip_min": "0", "clip_max": "1",
            "data_source": "builtin", "builtin_name": "digits", "label_column": "label",
            "endpoint_output_kind": "probabilities"}
    data.update(overrides)
    return data


def test_register_form_creates_asset_datasets_and_a_version_whose_status_updates_live(
        owner_client, organization, digits_cnn_bytes):
    response = owner_client.post("/assets/register/", _form(artifact=upload("model.pt", digits_cnn_bytes)))
    asset = ModelAsset.objects.get(organization=organization, name="Digits reader")
    assert response.status_code == 302 and response["Location"] == f"/assets/{asset.pk}/"
    assert asset.evaluation_dataset.builtin_name == "digits"
    assert {asset.training_dataset.role, asset.holdout_dataset.role} == {"training", "holdout"}
    version = asset.versions.get()

    page = owner_client.get(f"/assets/{asset.pk}/").content.decode()
    status_url = f"/assets/versions/{version.pk}/status/"
    assert f'data-poll-url="{status_url}"' in page and version.sha256[:16] in page

    pending = owner_client.get(status_url).content.decode()
    assert "data-poll-url" in pending and "Validating" in pending
    model_version_validate(version_id=version.pk)
    finished = owner_client.get(status_url).content.decode()
    assert "data-poll-url" not in finished and "Validated" in finished


def test_register_form_with_an_uploaded_npz(owner_client, organization, digits_cnn_bytes, digits_npz_bytes):
    response = owner_client.post("/assets/register/", _form(
        artifact=upload("model.pt", digits_cnn_bytes), data_source="upload",
        data_file=upload("eval.npz", digits_npz_bytes)))
    assert response.status_code == 302
    asset = ModelAsset.objects.get(name="Digits reader")
    assert asset.evaluation_dataset.file_format == "npz" and asset.evaluation_dataset.sample_count == 360
    assert asset.training_dataset is None


def test_register_form_shows_errors_inline_and_keeps_nothing(owner_client, tmp_path, digits_cnn_bytes, settings):
    import torch

    torch.save({"weights": torch.zeros(2)}, str(tmp_path / "weights.pt"))
    response = owner_client.post("/assets/register/", _form(artifact=upload("weights.pt", (tmp_path / "weights.pt").read_bytes())))
    assert response.status_code == 400
    page = response.content.decode()
    assert "torch.save file" in page and "torch.jit.save" in page and 'class="field has-error' in page
    assert not ModelAsset.objects.exists()

    response = owner_client.post("/assets/register/", _form(artifact=upload("model.pt", digits_cnn_bytes),
                                                            nb_classes="3"))
    assert response.status_code == 400 and "only 3 classes" in response.content.decode()
    assert not ModelAsset.objects.exists() and not ModelVersion.objects.exists()
    assert not [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()] if settings.MEDIA_ROOT.exists() else True


def test_rejected_version_shows_its_reason_and_never_becomes_current(owner_client, organization, owner, tmp_path):
    from django.core.files.base import ContentFile

    asset = asset_create(organization=organization, user=owner, name="Broken", task="image_classification")
    version = ModelVersion(asset=asset, label="v1", format="torchscript", input_shape=[1, 8, 8], nb_classes=10,
                           sha256="0" * 64)
    version.artifact.save("m", ContentFile(b"PK\x03\x04 not really a zip"), save=True)
    model_version_validate(version_id=version.pk)
    asset.refresh_from_db()
    assert asset.current_version is None
    fragment = owner_client.get(f"/assets/versions/{version.pk}/status/").content.decode()
    assert "Rejected" in fragment and "SHA-256" in fragment and "data-poll-url" not in fragment


def test_upload_new_version_page(owner_client, organization, owner, digits_cnn_bytes):
    asset = asset_create(organization=organization, user=owner, name="Digits", task="image_classification")
    assert owner_client.get(f"/assets/{asset.pk}/versions/new/").status_code == 200
    response = owner_client.post(f"/assets/{asset.pk}/versions/new/", {
        "format": "torchscript", "artifact": upload("m.pt", digits_cnn_bytes), "input_shape": "1,8,8",
        "nb_classes": "10", "clip_min": "0", "clip_max": "1", "label": "build-42", "make_current": "on",
        "endpoint_output_kind": "probabilities"})
    assert response.status_code == 302
    assert asset.versions.get().label == "build-42"


def test_other_apps_plug_sections_into_the_asset_page(owner_client, organization, owner, monkeypatch):
    asset = asset_create(organization=organization, user=owner, name="Digits", task="image_classification")
    version = ModelVersion.objects.create(asset=asset, label="v9", format="onnx", input_shape=[30], nb_classes=2)
    monkeypatch.setattr(views, "ASSET_DETAIL_SECTIONS", [
        ("assets/_version_status.html", lambda request, a: {"version": version, "poll": False})])
    page = owner_client.get(f"/assets/{asset.pk}/").content.decode()
    assert page.count(f'id="version-status-{version.pk}"') == 2


@pytest.mark.parametrize("path", ["/assets/", "/assets/register/"])
def test_pages_need_sign_in(client, path):
    assert client.get(path).status_code == 302


def test_endpoint_registration_through_the_form_never_echoes_the_secret(owner_client, settings, digits_model_server):
    url, seen_auth = digits_model_server
    secret = "Bearer form-secret-456"
    settings.RISKAPP_ENDPOINT_ALLOW_PRIVATE = False
    refused = owner_client.post("/assets/register/", _form(
        format="endpoint", endpoint_url=url, endpoint_auth_header_name="Authorization",
        endpoint_auth_header_value=secret, endpoint_input_key="inputs", endpoint_output_key="probabilities"))
    assert refused.status_code == 400
    page = refused.content.decode()
    assert "non-public address" in page and secret not in page
    assert not ModelAsset.objects.exists()

    settings.RISKAPP_ENDPOINT_ALLOW_PRIVATE = True
    response = owner_client.post("/assets/register/", _form(
        format="endpoint", endpoint_url=url, endpoint_auth_header_name="Authorization",
        endpoint_auth_header_value=secret, endpoint_input_key="inputs", endpoint_output_key="probabilities"))
    assert response.status_code == 302
    version = ModelAsset.objects.get().versions.get()
    assert model_version_validate(version_id=version.pk).status == "validated"
    assert seen_auth[-1] == secret
    detail = owner_client.get(response["Location"]).content.decode()
    assert secret not in detail and "HTTP prediction endpoint" in detail


def test_a_rejected_version_is_never_assessed(organization, owner):
    from django.core.exceptions import ValidationError

    from riskapp.assessments.models import Profile
    from riskapp.assessments.services import run_create
    from riskapp.assets.services import dataset_create

    asset = asset_create(organization=organization, user=owner, name="Digits", task="image_classification")
    asset.evaluation_dataset = dataset_create(organization=organization, name="eval", builtin_name="digits")
    asset.save()
    rejected = ModelVersion.objects.create(asset=asset, label="v1", format="torchscript", input_shape=[1, 8, 8],
                                           nb_classes=10, status="rejected", status_reason="truncated")
    with pytest.raises(ValidationError, match="rejected"):
        run_create(asset=asset, profile=Profile.objects.filter(organization=None).first(), user=owner,
                   version=rejected)


def test_add_data_page_links_a_dataset_and_explains_a_bad_csv(owner_client, organization, owner):
    asset = asset_create(organization=organization, user=owner, name="Cancer", task="tabular_classification")
    bad = owner_client.post(f"/assets/{asset.pk}/datasets/new/", {
        "name": "Holdout", "role": "holdout", "data_source": "upload", "label_column": "label",
        "data_file": upload("holdout.csv", b"a,b,diagnosis\n0.1,0.2,1\n")})
    assert bad.status_code == 400
    assert "no column &#x27;label&#x27;" in bad.content.decode() or "no column 'label'" in bad.content.decode()

    good = owner_client.post(f"/assets/{asset.pk}/datasets/new/", {
        "name": "Cancer holdout", "role": "holdout", "data_source": "builtin", "builtin_name": "breast_cancer"})
    assert good.status_code == 302
    asset.refresh_from_db()
    assert asset.holdout_dataset.name == "Cancer holdout" and asset.holdout_dataset.status == "validated"


def test_register_form_takes_evaluation_training_and_holdout_files_at_once(owner_client, organization,
                                                                            digits_cnn_bytes, digits_npz_bytes):
    page = owner_client.get("/assets/register/").content.decode()
    assert 'data-testid="extra-data-files"' in page and "Unlocks the poisoning, membership" in page
    response = owner_client.post("/assets/register/", _form(
        artifact=upload("model.pt", digits_cnn_bytes), data_source="upload",
        data_file=upload("eval.npz", digits_npz_bytes), training_file=upload("train.npz", digits_npz_bytes),
        holdout_file=upload("holdout.npz", digits_npz_bytes)))
    assert response.status_code == 302
    asset = ModelAsset.objects.get(name="Digits reader")
    assert asset.evaluation_dataset.role == "evaluation"
    assert asset.training_dataset.role == "training" and asset.training_dataset.name == "Digits reader training data"
    assert asset.holdout_dataset.role == "holdout" and asset.holdout_dataset.sample_count == 360


def test_add_data_names_the_file_by_the_chosen_role(owner_client, organization, owner):
    asset = asset_create(organization=organization, user=owner, name="Cancer", task="tabular_classification")
    page = owner_client.get(f"/assets/{asset.pk}/datasets/new/").content.decode()
    assert "Evaluation data file" not in page and "Data file" in page
    missing = owner_client.post(f"/assets/{asset.pk}/datasets/new/", {
        "name": "Train", "role": "training", "data_source": "upload", "label_column": "label"})
    assert missing.status_code == 400
    assert "your training data" in missing.content.decode() and "evaluation data" not in missing.content.decode()
