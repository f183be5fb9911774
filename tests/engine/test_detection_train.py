"""detection.train: adversarial-input and anomaly screens calibrated to a target FPR, an adaptive attack, safe artifacts."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from tests.engine.check_helpers import assert_json_ready, check_context, in_unit_interval, suite_data
from workers.engine.checks import detection_train
from workers.engine.types import CheckSkipped

TINY = dict(max_fit=200, detector_epochs=3, pgd_iter=5, adaptive_iter=5)


@pytest.fixture
def tiny_detection(digits_cnn, digits_data, tmp_path):
    _, model = digits_cnn
    ctx = check_context(
        detection_train, model, suite_data(digits_data), artifact_dir=str(tmp_path / "detector"), **TINY
    )
    return model, detection_train.run(ctx), tmp_path / "detector"


def test_detection_metrics_and_calibrated_false_positive_rate(tiny_detection):
    _, outcome, _ = tiny_detection
    assert_json_ready(outcome)
    assert detection_train.summary(outcome.metrics).endswith(".")
    metrics = outcome.metrics
    # Calibration holds whatever the detector's quality: clean test data flags about target_fpr.
    assert abs(metrics["false_positive_rate"] - 0.01) <= 0.01
    assert abs(metrics["anomaly_false_positive_rate"] - 0.01) <= 0.01
    assert set(metrics["per_attack"]) == {"fgsm", "pgd"}
    for figures in metrics["per_attack"].values():
        assert in_unit_interval(figures["detection_rate"]) and in_unit_interval(
            figures["anomaly_detection_rate"]
        )
    assert in_unit_interval(metrics["adaptive_detection_rate"])
    assert in_unit_interval(metrics["adaptive"]["undetected_success_rate"])
    assert metrics["n_calibration"] + metrics["n_test"] == 360 + 359  # evaluation + holdout, split in half


def test_artifacts_are_pickle_free_hashed_and_reload_to_the_same_scores(tiny_detection, digits_data):
    model, outcome, directory = tiny_detection
    hashes = outcome.metrics["artifacts"]
    assert set(hashes) == {"adversarial_detector.safetensors", "mahalanobis.npz", "detector.json"}
    with zipfile.ZipFile(directory / "mahalanobis.npz") as archive:
        assert sorted(archive.namelist()) == ["means.npy", "precision.npy"]
    np.load(directory / "mahalanobis.npz", allow_pickle=False).close()
    manifest = json.loads((directory / "detector.json").read_text())
    assert manifest["thresholds"] == outcome.metrics["thresholds"]

    detector = detection_train.load_detector(directory, model)
    x_clean = digits_data[4][:50]
    adversarial, anomaly, flags = detector.score(x_clean)
    assert adversarial.shape == anomaly.shape == (50,)
    assert flags["adversarial"].dtype == bool and flags["anomalous"].dtype == bool
    assert np.array_equal(flags["adversarial"], adversarial > outcome.metrics["thresholds"]["adversarial"])
    assert np.allclose(adversarial, detection_train.adversarial_score(detector.network, x_clean))


def test_a_tampered_artifact_is_refused(tiny_detection):
    model, _, directory = tiny_detection
    weights = directory / "adversarial_detector.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ValueError, match="hash"):
        detection_train.load_detector(directory, model)


def test_calibration_flags_the_target_share_of_clean_scores():
    scores = np.arange(1000, dtype=np.float64)
    threshold = detection_train.calibrate_threshold(scores, 0.01)
    assert np.mean(scores > threshold) == pytest.approx(0.01, abs=0.0015)


def test_detection_is_skipped_for_sklearn_models(cancer_logreg, cancer_data):
    _, model = cancer_logreg
    with pytest.raises(CheckSkipped, match="PyTorch"):
        detection_train.run(check_context(detection_train, model, suite_data(cancer_data)))


@pytest.mark.slow
def test_adaptive_attack_evades_the_detector_more_often(digits_cnn, digits_data):
    _, model = digits_cnn
    outcome = detection_train.run(check_context(detection_train, model, suite_data(digits_data)))
    metrics = outcome.metrics
    assert abs(metrics["false_positive_rate"] - 0.01) <= 0.01
    assert metrics["per_attack"]["pgd"]["detection_rate"] > 0.9
    assert metrics["adaptive_detection_rate"] < metrics["per_attack"]["pgd"]["detection_rate"]


def test_same_seed_gives_the_same_detector_and_figures(digits_cnn, digits_data, tmp_path):
    _, model = digits_cnn
    runs = [
        detection_train.run(
            check_context(
                detection_train,
                model,
                suite_data(digits_data),
                artifact_dir=str(tmp_path / f"run{i}"),
                **TINY,
            )
        )
        for i in range(2)
    ]
    assert runs[0].metrics == runs[1].metrics  # artifact hashes included: byte-identical weights


def test_a_manifest_pointing_at_other_files_is_refused(tiny_detection):
    model, _, directory = tiny_detection
    manifest = json.loads((directory / "detector.json").read_text())
    manifest["files"]["../../outside.txt"] = "0" * 64
    (directory / "detector.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="exactly"):
        detection_train.load_detector(directory, model)
