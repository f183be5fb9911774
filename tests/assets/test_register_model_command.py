"""`manage.py register_model`: registers and validates synchronously; a rejected model exits non-zero with the reason."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from riskapp.assets.models import ModelAsset


def test_registers_and_validates_a_torchscript_model(organization, owner, tmp_path, digits_cnn_bytes):
    model = tmp_path / "model.pt"
    model.write_bytes(digits_cnn_bytes)
    out = io.StringIO()
    call_command("register_model", "--org", organization.slug, "--name", "Digits CNN", "--format", "torchscript",
                 "--file", str(model), "--input-shape", "1,8,8", "--classes", "10", "--clip", "0,1",
                 "--dataset", "digits", "--label", "v3", stdout=out)
    asset = ModelAsset.objects.get(organization=organization, name="Digits CNN")
    assert asset.current_version.label == "v3" and asset.current_version.status == "validated"
    assert asset.evaluation_dataset.builtin_name == "digits"
    assert "is validated and is now the current version" in out.getvalue()


def test_npz_dataset_path_is_uploaded_validated_and_linked(organization, tmp_path, digits_cnn_bytes, digits_npz_bytes):
    (tmp_path / "model.pt").write_bytes(digits_cnn_bytes)
    (tmp_path / "eval.npz").write_bytes(digits_npz_bytes)
    call_command("register_model", "--org", organization.slug, "--name", "Digits", "--format", "torchscript",
                 "--file", str(tmp_path / "model.pt"), "--input-shape", "1,8,8", "--classes", "10",
                 "--dataset", str(tmp_path / "eval.npz"), stdout=io.StringIO())
    asset = ModelAsset.objects.get(name="Digits")
    assert asset.evaluation_dataset.status == "validated" and asset.evaluation_dataset.sample_count == 360


def test_wrong_class_count_exits_non_zero_with_the_reason(organization, tmp_path, digits_cnn_bytes):
    (tmp_path / "model.pt").write_bytes(digits_cnn_bytes)
    with pytest.raises(CommandError, match="outputs 10 classes but 4 were declared"):
        call_command("register_model", "--org", organization.slug, "--name", "Digits", "--format", "torchscript",
                     "--file", str(tmp_path / "model.pt"), "--input-shape", "1,8,8", "--classes", "4",
                     stdout=io.StringIO())
    assert not ModelAsset.objects.exists()


def test_pickle_exits_non_zero_with_export_advice(organization, tmp_path):
    import joblib

    joblib.dump({"weights": [1, 2, 3]}, str(tmp_path / "model.joblib"))
    with pytest.raises(CommandError, match="skops.io.dump"):
        call_command("register_model", "--org", organization.slug, "--name", "Cancer", "--format", "sklearn-skops",
                     "--file", str(tmp_path / "model.joblib"), "--input-shape", "30", "--classes", "2",
                     stdout=io.StringIO())


def test_unknown_organization_is_an_error(db, tmp_path):
    with pytest.raises(CommandError, match="No organization"):
        call_command("register_model", "--org", "nope", "--name", "x", "--format", "onnx", "--file", "x.onnx",
                     "--input-shape", "30", "--classes", "2", stdout=io.StringIO())
