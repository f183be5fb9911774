"""Detectors trained on the demo CNN: calibrated false-positive rate, detection per attack, adaptive figure, safe artifacts."""

from __future__ import annotations

import hashlib
import json
import zipfile

import numpy as np
import pytest
from django.core.files.storage import default_storage

from riskapp.screening.models import ScreeningDetector


def test_false_positive_rate_on_clean_holdout_is_within_a_point_of_target(detector):
    assert detector.target_fpr == 0.01
    assert abs(detector.false_positive_rate - detector.target_fpr) <= 0.01
    assert abs(detector.anomaly_false_positive_rate - detector.target_fpr) <= 0.01
    # Either detector firing flags an input: at most the sum of the two rates.
    assert detector.either_false_positive_rate <= detector.false_positive_rate + detector.anomaly_false_positive_rate
    assert detector.expected_false_alarms_per_1000 == pytest.approx(1000 * detector.either_false_positive_rate)
    assert detector.calibration["n_test"] >= 300


def test_detection_rate_is_reported_per_attack(detector):
    per_attack = detector.calibration["per_attack"]
    assert set(per_attack) == {"fgsm", "pgd"}
    for figures in per_attack.values():
        assert 0.0 <= figures["detection_rate"] <= 1.0
        assert 0.0 <= figures["either_detection_rate"] <= 1.0
    assert detector.detection_rate == min(f["detection_rate"] for f in per_attack.values())
    # The detector learnt something: PGD examples are caught far more often than clean inputs are flagged.
    assert per_attack["pgd"]["detection_rate"] > 0.8


def test_adaptive_attack_figure_is_present_and_lower_than_plain_pgd(detector):
    adaptive = detector.calibration["adaptive"]
    assert detector.adaptive_detection_rate == adaptive["detection_rate"]
    assert 0.0 <= adaptive["undetected_success_rate"] <= 1.0
    # An attacker who knows the detector slips past it far more often than plain PGD does.
    assert detector.adaptive_detection_rate < detector.calibration["per_attack"]["pgd"]["detection_rate"]


def test_artifacts_are_stored_with_their_hashes_and_no_pickle(detector):
    assert set(detector.files) == {"adversarial_detector.safetensors", "mahalanobis.npz", "detector.json"}
    for name, sha in detector.files.items():
        with default_storage.open(f"{detector.storage_prefix}/{name}", "rb") as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == sha
    with default_storage.open(f"{detector.storage_prefix}/mahalanobis.npz", "rb") as handle:
        assert sorted(zipfile.ZipFile(handle).namelist()) == ["means.npy", "precision.npy"]
    with default_storage.open(f"{detector.storage_prefix}/detector.json", "rb") as handle:
        manifest = json.load(handle)
    assert manifest["thresholds"] == detector.calibration["thresholds"]
    assert manifest["model_sha256"] == detector.version.sha256


def test_a_run_without_a_fitted_detector_stores_nothing(screening_asset, trained_detector):
    from riskapp.screening.services import detector_store_from_run
    from tests.screening.factories import finished_run

    result, directory = trained_detector
    skipped = type(result)(**{**result.__dict__, "checks": []})
    assert detector_store_from_run(run=finished_run(screening_asset), artifact_dir=directory, result=skipped) is None
    assert not ScreeningDetector.objects.exists()


def test_the_stored_detector_scores_like_the_engine_detector(detector, trained_detector, digits_data):
    from riskapp.screening.runtime import loaded_screen
    from workers.engine.checks.detection_train import load_detector

    _, directory = trained_detector
    loaded = loaded_screen(detector)
    x = digits_data[4][:20]
    direct = load_detector(directory, loaded.model)
    adversarial, anomaly, _ = direct.score(x)
    scores = loaded.screen(x)
    assert np.allclose(scores.adversarial, adversarial)
    assert np.allclose(scores.anomaly, anomaly)


def test_screening_reads_the_same_activations_as_the_model_handle(detector, digits_data):
    from riskapp.screening.runtime import loaded_screen

    loaded = loaded_screen(detector)
    for x in (digits_data[4][:1], np.concatenate([digits_data[0][:400], digits_data[4]])):  # one, and 760 (two chunks)
        scores = loaded.screen(x)
        expected = loaded.detector.mahalanobis.score(loaded.model.penultimate(x))
        assert np.allclose(scores.anomaly, expected)
        assert np.array_equal(scores.anomalous_flag, expected > loaded.detector.anomaly_threshold)


def test_anomaly_score_equals_the_mahalanobis_quadratic_form():
    from workers.engine.checks.detection_train import MahalanobisModel

    rng = np.random.default_rng(0)
    features, labels = rng.normal(size=(500, 16)), rng.integers(0, 4, 500)
    model = MahalanobisModel.fit(features, labels, 4, 1e-3)
    queries = rng.normal(size=(50, 16)) * 2.0
    explicit = np.min([np.einsum("ij,jk,ik->i", queries - mean, model.precision, queries - mean)
                       for mean in model.means], axis=0)
    assert np.allclose(model.score(queries), explicit, rtol=1e-9)
