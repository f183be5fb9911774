"""ART 1.20.1 bugs met by the poisoning and extraction checks: each shown failing in ART and fixed by art_compat."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workers.engine import art_compat


def _shifted_minority(seed: int = 0):
    """Non-negative activations (as after a ReLU) where 15% of a class sit lower along one unit."""
    rng = np.random.default_rng(seed)
    clean = rng.normal(10.0, 1.0, size=(170, 6))
    poison = rng.normal(10.0, 1.0, size=(30, 6))
    poison[:, 0] -= 6.0
    activations = np.concatenate([clean, poison])
    planted = np.r_[np.zeros(170, dtype=bool), np.ones(30, dtype=bool)]
    return activations, planted


def _recall_in_top(scores: np.ndarray, planted: np.ndarray) -> float:
    top = np.argsort(-scores.reshape(-1))[: planted.sum()]
    return float(planted[top].mean())


def test_art_spectral_scores_miss_a_poison_that_centred_scores_find():
    from art.defences.detector.poison import SpectralSignatureDefense

    activations, planted = _shifted_minority()

    art_recall = _recall_in_top(SpectralSignatureDefense.spectral_signature_scores(activations), planted)
    fixed_recall = _recall_in_top(art_compat.centered_spectral_signature_scores(activations), planted)

    assert art_recall < 0.2  # the bug: uncentred projection ranks the poison last
    assert fixed_recall > 0.9


def test_centred_spectral_defense_keeps_arts_interface_and_flags_the_poison():
    from art.estimators.classification import PyTorchClassifier

    activations, planted = _shifted_minority()
    identity = torch.nn.Sequential(torch.nn.Identity())
    classifier = PyTorchClassifier(
        model=identity,
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=(6,),
        nb_classes=2,
        clip_values=(0.0, 20.0),
    )
    labels = np.zeros(len(activations), dtype=np.int64)
    defence = art_compat.centered_spectral_signature_defense()(
        classifier, activations.astype(np.float32), labels, expected_pp_poison=0.15, eps_multiplier=1.0
    )
    report, is_clean = defence.detect_poison()

    flagged = np.asarray(is_clean) == 0
    assert flagged.sum() == len(report) == 30
    assert (flagged & planted).sum() >= 27


def _label_only_victim():
    from art.estimators.classification import BlackBoxClassifierNeuralNetwork

    def predict(x):
        labels = (x[:, 0] > 0.33).astype(int) + (x[:, 0] > 0.66).astype(int)
        return np.eye(3, dtype=np.float32)[labels]

    return BlackBoxClassifierNeuralNetwork(predict, input_shape=(4,), nb_classes=3, clip_values=(0.0, 1.0))


def _thief():
    from art.estimators.classification import PyTorchClassifier

    network = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    return PyTorchClassifier(
        model=network,
        loss=torch.nn.CrossEntropyLoss(),
        optimizer=torch.optim.Adam(network.parameters(), lr=1e-2),
        input_shape=(4,),
        nb_classes=3,
        clip_values=(0.0, 1.0),
    )


def test_art_adaptive_knockoff_fails_on_label_only_output_and_the_guarded_one_runs():
    from art.attacks.extraction import KnockoffNets

    rng = np.random.default_rng(0)
    pool = rng.random((90, 4)).astype(np.float32)
    pool_labels = (pool[:, 0] * 3).astype(int).clip(0, 2)
    arguments = dict(nb_stolen=20, sampling_strategy="adaptive", reward="all", verbose=False)

    np.random.seed(0)
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="NaN"):
        KnockoffNets(_label_only_victim(), **arguments).extract(
            pool, y=pool_labels, thieved_classifier=_thief()
        )

    np.random.seed(0)
    torch.manual_seed(0)
    stolen = art_compat.knockoff_nets_class()(_label_only_victim(), **arguments).extract(
        pool, y=pool_labels, thieved_classifier=_thief()
    )
    assert stolen.predict(pool).shape == (90, 3)


def _four_class_victim():
    from art.estimators.classification import BlackBoxClassifierNeuralNetwork

    def predict(x):
        return np.eye(4, dtype=np.float32)[(x[:, 0] * 4).astype(int).clip(0, 3)]

    return BlackBoxClassifierNeuralNetwork(predict, input_shape=(2,), nb_classes=4, clip_values=(0.0, 1.0))


def test_art_rule_based_membership_fails_when_a_class_is_missing_and_the_fixed_one_does_not():
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBoxRuleBased

    x = np.random.default_rng(0).random((12, 2)).astype(np.float32)
    missing_classes = (x[:, 0] * 4).astype(int).clip(0, 3)
    missing_classes[missing_classes == 1] = 0  # class 1 absent from this batch
    with pytest.raises(IndexError):
        MembershipInferenceBlackBoxRuleBased(_four_class_victim()).infer(x, missing_classes)

    fixed = art_compat.rule_based_membership_class()(_four_class_victim())
    predicted = (x[:, 0] * 4).astype(int).clip(0, 3)
    assert np.array_equal(fixed.infer(x, missing_classes), (missing_classes == predicted).astype(int))

    every_class = np.arange(12) % 4
    assert np.array_equal(
        fixed.infer(x, every_class),
        MembershipInferenceBlackBoxRuleBased(_four_class_victim()).infer(x, every_class),
    )
