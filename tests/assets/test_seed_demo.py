"""`manage.py seed_demo`: real demo models, validated, idempotent, with the login printed."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from riskapp.accounts.models import Organization
from riskapp.assets.models import Dataset, ModelAsset, ModelVersion


@pytest.mark.slow
def test_seed_creates_validated_demo_models_once(db, settings, tmp_path, monkeypatch):
    from riskapp.assets.management.commands import seed_demo

    # Only the registry's own steps: other apps' steps (runs, alerts) are tested by their owners.
    monkeypatch.setattr(seed_demo, "SEED_STEPS", [seed_demo.seed_organization, seed_demo.seed_models])
    settings.VAR_DIR = tmp_path / "var"
    settings.RISKAPP_DEMO_PASSWORD = "demo-password-for-test"
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert "Login: demo / demo-password-for-test" in out.getvalue()
    organization = Organization.objects.get(name="Demo Organization")
    assert set(ModelAsset.objects.filter(organization=organization).values_list("name", flat=True)) == {
        "Digits CNN", "Breast cancer logistic regression", "Breast cancer gradient boosting"}
    assert set(ModelVersion.objects.values_list("status", flat=True)) == {"validated"}
    cnn = ModelAsset.objects.get(name="Digits CNN")
    assert cnn.current_version.label == "v1"
    assert cnn.versions.get(label="v2-weaker").status == "validated"
    assert cnn.evaluation_dataset.builtin_name == "digits" and cnn.holdout_dataset.role == "holdout"
    assert sorted(p.name for p in (tmp_path / "var" / "demo-cache" / "seed-0").iterdir()) == [
        "cancer_gbc.skops", "cancer_logreg.skops", "digits_cnn.pt", "digits_cnn_weaker.pt"]

    counts = (ModelAsset.objects.count(), ModelVersion.objects.count(), Dataset.objects.count())
    again = io.StringIO()
    call_command("seed_demo", stdout=again)
    assert (ModelAsset.objects.count(), ModelVersion.objects.count(), Dataset.objects.count()) == counts
    assert "trained" not in again.getvalue()
    from django.contrib.auth import authenticate

    assert authenticate(username="demo", password="demo-password-for-test") is not None
