"""Pickle-based model files (torch.save, joblib) are refused with export advice, and their payload never runs."""

from __future__ import annotations

import pytest

from riskapp.assets.models import ModelVersion
from riskapp.assets.services import asset_create
from tests.assets.conftest import upload


class _Payload:
    """Unpickling this object writes the marker file: proof that the file was executed."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _torch_save_file(path, marker):
    import torch

    torch.save({"state_dict": {}, "payload": _Payload(str(marker))}, str(path))
    return path.read_bytes()


def _joblib_file(path, marker, compress=0):
    import joblib

    joblib.dump(_Payload(str(marker)), str(path), compress=compress)
    return path.read_bytes()


@pytest.mark.parametrize("kind, name, fmt, advice", [
    ("torch.save", "model.pt", "torchscript", "torch.jit.save"),
    ("joblib", "model.joblib", "sklearn-skops", "skops.io.dump"),
    ("joblib-compressed", "model.bin", "sklearn-skops", "skops.io.dump"),
    ("joblib-renamed", "model.skops", "sklearn-skops", "skops.io.dump"),
])
def test_hostile_pickle_is_refused_and_never_runs(kind, name, fmt, advice, owner_api, organization, owner, tmp_path,
                                                  settings):
    marker = tmp_path / f"pwned-{kind}"
    source = tmp_path / "hostile"
    if kind == "torch.save":
        content = _torch_save_file(source, marker)
    else:
        content = _joblib_file(source, marker, compress=3 if kind == "joblib-compressed" else 0)
    assert not marker.exists()
    asset = asset_create(organization=organization, user=owner, name="Target", task="tabular_classification")
    response = owner_api.post(f"/api/v1/assets/{asset.pk}/versions/", {
        "format": fmt, "artifact": upload(name, content), "input_shape": "30", "nb_classes": 2}, format="multipart")

    assert response.status_code == 400, response.content
    message = response.json()["artifact"][0]
    assert "never unpickles" in message and advice in message
    assert not marker.exists()
    assert not ModelVersion.objects.exists()
    assert not [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()] if settings.MEDIA_ROOT.exists() else True


def test_validation_refuses_a_stored_pickle_that_bypassed_upload(organization, owner, tmp_path):
    """Defence in depth: even a pickle written straight into storage is refused by the worker's validation."""
    from django.core.files.base import ContentFile

    from riskapp.assets.services import model_version_validate

    marker = tmp_path / "pwned-stored"
    content = _torch_save_file(tmp_path / "hostile", marker)
    asset = asset_create(organization=organization, user=owner, name="Target", task="image_classification")
    version = ModelVersion(asset=asset, label="v1", format="torchscript", input_shape=[1, 8, 8], nb_classes=10)
    import hashlib

    version.sha256 = hashlib.sha256(content).hexdigest()
    version.artifact.save("x", ContentFile(content), save=True)

    version = model_version_validate(version_id=version.pk)
    assert version.status == "rejected"
    assert "torch.save file" in version.status_reason and "torch.jit.save" in version.status_reason
    assert not marker.exists()
    asset.refresh_from_db()
    assert asset.current_version is None
