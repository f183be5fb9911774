"""Bad uploads are a 400 with a message that says what to do, and leave no validated version and no stored file."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from riskapp.assets.models import Dataset, ModelVersion
from riskapp.assets.services import asset_create, dataset_create
from tests.assets.conftest import npz_bytes, upload


@pytest.fixture
def digits_asset(organization, owner):
    asset = asset_create(organization=organization, user=owner, name="Digits", task="image_classification")
    asset.evaluation_dataset = dataset_create(organization=organization, user=owner, name="digits eval",
                                              role="evaluation", builtin_name="digits")
    asset.save()
    return asset


def _stored_files(settings) -> list:
    root = settings.MEDIA_ROOT
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _post_version(api, asset, content, **fields):
    data = {"format": "torchscript", "artifact": upload("model.pt", content), "input_shape": "1,8,8",
            "nb_classes": 10, **fields}
    return api.post(f"/api/v1/assets/{asset.pk}/versions/", data, format="multipart")


def _assert_refused(response, field, *phrases):
    assert response.status_code == 400, response.content
    message = " ".join(response.json()[field])
    for phrase in phrases:
        assert phrase in message, message
    return message


def test_wrong_input_shape_is_a_400(owner_api, digits_asset, digits_cnn_bytes, settings):
    response = _post_version(owner_api, digits_asset, digits_cnn_bytes, input_shape="1,28,28")
    _assert_refused(response, "dataset", "(1, 8, 8)", "(1, 28, 28)")
    assert not ModelVersion.objects.exists() and not _stored_files(settings)


def test_wrong_input_shape_without_data_fails_the_forward_pass(owner_api, organization, owner, digits_cnn_bytes):
    bare = asset_create(organization=organization, user=owner, name="Bare", task="image_classification")
    response = _post_version(owner_api, bare, digits_cnn_bytes, input_shape="3,32,32")
    _assert_refused(response, "artifact", "failed on an input of shape (2, 3, 32, 32)")
    assert not ModelVersion.objects.exists()


def test_wrong_class_count_is_a_400(owner_api, digits_asset, digits_cnn_bytes, settings):
    response = _post_version(owner_api, digits_asset, digits_cnn_bytes, nb_classes=5)
    _assert_refused(response, "dataset", "up to 9", "only 5 classes")
    bare_response = _post_version(owner_api, asset_create(organization=digits_asset.organization, name="Bare",
                                                          task="image_classification"), digits_cnn_bytes, nb_classes=12)
    _assert_refused(bare_response, "artifact", "outputs 10 classes but 12 were declared")
    assert not ModelVersion.objects.exists() and not _stored_files(settings)


def test_truncated_model_file_is_a_400(owner_api, digits_asset, digits_cnn_bytes, settings):
    response = _post_version(owner_api, digits_asset, digits_cnn_bytes[: len(digits_cnn_bytes) // 2])
    _assert_refused(response, "artifact", "truncated", "torch.jit.save")
    assert not ModelVersion.objects.exists() and not _stored_files(settings)


def test_empty_model_file_is_a_400(owner_api, digits_asset):
    _assert_refused(_post_version(owner_api, digits_asset, b""), "artifact")
    assert not ModelVersion.objects.exists()


def test_oversize_model_file_is_a_400_and_nothing_is_stored(owner_api, digits_asset, digits_cnn_bytes, settings):
    settings.RISKAPP_MAX_UPLOAD_BYTES = len(digits_cnn_bytes) - 1
    response = _post_version(owner_api, digits_asset, digits_cnn_bytes)
    _assert_refused(response, "artifact", "upload limit")
    assert not ModelVersion.objects.exists() and not _stored_files(settings)


def test_declared_format_contradicted_by_the_bytes_is_a_400(owner_api, digits_asset, digits_cnn_bytes,
                                                            cancer_onnx_bytes):
    _assert_refused(_post_version(owner_api, digits_asset, cancer_onnx_bytes), "artifact", "not a TorchScript archive")
    skops = _post_version(owner_api, digits_asset, digits_cnn_bytes, format="sklearn-skops", input_shape="1,8,8")
    _assert_refused(skops, "artifact", "not a skops file", "skops.io.dump")
    onnx = _post_version(owner_api, digits_asset, digits_cnn_bytes, format="onnx")
    _assert_refused(onnx, "artifact", "not an ONNX model")
    assert not ModelVersion.objects.exists()


# --- datasets ---------------------------------------------------------------------------------------------


def _post_dataset(api, name, content, **fields):
    return api.post("/api/v1/datasets/", {"name": "data", "role": "evaluation", "file": upload(name, content), **fields},
                    format="multipart")


def test_nan_data_is_a_400(owner_api, digits_eval, settings):
    x, y = digits_eval
    x = x.copy()
    x[3, 0, 2, 2] = np.nan
    _assert_refused(_post_dataset(owner_api, "eval.npz", npz_bytes(x=x, y=y)), "file", "NaN", "1 samples")
    assert not Dataset.objects.exists() and not _stored_files(settings)


def test_infinite_values_in_a_csv_are_a_400(owner_api):
    content = b"f1,f2,label\n0.1,0.2,0\ninf,0.3,1\n"
    _assert_refused(_post_dataset(owner_api, "eval.csv", content), "file", "infinite")


def test_csv_without_the_label_column_is_a_400(owner_api, settings):
    content = b"f1,f2,outcome\n0.1,0.2,0\n0.3,0.4,1\n"
    message = _assert_refused(_post_dataset(owner_api, "eval.csv", content, label_column="label"), "label_column",
                              "no column 'label'")
    assert "f1, f2, outcome" in message
    assert not Dataset.objects.exists() and not _stored_files(settings)


def test_csv_with_its_label_column_is_accepted(owner_api):
    content = b"f1,f2,outcome\n0.1,0.2,0\n0.3,0.4,1\n"
    response = _post_dataset(owner_api, "eval.csv", content, label_column="outcome")
    assert response.status_code == 201, response.content
    assert response.json()["sample_count"] == 2 and response.json()["shape"] == [2]


def test_truncated_npz_is_a_400(owner_api, digits_npz_bytes):
    _assert_refused(_post_dataset(owner_api, "eval.npz", digits_npz_bytes[:-200]), "file", "truncated")


def test_npz_without_labels_is_a_400(owner_api, digits_eval):
    _assert_refused(_post_dataset(owner_api, "eval.npz", npz_bytes(x=digits_eval[0])), "file", "no labels (y)",
                    "numpy.savez")


def test_npz_with_object_arrays_is_refused_without_unpickling(owner_api, tmp_path):
    marker = tmp_path / "object-array-ran"
    x = np.empty(2, dtype=object)
    x[0], x[1] = _Hostile(str(marker)), 1
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=np.array([0, 1]))
    _assert_refused(_post_dataset(owner_api, "eval.npz", buffer.getvalue()), "file", "Python objects")
    assert not marker.exists()


def test_npz_zip_bomb_is_refused_from_its_directory(owner_api, settings):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        header = np.lib.format.header_data_from_array_1_0(np.zeros(1, dtype=np.float32))
        header["shape"] = (4_000_000_000,)
        npy = io.BytesIO()
        np.lib.format.write_array_header_1_0(npy, header)
        archive.writestr("x.npy", npy.getvalue() + b"\0" * (2 << 20))
        archive.writestr("y.npy", npy.getvalue())
    message = _assert_refused(_post_dataset(owner_api, "eval.npz", buffer.getvalue()), "file")
    assert "zip bomb" in message or "declares shape" in message
    assert not Dataset.objects.exists() and not _stored_files(settings)


def test_unknown_dataset_type_is_a_400(owner_api):
    _assert_refused(_post_dataset(owner_api, "eval.parquet", b"PAR1...."), "file", ".npz", ".csv")


class _Hostile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.makedirs, (self.marker,))


def test_oversize_dataset_is_refused_while_streaming(owner_api, settings, digits_npz_bytes):
    settings.RISKAPP_MAX_UPLOAD_BYTES = 1024
    message = _assert_refused(_post_dataset(owner_api, "eval.npz", digits_npz_bytes), "file", "upload limit")
    assert "1.0 KB" in message
    assert not Dataset.objects.exists() and not _stored_files(settings)


def test_oversize_upload_in_the_register_form_is_refused_with_the_reason(owner_client, settings, digits_cnn_bytes):
    from riskapp.assets.models import ModelAsset

    settings.RISKAPP_MAX_UPLOAD_BYTES = 4096
    response = owner_client.post("/assets/register/", {
        "name": "Big", "task": "image_classification", "risk_tier": "limited", "sector": "other",
        "format": "torchscript", "artifact": upload("model.pt", digits_cnn_bytes), "input_shape": "1,8,8",
        "nb_classes": "10", "clip_min": "0", "clip_max": "1", "data_source": "none"})
    assert response.status_code == 400
    assert "larger than the 4.0 KB upload limit" in response.content.decode()
    assert not ModelAsset.objects.exists() and not _stored_files(settings)


def test_the_form_still_checks_csrf(client, owner, digits_cnn_bytes):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(owner)
    response = csrf_client.post("/assets/register/", {"name": "x", "artifact": upload("m.pt", digits_cnn_bytes)})
    assert response.status_code == 403


def test_an_image_model_with_a_flat_input_shape_is_refused_with_both_ways_forward(owner_api, organization, owner,
                                                                                  digits_cnn_bytes):
    from riskapp.assets.models import ModelVersion
    from riskapp.assets.services import asset_create

    asset = asset_create(organization=organization, user=owner, name="Flat digits", task="image_classification")
    response = owner_api.post(f"/api/v1/assets/{asset.pk}/versions/", {
        "format": "torchscript", "artifact": upload("m.pt", digits_cnn_bytes), "input_shape": "64",
        "nb_classes": 10}, format="multipart")
    assert response.status_code == 400
    message = " ".join(response.json()["input_shape"])
    assert "channels,height,width" in message and "tabular classification" in message
    assert not ModelVersion.objects.exists()
